//! Embeds every `shaders/*.wgsl` with its `shaders/common` imports resolved, validates each with
//! naga, so a broken shader fails `cargo build` instead of a user's run, and generates the typed
//! shader interface `src/gpu/shaders.rs` includes: a handle per entry point, the bindings each entry
//! point reaches, the layouts of bound structs and the constants of `shaders/common/`.

#[path = "build_support/shader_bundle/mod.rs"]
#[allow(dead_code)]
mod shader_bundle;

use std::path::PathBuf;

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let shader_dir = root.join("shaders");
    println!("cargo:rerun-if-changed=shaders");
    println!("cargo:rerun-if-changed=build_support/shader_bundle");
    let shaders = match shader_bundle::bundle_dir(&shader_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            panic!("shader validation failed:\n{e}");
        }
    };
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("shader_interface.rs");
    let table = shader_bundle::generate_table(&shaders).unwrap_or_else(|e| {
        eprintln!("{e}");
        panic!("shader interface generation failed:\n{e}");
    });
    std::fs::write(&out, table).expect("write OUT_DIR/shader_interface.rs");
}
