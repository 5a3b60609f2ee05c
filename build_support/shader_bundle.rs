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
    /// The WGSL variable's name, for error messages.
    pub name: String,
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
    /// The `@binding` numbers this entry point reaches, directly or through the functions it calls
    /// (naga's per-entry-point global uses), ascending. Its bind group layout holds these only.
    pub bindings: Vec<u32>,
}

/// One field of a reflected struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldLayout {
    /// WGSL member name.
    pub name: String,
    /// Byte offset in the struct.
    pub offset: u32,
    /// Byte size of the member's type.
    pub size: u32,
    /// The member's WGSL type: `u32`, `vec4<f32>`, a struct's name, `array<u32, 4>`.
    pub ty: String,
}

/// The host-shareable layout of a WGSL struct that a binding holds (directly, nested, or as array
/// elements), as naga lays it out for uniform/storage use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructLayout {
    /// Rust constant name: `SHADER_STRUCT` for a struct of `shaders/shader.wgsl`, `COMMON_STRUCT` for
    /// one of `shaders/common/common.wgsl` (struct names in snake case, upper-cased), e.g.
    /// `CLAHE_LUT_PARAMS`, `HISTOGRAM_BINNING`.
    pub key: String,
    /// Where it is declared, e.g. `clahe_lut.wgsl::Params` or `common/histogram.wgsl::Binning`.
    pub wgsl: String,
    /// The WGSL struct name, e.g. `Params`.
    pub name: String,
    /// Size in bytes.
    pub size: u32,
    /// Members in declaration order.
    pub fields: Vec<FieldLayout>,
}

/// A module-scope scalar `const` of a `shaders/common/*.wgsl` file, evaluated by naga.
#[derive(Debug, Clone, PartialEq)]
pub struct CommonConst {
    /// Common file stem, e.g. `plan`.
    pub file: String,
    /// WGSL name, e.g. `PLAN_BLOCK`.
    pub name: String,
    /// Rust type (`u32`, `i32`, `f32`, `bool`; abstract ints `i64`, abstract floats `f64`).
    pub rust_type: &'static str,
    /// Rust literal of the value.
    pub value: String,
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
    /// Every group-0 binding the shader declares, in binding order.
    pub bindings: Vec<Binding>,
    /// Layouts of the structs its bindings hold.
    pub structs: Vec<StructLayout>,
    /// Scalar constants of the common files it imports.
    pub common_consts: Vec<CommonConst>,
}

/// Where an imported common file's text lies in a resolved shader (byte range of the output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRegion {
    /// Common file stem, e.g. `plan` for `shaders/common/plan.wgsl`.
    pub file: String,
    /// Byte range of its text in the resolved source (nested imports lie inside).
    pub range: std::ops::Range<usize>,
}

/// A shader's WGSL with its imports inlined, and where each import landed.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The WGSL.
    pub source: String,
    /// One region per inlined common file.
    pub regions: Vec<ImportRegion>,
}

impl Resolved {
    /// The innermost common file that byte `at` of the source came from, if any.
    pub fn origin_of(&self, at: usize) -> Option<&str> {
        self.regions
            .iter()
            .filter(|r| r.range.contains(&at))
            .min_by_key(|r| r.range.len())
            .map(|r| r.file.as_str())
    }
}

/// Inlines `#import name` lines (each common file at most once per shader, recursively).
pub fn resolve_imports(source: &str, common_dir: &Path, origin: &str) -> Result<String, String> {
    resolve_imports_mapped(source, common_dir, origin).map(|r| r.source)
}

/// [`resolve_imports`], also recording where each common file's text landed, so that reflection can
/// tell a struct or constant of `common/plan.wgsl` from one of the shader itself.
pub fn resolve_imports_mapped(
    source: &str,
    common_dir: &Path,
    origin: &str,
) -> Result<Resolved, String> {
    let mut seen = BTreeSet::new();
    let mut resolved = Resolved {
        source: String::new(),
        regions: Vec::new(),
    };
    resolve_into(source, common_dir, origin, &mut seen, &mut resolved, 0)?;
    Ok(resolved)
}

