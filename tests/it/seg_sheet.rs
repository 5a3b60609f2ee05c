//! `radpipe evaluate --sheet`: the worst slices of each site are the ones listed (worst site first,
//! each site's worst slice first, degraded copies ignored), the sheet draws the truth's and the
//! prediction's contours in their colours where the masks' boundaries are, and the CLI writes a
//! colour PNG of the sheet's size.

use std::path::Path;

use crate::common::cli::{radpipe, s, stderr};
use crate::common::{repo_path, require};
use radpipe::image::{HostImage, Pixels};
use radpipe::seg::evaluate::{Degradation, ImageScore, worst_per_site};
use radpipe::seg::overlay::draw;
use radpipe::seg::overlay::sheet::{
    BOTH, PREDICTED, SheetTile, TRUTH, contact_sheet, sheet_size, tile_origin, tile_view,
};

fn score(site: &str, name: &str, dice: f64, degradation: Degradation) -> ImageScore {
    ImageScore {
        name: name.into(),
        site: site.into(),
        degradation,
        dice,
        angle_error_deg: None,
    }
}

#[test]
fn the_worst_slices_of_each_site_are_listed_worst_site_first() {
    use Degradation::{Clean, Noise};
    let scores = vec![
        score("B", "b1", 0.99, Clean),
        score("A", "a1", 0.90, Clean),
        score("A", "a2", 0.50, Clean),
        score("A", "a3", 0.70, Clean),
        score("A", "a2", 0.10, Noise),
        score("B", "b2", 0.98, Clean),
        score("A", "a4", 0.95, Clean),
        score("C", "c1", 0.60, Noise),
    ];
    assert_eq!(
        worst_per_site(&scores, Clean, 2),
        vec![("A".to_string(), vec![2, 3]), ("B".to_string(), vec![5, 0])]
    );
    assert_eq!(
        worst_per_site(&scores, Noise, 5)[0],
        ("A".to_string(), vec![4])
    );
    assert_eq!(worst_per_site(&scores, Clean, 1).len(), 2);
}

/// A 64² slice with a `side`² square mask at (10, 12).
fn square_of(side: u32) -> Vec<u8> {
    (0..64 * 64)
        .map(|i| {
            let (x, y) = (i % 64, i / 64);
            u8::from((10..10 + side).contains(&x) && (12..12 + side).contains(&y))
        })
        .collect()
}

/// A square big enough (32²) that its tile shows the whole slice.
fn square() -> Vec<u8> {
    square_of(32)
}

#[test]
fn a_tile_zooms_to_both_masks_and_stays_inside_the_slice() {
    let (small, empty) = (square_of(8), vec![0u8; 64 * 64]);
    assert_eq!(tile_view(64, 64, &empty, &empty), (0, 0, 64, 64));
    assert_eq!(tile_view(64, 64, &square(), &empty), (0, 0, 64, 64));
    // 8x8 at (10, 12): twice its extent (16) but at least a third of 64 (22), centred on (14, 16).
    assert_eq!(tile_view(64, 64, &small, &empty), (3, 5, 22, 22));
    // The prediction counts too: a far pixel widens the view, which stays inside the slice.
    let mut far = empty.clone();
    far[63 * 64 + 63] = 255;
    let (l, t, w, h) = tile_view(64, 64, &small, &far);
    assert!(
        l + w <= 64 && t + h <= 64 && w == 64 && h == 64,
        "{:?}",
        (l, t, w, h)
    );
}

