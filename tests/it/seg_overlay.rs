//! The overlay picture as a whole (its primitives are in `seg_overlay_draw`): on a synthetic mask
//! with a known box and line every coloured pixel is where the geometry says, the text box sits
//! inside the picture away from the structure and fits pictures of any size, an empty mask gives the
//! grey picture with a note, and the rest is the grey localizer, windowed or stretched.

use radpipe::image::{Geometry, HostImage, Pixels};
use radpipe::seg::geometry::{MaskMeasurement, measure_mask};
use radpipe::seg::overlay::{
    BOX_MARGIN, Layout, box_corners, describe, display_grey, draw, draw_overlay, font, palette,
};

use crate::seg_overlay_draw::{f, lit, to_line, to_segment};

/// A 256² gradient with a rotated bar: 81 × 17 px at 17°, centred off the pixel grid.
fn scene() -> (HostImage, HostImage, Vec<u8>, MaskMeasurement) {
    let (w, h) = (256u32, 256u32);
    let (cx, cy, a) = (128.3, 120.7, 17f64.to_radians());
    let mask: Vec<u8> = (0..w * h)
        .map(|i| {
            let (x, y) = (f64::from(i % w) - cx, f64::from(i / w) - cy);
            let (u, v) = (x * a.cos() + y * a.sin(), -x * a.sin() + y * a.cos());
            if u.abs() <= 40.0 && v.abs() <= 8.0 {
                255
            } else {
                0
            }
        })
        .collect();
    let grey: Vec<u8> = (0..w * h)
        .map(|i| (40 + (i % w + i / w) * 160 / 510) as u8)
        .collect();
    let image = HostImage::new(w, h, Pixels::U8(grey)).expect("image");
    let mask_img = HostImage::new(w, h, Pixels::U8(mask.clone())).expect("mask");
    let m = measure_mask(w, h, &mask, &Geometry::default());
    (image, mask_img, mask, m)
}

