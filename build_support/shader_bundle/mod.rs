//! Shader bundling shared by `build.rs` and the tests: resolve `#import name` lines against
//! `shaders/common/name.wgsl`, parse and validate the result with naga, and reflect each shader's entry
//! points and group-0 bindings so the engine can build explicit bind group layouts.
//!
//! Kept free of any radpipe dependency: build scripts cannot use the crate they build.
//!
//! - [`imports`]: `#import` resolution, with a map of where each imported file's text lies.
//! - [`reflect`]: naga validation and reflection (entry points, bindings, bound struct layouts,
//!   common constants).
//! - [`table`]: the whole directory bundled, and the Rust interface table `build.rs` writes.
//!
//! Included through `#[path]` by `build.rs` and `tests/it/shader_bundle.rs`, so the submodules resolve
//! next to this file.

mod imports;
mod reflect;
mod table;

// `build.rs` calls two of these and the tests the rest, so each includer leaves some unused.
#[allow(unused_imports)]
pub use imports::{ImportRegion, Resolved, resolve_imports, resolve_imports_mapped};
#[allow(unused_imports)]
pub use reflect::{reflect_resolved, validate_and_reflect};
#[allow(unused_imports)]
pub use table::{
    KernelHandle, bundle_dir, common_constants, generate_table, kernel_handles, struct_layouts,
};

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
