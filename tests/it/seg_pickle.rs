//! The `.pdparams` pickle reader against files PaddlePaddle itself wrote (`scripts/make_bisenet_fixtures.py`):
//! the full BiSeNetV2 checkpoint (protocol 4, as `paddle.save` writes it) and a small protocol-2 pickle
//! (numpy bytes through `_codecs.encode`, a Fortran-ordered array, float64 and int64 arrays). Every
//! value is compared exactly with what numpy recorded. Truncated and corrupted copies must fail with an
//! error that names the file — never panic.

use crate::common;

use std::path::Path;

use common::{Rng, repo_path, require, seed};
use radpipe::seg::pickle::{ArrayData, parse_pickled_arrays, read_pickled_arrays};

fn manifest() -> serde_json::Value {
    let path = repo_path("tests/fixtures/bisenet/manifest.json");
    serde_json::from_slice(&std::fs::read(require(&path)).expect("read manifest")).expect("json")
}

#[test]
fn protocol_2_pickle_matches_numpy() {
    let m = manifest();
    let path = repo_path("tests/fixtures/bisenet/tiny_proto2.pdparams");
    let read = read_pickled_arrays(require(&path)).expect("read");
    let expected = m["tiny_proto2"]["arrays"].as_object().expect("arrays");
    assert_eq!(read.arrays.len(), expected.len());
    for (name, array) in &read.arrays {
        let e = &expected[name];
        let shape: Vec<usize> = e["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|v| v.as_u64().expect("dim") as usize)
            .collect();
        assert_eq!(array.shape, shape, "{name}: shape");
        let values: Vec<f64> = e["values_c_order"]
            .as_array()
            .expect("values")
            .iter()
            .map(|v| v.as_f64().expect("value"))
            .collect();
        assert_eq!(array.data.to_f64(), values, "{name}: values");
        let kind_ok = matches!(
            (&array.data, e["dtype"].as_str().expect("dtype")),
            (ArrayData::F32(_), "float32")
                | (ArrayData::F64(_), "float64")
                | (ArrayData::I64(_), "int64")
        );
        assert!(kind_ok, "{name}: dtype {:?} vs {}", array.dtype, e["dtype"]);
    }
}

#[test]
fn paddle_checkpoint_has_every_tensor() {
    let m = manifest();
    let path = repo_path("tests/fixtures/bisenet/weights.pdparams");
    let read = read_pickled_arrays(require(&path)).expect("read");
    assert_eq!(
        read.arrays.len() as u64,
        m["model"]["tensors"].as_u64().expect("n")
    );
    let total: usize = read.arrays.iter().map(|(_, a)| a.data.len()).sum();
    assert_eq!(total as u64, m["model"]["parameters"].as_u64().expect("p"));
    assert_eq!(
        read.other_keys,
        vec!["StructuredToParameterName@@".to_string()]
    );
    let (name, first) = &read.arrays[0];
    assert_eq!(name, "db.convs.0._conv.weight");
    assert_eq!(first.shape, vec![64, 3, 3, 3]);
    assert!(
        read.arrays
            .iter()
            .all(|(_, a)| matches!(a.data, ArrayData::F32(_)) && a.dtype == "f4")
    );
}

#[test]
fn truncated_and_corrupted_pickles_fail_cleanly() {
    let path = repo_path("tests/fixtures/bisenet/tiny_proto2.pdparams");
    let bytes = std::fs::read(require(&path)).expect("read");
    let name = Path::new("broken.pdparams");
    for cut in 0..bytes.len() {
        let r = parse_pickled_arrays(&bytes[..cut], name);
        let e = r.expect_err("a truncated pickle must fail");
        assert!(e.to_string().contains("broken.pdparams"), "{e}");
    }
    let mut rng = Rng::new(seed("truncated_and_corrupted_pickles_fail_cleanly"));
    for _ in 0..2000 {
        let mut b = bytes.clone();
        for _ in 0..rng.int(1, 4) {
            let i = rng.int(0, b.len() as i64 - 1) as usize;
            b[i] = rng.int(0, 255) as u8;
        }
        // Either a clean error or a (possibly different) dict: never a panic.
        if let Err(e) = parse_pickled_arrays(&b, name) {
            assert!(e.to_string().contains("broken.pdparams"), "{e}");
        }
    }
}