#[test]
fn overlay_draws_contour_box_line_plane_centre_and_text_where_the_geometry_says() {
    let (image, mask_img, mask, m) = scene();
    let (w, h) = (image.width, image.height);
    let o = draw_overlay(&image, None, &mask_img, &m).expect("overlay");
    assert_eq!(
        (o.width, o.height, o.rgb.len()),
        (w, h, (3 * w * h) as usize)
    );
    let fit = m.pixels.expect("fit");
    let (b, line, angle) = (
        fit.bbox,
        fit.line.expect("line"),
        fit.angle_deg.expect("angle"),
    );
    assert!((b.angle_deg - 17.0).abs() < 1.0 && (line.angle_deg - 17.0).abs() < 0.5);
    let layout = Layout::for_image(w, h);
    let pen = f64::from(layout.pen);

    // The contour: every contour-coloured pixel on the boundary, the boundary contour-coloured
    // except where the line or the cross is drawn over it.
    let boundary = draw::contour(w, h, &mask, layout.contour);
    let on_top = [palette::LINE, palette::CENTRE, palette::OUTLINE];
    let mut shown = 0;
    for (i, &edge) in boundary.iter().enumerate() {
        let c = o.pixel(i as u32 % w, i as u32 / w).expect("pixel");
        if c == palette::CONTOUR {
            assert!(edge, "contour colour off the boundary at {i}");
            shown += 1;
        } else if edge {
            assert!(on_top.contains(&c), "boundary pixel {i} is {c:?}");
        }
    }
    assert!(shown * 10 >= boundary.iter().filter(|&&e| e).count() * 9);

    // The fitted line: through the centroid at the line's angle, across the structure and a little
    // beyond; its pixels' own principal axis gives the reported angle back.
    let red = lit(&o, palette::LINE);
    for &p in &red {
        let d = to_line(f(p), line.center, line.angle_deg);
        assert!(
            d <= 0.5 + pen / 2.0 + 1e-9,
            "line pixel {p:?} {d:.2} px off"
        );
    }
    let (s, c) = line.angle_deg.to_radians().sin_cos();
    let along: Vec<f64> = red
        .iter()
        .map(|&(x, y)| (f64::from(x) - line.center[0]) * c + (f64::from(y) - line.center[1]) * s)
        .collect();
    let reach = b.size[0] / 2.0;
    assert!(along.iter().any(|&t| t < -reach) && along.iter().any(|&t| t > reach));
    let n = red.len() as f64;
    let (mx, my) = red
        .iter()
        .fold((0.0, 0.0), |a, &p| (a.0 + f(p).0 / n, a.1 + f(p).1 / n));
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for &p in &red {
        let (dx, dy) = (f(p).0 - mx, f(p).1 - my);
        (sxx, syy, sxy) = (sxx + dx * dx, syy + dy * dy, sxy + dx * dy);
    }
    let drawn = (0.5 * (2.0 * sxy).atan2(sxx - syy)).to_degrees();
    assert!(
        (drawn - line.angle_deg).abs() < 0.5,
        "drawn {drawn:.2}° vs {:.2}°",
        line.angle_deg
    );

    // The scan plane: dashed through the box centre at the final angle, across the whole picture.
    let layout_block = layout.place_text(
        &layout.fit_lines(describe(&m)),
        Some((b.center[0], b.center[1])),
    );
    let in_text = |(x, y): (u32, u32)| {
        let (x, y) = (i64::from(x), i64::from(y));
        let bl = layout_block;
        x >= bl.x && y >= bl.y && x < bl.x + i64::from(bl.width) && y < bl.y + i64::from(bl.height)
    };
    // (The headline is written in the plane's colour.)
    let plane: Vec<(u32, u32)> = lit(&o, palette::PLANE)
        .into_iter()
        .filter(|&p| !in_text(p))
        .collect();
    for &p in &plane {
        assert!(
            to_line(f(p), b.center, angle) <= 0.5 + pen / 2.0 + 1e-9,
            "plane {p:?}"
        );
    }
    let xs = || plane.iter().map(|p| p.0);
    assert!(
        xs().min() < Some(8) && xs().max() > Some(w - 8),
        "plane spans the width"
    );

    // The box: on the geometry's box grown by the margin, every corner drawn.
    let corners = box_corners(&b, BOX_MARGIN * pen);
    let cyan = lit(&o, palette::BOX);
    let to_box = |p: (f64, f64)| {
        (0..4)
            .map(|k| to_segment(p, corners[k], corners[(k + 1) % 4]))
            .fold(f64::MAX, f64::min)
    };
    assert!(cyan.iter().all(|&p| to_box(f(p)) <= 0.5 + pen / 2.0 + 1e-9));
    for k in corners {
        assert!(
            cyan.iter()
                .any(|&p| (f(p).0 - k.0).hypot(f(p).1 - k.1) <= 1.5),
            "{k:?}"
        );
    }

    // The centre cross on the box centre; the text on its dark box, inside the picture, away from
    // the structure.
    let centre = (b.center[0].round() as u32, b.center[1].round() as u32);
    assert_eq!(o.pixel(centre.0, centre.1), Some(palette::CENTRE));
    let block = layout.place_text(
        &layout.fit_lines(describe(&m)),
        Some((b.center[0], b.center[1])),
    );
    let bg = lit(&o, palette::TEXT_BG);
    let (x0, x1) = (bg.iter().map(|p| p.0).min(), bg.iter().map(|p| p.0).max());
    let (y0, y1) = (bg.iter().map(|p| p.1).min(), bg.iter().map(|p| p.1).max());
    assert_eq!((x0, y0), (Some(block.x as u32), Some(block.y as u32)));
    assert_eq!(
        (x1, y1),
        (
            Some(block.x as u32 + block.width - 1),
            Some(block.y as u32 + block.height - 1)
        )
    );
    assert!(
        block.x >= 0
            && block.y >= 0
            && block.x as u32 + block.width <= w
            && block.y as u32 + block.height <= h
    );
    assert!(block.head_scale >= 2, "headline scale {}", block.head_scale);
    let inside = |x: f64, y: f64| {
        x >= block.x as f64
            && y >= block.y as f64
            && x < (block.x + i64::from(block.width)) as f64
            && y < (block.y + i64::from(block.height)) as f64
    };
    assert!(
        !inside(b.center[0], b.center[1]),
        "the text hides the centre"
    );

    // Everything not drawn is the localizer's grey.
    let grey = display_grey(&image, None).expect("grey");
    let mut same = 0;
    for (i, g) in grey.iter().enumerate() {
        let px = &o.rgb[3 * i..3 * i + 3];
        if px[0] == px[1] && px[1] == px[2] {
            assert_eq!(px[0], *g, "grey pixel {i} changed");
            same += 1;
        }
    }
    assert!(same * 10 > grey.len() * 8, "{same} grey pixels");
}

