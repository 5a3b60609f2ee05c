//! Embeds every `shaders/*.wgsl` with its `shaders/common` imports resolved, and validates each with
//! naga, so a broken shader fails `cargo build` instead of a user's run.

#[path = "build_support/shader_bundle.rs"]
#[allow(dead_code)]
mod shader_bundle;

use std::path::PathBuf;

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let shader_dir = root.join("shaders");
    println!("cargo:rerun-if-changed=shaders");
    println!("cargo:rerun-if-changed=build_support/shader_bundle.rs");
    let shaders = match shader_bundle::bundle_dir(&shader_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            panic!("shader validation failed:\n{e}");
        }
    };
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("shaders.rs");
    std::fs::write(&out, shader_bundle::generate_table(&shaders))
        .expect("write OUT_DIR/shaders.rs");
}
