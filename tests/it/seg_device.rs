//! `--device auto`: burn's CPU backend on a CPU adapter (lavapipe), the engine's own device on a real
//! GPU, checked on fabricated adapters of every type and on every adapter this machine has (each
//! forced by name); `gpu` and `cpu` still force their device; `segment`'s JSON, `run`'s report and
//! `evaluate`'s JSON say which ran; masks from `auto` equal those of the explicit choice it made.

use std::path::{Path, PathBuf};

use crate::common::cli::{radpipe, s, stderr};
use crate::common::{repo_path, require};
use radpipe::seg::infer::{Backend, DeviceChoice, is_cpu_adapter};
use radpipe::{Engine, EngineOptions};

fn adapter(name: &str, t: wgpu::DeviceType) -> wgpu::AdapterInfo {
    let mut info = wgpu::AdapterInfo::new(t, wgpu::Backend::Vulkan);
    info.name = name.into();
    info
}

#[test]
fn auto_takes_the_gpu_only_for_a_real_gpu_that_burn_can_share() {
    use wgpu::DeviceType as T;
    let cases = [
        ("NVIDIA H200", T::DiscreteGpu, true, true),
        ("Intel Arc", T::IntegratedGpu, true, true),
        ("virtio-gpu", T::VirtualGpu, true, true),
        ("llvmpipe (LLVM 15.0.6, 256 bits)", T::Cpu, true, false),
        ("SwiftShader Device", T::Other, true, false),
        ("Some adapter", T::Other, true, true),
        ("NVIDIA H200", T::DiscreteGpu, false, false),
    ];
    for (name, t, shareable, gpu) in cases {
        let info = adapter(name, t);
        let (on_gpu, why) = DeviceChoice::Auto
            .runs_on_gpu(Some((&info, shareable)))
            .expect("auto");
        assert_eq!(on_gpu, gpu, "{name} {t:?} shareable {shareable}: {why}");
        assert!(why.starts_with("auto: ") && why.contains(name), "{why}");
        // gpu forces the engine's device, cpu the CPU backend, whatever the adapter.
        assert!(
            DeviceChoice::Gpu
                .runs_on_gpu(Some((&info, shareable)))
                .expect("gpu")
                .0
        );
        assert!(
            !DeviceChoice::Cpu
                .runs_on_gpu(Some((&info, shareable)))
                .expect("cpu")
                .0
        );
    }
    assert!(!DeviceChoice::Auto.runs_on_gpu(None).expect("no adapter").0);
    let err = DeviceChoice::Gpu
        .runs_on_gpu(None)
        .expect_err("gpu without an engine");
    assert!(err.to_string().contains("--device"), "{err}");
    assert_eq!(DeviceChoice::default(), DeviceChoice::Auto);
    for c in [DeviceChoice::Auto, DeviceChoice::Gpu, DeviceChoice::Cpu] {
        assert_eq!(DeviceChoice::parse(c.name()).expect("parse"), c);
    }
    assert!(DeviceChoice::parse("tpu").is_err());
}

/// Every adapter of this machine, forced by name: `auto` resolves to the CPU backend exactly on
/// the CPU adapters, `gpu` always to the engine's device.
#[test]
fn auto_on_each_adapter_of_this_machine_forced_by_name() {
    let adapters = Engine::list_adapters();
    assert!(
        !adapters.is_empty(),
        "no adapter: install mesa-vulkan-drivers"
    );
    for a in adapters {
        let Ok(engine) = Engine::with_options(EngineOptions {
            adapter_name: Some(a.name.clone()),
            ..EngineOptions::default()
        }) else {
            continue; // an adapter without compute shaders is never picked
        };
        let cpu = is_cpu_adapter(engine.adapter_info());
        assert_eq!(
            cpu,
            a.device_type == "cpu" || a.name.contains("llvmpipe"),
            "{a:?}"
        );
        let (backend, used) = DeviceChoice::Auto.resolve(Some(&engine)).expect("auto");
        assert_eq!(matches!(backend, Backend::Cpu), cpu, "{a:?}: {used}");
        assert_eq!(used.backend, if cpu { "cpu" } else { "gpu" }, "{used}");
        let (backend, used) = DeviceChoice::Gpu.resolve(Some(&engine)).expect("gpu");
        assert!(
            matches!(backend, Backend::Gpu(_)) && used.name == a.name,
            "{used}"
        );
    }
    let (backend, used) = DeviceChoice::Auto.resolve(None).expect("no engine");
    assert!(
        matches!(backend, Backend::Cpu) && used.backend == "cpu",
        "{used}"
    );
}