fn resolve_into(
    source: &str,
    common_dir: &Path,
    origin: &str,
    seen: &mut BTreeSet<String>,
    out: &mut Resolved,
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
            let _ = writeln!(out.source, "// ---- begin import {name} ----");
            let start = out.source.len();
            resolve_into(
                &text,
                common_dir,
                &format!("common/{name}.wgsl"),
                seen,
                out,
                depth + 1,
            )?;
            out.regions.push(ImportRegion {
                file: name.to_string(),
                range: start..out.source.len(),
            });
            let _ = writeln!(out.source, "// ---- end import {name} ----");
        } else {
            out.source.push_str(line);
            out.source.push('\n');
        }
    }
    Ok(())
}

/// Parses and validates WGSL with naga and reflects its compute interface (no import map: every
/// struct counts as the shader's own).
pub fn validate_and_reflect(name: &str, source: &str) -> Result<BundledShader, String> {
    reflect_resolved(
        name,
        &Resolved {
            source: source.to_string(),
            regions: Vec::new(),
        },
    )
}

/// Parses and validates a resolved shader with naga and reflects its compute interface: entry points
/// with the bindings each reaches, the declared bindings, the layouts of bound structs, and the
/// scalar constants of its common imports.
pub fn reflect_resolved(name: &str, resolved: &Resolved) -> Result<BundledShader, String> {
    let source = resolved.source.as_str();
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
    let info = validator.validate(&module).map_err(|e| {
        format!(
            "shaders/{name}.wgsl: validation error:\n{}",
            e.emit_to_string(source)
        )
    })?;

    let mut entry_points = Vec::new();
    for (index, ep) in module.entry_points.iter().enumerate() {
        if ep.stage != naga::ShaderStage::Compute {
            continue;
        }
        let uses = info.get_entry_point(index);
        let mut used: Vec<u32> = module
            .global_variables
            .iter()
            .filter(|(handle, _)| !uses[*handle].is_empty())
            .filter_map(|(_, var)| var.binding.as_ref().map(|rb| rb.binding))
            .collect();
        used.sort_unstable();
        entry_points.push(EntryPoint {
            name: ep.name.clone(),
            workgroup_size: ep.workgroup_size,
            bindings: used,
        });
    }
    if entry_points.is_empty() {
        return Err(format!("shaders/{name}.wgsl: no @compute entry point"));
    }

    let mut bindings = Vec::new();
    let mut bound_types = Vec::new();
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
        if matches!(
            kind,
            BindingKind::Uniform | BindingKind::StorageRead | BindingKind::StorageReadWrite
        ) {
            bound_types.push(var.ty);
        }
        bindings.push(Binding {
            binding: rb.binding,
            name: var.name.clone().unwrap_or_default(),
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
    let structs = bound_structs(name, resolved, &module, &bound_types)?;
    let common_consts = common_consts(name, resolved, &module)?;
    Ok(BundledShader {
        name: name.to_string(),
        source: source.to_string(),
        entry_points,
        bindings,
        structs,
        common_consts,
    })
}

/// Layouts of every struct reachable from the bound buffer types (members and array elements
/// included), in first-reached order. Offsets and sizes are naga's: the IR carries member offsets
/// and struct sizes as the WGSL frontend laid them out, and naga's layouter sizes each member type.
fn bound_structs(
    name: &str,
    resolved: &Resolved,
    module: &naga::Module,
    roots: &[naga::Handle<naga::Type>],
) -> Result<Vec<StructLayout>, String> {
    let mut layouter = naga::proc::Layouter::default();
    layouter
        .update(module.to_ctx())
        .map_err(|e| format!("shaders/{name}.wgsl: layout error: {e}"))?;
    let mut seen = BTreeSet::new();
    let mut stack: Vec<naga::Handle<naga::Type>> = roots.iter().rev().copied().collect();
    let mut out = Vec::new();
    while let Some(ty) = stack.pop() {
        match &module.types[ty].inner {
            naga::TypeInner::Array { base, .. } | naga::TypeInner::BindingArray { base, .. } => {
                stack.push(*base)
            }
            naga::TypeInner::Struct { members, span } => {
                if !seen.insert(ty) {
                    continue;
                }
                let struct_name = module.types[ty]
                    .name
                    .clone()
                    .ok_or_else(|| format!("shaders/{name}.wgsl: a bound struct has no name"))?;
                let origin = module
                    .types
                    .get_span(ty)
                    .to_range()
                    .and_then(|r| resolved.origin_of(r.start));
                let (prefix, wgsl) = match origin {
                    Some(file) => (
                        file.to_string(),
                        format!("common/{file}.wgsl::{struct_name}"),
                    ),
                    None => (name.to_string(), format!("{name}.wgsl::{struct_name}")),
                };
                out.push(StructLayout {
                    key: format!("{}_{}", prefix, snake_case(&struct_name)).to_ascii_uppercase(),
                    wgsl,
                    name: struct_name.clone(),
                    size: *span,
                    fields: members
                        .iter()
                        .map(|m| FieldLayout {
                            name: m.name.clone().unwrap_or_default(),
                            offset: m.offset,
                            size: layouter[m.ty].size,
                            ty: wgsl_type_name(module, m.ty),
                        })
                        .collect(),
                });
                for m in members.iter().rev() {
                    stack.push(m.ty);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A member type as WGSL spells it (scalars, vectors, matrices, struct names, sized arrays).
fn wgsl_type_name(module: &naga::Module, ty: naga::Handle<naga::Type>) -> String {
    let scalar = |s: naga::Scalar| match (s.kind, s.width) {
        (naga::ScalarKind::Uint, 4) => "u32".to_string(),
        (naga::ScalarKind::Sint, 4) => "i32".to_string(),
        (naga::ScalarKind::Float, 4) => "f32".to_string(),
        (naga::ScalarKind::Float, 2) => "f16".to_string(),
        (naga::ScalarKind::Bool, _) => "bool".to_string(),
        (kind, width) => format!("{kind:?}{}", u32::from(width) * 8),
    };
    let t = &module.types[ty];
    match &t.inner {
        naga::TypeInner::Scalar(s) => scalar(*s),
        naga::TypeInner::Atomic(s) => format!("atomic<{}>", scalar(*s)),
        naga::TypeInner::Vector { size, scalar: s } => {
            format!("vec{}<{}>", *size as u8, scalar(*s))
        }
        naga::TypeInner::Matrix {
            columns,
            rows,
            scalar: s,
        } => format!("mat{}x{}<{}>", *columns as u8, *rows as u8, scalar(*s)),
        naga::TypeInner::Array { base, size, .. } => match size {
            naga::ArraySize::Constant(n) => {
                format!("array<{}, {n}>", wgsl_type_name(module, *base))
            }
            _ => format!("array<{}>", wgsl_type_name(module, *base)),
        },
        _ => t.name.clone().unwrap_or_else(|| "?".to_string()),
    }
}

/// The named scalar `const`s declared in the common files this shader imports.
fn common_consts(
    name: &str,
    resolved: &Resolved,
    module: &naga::Module,
) -> Result<Vec<CommonConst>, String> {
    let mut out = Vec::new();
    for (handle, constant) in module.constants.iter() {
        let Some(const_name) = &constant.name else {
            continue;
        };
        let Some(file) = module
            .constants
            .get_span(handle)
            .to_range()
            .and_then(|r| resolved.origin_of(r.start))
        else {
            continue;
        };
        let naga::Expression::Literal(literal) = module.global_expressions[constant.init] else {
            // Vectors and other composites have no Rust twin yet; say so rather than drop them.
            return Err(format!(
                "shaders/{name}.wgsl: common/{file}.wgsl const {const_name} is not a scalar; \
                 build_support/shader_bundle.rs emits scalar common consts only"
            ));
        };
        let (rust_type, value) = match literal {
            naga::Literal::U32(v) => ("u32", format!("{v}")),
            naga::Literal::I32(v) => ("i32", format!("{v}")),
            naga::Literal::F32(v) => ("f32", format!("{v:?}")),
            naga::Literal::Bool(v) => ("bool", format!("{v}")),
            naga::Literal::AbstractInt(v) => ("i64", format!("{v}")),
            naga::Literal::AbstractFloat(v) => ("f64", format!("{v:?}")),
            other => {
                return Err(format!(
                    "shaders/{name}.wgsl: common/{file}.wgsl const {const_name}: \
                     unsupported literal {other:?}"
                ));
            }
        };
        out.push(CommonConst {
            file: file.to_string(),
            name: const_name.clone(),
            rust_type,
            value,
        });
    }
    Ok(out)
}

/// `BlendUniform` → `blend_uniform`, `Params` → `params`.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
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
            .and_then(|raw| resolve_imports_mapped(&raw, &common, &format!("shaders/{name}.wgsl")))
            .and_then(|resolved| reflect_resolved(&name, &resolved));
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

/// One kernel of the generated interface: an entry point of a shader and its Rust handle name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelHandle {
    /// `SHADER_ENTRY` in upper case, e.g. `CLAHE_LUT_MAIN`.
    pub constant: String,
    /// Index into the shader list.
    pub shader: usize,
    /// Index into that shader's entry points.
    pub entry: usize,
}

/// The kernel handles, one per compute entry point, in shader then entry-point order. Two pairs that
/// would share a constant name (`a_b` + `c` and `a` + `b_c`) are an error.
pub fn kernel_handles(shaders: &[BundledShader]) -> Result<Vec<KernelHandle>, String> {
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for (si, s) in shaders.iter().enumerate() {
        for (ei, ep) in s.entry_points.iter().enumerate() {
            let constant = format!("{}_{}", s.name, ep.name).to_ascii_uppercase();
            if !names.insert(constant.clone()) {
                return Err(format!(
                    "shaders/{}.wgsl: kernel handle {constant} is taken by another shader's entry \
                     point; rename one",
                    s.name
                ));
            }
            out.push(KernelHandle {
                constant,
                shader: si,
                entry: ei,
            });
        }
    }
    Ok(out)
}

/// Every bound struct layout once (a common struct is reached from many shaders), sorted by key.
/// The same key with two layouts is an error.
pub fn struct_layouts(shaders: &[BundledShader]) -> Result<Vec<StructLayout>, String> {
    let mut out: std::collections::BTreeMap<String, StructLayout> = Default::default();
    for s in shaders {
        for layout in &s.structs {
            match out.get(&layout.key) {
                Some(known) if known != layout => {
                    return Err(format!(
                        "struct layout {} reflected twice with different layouts ({} and {})",
                        layout.key, known.wgsl, layout.wgsl
                    ));
                }
                Some(_) => {}
                None => {
                    out.insert(layout.key.clone(), layout.clone());
                }
            }
        }
    }
    Ok(out.into_values().collect())
}

/// Every common-file constant once, sorted by file then name.
pub fn common_constants(shaders: &[BundledShader]) -> Result<Vec<CommonConst>, String> {
    let mut out: std::collections::BTreeMap<(String, String), CommonConst> = Default::default();
    for s in shaders {
        for c in &s.common_consts {
            let key = (c.file.clone(), c.name.clone());
            match out.get(&key) {
                Some(known) if known != c => {
                    return Err(format!(
                        "common/{}.wgsl const {} evaluated two ways",
                        c.file, c.name
                    ));
                }
                Some(_) => {}
                None => {
                    out.insert(key, c.clone());
                }
            }
        }
    }
    Ok(out.into_values().collect())
}

fn binding_kind_rust(kind: BindingKind) -> String {
    match kind {
        BindingKind::StorageRead => "BindingKind::StorageRead".to_string(),
        BindingKind::StorageReadWrite => "BindingKind::StorageReadWrite".to_string(),
        BindingKind::Uniform => "BindingKind::Uniform".to_string(),
        BindingKind::StorageTextureWrite(f) => {
            format!("BindingKind::StorageTextureWrite(wgpu::TextureFormat::{f})")
        }
    }
}

/// Rust source for `OUT_DIR/shader_interface.rs`, included by `src/gpu/shaders.rs`: the shader sources, one
/// [`KernelHandle`] constant per entry point (module `kernels`) with the bindings that entry point
/// reaches, the bound struct layouts (module `layouts`) and the common-file constants (module
/// `common::<file>`).
pub fn generate_table(shaders: &[BundledShader]) -> Result<String, String> {
    let handles = kernel_handles(shaders)?;
    let layouts = struct_layouts(shaders)?;
    let consts = common_constants(shaders)?;
    let mut out = String::from("// @generated by build.rs from shaders/*.wgsl — do not edit.\n");

    out.push_str("pub(crate) static SHADERS: &[ShaderSource] = &[\n");
    for s in shaders {
        let _ = writeln!(
            out,
            "    ShaderSource {{ name: {:?}, wgsl: {:?} }},",
            s.name, s.source
        );
    }
    out.push_str("];\n\n");

    out.push_str("pub(crate) static KERNELS: &[KernelInfo] = &[\n");
    for h in &handles {
        let s = &shaders[h.shader];
        let ep = &s.entry_points[h.entry];
        let _ = write!(
            out,
            "    KernelInfo {{ shader: {}, entry: {:?}, workgroup_size: [{}, {}, {}], bindings: &[",
            h.shader, ep.name, ep.workgroup_size[0], ep.workgroup_size[1], ep.workgroup_size[2]
        );
        for n in &ep.bindings {
            let b = s
                .bindings
                .iter()
                .find(|b| b.binding == *n)
                .ok_or_else(|| format!("shaders/{}.wgsl: binding {n} not reflected", s.name))?;
            let _ = write!(
                out,
                "BindingInfo {{ binding: {}, name: {:?}, kind: {} }}, ",
                b.binding,
                b.name,
                binding_kind_rust(b.kind)
            );
        }
        out.push_str("] },\n");
    }
    out.push_str("];\n\n");

    out.push_str(
        "/// One handle per compute entry point: `SHADER_ENTRY`, e.g. `CLAHE_LUT_MAIN` for \
         `fn main` of `shaders/clahe_lut.wgsl`.\npub mod kernels {\n    use super::KernelId;\n",
    );
    for (i, h) in handles.iter().enumerate() {
        let s = &shaders[h.shader];
        let _ = writeln!(
            out,
            "    /// `fn {}` of `shaders/{}.wgsl`.\n    pub const {}: KernelId = KernelId({i});",
            s.entry_points[h.entry].name, s.name, h.constant
        );
    }
    out.push_str("}\n\n");

    out.push_str(
        "/// The layout of every struct a shader binding holds, named `SHADER_STRUCT` (or \
         `COMMON_STRUCT` for a struct of `shaders/common/`), struct names in snake case, \
         upper-cased.\npub mod layouts {\n    use super::{FieldLayout, StructLayout};\n",
    );
    for l in &layouts {
        let _ = write!(
            out,
            "    /// `{}`.\n    pub const {}: StructLayout = StructLayout {{ key: {:?}, wgsl: {:?}, name: {:?}, size: {}, fields: &[",
            l.wgsl, l.key, l.key, l.wgsl, l.name, l.size
        );
        for f in &l.fields {
            let _ = write!(
                out,
                "FieldLayout {{ name: {:?}, offset: {}, size: {}, ty: {:?} }}, ",
                f.name, f.offset, f.size, f.ty
            );
        }
        out.push_str("] };\n");
    }
    out.push_str(
        "    /// Every layout above, sorted by key.\n    pub const ALL: &[StructLayout] = &[",
    );
    for l in &layouts {
        let _ = write!(out, "{}, ", l.key);
    }
    out.push_str("];\n}\n\n");

    out.push_str(
        "/// The module-scope scalar `const`s of `shaders/common/*.wgsl`: module `common::<file>` \
         per file, each constant under its WGSL name.\npub mod common {\n",
    );
    let mut files: Vec<&str> = consts.iter().map(|c| c.file.as_str()).collect();
    files.dedup();
    for file in files {
        let _ = writeln!(
            out,
            "    /// Constants of `shaders/common/{file}.wgsl`.\n    pub mod {file} {{"
        );
        for c in consts.iter().filter(|c| c.file == file) {
            let _ = writeln!(
                out,
                "        /// `const {}` of `shaders/common/{file}.wgsl`.\n        pub const {}: {} = {};",
                c.name, c.name, c.rust_type, c.value
            );
        }
        out.push_str("    }\n");
    }
    out.push_str("}\n");
    Ok(out)
}