#[test]
fn the_sheet_outlines_truth_and_prediction_in_their_colours_where_the_masks_are() {
    let grey: Vec<u8> = (0..64 * 64).map(|i| (i % 200) as u8 + 20).collect();
    let (truth, empty) = (square(), vec![0u8; 64 * 64]);
    let tile = |predicted: &'static str| -> (String, &[u8]) {
        match predicted {
            "same" => ("A 1.000".into(), &truth),
            _ => ("B 0.000".into(), &empty),
        }
    };
    let rows: Vec<Vec<SheetTile<'_>>> = ["same", "none"]
        .iter()
        .map(|&k| {
            let (caption, predicted) = tile(k);
            vec![SheetTile {
                width: 64,
                height: 64,
                image: &grey,
                truth: &truth,
                predicted,
                caption,
                detail: format!("slice {k}"),
            }]
        })
        .collect();
    let side = 128;
    let sheet = contact_sheet(&rows, side).expect("sheet");
    assert_eq!((sheet.width, sheet.height), sheet_size(2, 1, side));
    // The square scaled ×2 to 64×64 at (20, 24) of its tile: its boundary ring of 252 pixels.
    let ring = draw::contour(64, 64, &vec![1u8; 64 * 64], 1)
        .iter()
        .filter(|&&b| b)
        .count();
    assert_eq!(ring, 252);
    for (row, colour) in [(0u32, BOTH), (1, TRUTH)] {
        let (left, top) = tile_origin(row as usize, 0, side);
        let mut n = 0;
        for y in 0..side {
            for x in 0..side {
                let c = sheet.pixel(left + x, top + y).expect("pixel");
                let on_ring = (20..84).contains(&x)
                    && (24..88).contains(&y)
                    && (x == 20 || x == 83 || y == 24 || y == 87);
                if on_ring {
                    assert_eq!(c, colour, "row {row} ({x}, {y})");
                    n += 1;
                } else {
                    assert!(
                        ![BOTH, TRUTH, PREDICTED].contains(&c),
                        "row {row} ({x}, {y}) {c:?}"
                    );
                }
            }
        }
        assert_eq!(n, ring, "row {row}");
    }
    let bad = SheetTile {
        width: 64,
        height: 64,
        image: &grey[..100],
        truth: &truth,
        predicted: &truth,
        caption: String::new(),
        detail: "short".into(),
    };
    assert!(contact_sheet(&[vec![bad]], side).is_err());
}

fn write_png(path: &Path, v: Vec<u8>) {
    let img = HostImage::new(64, 64, Pixels::U8(v)).expect("img");
    radpipe::io::raster::write_png(path, &img).expect("png");
}

#[test]
fn evaluate_sheet_writes_a_colour_png_of_each_sites_worst_slices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    for sub in ["image", "mask"] {
        std::fs::create_dir_all(data.join(sub)).expect("mkdir");
    }
    for (k, name) in ["A_1", "A_2", "A_3", "B_1", "B_2"].iter().enumerate() {
        let mask: Vec<u8> = square().iter().map(|&m| m * 255).collect();
        let image: Vec<u8> = mask.iter().map(|&m| m / 2 + 40 + k as u8).collect();
        write_png(&data.join(format!("image/{name}.png")), image);
        write_png(&data.join(format!("mask/{name}.png")), mask);
    }
    let weights = require(&repo_path("tests/fixtures/bisenet/weights.pdparams")).to_path_buf();
    for (per_site, slices, columns) in [(2usize, 4usize, 2usize), (1, 2, 1)] {
        let sheet = dir.path().join(format!("sheet{per_site}.png"));
        let o = radpipe(&[
            "evaluate",
            "--data",
            s(&data),
            "--model",
            s(&weights),
            "--size",
            "64",
            "--sheet",
            s(&sheet),
            "--sheet-per-site",
            &per_site.to_string(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            stdout.contains(&format!("contact sheet: {slices} slice(s) of 2 site(s)")),
            "{stdout}"
        );
        let img = image::open(&sheet).expect("sheet png");
        assert_eq!(img.color(), image::ColorType::Rgb8);
        let (w, h) = sheet_size(2, columns, 256);
        assert_eq!((img.width(), img.height()), (w, h));
        assert!(img.to_rgb8().pixels().any(|p| p.0 == TRUTH || p.0 == BOTH));
    }
}
