//! BiSeNetV2 against PaddleSeg itself: the fixture (`scripts/make_bisenet_fixtures.py`) holds a
//! `paddleseg.models.BiSeNetV2(num_classes=2, lambd=0.25, align_corners=False)` checkpoint with random
//! weights and random batch-norm statistics, and the eval-mode logits PaddleSeg computed for inputs at
//! 256×256, 384×384 and the odd size 200×264 (not a multiple of 32: exercises SAME padding's
//! asymmetric pads, the ceil-sized stages and the non-integer bilinear upsampling). The inputs are
//! regenerated here from their SplitMix64 seeds. radpipe's network must give the same logits within
//! 1e-3 on burn's CPU backend and on the GPU, and the two backends must agree within 1e-3.

use crate::common;

use burn::tensor::{Device, Tensor, TensorData};
use common::{Rng, engine, repo_path, require};
use radpipe::seg::infer::burn_device;
use radpipe::seg::weights::{model_from_tensors, read_pdparams};

const TOLERANCE: f32 = 1e-3;

struct Case {
    h: usize,
    w: usize,
    input: Vec<f32>,
    expected: Vec<f32>,
}

fn cases() -> Vec<Case> {
    let dir = repo_path("tests/fixtures/bisenet");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(require(&dir.join("manifest.json"))).expect("read"))
            .expect("json");
    manifest["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let h = c["height"].as_u64().expect("h") as usize;
            let w = c["width"].as_u64().expect("w") as usize;
            let mut rng = Rng::new(c["input_seed"].as_u64().expect("seed"));
            let input = (0..3 * h * w)
                .map(|_| rng.range(-1.0, 1.0) as f32)
                .collect();
            let path = dir.join(c["logits"].as_str().expect("file"));
            let expected = std::fs::read(require(&path))
                .expect("logits")
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect::<Vec<f32>>();
            assert_eq!(expected.len(), 2 * h * w, "{}", path.display());
            Case {
                h,
                w,
                input,
                expected,
            }
        })
        .collect()
}

fn run(device: &Device, case: &Case) -> Vec<f32> {
    let named = read_pdparams(&repo_path("tests/fixtures/bisenet/weights.pdparams")).expect("read");
    let model = model_from_tensors(&named, device).expect("load");
    let x = Tensor::<4>::from_data(
        TensorData::new(case.input.clone(), [1, 3, case.h, case.w]),
        device,
    );
    let y = model.forward(x);
    assert_eq!(y.dims(), [1, 2, case.h, case.w]);
    y.into_data().try_into_vec::<f32>().expect("f32")
}

fn max_diff(a: &[f32], b: &[f32]) -> (f32, usize) {
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(i, (x, y))| ((x - y).abs(), i))
        .fold(
            (0.0, 0),
            |m, d| if d.0 > m.0 || d.0.is_nan() { d } else { m },
        )
}

#[test]
fn logits_match_paddleseg_on_cpu_and_gpu() {
    let gpu = burn_device(engine()).expect("burn on the engine's device");
    let cpu = Device::flex();
    let mut failures = Vec::new();
    for case in cases() {
        let on_cpu = run(&cpu, &case);
        let on_gpu = run(&gpu, &case);
        let (d_cpu, i_cpu) = max_diff(&on_cpu, &case.expected);
        let (d_gpu, i_gpu) = max_diff(&on_gpu, &case.expected);
        let (d_both, _) = max_diff(&on_cpu, &on_gpu);
        eprintln!(
            "{}x{}: max |logit - paddleseg| cpu {d_cpu:.2e}, gpu {d_gpu:.2e}; |cpu - gpu| {d_both:.2e}",
            case.h, case.w
        );
        for (what, d, i, got) in [
            ("cpu", d_cpu, i_cpu, &on_cpu),
            ("gpu", d_gpu, i_gpu, &on_gpu),
        ] {
            if d.is_nan() || d > TOLERANCE {
                failures.push(format!(
                    "{}x{} {what}: max diff {d} at {i} (got {}, paddleseg {})",
                    case.h, case.w, got[i], case.expected[i]
                ));
            }
        }
        if d_both.is_nan() || d_both > TOLERANCE {
            failures.push(format!("{}x{}: cpu vs gpu {d_both}", case.h, case.w));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
