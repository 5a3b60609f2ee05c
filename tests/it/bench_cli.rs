//! `radpipe bench` end to end on tiny sizes: the report names the adapter and timing method, has one
//! result per op and size with consistent derived figures, and bad options are refused.

use std::process::Command;

fn radpipe(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_radpipe"))
        .args(args)
        .output()
        .expect("run radpipe")
}

#[test]
fn json_report_is_complete_and_consistent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("bench.json");
    let o = radpipe(&[
        "bench",
        "--sizes",
        "64,96",
        "--iters",
        "2",
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("report")).expect("json");
    assert!(v["adapter"]["name"].as_str().is_some_and(|n| !n.is_empty()));
    assert!(
        matches!(v["timing"].as_str(), Some("timestamps" | "submit-wait")),
        "{v}"
    );
    assert!(v["copy_gb_per_s"].as_f64().is_some_and(|g| g > 0.0));
    let results = v["results"].as_array().expect("results");
    let ops = radpipe::bench::all_ops();
    assert_eq!(results.len(), ops.len() * 2);
    for r in results {
        let median = r["median_s"].as_f64().expect("median");
        let pixels = r["pixels"].as_f64().expect("pixels");
        let bytes = r["bytes"].as_f64().expect("bytes");
        assert!(
            median > 0.0 && r["min_s"].as_f64().expect("min") <= median,
            "{r}"
        );
        assert!(
            (r["pixels_per_s"].as_f64().expect("pps") - pixels / median).abs()
                <= 1e-6 * pixels / median
        );
        let gbps = bytes / median / 1e9;
        assert!((r["gb_per_s"].as_f64().expect("gbps") - gbps).abs() <= 1e-9 + 1e-6 * gbps);
        let fraction = gbps / v["copy_gb_per_s"].as_f64().expect("copy");
        assert!(
            (r["fraction_of_copy"].as_f64().expect("fraction") - fraction).abs()
                <= 1e-6 * fraction.max(1.0)
        );
    }
}

#[test]
fn bad_options_are_refused() {
    for args in [
        &["bench", "--ops", "nonsense", "--sizes", "64"][..],
        &["bench", "--sizes", "0"][..],
        &["bench", "--iters", "0", "--sizes", "64"][..],
    ] {
        let o = radpipe(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("radpipe: error:"),
            "{args:?}"
        );
    }
}

/// The bench's reference kernel (`window-plain`) computes what it claims: its output equals its
/// formula evaluated on the CPU for the bench's own input (a ramp crossing the whole window), within
/// one level where f32 rounding of the fused GPU arithmetic may differ, and its output is not constant.
#[test]
fn plain_window_reference_kernel_matches_its_formula() {
    use radpipe::bench::BenchCase;
    use radpipe::bench::cases::PlainWindowCase;

    let engine = radpipe::Engine::new().expect("engine");
    let side = 64;
    let case = PlainWindowCase::new(&engine, side).expect("case");
    let mut rec = radpipe::pipeline::Recorder::new(&engine);
    case.record(&mut rec).expect("record");
    let download = rec.download(case.output()).expect("download");
    rec.submit().expect("submit");
    let got = download.wait().expect("readback");
    let expected = case.reference(side).expect("reference");
    let radpipe::image::Pixels::U8(got) = got.pixels else {
        panic!("u8 output expected");
    };
    let worst = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
        .max()
        .expect("pixels");
    assert!(worst <= 1, "max difference {worst}");
    assert!(
        expected.contains(&0)
            && expected.contains(&255)
            && expected.iter().any(|&v| v > 0 && v < 255)
    );
    assert!(
        PlainWindowCase::new(&engine, 3).is_err(),
        "9 pixels are not whole words"
    );
}

/// `--list` names every op with its description, one per line, descriptions in one column.
#[test]
fn list_names_every_op_in_one_column() {
    let o = radpipe(&["bench", "--list"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    let ops = radpipe::bench::all_ops();
    assert_eq!(lines.len(), ops.len(), "{text}");
    let mut columns = std::collections::HashSet::new();
    for (line, op) in lines.iter().zip(&ops) {
        assert!(
            line.starts_with(op.name),
            "{line:?} does not start with {}",
            op.name
        );
        let at = line
            .find(op.description)
            .expect("description on its op's line");
        assert!(at > op.name.len(), "{line:?}");
        columns.insert(at);
    }
    assert_eq!(
        columns.len(),
        1,
        "descriptions start in different columns:\n{text}"
    );
}
