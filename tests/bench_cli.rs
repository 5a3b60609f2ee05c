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
