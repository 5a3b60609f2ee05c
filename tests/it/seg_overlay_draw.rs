//! The overlay's drawing primitives: lines light their end points and stay within half a pixel of
//! the segment (and survive far-away or non-finite end points, dashes alternate), the contour is
//! exactly the mask's inner boundary at depths 1 and 2, and text renders the glyphs of a hand-made
//! bitmap at any scale. Shared helpers for `seg_overlay`.

use radpipe::seg::overlay::{Overlay, Rgb, draw, font};

pub const RED: Rgb = [255, 0, 0];

pub fn blank(w: u32, h: u32) -> Overlay {
    Overlay::from_grey(w, h, &vec![0; (w * h) as usize]).expect("canvas")
}

pub fn lit(o: &Overlay, colour: Rgb) -> Vec<(u32, u32)> {
    (0..o.height)
        .flat_map(|y| (0..o.width).map(move |x| (x, y)))
        .filter(|&(x, y)| o.pixel(x, y) == Some(colour))
        .collect()
}

/// Distance from `p` to the segment `a`–`b`.
pub fn to_segment(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    };
    (p.0 - a.0 - t * dx).hypot(p.1 - a.1 - t * dy)
}

/// Distance from `p` to the infinite line through `c` at `angle_deg`.
pub fn to_line(p: (f64, f64), c: [f64; 2], angle_deg: f64) -> f64 {
    let (s, co) = angle_deg.to_radians().sin_cos();
    (-(p.0 - c[0]) * s + (p.1 - c[1]) * co).abs()
}

pub fn f((x, y): (u32, u32)) -> (f64, f64) {
    (f64::from(x), f64::from(y))
}

#[test]
fn lines_light_both_end_points_and_stay_within_half_a_pixel_of_the_segment() {
    let cases = [
        ((3.0, 4.0), (50.0, 20.0)),
        ((60.0, 5.0), (2.0, 61.0)),
        ((10.0, 10.0), (10.0, 50.0)),
        ((5.0, 30.0), (60.0, 30.0)),
        ((7.2, 8.6), (7.4, 8.7)),
    ];
    for (a, b) in cases {
        let mut o = blank(64, 64);
        draw::line(&mut o, a, b, 1, RED);
        let pix = lit(&o, RED);
        let (ra, rb) = ((a.0.round(), a.1.round()), (b.0.round(), b.1.round()));
        for end in [ra, rb] {
            assert!(
                pix.contains(&(end.0 as u32, end.1 as u32)),
                "{a:?}-{b:?}: end {end:?} not lit"
            );
        }
        let steps = (rb.0 - ra.0).abs().max((rb.1 - ra.1).abs()) as usize + 1;
        assert_eq!(pix.len(), steps, "{a:?}-{b:?}: one pixel per step");
        for &p in &pix {
            let d = to_segment(f(p), ra, rb);
            assert!(d <= 0.5 + 1e-9, "{a:?}-{b:?}: {p:?} is {d:.3} px off");
        }
        // A 3-px pen: the 3x3 block around each end, nothing farther than the pen's corner.
        let mut o = blank(64, 64);
        draw::line(&mut o, a, b, 3, RED);
        let pix = lit(&o, RED);
        for end in [ra, rb] {
            for (dx, dy) in [(-1.0, -1.0), (1.0, 1.0), (-1.0, 1.0), (1.0, -1.0)] {
                let p = ((end.0 + dx) as u32, (end.1 + dy) as u32);
                assert!(pix.contains(&p), "{a:?}-{b:?} pen 3: {p:?} not lit");
            }
        }
        assert!(
            pix.iter()
                .all(|&p| to_segment(f(p), ra, rb) <= 0.5 + 2f64.sqrt())
        );
    }
}