/// What `auto` should pick for the adapter a radpipe process picks here.
pub fn expected_auto() -> &'static str {
    match Engine::new() {
        Ok(e) if !is_cpu_adapter(e.adapter_info()) => "gpu",
        _ => "cpu",
    }
}

fn fixture_weights() -> PathBuf {
    require(&repo_path("tests/fixtures/bisenet/weights.pdparams")).to_path_buf()
}

/// `radpipe segment` of the bundled slice with `--device DEVICE` (fixture weights, 64² network):
/// the report's device and the mask's bytes.
fn segment(dir: &Path, device: &str) -> (serde_json::Value, Vec<u8>) {
    let out = dir.join(device);
    std::fs::create_dir_all(&out).expect("mkdir");
    let json = out.join("r.json");
    let o = radpipe(&[
        "segment",
        s(&repo_path("data/demo/brain_mid_sagittal.png")),
        "-o",
        s(&out),
        "--model",
        s(&fixture_weights()),
        "--size",
        "64",
        "--device",
        device,
        "--json",
        s(&json),
    ]);
    assert!(o.status.success(), "{device}: {}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.starts_with("network on "), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("report")).expect("json");
    let mask = std::fs::read(out.join("brain_mid_sagittal_mask.png")).expect("mask");
    (report[0]["device"].clone(), mask)
}

#[test]
fn segment_reports_the_device_and_auto_gives_the_masks_of_the_choice_it_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = expected_auto();
    let (auto, auto_mask) = segment(dir.path(), "auto");
    assert_eq!(auto["backend"], expected, "{auto}");
    assert_eq!(auto["choice"], "auto", "{auto}");
    let (gpu, gpu_mask) = segment(dir.path(), "gpu");
    assert_eq!(
        (gpu["backend"].as_str(), gpu["choice"].as_str()),
        (Some("gpu"), Some("gpu"))
    );
    let (cpu, cpu_mask) = segment(dir.path(), "cpu");
    assert_eq!(cpu["backend"], "cpu", "{cpu}");
    assert_eq!(cpu["name"], radpipe::seg::infer::CPU_BACKEND_NAME);
    let same = if expected == "cpu" {
        &cpu_mask
    } else {
        &gpu_mask
    };
    assert_eq!(
        &auto_mask, same,
        "auto's mask differs from --device {expected}'s"
    );
}

/// `radpipe run` with a segment stage: the report names the device, `device = "gpu"` forces the
/// engine's device, and the masks agree with `auto`'s.
#[test]
fn run_segment_stage_reports_its_device() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    std::fs::copy(
        repo_path("data/demo/brain_mid_sagittal.png"),
        input.join("b.png"),
    )
    .expect("copy");
    let mut masks = Vec::new();
    for device in ["auto", "gpu"] {
        let pipe = dir.path().join(format!("{device}.toml"));
        let text = format!(
            "output = \"png\"\n[[stage]]\nop = \"segment\"\nweights = {:?}\nsize = 64\ndevice = \"{device}\"\n",
            s(&fixture_weights())
        );
        std::fs::write(&pipe, text).expect("pipeline");
        let (out, report) = (
            dir.path().join(device),
            dir.path().join(format!("{device}.json")),
        );
        let o = radpipe(&[
            "run",
            s(&pipe),
            s(&input),
            "-o",
            s(&out),
            "--report",
            s(&report),
        ]);
        assert!(o.status.success(), "{device}: {}", stderr(&o));
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("json");
        let want = if device == "gpu" {
            "gpu"
        } else {
            expected_auto()
        };
        assert_eq!(r["segment_device"]["backend"], want, "{device}: {r}");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains("segment stage: network on "), "{stdout}");
        masks.push(radpipe::io::raster::read_raster(&out.join("b.png")).expect("mask"));
    }
    let (a, g) = (&masks[0], &masks[1]);
    let differ = (0..a.pixel_count())
        .filter(|&i| a.pixels.get_f64(i) != g.pixels.get_f64(i))
        .count();
    // The CPU and GPU paths differ by float rounding only: at most a few pixels on the threshold.
    assert!(differ * 200 <= a.pixel_count(), "{differ} pixels differ");
}
