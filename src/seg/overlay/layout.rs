//! Sizes and placement of what an overlay draws: pen width, contour depth, cross arm, dash pattern and
//! text scale all follow the image's smaller side, so a 256² localizer and a 3000² radiograph read
//! alike; the text block shrinks until it fits and goes to the corner farthest from the structure.

use super::font::{GLYPH_H, text_size};
use super::{Overlay, Rgb, draw, palette};
use crate::seg::geometry::MaskMeasurement;

/// One line of the overlay's text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    /// The text (the built-in font: capitals, digits, `.,-+:°()`).
    pub text: String,
    /// Its colour.
    pub colour: Rgb,
    /// The headline (the final angle) is drawn larger than the details.
    pub headline: bool,
}

/// Where the text block goes and at which scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextBlock {
    /// Left edge of the dark background box.
    pub x: i64,
    /// Top edge of the dark background box.
    pub y: i64,
    /// Width of the box.
    pub width: u32,
    /// Height of the box.
    pub height: u32,
    /// Font scale of the headline.
    pub head_scale: u32,
    /// Font scale of the other lines.
    pub detail_scale: u32,
}

/// Sizes for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Picture size.
    pub width: u32,
    /// Picture size.
    pub height: u32,
    /// Pen width of lines, box and cross.
    pub pen: u32,
    /// Depth of the contour in pixels (1, or 2 from 640 px up).
    pub contour: u32,
    /// Arm length of the centre cross.
    pub arm: u32,
    /// Dash pattern of the scan plane (drawn, skipped).
    pub dash: (u32, u32),
    /// Largest headline scale tried.
    pub head_scale: u32,
    /// Gap between the text block and the image's edge.
    pub margin: u32,
}

impl Layout {
    /// The sizes for a `width`×`height` picture.
    pub fn for_image(width: u32, height: u32) -> Layout {
        let m = width.min(height);
        let pen = ((f64::from(m) / 300.0).round() as u32).max(1);
        Layout {
            width,
            height,
            pen,
            contour: if m >= 640 { 2 } else { 1 },
            arm: 3 * pen + 3,
            dash: (4 * pen + 2, 3 * pen + 1),
            head_scale: ((f64::from(m) / 120.0).round() as u32).max(1),
            margin: (m / 100).max(2),
        }
    }

    /// The text block for `lines`: the largest headline scale (down from [`Layout::head_scale`])
    /// whose block takes at most ¾ of the width and ⅓ of the height, in the corner whose block
    /// centre is farthest from `avoid` (the structure's centre; top-left when there is none).
    pub fn place_text(&self, lines: &[TextLine], avoid: Option<(f64, f64)>) -> TextBlock {
        let mut head = self.head_scale;
        let (mut bw, mut bh, mut detail) = self.block_size(lines, head);
        while head > 1
            && (f64::from(bw) > 0.75 * f64::from(self.width)
                || f64::from(bh) > f64::from(self.height) / 3.0)
        {
            head -= 1;
            (bw, bh, detail) = self.block_size(lines, head);
        }
        let (w, h, m) = (
            i64::from(self.width),
            i64::from(self.height),
            i64::from(self.margin),
        );
        let fit = |at: i64, size: u32, room: i64| at.min(room - i64::from(size)).max(0);
        let xs = [fit(m, bw, w), fit(w - m - i64::from(bw), bw, w)];
        let ys = [fit(m, bh, h), fit(h - m - i64::from(bh), bh, h)];
        let mut best = (xs[0], ys[0]);
        if let Some((cx, cy)) = avoid {
            let distance = |(x, y): (i64, i64)| {
                let (bx, by) = (
                    x as f64 + f64::from(bw) / 2.0,
                    y as f64 + f64::from(bh) / 2.0,
                );
                (bx - cx).hypot(by - cy)
            };
            for y in ys {
                for x in xs {
                    if distance((x, y)) > distance(best) + 1e-9 {
                        best = (x, y);
                    }
                }
            }
        }
        TextBlock {
            x: best.0,
            y: best.1,
            width: bw,
            height: bh,
            head_scale: head,
            detail_scale: detail,
        }
    }

