//! `radpipe stitch` as a user meets it: DICOM stations in (simulated from the bundled real CR with
//! known geometry), a derived DICOM out whose size, spacing, position and values are right — read back
//! by radpipe's reader and, when a Python with pydicom is available, by pydicom — plus the JSON report
//! and the windowed view; and every inconsistent input refused with one line naming the problem.

use crate::common;

use common::cli::{radpipe, s, stderr};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::repo_path;
use radpipe::image::{HostImage, Pixels};
use radpipe::io::dicom::{DerivedDicom, read_dicom, write_derived_dicom};
use radpipe::stitch::simulate::{SimStation, cut_stations};
use radpipe::stitch::{Station, StitchError, StitchParams, stitch};
use sha2::{Digest, Sha256};

fn assert_refused(o: &Output, also: &str, output: &Path) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit code; stderr: {err}");
    assert!(err.contains(also), "error must say '{also}': {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!output.exists(), "{} must not exist", output.display());
}

fn specs() -> Vec<SimStation> {
    vec![
        SimStation {
            origin: [4.0, 2.0],
            angle_deg: 0.0,
            gain: 1.0,
            width: 300,
            height: 180,
        },
        SimStation {
            origin: [9.6, 131.3],
            angle_deg: 0.25,
            gain: 1.08,
            width: 300,
            height: 180,
        },
    ]
}

/// Writes the simulated stations as derived DICOM (Modality copied from the CR source unless
/// `modality_of_second` is false, then the second station has none and gets "OT").
fn write_stations(dir: &Path, same_modality: bool) -> Vec<PathBuf> {
    let cr = read_dicom(&repo_path("data/demo/cr_chest.dcm")).expect("cr");
    let truth = cr.frame(0).expect("frame");
    let truth = match truth.pixels {
        Pixels::U16(_) => truth,
        _ => panic!("u16 expected"),
    };
    let images = cut_stations(&truth, &specs(), 6.0, 0.4, 7).expect("cut");
    images
        .iter()
        .enumerate()
        .map(|(i, img)| {
            let path = dir.join(format!("station{i}.dcm"));
            let source = (same_modality || i == 0).then_some(&cr);
            write_derived_dicom(
                &path,
                img,
                &DerivedDicom {
                    rescale: Some((1.0, 0.0)),
                    bits_stored: Some(16),
                    ..DerivedDicom::from_source(source, "simulated station")
                },
            )
            .expect("write station");
            path
        })
        .collect()
}

