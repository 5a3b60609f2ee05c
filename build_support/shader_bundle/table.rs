//! The whole shader directory bundled (every error reported, not only the first), and the generated
//! Rust interface: kernel handles, struct layouts, common constants and the table `build.rs` writes.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use super::imports::resolve_imports_mapped;
use super::reflect::reflect_resolved;
use super::{BindingKind, BundledShader, CommonConst, StructLayout};

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
