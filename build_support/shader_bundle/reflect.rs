//! naga parsing, validation and reflection of one resolved shader: entry points, the group-0 bindings
//! each one reaches, the layouts of bound structs and the constants of `shaders/common/`.

use std::collections::BTreeSet;

use super::imports::Resolved;
use super::{
    Binding, BindingKind, BundledShader, CommonConst, EntryPoint, FieldLayout, StructLayout,
};

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
                 build_support/shader_bundle/ emits scalar common consts only"
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