fn sha256_u16(values: &[u16]) -> String {
    let mut h = Sha256::new();
    for v in values {
        h.update(v.to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A Python with pydicom: $RADPIPE_PYTHON, the repository's .venv, or python3.
fn python_with_pydicom() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("RADPIPE_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([repo_path(".venv/bin/python"), PathBuf::from("python3")])
        .collect();
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import pydicom, numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn stitched_dicom_round_trips_with_geometry_report_and_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = write_stations(dir.path(), true);
    let out = dir.path().join("stitched.dcm");
    let report = dir.path().join("layout.json");
    let view = dir.path().join("view.png");
    let mut args = vec!["stitch"];
    args.extend(inputs.iter().map(|p| s(p)));
    args.extend([
        "-o",
        s(&out),
        "--refine",
        "--max-shift",
        "10",
        "--blend",
        "multiband",
        "--bands",
        "4",
        "--report",
        s(&report),
        "--display",
        s(&view),
    ]);
    let o = radpipe(&args);
    assert!(o.status.success(), "stitch failed: {}", stderr(&o));

    // Report: exactly the documented keys.
    let text = std::fs::read_to_string(&report).expect("report");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let keys: Vec<&String> = json.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["canvas", "stations", "warnings"]);
    assert_eq!(
        json["warnings"],
        serde_json::json!([]),
        "two good stations: no warning"
    );
    let canvas: Vec<u64> = json["canvas"]
        .as_array()
        .expect("canvas")
        .iter()
        .map(|v| v.as_u64().expect("int"))
        .collect();
    let stations = json["stations"].as_array().expect("stations");
    assert_eq!(stations.len(), 2);
    for st in stations {
        let mut k: Vec<&String> = st.as_object().expect("station").keys().collect();
        k.sort();
        assert_eq!(k, ["file", "gain", "ncc", "offset"]);
    }
    assert!(stations[0]["ncc"].is_null());
    let ncc = stations[1]["ncc"].as_f64().expect("ncc");
    assert!(ncc > 0.9, "ncc {ncc}");
    let gain = stations[1]["gain"].as_f64().expect("gain");
    assert!((gain - 1.0 / 1.08).abs() < 0.01, "gain {gain}");
    let dx = stations[1]["offset"][0].as_f64().expect("x")
        - stations[0]["offset"][0].as_f64().expect("x");
    let dy = stations[1]["offset"][1].as_f64().expect("y")
        - stations[0]["offset"][1].as_f64().expect("y");
    eprintln!(
        "report: canvas {canvas:?}, relative offset ({dx:.3}, {dy:.3}), gain {gain:.4}, ncc {ncc:.4}"
    );
    assert!((dx - 5.6).abs() < 0.5 && (dy - 129.3).abs() < 0.5);

    // Our reader: size, spacing, orientation, position of canvas pixel (0,0), values = library result.
    let d = read_dicom(&out).expect("read stitched");
    assert_eq!(
        [u64::from(d.width), u64::from(d.height)],
        [canvas[0], canvas[1]]
    );
    assert_eq!(d.bits_allocated, 16);
    let g = d.geometry(0);
    assert_eq!(g.pixel_spacing, Some([0.4, 0.4]));
    let pos = g.image_position.expect("position");
    let off0 = [
        stations[0]["offset"][0].as_f64().expect("x"),
        stations[0]["offset"][1].as_f64().expect("y"),
    ];
    // Station 0's pixel (0,0) is at (origin·0.4) mm; the canvas starts `off0` pixels before it.
    let want = [(4.0 - off0[0]) * 0.4, (2.0 - off0[1]) * 0.4];
    assert!(
        (pos[0] - want[0]).abs() < 1e-3 && (pos[1] - want[1]).abs() < 1e-3,
        "position {pos:?}, want {want:?}"
    );
    let stored = d.frame(0).expect("frame");
    let lib_stations: Vec<Station> = inputs
        .iter()
        .map(|p| radpipe::workflow::stitch::read_station(p).expect("read").0)
        .collect();
    let engine = common::engine();
    let lib = stitch(
        engine,
        &lib_stations,
        &StitchParams {
            refine: true,
            max_shift: 10.0,
            blend: radpipe::stitch::BlendMode::Multiband,
            bands: 4,
            ..StitchParams::default()
        },
    )
    .expect("library stitch");
    assert_eq!(
        stored.pixels, lib.image.pixels,
        "DICOM values = library result"
    );
    let Pixels::U16(values) = &stored.pixels else {
        panic!("u16 expected")
    };

    // The view: an 8-bit PNG of the canvas size.
    let v = radpipe::io::raster::read_raster(&view).expect("view");
    assert_eq!((v.width, v.height), (d.width, d.height));
    assert!(matches!(v.pixels, Pixels::U8(_)));

    // pydicom, when available.
    let Some(python) = python_with_pydicom() else {
        eprintln!("SKIPPED pydicom check: no Python with pydicom (set RADPIPE_PYTHON)");
        return;
    };
    let script = "import sys, json, hashlib, pydicom, numpy as np\n\
        ds = pydicom.dcmread(sys.argv[1])\n\
        a = ds.pixel_array.astype('<u2')\n\
        print(json.dumps({'rows': int(ds.Rows), 'cols': int(ds.Columns), \
        'spacing': [float(v) for v in ds.PixelSpacing], \
        'position': [float(v) for v in ds.ImagePositionPatient], \
        'sha256': hashlib.sha256(a.tobytes()).hexdigest()}))";
    let o = Command::new(&python)
        .args(["-c", script, s(&out)])
        .output()
        .expect("python");
    assert!(
        o.status.success(),
        "pydicom: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).expect("pydicom json");
    eprintln!("pydicom ({}): {p}", python.display());
    assert_eq!(p["rows"].as_u64(), Some(u64::from(d.height)));
    assert_eq!(p["cols"].as_u64(), Some(u64::from(d.width)));
    assert_eq!(p["spacing"], serde_json::json!([0.4, 0.4]));
    assert!((p["position"][0].as_f64().expect("x") - pos[0]).abs() < 1e-3);
    assert_eq!(p["sha256"].as_str(), Some(sha256_u16(values).as_str()));
}

#[test]
fn inconsistent_inputs_are_refused_with_named_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = write_stations(dir.path(), true);
    let out = dir.path().join("out.dcm");
    // No overlap.
    let o = radpipe(&[
        "stitch",
        s(&inputs[0]),
        s(&inputs[1]),
        "-o",
        s(&out),
        "--offsets",
        "0,0;0,400",
    ]);
    assert_refused(&o, "does not overlap", &out);
    assert!(stderr(&o).contains("station1.dcm"));
    // Offsets for the wrong number of stations.
    let o = radpipe(&[
        "stitch",
        s(&inputs[0]),
        s(&inputs[1]),
        "-o",
        s(&out),
        "--offsets",
        "0,0",
    ]);
    assert_refused(&o, "1 offsets given for 2 stations", &out);
    // Mixed modality.
    let mixed = tempfile::tempdir().expect("tempdir");
    let m = write_stations(mixed.path(), false);
    let o = radpipe(&["stitch", s(&m[0]), s(&m[1]), "-o", s(&out)]);
    assert_refused(&o, "differ in modality", &out);
    // No geometry and no offsets: PNG stations.
    let pngs: Vec<PathBuf> = inputs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let img = read_dicom(p).expect("read").frame(0).expect("frame");
            let path = dir.path().join(format!("plain{i}.png"));
            radpipe::io::raster::write_png(&path, &img).expect("png");
            path
        })
        .collect();
    let png_out = dir.path().join("out.png");
    let o = radpipe(&["stitch", s(&pngs[0]), s(&pngs[1]), "-o", s(&png_out)]);
    assert_refused(&o, "no geometry", &png_out);
    assert!(stderr(&o).contains("plain0.png"));
    // ... while the same PNGs with offsets stitch, 16-bit in, 16-bit out.
    let o = radpipe(&[
        "stitch",
        s(&pngs[0]),
        s(&pngs[1]),
        "-o",
        s(&png_out),
        "--offsets",
        "0,0;5.6,129.3",
        "--refine",
        "--max-shift",
        "5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stitched = radpipe::io::raster::read_raster(&png_out).expect("png out");
    assert!(matches!(stitched.pixels, Pixels::U16(_)));
    // Bad option values.
    let o = radpipe(&[
        "stitch",
        s(&inputs[0]),
        s(&inputs[1]),
        "-o",
        s(&out),
        "--blend",
        "median",
    ]);
    assert_refused(&o, "use linear, feather or multiband", &out);
}

#[test]
fn library_refuses_mixed_photometric_and_format() {
    let img = |p: Pixels| HostImage::new(4, 4, p).expect("image");
    let mut a = Station::new("a.dcm", img(Pixels::U16(vec![0; 16])));
    let mut b = Station::new("b.dcm", img(Pixels::U16(vec![0; 16])));
    a.photometric = Some("MONOCHROME1".into());
    b.photometric = Some("MONOCHROME2".into());
    let e = common::engine();
    let err = stitch(e, &[a.clone(), b], &StitchParams::default()).expect_err("mixed");
    assert!(
        matches!(
            err,
            radpipe::Error::Stitch(StitchError::MixedPhotometric { .. })
        ),
        "{err}"
    );
    let c = Station::new("c.png", img(Pixels::U8(vec![0; 16])));
    a.photometric = None;
    let err = stitch(e, &[a.clone(), c], &StitchParams::default()).expect_err("format");
    assert!(
        matches!(err, radpipe::Error::Stitch(StitchError::MixedFormat { .. })),
        "{err}"
    );
    let err = stitch(e, &[a], &StitchParams::default()).expect_err("one");
    assert!(
        matches!(err, radpipe::Error::Stitch(StitchError::TooFewStations(1))),
        "{err}"
    );
    // Past the cap: refused before any GPU work, in one line naming the count and the limit.
    let many: Vec<Station> = (0..17)
        .map(|k| Station::new(format!("s{k}.png"), img(Pixels::U16(vec![0; 16]))))
        .collect();
    let err = stitch(e, &many, &StitchParams::default()).expect_err("seventeen");
    assert!(
        matches!(
            err,
            radpipe::Error::Stitch(StitchError::TooManyStations {
                count: 17,
                limit: 16
            })
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("17") && message.contains("16") && !message.contains('\n'),
        "{message}"
    );
}

#[test]
fn demo_stitches_the_bundled_stations_to_their_truth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = radpipe(&["demo", "--out", s(dir.path())]);
    assert!(o.status.success(), "demo: {}", stderr(&o));
    for f in ["stitched.png", "stitched_view.png", "stitched_layout.json"] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("data/demo/stitch_truth.json")).expect("truth"),
    )
    .expect("json");
    let layout: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("stitched_layout.json")).expect("layout"),
    )
    .expect("json");
    let t = truth["stations"].as_array().expect("stations");
    let l = layout["stations"].as_array().expect("stations");
    let num = |v: &serde_json::Value| v.as_f64().expect("number");
    for k in 1..3 {
        for axis in 0..2 {
            let want = num(&t[k]["origin"][axis]) - num(&t[0]["origin"][axis]);
            let got = num(&l[k]["offset"][axis]) - num(&l[0]["offset"][axis]);
            assert!(
                (got - want).abs() < 0.5,
                "station {k} axis {axis}: {got} vs {want}"
            );
        }
        let gain = num(&l[k]["gain"]) * num(&t[k]["gain"]);
        assert!(
            (gain - 1.0).abs() < 0.01,
            "station {k}: gain × truth gain = {gain}"
        );
    }
}

