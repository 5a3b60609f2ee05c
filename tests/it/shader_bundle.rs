//! The build-time shader check: what `build.rs` runs, exercised directly so that a broken shader is
//! known to fail the build with the file named, and imports resolve as documented.

#[path = "../../build_support/shader_bundle.rs"]
#[allow(dead_code)]
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
