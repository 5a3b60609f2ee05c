//! Shader bundling shared by `build.rs` and the tests: resolve `#import name` lines against
//! `shaders/common/name.wgsl`, parse and validate the result with naga, and reflect each shader's entry
//! points and group-0 bindings so the engine can build explicit bind group layouts.
//!
//! Kept free of any radpipe dependency: build scripts cannot use the crate they build.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

/// How a binding is used by a shader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingKind {
    /// `var<storage, read>`.
    StorageRead,
    /// `var<storage, read_write>`.
    StorageReadWrite,
    /// `var<uniform>`.
    Uniform,
    /// `texture_storage_2d<..., write>`, with the naga storage format name.
    StorageTextureWrite(&'static str),
}

/// One reflected binding of group 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// `@binding(n)`.
    pub binding: u32,
    /// Usage.
    pub kind: BindingKind,
}

/// One reflected compute entry point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    /// Function name.
    pub name: String,
    /// `@workgroup_size`.
    pub workgroup_size: [u32; 3],
}

/// A shader after import resolution and validation.
#[derive(Debug, Clone)]
pub struct BundledShader {
    /// File stem, e.g. `window_level`.
    pub name: String,
    /// WGSL with imports inlined.
    pub source: String,
    /// Compute entry points.
    pub entry_points: Vec<EntryPoint>,
    /// Group-0 bindings in binding order.
    pub bindings: Vec<Binding>,
}

/// Inlines `#import name` lines (each common file at most once per shader, recursively).
pub fn resolve_imports(source: &str, common_dir: &Path, origin: &str) -> Result<String, String> {
    let mut seen = BTreeSet::new();
    let mut out = String::new();
    resolve_into(source, common_dir, origin, &mut seen, &mut out, 0)?;
    Ok(out)
}

fn resolve_into(
    source: &str,
    common_dir: &Path,
    origin: &str,
    seen: &mut BTreeSet<String>,
    out: &mut String,
    depth: usize,
) -> Result<(), String> {
    if depth > 16 {
        return Err(format!(
            "{origin}: #import nesting deeper than 16 (a cycle?)"
        ));
    }
    for (line_no, line) in source.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("#import") {
            let name = rest.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "{origin}:{}: malformed #import '{trimmed}'",
                    line_no + 1
                ));
            }
            if !seen.insert(name.to_string()) {
                continue;
            }
            let path = common_dir.join(format!("{name}.wgsl"));
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "{origin}:{}: #import {name}: cannot read {}: {e}",
                    line_no + 1,
                    path.display()
                )
            })?;
            let _ = writeln!(out, "// ---- begin import {name} ----");
            resolve_into(
                &text,
                common_dir,
                &format!("common/{name}.wgsl"),
                seen,
                out,
                depth + 1,
            )?;
            let _ = writeln!(out, "// ---- end import {name} ----");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(())
}

/// Parses and validates WGSL with naga and reflects its compute interface.
pub fn validate_and_reflect(name: &str, source: &str) -> Result<BundledShader, String> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| {
        format!(
            "shaders/{name}.wgsl: WGSL parse error:\n{}",
            e.emit_to_string(source)
        )
    })?;
    let mut validator = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    );
    validator.validate(&module).map_err(|e| {
        format!(
            "shaders/{name}.wgsl: validation error:\n{}",
            e.emit_to_string(source)
        )
    })?;

    let mut entry_points = Vec::new();
    for ep in &module.entry_points {
        if ep.stage == naga::ShaderStage::Compute {
            entry_points.push(EntryPoint {
                name: ep.name.clone(),
                workgroup_size: ep.workgroup_size,
            });
        }
    }
    if entry_points.is_empty() {
        return Err(format!("shaders/{name}.wgsl: no @compute entry point"));
    }

    let mut bindings = Vec::new();
    for (_, var) in module.global_variables.iter() {
        let Some(rb) = &var.binding else { continue };
        if rb.group != 0 {
            return Err(format!(
                "shaders/{name}.wgsl: binding {} uses group {}; radpipe shaders use group 0 only",
                rb.binding, rb.group
            ));
        }
        let kind = match var.space {
            naga::AddressSpace::Uniform => BindingKind::Uniform,
            naga::AddressSpace::Storage { access } => {
                if access.contains(naga::StorageAccess::STORE) {
                    BindingKind::StorageReadWrite
                } else {
                    BindingKind::StorageRead
                }
            }
            naga::AddressSpace::Handle => match &module.types[var.ty].inner {
                naga::TypeInner::Image {
                    class: naga::ImageClass::Storage { format, .. },
                    dim: naga::ImageDimension::D2,
                    arrayed: false,
                } => BindingKind::StorageTextureWrite(storage_format_name(*format).ok_or_else(
                    || {
                        format!(
                            "shaders/{name}.wgsl: binding {}: unsupported storage texture format",
                            rb.binding
                        )
                    },
                )?),
                _ => {
                    return Err(format!(
                        "shaders/{name}.wgsl: binding {}: only buffers and 2-D storage textures are supported",
                        rb.binding
                    ));
                }
            },
            other => {
                return Err(format!(
                    "shaders/{name}.wgsl: binding {}: unsupported address space {other:?}",
                    rb.binding
                ));
            }
        };
        bindings.push(Binding {
            binding: rb.binding,
            kind,
        });
    }
    bindings.sort_by_key(|b| b.binding);
    for pair in bindings.windows(2) {
        if pair[0].binding == pair[1].binding {
            return Err(format!(
                "shaders/{name}.wgsl: binding {} declared twice",
                pair[0].binding
            ));
        }
    }
    Ok(BundledShader {
        name: name.to_string(),
        source: source.to_string(),
        entry_points,
        bindings,
    })
}

