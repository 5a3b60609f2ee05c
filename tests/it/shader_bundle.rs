//! The build-time shader check: what `build.rs` runs, exercised directly so that a broken shader is
//! known to fail the build with the file named, and imports resolve as documented.

#[path = "../../build_support/shader_bundle/mod.rs"]
#[allow(dead_code, clippy::module_inception)]
mod shader_bundle;

use std::path::Path;

#[test]
fn shipped_shaders_all_validate_and_reflect() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let shaders = shader_bundle::bundle_dir(&dir).expect("shipped shaders validate");
    let window = shaders
        .iter()
        .find(|s| s.name == "window_level")
        .expect("window_level");
    assert_eq!(window.entry_points[0].name, "main");
    assert_eq!(window.bindings.len(), 4);
    assert_eq!(window.bindings[0].kind, shader_bundle::BindingKind::Uniform);
    assert_eq!(
        window.bindings[3].kind,
        shader_bundle::BindingKind::StorageReadWrite
    );
    assert!(
        !window.source.contains("#import"),
        "imports must be inlined"
    );
}

#[test]
fn a_broken_shader_fails_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("common")).expect("common");
    std::fs::write(
        dir.path().join("good.wgsl"),
        "@group(0) @binding(0) var<storage, read_write> o: array<u32>;\n@compute @workgroup_size(64) fn main() { o[0] = 1u; }\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("broken.wgsl"),
        "@compute @workgroup_size(64) fn main() { let x: u32 = 1.5; }\n",
    )
    .expect("write");
    let err = shader_bundle::bundle_dir(dir.path()).expect_err("must fail");
    assert!(err.contains("shaders/broken.wgsl"), "{err}");
    assert!(!err.contains("good.wgsl"), "{err}");
}

#[test]
fn imports_are_inlined_once_and_missing_ones_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let common = dir.path().join("common");
    std::fs::create_dir(&common).expect("common");
    std::fs::write(common.join("a.wgsl"), "const A: u32 = 1u;\n").expect("write");
    std::fs::write(common.join("b.wgsl"), "#import a\nconst B: u32 = A + 1u;\n").expect("write");
    let src = "#import a\n#import b\n@group(0) @binding(0) var<storage, read_write> o: array<u32>;\n\
               @compute @workgroup_size(1) fn main() { o[0] = B; }\n";
    let resolved = shader_bundle::resolve_imports(src, &common, "t.wgsl").expect("resolve");
    assert_eq!(resolved.matches("const A").count(), 1, "{resolved}");
    shader_bundle::validate_and_reflect("t", &resolved).expect("valid");
    let err =
        shader_bundle::resolve_imports("#import nope\n", &common, "t.wgsl").expect_err("missing");
    assert!(err.contains("t.wgsl:1") && err.contains("nope"), "{err}");
}

#[test]
fn bindings_are_reflected_per_entry_point_through_called_functions() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("common")).expect("common");
    let src = "@group(0) @binding(0) var<storage, read> a: array<u32>;\n\
               @group(0) @binding(1) var<storage, read> b: array<u32>;\n\
               @group(0) @binding(2) var<storage, read_write> o: array<u32>;\n\
               fn read_b() -> u32 { return b[0]; }\n\
               @compute @workgroup_size(1) fn only_a() { o[0] = a[0]; }\n\
               @compute @workgroup_size(1) fn via_call() { o[0] = read_b(); }\n";
    let s = shader_bundle::validate_and_reflect("t", src).expect("valid");
    assert_eq!(s.bindings.len(), 3, "all declared bindings are reflected");
    let ep = |n: &str| s.entry_points.iter().find(|e| e.name == n).expect(n);
    assert_eq!(ep("only_a").bindings, vec![0, 2]);
    assert_eq!(
        ep("via_call").bindings,
        vec![1, 2],
        "uses through a call count"
    );

    // The shipped pyramid kernels: `down` reaches one source plane, one output and the plan.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let shaders = shader_bundle::bundle_dir(&dir).expect("shipped shaders validate");
    let pyramid = shaders
        .iter()
        .find(|s| s.name == "stitch_pyramid")
        .expect("pyramid");
    let down = pyramid
        .entry_points
        .iter()
        .find(|e| e.name == "down")
        .expect("down");
    assert_eq!(down.bindings, vec![0, 1, 4, 6]);
}

#[test]
fn kernel_handles_are_shader_then_entry_in_upper_case_and_unique() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let shaders = shader_bundle::bundle_dir(&dir).expect("shipped shaders validate");
    let handles = shader_bundle::kernel_handles(&shaders).expect("unique");
    let entries: usize = shaders.iter().map(|s| s.entry_points.len()).sum();
    assert_eq!(handles.len(), entries, "one handle per entry point");
    assert!(handles.iter().any(|h| h.constant == "CLAHE_LUT_MAIN"));

    // `a_b` + `c` and `a` + `b_c` would both be `A_B_C`: refused, not silently merged.
    let one = shader_bundle::validate_and_reflect(
        "a_b",
        "@group(0) @binding(0) var<storage, read_write> o: array<u32>;\n\
         @compute @workgroup_size(1) fn c() { o[0] = 1u; }\n",
    )
    .expect("valid");
    let two = shader_bundle::validate_and_reflect(
        "a",
        "@group(0) @binding(0) var<storage, read_write> o: array<u32>;\n\
         @compute @workgroup_size(1) fn b_c() { o[0] = 1u; }\n",
    )
    .expect("valid");
    let err = shader_bundle::kernel_handles(&[one, two]).expect_err("collision");
    assert!(err.contains("A_B_C"), "{err}");
}

