//! BiSeNetV2 weights: the PaddleSeg checkpoint fixture loads by name into radpipe's network (every
//! tensor, exactly), round-trips through safetensors and burn records without changing a logit, is
//! readable by burn-store's own safetensors reader, and broken files are refused with the offending
//! tensor named. CPU only (burn's Flex backend); the GPU is covered by seg_parity and seg_gpu_vs_cpu.

use crate::common;

use burn::tensor::{Device, Tensor, TensorData};
use common::{Rng, repo_path, require, seed};
use radpipe::seg::BiSeNetV2;
use radpipe::seg::bisenet::BiSeNetV2Config;
use radpipe::seg::weights::{
    self, NamedTensor, NamedTensors, expected_tensors, export_tensors, infer_config,
    model_from_tensors, read_pdparams, read_weights, save_weights,
};

fn fixture() -> NamedTensors {
    read_pdparams(require(&repo_path(
        "tests/fixtures/bisenet/weights.pdparams",
    )))
    .expect("read")
}

fn logits(model: &BiSeNetV2, input: &[f32], h: usize, w: usize) -> Vec<f32> {
    let device = Device::flex();
    let x = Tensor::<4>::from_data(TensorData::new(input.to_vec(), [1, 3, h, w]), &device);
    model
        .forward(x)
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32 logits")
}

fn random_input(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.range(-1.0, 1.0) as f32).collect()
}

#[test]
fn paddleseg_names_and_shapes_match_the_checkpoint() {
    let named = fixture();
    let config = infer_config(&named).expect("config");
    assert_eq!(config, BiSeNetV2Config::paddleseg(2, 0.25));
    let model = config.init(&Device::flex());
    let expected = expected_tensors(&model);
    assert_eq!(expected.len(), 356);
    for (name, shape) in &expected {
        let t = named
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("{name} not in the checkpoint"));
        assert_eq!(&t.shape, shape, "{name}");
    }
    let params: usize = expected
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    assert_eq!(params, 2_525_874);
}

#[test]
fn loaded_tensors_are_the_checkpoint_exactly() {
    let named = fixture();
    let model = model_from_tensors(&named, &Device::flex()).expect("load");
    let back = export_tensors(&model).expect("export");
    assert_eq!(back.tensors.len(), named.tensors.len());
    for (name, t) in &named.tensors {
        assert_eq!(back.tensors.get(name), Some(t), "{name}");
    }
}

#[test]
fn safetensors_and_burn_records_round_trip() {
    let named = fixture();
    let device = Device::flex();
    let model = model_from_tensors(&named, &device).expect("load");
    let mut rng = Rng::new(seed("safetensors_and_burn_records_round_trip"));
    let (h, w) = (72, 56);
    let input = random_input(&mut rng, 3 * h * w);
    let reference = logits(&model, &input, h, w);
    let dir = tempfile::tempdir().expect("tempdir");
    for file in ["m.safetensors", "m.bpk"] {
        let path = dir.path().join(file);
        save_weights(&model, &path).expect("save");
        let again = weights::load_model(&path, &device).expect("load again");
        assert_eq!(
            logits(&again, &input, h, w),
            reference,
            "{file}: logits changed"
        );
        let read = read_weights(&path).expect("read");
        assert_eq!(read.tensors, named.tensors, "{file}: tensors changed");
    }
    // burn-store's own reader sees the PaddleSeg names.
    use burn::store::{ModuleStore, SafetensorsStore};
    let mut store = SafetensorsStore::from_file(dir.path().join("m.safetensors"));
    let mut keys = store
        .keys()
        .expect("burn-store reads radpipe's safetensors");
    keys.sort();
    let ours: Vec<String> = named.tensors.keys().cloned().collect();
    assert_eq!(keys, ours);
    // .pdparams is read-only.
    let e = save_weights(&model, &dir.path().join("m.pdparams")).expect_err("read-only");
    assert!(e.to_string().contains("m.pdparams"), "{e}");
}

fn load_err(named: &NamedTensors) -> String {
    model_from_tensors(named, &Device::flex())
        .expect_err("must be refused")
        .to_string()
}

#[test]
fn bad_weights_name_the_tensor() {
    let named = fixture();

    let mut missing = named.clone();
    missing.tensors.remove("bga.conv._batch_norm._variance");
    let e = load_err(&missing);
    assert!(
        e.contains("'bga.conv._batch_norm._variance'") && e.contains("missing"),
        "{e}"
    );
    assert!(e.contains("weights.pdparams"), "{e}");

    let mut reshaped = named.clone();
    let t = reshaped
        .tensors
        .get_mut("sb.ce.conv_3x3.weight")
        .expect("tensor");
    t.shape = vec![128, 128, 1, 9];
    let e = load_err(&reshaped);
    assert!(
        e.contains("'sb.ce.conv_3x3.weight' has shape [128, 128, 1, 9]"),
        "{e}"
    );
    assert!(e.contains("[128, 128, 3, 3]"), "{e}");

    let mut extra = named.clone();
    extra.tensors.insert(
        "head.conv_1x1.extra".into(),
        NamedTensor {
            shape: vec![1],
            values: vec![0.0],
        },
    );
    let e = load_err(&extra);
    assert!(
        e.contains("'head.conv_1x1.extra'") && e.contains("does not have"),
        "{e}"
    );

    let mut headless = named.clone();
    headless.tensors.remove("head.conv_1x1.weight");
    let e = load_err(&headless);
    assert!(e.contains("'head.conv_1x1.weight' is missing"), "{e}");

    let e = weights::load_model(
        std::path::Path::new("nowhere/model.pdparams"),
        &Device::flex(),
    )
    .expect_err("missing file")
    .to_string();
    assert!(
        e.contains("nowhere/model.pdparams") && e.contains("not found"),
        "{e}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let odd = dir.path().join("model.onnx");
    std::fs::write(&odd, b"x").expect("write");
    let e = weights::load_model(&odd, &Device::flex())
        .expect_err("extension")
        .to_string();
    assert!(e.contains("model.onnx") && e.contains(".pdparams"), "{e}");

    let junk_record = dir.path().join("junk.bpk");
    std::fs::write(&junk_record, b"not a burn record at all").expect("write");
    let e = weights::load_model(&junk_record, &Device::flex())
        .expect_err("junk record")
        .to_string();
    assert!(e.contains("junk.bpk"), "{e}");

    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, [200u8, 0, 0, 0, 0, 0, 0, 0, b'{']).expect("write");
    let e = weights::load_model(&junk, &Device::flex())
        .expect_err("junk")
        .to_string();
    assert!(e.contains("junk.safetensors"), "{e}");
}
