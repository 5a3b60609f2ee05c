//! The shader registry and the typed shader interface `build.rs` generates from `shaders/*.wgsl`
//! (imports resolved, validated by naga), so that Rust and WGSL cannot drift apart unnoticed:
//!
//! - [`kernels`]: one [`KernelId`] constant per compute entry point, named `SHADER_ENTRY` in upper case
//!   (`kernels::CLAHE_LUT_MAIN` is `fn main` of `shaders/clahe_lut.wgsl`). Ops ask for
//!   `shaders.kernel(kernels::CLAHE_LUT_MAIN)`; a renamed entry point is a compile error, not a
//!   runtime "no entry point" error.
//! - Bindings per entry point: naga's analysis says which `@binding`s each entry point reaches,
//!   directly or through the functions it calls; that kernel's bind group layout holds exactly those,
//!   and [`Recorder::dispatch`](crate::pipeline::Recorder::dispatch) refuses a binding the entry point
//!   does not reach, or a missing one, so no call site binds placeholder buffers.
//! - [`layouts`]: size and member offsets/sizes of every struct a binding holds, named `SHADER_STRUCT`
//!   (`layouts::CLAHE_LUT_PARAMS` is `struct Params` of `clahe_lut.wgsl`) or `COMMON_STRUCT` for a
//!   struct of `shaders/common/` (`layouts::HISTOGRAM_BINNING`), with each member's WGSL type. Each
//!   Rust twin is declared through [`wgsl_struct!`](crate::wgsl_struct), which makes it `#[repr(C)]`
//!   and checks size, offsets and member types against its layout at compile time; a unit test fails
//!   when a layout has no twin.
//! - [`common`]: the module-scope scalar `const`s of `shaders/common/*.wgsl`, one module per file,
//!   each under its WGSL name (`common::plan::PLAN_BLOCK`), so a layout of words shared by Rust and
//!   WGSL is defined once, in WGSL, and imported by name in Rust. WGSL `u32`/`i32`/`f32`/`bool` keep
//!   their type; an untyped (abstract) integer becomes `i64`, an abstract float `f64`. Values are
//!   naga's evaluation (`const B = A * 2u;` arrives as a number). A common file's constants appear
//!   once some shader imports it; a non-scalar `const` there fails the build rather than vanish.
//!
//! The registry turns each kernel into an explicit bind group layout, pipeline layout and compute
//! pipeline the first time it is used, and never again for the engine's lifetime
//! (`Stats::pipelines_created` proves it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::stats::Counters;
use crate::{Error, Result};

/// How a shader binding is used (reflected at build time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingKind {
    /// Read-only storage buffer.
    StorageRead,
    /// Read-write storage buffer.
    StorageReadWrite,
    /// Uniform buffer.
    Uniform,
    /// Write-only 2-D storage texture of the given format.
    StorageTextureWrite(wgpu::TextureFormat),
}

/// One binding of group 0 that an entry point reaches.
#[derive(Debug, Clone, Copy)]
pub struct BindingInfo {
    /// `@binding(n)`.
    pub binding: u32,
    /// The WGSL variable's name, for error messages.
    pub name: &'static str,
    /// Usage.
    pub kind: BindingKind,
}

/// An embedded shader.
#[derive(Debug)]
pub struct ShaderSource {
    /// File stem under `shaders/`.
    pub name: &'static str,
    /// WGSL with imports inlined.
    pub wgsl: &'static str,
}

/// One compute entry point of an embedded shader, as `build.rs` reflected it.
#[derive(Debug)]
pub struct KernelInfo {
    /// Index into the shader table.
    shader: usize,
    /// Function name.
    pub entry: &'static str,
    /// `@workgroup_size`.
    pub workgroup_size: [u32; 3],
    /// The bindings this entry point reaches (directly or through called functions), in binding
    /// order: its bind group layout holds exactly these, and a dispatch must bind exactly these.
    pub bindings: &'static [BindingInfo],
}

impl KernelInfo {
    /// The shader this entry point belongs to.
    pub fn shader(&self) -> &'static ShaderSource {
        &SHADERS[self.shader]
    }
}

/// A compute entry point of an embedded shader: a generated constant in [`kernels`], never a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KernelId(usize);

impl KernelId {
    /// What `build.rs` reflected about this entry point.
    pub fn info(self) -> &'static KernelInfo {
        &KERNELS[self.0]
    }
}

/// One member of a WGSL struct as naga lays it out.
#[derive(Debug, Clone, Copy)]
pub struct FieldLayout {
    /// WGSL member name.
    pub name: &'static str,
    /// Byte offset.
    pub offset: u32,
    /// Byte size of the member's type.
    pub size: u32,
    /// The member's WGSL type: `u32`, `vec4<f32>`, a struct's name, `array<u32, 4>`.
    pub ty: &'static str,
}