fn storage_format_name(format: naga::StorageFormat) -> Option<&'static str> {
    Some(match format {
        naga::StorageFormat::Rgba8Unorm => "Rgba8Unorm",
        naga::StorageFormat::R32Float => "R32Float",
        naga::StorageFormat::R32Uint => "R32Uint",
        naga::StorageFormat::Rgba16Float => "Rgba16Float",
        naga::StorageFormat::Rgba32Float => "Rgba32Float",
        _ => return None,
    })
}

/// Bundles every `*.wgsl` directly in `shader_dir` (sorted by name), resolving imports from
/// `shader_dir/common`. Returns every error found, not only the first.
pub fn bundle_dir(shader_dir: &Path) -> Result<Vec<BundledShader>, String> {
    let common = shader_dir.join("common");
    let mut names: Vec<String> = std::fs::read_dir(shader_dir)
        .map_err(|e| format!("cannot list {}: {e}", shader_dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let path = entry.path();
            (path.extension().is_some_and(|x| x == "wgsl"))
                .then(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .flatten()
        })
        .collect();
    names.sort();
    let mut shaders = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        let path = shader_dir.join(format!("{name}.wgsl"));
        let result = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|raw| resolve_imports(&raw, &common, &format!("shaders/{name}.wgsl")))
            .and_then(|src| validate_and_reflect(&name, &src));
        match result {
            Ok(s) => shaders.push(s),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(shaders)
    } else {
        Err(errors.join("\n\n"))
    }
}

/// Rust source for `OUT_DIR/shaders.rs`: a static table of [`BundledShader`]s.
pub fn generate_table(shaders: &[BundledShader]) -> String {
    let mut out = String::from("// @generated by build.rs from shaders/*.wgsl — do not edit.\n");
    out.push_str("pub(crate) static SHADERS: &[ShaderSource] = &[\n");
    for s in shaders {
        let _ = writeln!(
            out,
            "    ShaderSource {{\n        name: {:?},\n        wgsl: {:?},",
            s.name, s.source
        );
        out.push_str("        entry_points: &[");
        for ep in &s.entry_points {
            let _ = write!(
                out,
                "EntryPointInfo {{ name: {:?}, workgroup_size: [{}, {}, {}] }}, ",
                ep.name, ep.workgroup_size[0], ep.workgroup_size[1], ep.workgroup_size[2]
            );
        }
        out.push_str("],\n        bindings: &[");
        for b in &s.bindings {
            let kind = match b.kind {
                BindingKind::StorageRead => "BindingKind::StorageRead".to_string(),
                BindingKind::StorageReadWrite => "BindingKind::StorageReadWrite".to_string(),
                BindingKind::Uniform => "BindingKind::Uniform".to_string(),
                BindingKind::StorageTextureWrite(f) => {
                    format!("BindingKind::StorageTextureWrite(wgpu::TextureFormat::{f})")
                }
            };
            let _ = write!(
                out,
                "BindingInfo {{ binding: {}, kind: {kind} }}, ",
                b.binding
            );
        }
        out.push_str("],\n    },\n");
    }
    out.push_str("];\n");
    out
}