#[test]
fn struct_layouts_and_common_consts_come_from_naga_and_name_their_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let common = dir.path().join("common");
    std::fs::create_dir(&common).expect("common");
    std::fs::write(
        common.join("shared.wgsl"),
        "const WORDS: u32 = 4u;\nconst HALF: f32 = 0.5;\nconst DERIVED: u32 = WORDS * 2u;\n\
         struct Inner { x: u32, y: f32 }\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("user.wgsl"),
        "#import shared\n\
         struct Params { count: u32, _pad0: u32, _pad1: u32, _pad2: u32, inner: Inner, v: vec4<f32> }\n\
         @group(0) @binding(0) var<uniform> params: Params;\n\
         @group(0) @binding(1) var<storage, read_write> o: array<u32>;\n\
         @compute @workgroup_size(1) fn main() { o[0] = params.count + DERIVED; }\n",
    )
    .expect("write");
    let shaders = shader_bundle::bundle_dir(dir.path()).expect("valid");
    let layouts = shader_bundle::struct_layouts(&shaders).expect("layouts");
    let keys: Vec<&str> = layouts.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(keys, ["SHARED_INNER", "USER_PARAMS"]);
    let params = &layouts[1];
    assert_eq!(params.wgsl, "user.wgsl::Params");
    // WGSL uniform layout: a struct member is 16-aligned and so is what follows it; `v` is 16-aligned.
    let offsets: Vec<(&str, u32, u32)> = params
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.offset, f.size))
        .collect();
    assert_eq!(
        offsets,
        [
            ("count", 0, 4),
            ("_pad0", 4, 4),
            ("_pad1", 8, 4),
            ("_pad2", 12, 4),
            ("inner", 16, 8),
            ("v", 32, 16)
        ]
    );
    assert_eq!(params.size, 48);
    let types: Vec<&str> = params.fields.iter().map(|f| f.ty.as_str()).collect();
    assert_eq!(types, ["u32", "u32", "u32", "u32", "Inner", "vec4<f32>"]);
    assert_eq!(params.name, "Params");
    assert_eq!(layouts[0].wgsl, "common/shared.wgsl::Inner");

    let consts = shader_bundle::common_constants(&shaders).expect("consts");
    let named: Vec<(&str, &str, &str)> = consts
        .iter()
        .map(|c| (c.name.as_str(), c.rust_type, c.value.as_str()))
        .collect();
    assert_eq!(
        named,
        [
            ("DERIVED", "u32", "8"),
            ("HALF", "f32", "0.5"),
            ("WORDS", "u32", "4")
        ]
    );
    assert!(consts.iter().all(|c| c.file == "shared"));

    let table = shader_bundle::generate_table(&shaders).expect("table");
    assert!(table.contains("pub mod shared {"), "{table}");
    assert!(table.contains("pub const WORDS: u32 = 4;"), "{table}");
    assert!(table.contains("pub const USER_MAIN: KernelId"), "{table}");
}

/// The generated interface as the library sees it: the plan layout words of `shaders/common/plan.wgsl`
/// by name, and a dispatch whose bindings differ from what its entry point reaches is refused.
#[test]
fn dispatch_binds_exactly_the_entry_points_bindings() {
    use radpipe::gpu::shaders::{common as wgsl_common, kernels};
    use radpipe::pipeline::{Bind, Recorder};

    assert_eq!(wgsl_common::plan::PLAN_BLOCK, 16);
    assert_eq!(wgsl_common::plan::PLAN_OFFSET, 10);

    let engine = crate::common::engine();
    let kernel = engine
        .shaders()
        .kernel(kernels::HISTOGRAM_RANGE_MAIN)
        .expect("kernel");
    let names: Vec<(u32, &str)> = kernel
        .bindings
        .iter()
        .map(|b| (b.binding, b.name))
        .collect();
    assert_eq!(names, [(0, "params"), (1, "input"), (2, "range")]);
    let usage = radpipe::wgpu::BufferUsages::STORAGE | radpipe::wgpu::BufferUsages::UNIFORM;
    let buf = engine
        .alloc_buffer(64, usage, "binding check")
        .expect("buffer");
    let b = || Bind::Buffer(buf.buffer());
    let mut rec = Recorder::new(engine);

    let err = rec
        .dispatch(&kernel, &[(0, b()), (1, b())], [1, 1, 1])
        .expect_err("a missing binding");
    assert!(err.to_string().contains("binding 2 (`range`)"), "{err}");
    let err = rec
        .dispatch(
            &kernel,
            &[(0, b()), (1, b()), (2, b()), (3, b())],
            [1, 1, 1],
        )
        .expect_err("an unused binding");
    assert!(err.to_string().contains("binding 3 given"), "{err}");
    let err = rec
        .dispatch(
            &kernel,
            &[(0, b()), (1, b()), (1, b()), (2, b())],
            [1, 1, 1],
        )
        .expect_err("a repeated binding");
    assert!(err.to_string().contains("given twice"), "{err}");

    // The pyramid's `down` kernel has no `out2`: its layout holds four bindings, not seven.
    let down = engine
        .shaders()
        .kernel(kernels::STITCH_PYRAMID_DOWN)
        .expect("kernel");
    let bound: Vec<u32> = down.bindings.iter().map(|b| b.binding).collect();
    assert_eq!(bound, [0, 1, 4, 6]);
}