    /// `(width, height, detail scale)` of the block at headline scale `head`.
    fn block_size(&self, lines: &[TextLine], head: u32) -> (u32, u32, u32) {
        let detail = (head / 2).max(1);
        let pad = 2 * detail;
        let mut width = 0;
        let mut height = 0;
        for (i, l) in lines.iter().enumerate() {
            let scale = if l.headline { head } else { detail };
            width = width.max(text_size(&l.text, scale).0);
            height += GLYPH_H * scale + if i > 0 { 2 * detail } else { 0 };
        }
        (width + 2 * pad, height + 2 * pad, detail)
    }

    /// The lines that fit across the picture at the smallest scale: detail lines are dropped from
    /// the end, then the headline loses its label ("ANGLE -12.5°" becomes "-12.5°"), so a small
    /// picture still shows the number. A picture too narrow even for that gets the text clipped.
    pub fn fit_lines(&self, mut lines: Vec<TextLine>) -> Vec<TextLine> {
        let too_wide = |lines: &[TextLine]| self.block_size(lines, 1).0 > self.width;
        while lines.len() > 1 && too_wide(&lines) {
            lines.pop();
        }
        if too_wide(&lines)
            && let Some(head) = lines.first_mut()
        {
            head.text = match head.text.strip_prefix("ANGLE ") {
                Some(number) => number.to_string(),
                None if head.text == NO_STRUCTURE => "EMPTY".to_string(),
                None => head.text.clone(),
            };
        }
        lines
    }

    /// Draws `lines` (those that fit, [`Layout::fit_lines`]) on a dark box placed by
    /// [`Layout::place_text`]; returns the box.
    pub fn draw_text(
        &self,
        o: &mut Overlay,
        lines: &[TextLine],
        avoid: Option<(f64, f64)>,
    ) -> TextBlock {
        let lines = &self.fit_lines(lines.to_vec());
        let block = self.place_text(lines, avoid);
        draw::fill_rect(
            o,
            block.x,
            block.y,
            block.width,
            block.height,
            palette::TEXT_BG,
        );
        let d = block.detail_scale;
        let pad = i64::from(2 * d);
        let mut y = block.y + pad;
        for l in lines {
            let scale = if l.headline { block.head_scale } else { d };
            draw::text(o, block.x + pad, y, scale, &l.text, l.colour);
            y += i64::from(GLYPH_H * scale + 2 * d);
        }
        block
    }
}

/// The headline of an empty mask.
pub const NO_STRUCTURE: &str = "NO STRUCTURE FOUND";

/// The overlay's text for a measurement: the final angle (or why there is none), the centre, the box
/// and line angles, and the angle in millimetres when it differs from the pixel one (non-square
/// pixels).
pub fn describe(m: &MaskMeasurement) -> Vec<TextLine> {
    let line = |text: String, colour: Rgb, headline: bool| TextLine {
        text,
        colour,
        headline,
    };
    let Some(fit) = m.pixels else {
        return vec![line(NO_STRUCTURE.into(), palette::TEXT, true)];
    };
    let mut lines = vec![match fit.angle_deg {
        Some(a) => line(format!("ANGLE {a:.1}°"), palette::PLANE, true),
        None => line("NO ANGLE".into(), palette::TEXT, true),
    }];
    let [cx, cy] = fit.bbox.center;
    lines.push(line(
        format!("CENTRE {cx:.1}, {cy:.1}"),
        palette::CENTRE,
        false,
    ));
    let mut angles = format!("BOX {:.1}°", fit.bbox.angle_deg);
    if let Some(l) = fit.line {
        angles.push_str(&format!(" LINE {:.1}°", l.angle_deg));
    }
    lines.push(line(angles, palette::TEXT, false));
    if let (Some(mm), Some(a)) = (m.mm.and_then(|f| f.angle_deg), fit.angle_deg)
        && (mm - a).abs() >= 0.05
    {
        lines.push(line(format!("IN MM {mm:.1}°"), palette::TEXT, false));
    }
    lines
}