#[test]
fn a_station_given_twice_is_refused_naming_both_and_more_than_five_are_stitched_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo: Vec<PathBuf> = (1..=3)
        .map(|k| repo_path(&format!("data/demo/stitch_station{k}.dcm")))
        .collect();
    // The same file again, through a symbolic link: refused before anything is read or written.
    let link = dir.path().join("again.dcm");
    std::os::unix::fs::symlink(&demo[0], &link).expect("symlink");
    let out = dir.path().join("twice.png");
    let o = radpipe(&["stitch", s(&demo[0]), s(&demo[1]), s(&link), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("station 3 (") && err.contains("again.dcm") && err.contains("station 1 ("),
        "{err}"
    );
    assert!(!out.exists());

    // Six separate files (copies of the three demo exposures): stitched, with the warning printed
    // and in the report.
    let mut six = Vec::new();
    for k in 0..6 {
        let copy = dir.path().join(format!("station_{k}.dcm"));
        std::fs::copy(&demo[k % 3], &copy).expect("copy");
        six.push(copy);
    }
    let out = dir.path().join("six.png");
    let report = dir.path().join("six.json");
    let mut args: Vec<&str> = vec!["stitch"];
    args.extend(six.iter().map(|p| s(p)));
    args.extend(["-o", s(&out), "--report", s(&report)]);
    let o = radpipe(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: 6 stations: a full-spine or long-leg study has 2 to 5"),
        "{}",
        stderr(&o)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let warnings = json["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.starts_with("6 stations:"))),
        "{json}"
    );
}