#[test]
fn lines_are_clipped_keep_their_direction_and_ignore_non_finite_or_outside_end_points() {
    let mut o = blank(64, 48);
    draw::line(&mut o, (-1e12, -1e12), (1e12, 1e12), 1, RED);
    let pix = lit(&o, RED);
    assert_eq!(pix, (0..48).map(|i| (i, i)).collect::<Vec<_>>());
    for (a, b) in [
        ((f64::NAN, 3.0), (10.0, 10.0)),
        ((f64::INFINITY, 3.0), (10.0, 10.0)),
        ((-100.0, -100.0), (-50.0, -10.0)),
        ((70.0, 3.0), (90.0, 40.0)),
    ] {
        let mut o = blank(64, 48);
        draw::line(&mut o, a, b, 2, RED);
        assert!(lit(&o, RED).is_empty(), "{a:?}-{b:?} drew");
    }
    let mut o = blank(64, 16);
    draw::dashed_line(&mut o, (0.0, 5.0), (63.0, 5.0), 1, (6, 4), RED);
    let xs: Vec<u32> = lit(&o, RED).iter().map(|p| p.0).collect();
    assert_eq!(xs, (0..64).filter(|x| x % 10 < 6).collect::<Vec<_>>());
}

/// A mask of discs, one with a hole, one cut by the image's edge.
fn blobs(w: u32, h: u32) -> Vec<u8> {
    let discs = [(20.0, 20.0, 12.0), (45.0, 30.0, 9.0), (70.0, 5.0, 10.0)];
    (0..w * h)
        .map(|i| {
            let (x, y) = (f64::from(i % w), f64::from(i / w));
            let inside = discs.iter().any(|&(cx, cy, r)| (x - cx).hypot(y - cy) <= r);
            let hole = (x - 20.0).hypot(y - 20.0) < 4.0;
            if inside && !hole { 255 } else { 0 }
        })
        .collect()
}

#[test]
fn contour_is_exactly_the_masks_inner_boundary() {
    let (w, h) = (80u32, 50u32);
    let mask = blobs(w, h);
    let fg = |x: i64, y: i64| {
        x >= 0
            && y >= 0
            && x < i64::from(w)
            && y < i64::from(h)
            && mask[(y * i64::from(w) + x) as usize] != 0
    };
    for depth in [1u32, 2] {
        let d = i64::from(depth);
        let got = draw::contour(w, h, &mask, depth);
        let mut count = 0;
        for y in 0..i64::from(h) {
            for x in 0..i64::from(w) {
                // Foreground with background (or the outside) within `depth` 8-connected steps.
                let near_bg = (-d..=d).any(|dy| (-d..=d).any(|dx| !fg(x + dx, y + dy)));
                let expected = fg(x, y) && near_bg;
                count += usize::from(expected);
                assert_eq!(
                    got[(y * i64::from(w) + x) as usize],
                    expected,
                    "depth {depth} ({x}, {y})"
                );
            }
        }
        assert!(count > 100, "depth {depth}: {count} contour pixels");
    }
}

/// "12.5" in the font, drawn by hand: one blank column between glyphs.
const TWELVE_FIVE: [&str; 7] = [
    "..#....###........#####",
    ".##...#...#.......#....",
    "..#.......#.......####.",
    "..#......#............#",
    "..#.....#.............#",
    "..#....#.....##...#...#",
    ".###..#####..##....###.",
];

#[test]
fn text_renders_the_glyphs_of_a_hand_made_bitmap_at_any_scale() {
    let expected: Vec<(u32, u32)> = TWELVE_FIVE
        .iter()
        .enumerate()
        .flat_map(|(y, row)| {
            row.chars()
                .enumerate()
                .filter(|&(_, c)| c == '#')
                .map(move |(x, _)| (x as u32, y as u32))
        })
        .collect();
    let mut sorted = font::lit_pixels("12.5");
    sorted.sort_by_key(|&(x, y)| (y, x));
    assert_eq!(sorted, expected);
    assert_eq!(font::text_size("12.5", 1), (23, 7));
    for scale in [1u32, 3] {
        let mut o = blank(80, 30);
        draw::text(&mut o, 2, 3, scale, "12.5", RED);
        let mut want: Vec<(u32, u32)> = expected
            .iter()
            .flat_map(|&(x, y)| {
                (0..scale * scale)
                    .map(move |k| (2 + x * scale + k % scale, 3 + y * scale + k / scale))
            })
            .collect();
        want.sort_by_key(|&(x, y)| (y, x));
        assert_eq!(lit(&o, RED), want, "scale {scale}");
    }
    assert_eq!(font::lit_pixels("angle"), font::lit_pixels("ANGLE"));
    assert_eq!(font::lit_pixels("~"), font::lit_pixels("?"));
    assert!(font::has_glyph('°') && !font::has_glyph('~'));
}