/// The layout of a WGSL struct held by a binding: what its `#[repr(C)]` Rust twin must match, checked
/// at compile time by [`wgsl_struct!`](crate::wgsl_struct).
#[derive(Debug, Clone, Copy)]
pub struct StructLayout {
    /// The constant's name in [`layouts`].
    pub key: &'static str,
    /// Where the struct is declared, e.g. `clahe_lut.wgsl::Params`.
    pub wgsl: &'static str,
    /// The WGSL struct name, e.g. `Params`.
    pub name: &'static str,
    /// Size in bytes.
    pub size: u32,
    /// Members in declaration order.
    pub fields: &'static [FieldLayout],
}

impl StructLayout {
    /// The member called `name`; a compile error when used in a `const` and there is none.
    pub const fn field(&self, name: &str) -> FieldLayout {
        let mut i = 0;
        while i < self.fields.len() {
            if const_str_eq(self.fields[i].name, name) {
                return self.fields[i];
            }
            i += 1;
        }
        panic!("the WGSL struct has no member of that name");
    }

    /// Members that are not padding (see [`is_padding`]).
    pub const fn named_fields(&self) -> usize {
        let mut i = 0;
        let mut n = 0;
        while i < self.fields.len() {
            if !is_padding(self.fields[i].name) {
                n += 1;
            }
            i += 1;
        }
        n
    }
}

/// A member whose name starts with `_` is padding: its twin need not list it, since the struct size
/// and the other members' offsets already pin it.
pub const fn is_padding(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty() && bytes[0] == b'_'
}

/// The WGSL spelling of a Rust type that a [`wgsl_struct!`](crate::wgsl_struct) field may have, so
/// that a `u32` member twinned by an `f32` field (same size, other bits) is a compile error too.
/// Structs declared with `wgsl_struct!` implement it with their WGSL name.
pub trait WgslType {
    /// The WGSL type, as [`FieldLayout::ty`] spells it.
    const WGSL: &'static str;
}