#[test]
fn an_empty_mask_gives_the_grey_picture_with_a_note_and_no_geometry() {
    let (image, _, _, _) = scene();
    let (w, h) = (image.width, image.height);
    let empty = vec![0u8; (w * h) as usize];
    let m = measure_mask(w, h, &empty, &Geometry::default());
    let mask = HostImage::new(w, h, Pixels::U8(empty)).expect("mask");
    let o = draw_overlay(&image, None, &mask, &m).expect("overlay");
    for colour in [
        palette::CONTOUR,
        palette::BOX,
        palette::LINE,
        palette::PLANE,
        palette::CENTRE,
    ] {
        assert!(
            lit(&o, colour).is_empty(),
            "{colour:?} drawn on an empty mask"
        );
    }
    assert!(!lit(&o, palette::TEXT_BG).is_empty() && !lit(&o, palette::TEXT).is_empty());
    assert_eq!(describe(&m)[0].text, radpipe::seg::overlay::NO_STRUCTURE);
    // A mask of another size, or not 8-bit, is refused by name.
    let small = HostImage::new(8, 8, Pixels::U8(vec![0; 64])).expect("small");
    let err = draw_overlay(&image, None, &small, &m).expect_err("size");
    assert!(err.to_string().contains("8x8"), "{err}");
}

#[test]
fn text_fits_inside_pictures_of_any_size_with_glyphs_the_font_has() {
    for (w, h) in [
        (48u32, 48u32),
        (64, 200),
        (128, 128),
        (217, 180),
        (300, 80),
        (512, 512),
        (1024, 768),
        (3000, 2500),
    ] {
        // A bar across the middle third, its geometry measured at this size.
        let mask: Vec<u8> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let bar = x > w / 3 && x < 2 * w / 3 && y + h / 40 >= h / 2 && y <= h / 2 + h / 40;
                if bar { 255 } else { 0 }
            })
            .collect();
        let m = measure_mask(w, h, &mask, &Geometry::with_spacing(1.0, 0.5));
        let layout = Layout::for_image(w, h);
        let lines = layout.fit_lines(describe(&m));
        assert!(lines[0].text.contains('°'), "{w}x{h}: {:?}", lines[0].text);
        for l in &lines {
            assert!(l.text.chars().all(font::has_glyph), "{:?}", l.text);
        }
        let centre = m.pixels.map(|f| (f.bbox.center[0], f.bbox.center[1]));
        let block = layout.place_text(&lines, centre);
        assert!(
            block.x >= 0
                && block.y >= 0
                && block.x + i64::from(block.width) <= i64::from(w)
                && block.y + i64::from(block.height) <= i64::from(h),
            "{w}x{h}: {block:?}"
        );
        if w.min(h) >= 512 {
            assert!(
                block.head_scale >= 3 && layout.pen >= 1,
                "{w}x{h}: {block:?}"
            );
        }
    }
    // Non-square pixels: the angle in millimetres is written too.
    let (_, _, mask, _) = scene();
    let m = measure_mask(256, 256, &mask, &Geometry::with_spacing(1.0, 0.5));
    assert!(describe(&m).iter().any(|l| l.text.starts_with("IN MM ")));
}

#[test]
fn the_localizer_is_shown_min_max_stretched_or_through_its_window() {
    let img = HostImage::new(4, 1, Pixels::U8(vec![50, 100, 150, 150])).expect("img");
    assert_eq!(
        display_grey(&img, None).expect("grey"),
        vec![0, 128, 255, 255]
    );
    let flat = HostImage::new(2, 1, Pixels::U8(vec![77, 77])).expect("flat");
    assert_eq!(display_grey(&flat, None).expect("grey"), vec![77, 77]);
    let wide = HostImage::new(3, 1, Pixels::U16(vec![1000, 3000, 5000])).expect("u16");
    use radpipe::ops::window::{WindowRequest, WindowSettings};
    let request = WindowRequest {
        center: Some(3000.0),
        width: Some(2000.0),
        ..WindowRequest::default()
    };
    let window = WindowSettings::for_image(&wide, &request).expect("window");
    let shown = display_grey(&wide, Some(&window)).expect("windowed");
    assert_eq!((shown[0], shown[2]), (0, 255));
    assert!((i32::from(shown[1]) - 128).abs() <= 1, "{shown:?}");
}
