//! `radpipe segment --overlay DIR` and `radpipe demo`: a colour PNG of the input's size per input,
//! the contour drawn where the mask's boundary is, the path in the JSON report; an `--overlay` that
//! names an input file, would overwrite an input or cannot take files is refused before any work,
//! with one line naming `--overlay`.

use std::path::Path;

use crate::common::cli::{radpipe, s, stderr};
use crate::common::{repo_path, require};
use radpipe::seg::overlay::{draw, palette};

fn rgb(path: &Path) -> image::RgbImage {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(img.color(), image::ColorType::Rgb8, "{}", path.display());
    img.to_rgb8()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn segment_overlay_is_a_colour_png_of_the_inputs_size_with_the_contour_on_the_masks_boundary() {
    require(&repo_path("models/bisenet_v2_corpus_callosum.safetensors"));
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, pics, json) = (
        dir.path().join("out"),
        dir.path().join("pics/new"),
        dir.path().join("r.json"),
    );
    std::fs::create_dir(&out).expect("mkdir");
    let slice = repo_path("data/demo/brain_mid_sagittal.png");
    let o = radpipe(&[
        "segment",
        s(&slice),
        "-o",
        s(&out),
        "--overlay",
        s(&pics),
        "--json",
        s(&json),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let picture = pics.join("brain_mid_sagittal_overlay.png");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!("overlay {}", picture.display())),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("report")).expect("json");
    assert_eq!(report[0]["overlay"].as_str(), Some(s(&picture)));

    let img = rgb(&picture);
    assert_eq!(img.dimensions(), (217, 180));
    let mask =
        radpipe::io::raster::read_raster(&out.join("brain_mid_sagittal_mask.png")).expect("mask");
    let radpipe::image::Pixels::U8(bits) = &mask.pixels else {
        panic!("mask is not 8-bit");
    };
    let boundary = draw::contour(217, 180, bits, 1);
    let mut on_boundary = 0;
    for (x, y, p) in img.enumerate_pixels() {
        if p.0 == palette::CONTOUR {
            assert!(
                boundary[(y * 217 + x) as usize],
                "contour colour off the boundary ({x}, {y})"
            );
            on_boundary += 1;
        }
    }
    let edge = boundary.iter().filter(|&&b| b).count();
    assert!(
        edge > 100 && on_boundary * 10 >= edge * 9,
        "{on_boundary} of {edge}"
    );
    for colour in [palette::BOX, palette::LINE, palette::PLANE, palette::CENTRE] {
        assert!(img.pixels().any(|p| p.0 == colour), "{colour:?} missing");
    }
}

#[test]
fn overlay_folders_that_name_an_input_overwrite_one_or_cannot_take_files_are_refused_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let out = d.join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let brain = d.join("x.png");
    std::fs::copy(repo_path("data/demo/brain_mid_sagittal.png"), &brain).expect("copy");
    // An input whose name is another input's overlay.
    let victim = d.join("x_overlay.png");
    std::fs::copy(&brain, &victim).expect("copy");
    std::fs::write(d.join("plain"), b"a regular file").expect("write");
    let before = (names(d), std::fs::read(&victim).expect("read"));
    let under_file = d.join("plain/pics");
    let cases: [(Vec<&str>, &str); 4] = [
        (vec![s(&brain), "--overlay", s(&brain)], "not a folder"),
        (vec![s(&brain), s(&victim), "--overlay", s(d)], "same file"),
        (vec![s(&brain), "--overlay", s(&under_file)], ""),
        (
            vec![s(&brain), "--overlay", "/proc/radpipe-overlay-test"],
            "",
        ),
    ];
    for (args, why) in cases {
        let mut all = vec!["segment", "-o", s(&out)];
        all.extend(args.iter().copied());
        let o = radpipe(&all);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{all:?}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{all:?}: one line expected: {err}");
        assert!(
            lines[0].starts_with("radpipe: ")
                && lines[0].contains("--overlay")
                && lines[0].contains(why),
            "{all:?}: {err}"
        );
        assert_eq!(
            (names(d), std::fs::read(&victim).expect("read")),
            before,
            "{all:?}"
        );
        assert!(names(&out).is_empty(), "{all:?}: wrote {:?}", names(&out));
    }
}

#[test]
fn demo_writes_overlays_and_says_where_the_network_ran() {
    require(&repo_path("models/bisenet_v2_corpus_callosum.safetensors"));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("demo");
    let o = radpipe(&["demo", "--out", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("segment: network on "), "{stdout}");
    for (name, size) in [
        ("brain_mid_sagittal_overlay.png", (217, 180)),
        ("icbm152_mid_sagittal_overlay.png", (233, 233)),
    ] {
        let img = rgb(&out.join(name));
        assert_eq!(img.dimensions(), size, "{name}");
        assert!(
            img.pixels().any(|p| p.0 == palette::CONTOUR),
            "{name}: no contour"
        );
        assert!(stdout.contains(name), "{name} not reported: {stdout}");
    }
}