macro_rules! wgsl_types {
    ($($rust:ty => $wgsl:literal),* $(,)?) => {
        $(impl WgslType for $rust { const WGSL: &'static str = $wgsl; })*
    };
}

wgsl_types! {
    u32 => "u32", i32 => "i32", f32 => "f32",
    [u32; 2] => "vec2<u32>", [u32; 3] => "vec3<u32>", [u32; 4] => "vec4<u32>",
    [i32; 2] => "vec2<i32>", [i32; 3] => "vec3<i32>", [i32; 4] => "vec4<i32>",
    [f32; 2] => "vec2<f32>", [f32; 3] => "vec3<f32>", [f32; 4] => "vec4<f32>",
}

/// Byte-wise string equality usable in `const` checks.
pub const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

include!(concat!(env!("OUT_DIR"), "/shader_interface.rs"));

/// Every embedded shader.
pub fn all_shaders() -> &'static [ShaderSource] {
    SHADERS
}

/// Every kernel (compute entry point) of every embedded shader.
pub fn all_kernels() -> impl Iterator<Item = KernelId> {
    (0..KERNELS.len()).map(KernelId)
}

/// Declares a `#[repr(C)]` struct that is the Rust twin of a WGSL struct in [`layouts`], and checks
/// at compile time that the two agree: the same size, and every field not starting with `_` at the
/// offset, with the size and of the type ([`WgslType`]) of the WGSL member of the same name, with no
/// named WGSL member left out.
/// Padding (`_`-prefixed, in either language) is pinned by the size and the other offsets.
///
/// Every layout in [`layouts::ALL`] needs one such declaration (a unit test reads `src/` for them), so
/// a new WGSL uniform cannot go unchecked.
///
/// ```no_run
/// radpipe::wgsl_struct! {
///     /// Uniform block of `shaders/clahe_lut.wgsl`.
///     #[derive(Debug, Clone, Copy)]
///     struct LutParams = CLAHE_LUT_PARAMS {
///         bins: u32,
///         per: u32,
///         clip_limit: u32,
///         lut_scale: f32,
///     }
/// }
/// ```
///
/// Two fields swapped, and the build fails naming the field:
///
/// ```compile_fail
/// radpipe::wgsl_struct! {
///     #[derive(Debug, Clone, Copy)]
///     struct LutParams = CLAHE_LUT_PARAMS {
///         per: u32,
///         bins: u32,
///         clip_limit: u32,
///         lut_scale: f32,
///     }
/// }
/// ```
///
/// So does a field of the right size but another type (`lut_scale` is an `f32` in WGSL):
///
/// ```compile_fail
/// radpipe::wgsl_struct! {
///     #[derive(Debug, Clone, Copy)]
///     struct LutParams = CLAHE_LUT_PARAMS {
///         bins: u32,
///         per: u32,
///         clip_limit: u32,
///         lut_scale: u32,
///     }
/// }
/// ```
#[macro_export]
macro_rules! wgsl_struct {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident = $layout:ident {
            $( $(#[$fattr:meta])* $fvis:vis $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        $(#[$attr])*
        #[repr(C)]
        $vis struct $name {
            $( $(#[$fattr])* $fvis $field: $fty ),*
        }

        impl $crate::gpu::shaders::WgslType for $name {
            const WGSL: &'static str = $crate::gpu::shaders::layouts::$layout.name;
        }

        const _: () = {
            let layout = &$crate::gpu::shaders::layouts::$layout;
            assert!(
                ::std::mem::size_of::<$name>() == layout.size as usize,
                concat!(stringify!($name), ": size differs from its WGSL twin ", stringify!($layout))
            );
            let mut named = 0usize;
            $(
                if !$crate::gpu::shaders::is_padding(stringify!($field)) {
                    let wgsl = layout.field(stringify!($field));
                    assert!(
                        ::std::mem::offset_of!($name, $field) == wgsl.offset as usize,
                        concat!(stringify!($name), ".", stringify!($field),
                                ": offset differs from ", stringify!($layout))
                    );
                    assert!(
                        ::std::mem::size_of::<$fty>() == wgsl.size as usize,
                        concat!(stringify!($name), ".", stringify!($field),
                                ": size differs from ", stringify!($layout))
                    );
                    assert!(
                        $crate::gpu::shaders::const_str_eq(
                            <$fty as $crate::gpu::shaders::WgslType>::WGSL,
                            wgsl.ty,
                        ),
                        concat!(stringify!($name), ".", stringify!($field),
                                ": type differs from ", stringify!($layout))
                    );
                    named += 1;
                }
            )*
            assert!(
                named == layout.named_fields(),
                concat!(stringify!($name), ": a named member of ", stringify!($layout),
                        " has no field of that name")
            );
        };
    };
}

/// A ready-to-dispatch compute pipeline with its bind group layout.
#[derive(Debug)]
pub struct Kernel {
    /// The pipeline.
    pub pipeline: wgpu::ComputePipeline,
    /// Layout of group 0: the bindings this entry point reaches, no others.
    pub layout: wgpu::BindGroupLayout,
    /// Workgroup size of the entry point.
    pub workgroup_size: [u32; 3],
    /// The bindings the entry point reaches, in binding order.
    pub bindings: &'static [BindingInfo],
    /// "shader::entry", for labels and errors.
    pub label: String,
}

/// Builds and caches kernels for one device.
#[derive(Debug)]
pub struct ShaderRegistry {
    device: wgpu::Device,
    counters: Arc<Counters>,
    modules: Mutex<HashMap<usize, wgpu::ShaderModule>>,
    kernels: Mutex<HashMap<KernelKey, Arc<Kernel>>>,
}

/// A kernel is one entry point under one set of pipeline-overridable constants.
type KernelKey = (KernelId, Vec<(String, u64)>);

impl ShaderRegistry {
    pub(crate) fn new(device: wgpu::Device, counters: Arc<Counters>) -> Self {
        ShaderRegistry {
            device,
            counters,
            modules: Mutex::new(HashMap::new()),
            kernels: Mutex::new(HashMap::new()),
        }
    }

    /// The kernel `id` (a constant of [`kernels`]), built on first use and cached.
    pub fn kernel(&self, id: KernelId) -> Result<Arc<Kernel>> {
        self.specialized(id, &[])
    }

    /// The kernel `id` with its WGSL `override` constants set to `constants`: one pipeline per
    /// distinct specialisation (e.g. per input format), built on first use and cached, so the driver
    /// compiles branch-free code for the case at hand.
    pub fn specialized(&self, id: KernelId, constants: &[(&str, f64)]) -> Result<Arc<Kernel>> {
        let mut kernels = self
            .kernels
            .lock()
            .map_err(|_| Error::Gpu("shader registry lock poisoned".into()))?;
        let key: KernelKey = (
            id,
            constants
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_bits()))
                .collect(),
        );
        if let Some(k) = kernels.get(&key) {
            return Ok(k.clone());
        }
        let kernel = Arc::new(self.build(id.info(), constants)?);
        kernels.insert(key, kernel.clone());
        Ok(kernel)
    }

    /// Builds every kernel now (a render loop or benchmark calls this so no frame pays for it).
    pub fn warm_up(&self) -> Result<usize> {
        let mut n = 0;
        for id in all_kernels() {
            self.kernel(id)?;
            n += 1;
        }
        Ok(n)
    }

    fn build(&self, info: &'static KernelInfo, constants: &[(&str, f64)]) -> Result<Kernel> {
        let source = info.shader();
        let mut label = format!("{}::{}", source.name, info.entry);
        if !constants.is_empty() {
            let spec: Vec<String> = constants.iter().map(|(n, v)| format!("{n}={v}")).collect();
            label = format!("{label}[{}]", spec.join(","));
        }
        let module = {
            let mut modules = self
                .modules
                .lock()
                .map_err(|_| Error::Gpu("shader registry lock poisoned".into()))?;
            modules
                .entry(info.shader)
                .or_insert_with(|| {
                    self.device
                        .create_shader_module(wgpu::ShaderModuleDescriptor {
                            label: Some(source.name),
                            source: wgpu::ShaderSource::Wgsl(source.wgsl.into()),
                        })
                })
                .clone()
        };
        let entries: Vec<wgpu::BindGroupLayoutEntry> =
            info.bindings.iter().map(layout_entry).collect();
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(&label),
                entries: &entries,
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(&label),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(info.entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: true,
                },
                cache: None,
            });
        Counters::bump(&self.counters.pipelines_created, 1);
        Ok(Kernel {
            pipeline,
            layout,
            workgroup_size: info.workgroup_size,
            bindings: info.bindings,
            label,
        })
    }
}

fn layout_entry(b: &BindingInfo) -> wgpu::BindGroupLayoutEntry {
    let buffer = |ty| wgpu::BindingType::Buffer {
        ty,
        has_dynamic_offset: false,
        min_binding_size: None,
    };
    wgpu::BindGroupLayoutEntry {
        binding: b.binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: match b.kind {
            BindingKind::StorageRead => {
                buffer(wgpu::BufferBindingType::Storage { read_only: true })
            }
            BindingKind::StorageReadWrite => {
                buffer(wgpu::BufferBindingType::Storage { read_only: false })
            }
            BindingKind::Uniform => buffer(wgpu::BufferBindingType::Uniform),
            BindingKind::StorageTextureWrite(format) => wgpu::BindingType::StorageTexture {
                access: wgpu::StorageTextureAccess::WriteOnly,
                format,
                view_dimension: wgpu::TextureViewDimension::D2,
            },
        },
        count: None,
    }
}

#[cfg(test)]
mod tests {
    use super::layouts;
    use std::collections::BTreeSet;
    use std::path::Path;

    /// Every `.rs` file under `src/`: (path, text).
    fn sources() -> Vec<(String, String)> {
        fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).expect("read src").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&path).expect("read source");
                    out.push((path.display().to_string(), text));
                }
            }
        }
        let mut out = Vec::new();
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
        out
    }

    /// Every WGSL struct a binding holds has a `#[repr(C)]` twin declared by `wgsl_struct!` somewhere in
    /// `src/`, so a new uniform cannot be added without its compile-time layout check.
    #[test]
    fn every_bound_wgsl_struct_has_a_checked_rust_twin() {
        let files = sources();
        let marker = concat!("wgsl_struct", "! {");
        let mut twinned = BTreeSet::new();
        for (_, text) in &files {
            for (at, _) in text.match_indices(marker) {
                let rest = &text[at + marker.len()..];
                let Some((_, after)) = rest.split_once(" = ") else {
                    continue;
                };
                let key: String = after
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if layouts::ALL.iter().any(|l| l.key == key) {
                    twinned.insert(key);
                }
            }
        }
        let missing: Vec<&str> = layouts::ALL
            .iter()
            .map(|l| l.key)
            .filter(|k| !twinned.contains(*k))
            .collect();
        assert!(
            missing.is_empty(),
            "WGSL structs without a wgsl_struct! twin: {missing:?}"
        );
        assert_eq!(twinned.len(), layouts::ALL.len());
    }

    /// Kernels are looked up by generated handle only.
    #[test]
    fn no_kernel_is_looked_up_by_name() {
        let patterns = [["kernel", "(\""].concat(), ["specialized", "(\""].concat()];
        let by_name: Vec<String> = sources()
            .into_iter()
            .filter(|(_, text)| patterns.iter().any(|p| text.contains(p.as_str())))
            .map(|(path, _)| path)
            .collect();
        assert!(by_name.is_empty(), "string kernel lookups in {by_name:?}");
    }
}
