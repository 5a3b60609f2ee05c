//! Mask post-processing, on the host after the network: keep the largest connected component (the
//! corpus callosum is one structure; a speck elsewhere only moves the box and the fitted line) and
//! fill holes (background enclosed by foreground). Both are measured levers: `radpipe evaluate
//! --post` reports what each buys (models/MODEL.md). `radpipe segment` does not apply them (they
//! bought +0.001 Dice on the held-out sites); a library user can, on the masks it gets back.

use std::collections::VecDeque;

/// Which steps to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PostProcess {
    /// Keep only the largest 8-connected foreground component.
    pub largest_component: bool,
    /// Set background pixels not 4-connected to the image border to foreground.
    pub fill_holes: bool,
}

impl PostProcess {
    /// Parses `none`, `largest`, `fill`, `largest,fill` (any order).
    pub fn parse(text: &str) -> Result<PostProcess, String> {
        let mut p = PostProcess::default();
        for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match part {
                "none" => {}
                "largest" => p.largest_component = true,
                "fill" => p.fill_holes = true,
                other => {
                    return Err(format!(
                        "--post {other:?}: expected none, largest, fill or largest,fill"
                    ));
                }
            }
        }
        Ok(p)
    }

    /// Whether any step runs.
    pub fn is_none(&self) -> bool {
        !self.largest_component && !self.fill_holes
    }

    /// Applies the steps to a 0/255 mask of `w`×`h` in place.
    pub fn apply(&self, mask: &mut [u8], w: u32, h: u32) {
        if self.largest_component {
            largest_component(mask, w, h);
        }
        if self.fill_holes {
            fill_holes(mask, w, h);
        }
    }
}

impl std::fmt::Display for PostProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.largest_component, self.fill_holes) {
            (false, false) => write!(f, "none"),
            (true, false) => write!(f, "largest"),
            (false, true) => write!(f, "fill"),
            (true, true) => write!(f, "largest,fill"),
        }
    }
}

/// Labels the 8-connected components of pixels where `is_in` holds; returns the label of each
/// pixel (0 = not in) and each label's size (index 0 unused).
fn components(
    mask: &[u8],
    w: usize,
    h: usize,
    is_in: impl Fn(u8) -> bool,
    eight: bool,
) -> (Vec<u32>, Vec<usize>) {
    let mut label = vec![0u32; w * h];
    let mut sizes = vec![0usize];
    let mut queue = VecDeque::new();
    for start in 0..w * h {
        if label[start] != 0 || !is_in(mask[start]) {
            continue;
        }
        let id = sizes.len() as u32;
        sizes.push(0);
        label[start] = id;
        queue.push_back(start);
        while let Some(p) = queue.pop_front() {
            sizes[id as usize] += 1;
            let (x, y) = ((p % w) as isize, (p / w) as isize);
            for (dx, dy) in [
                (1, 0),
                (-1, 0),
                (0, 1),
                (0, -1),
                (1, 1),
                (1, -1),
                (-1, 1),
                (-1, -1),
            ]
            .iter()
            .take(if eight { 8 } else { 4 })
            {
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                    continue;
                }
                let q = ny as usize * w + nx as usize;
                if label[q] == 0 && is_in(mask[q]) {
                    label[q] = id;
                    queue.push_back(q);
                }
            }
        }
    }
    (label, sizes)
}

/// Keeps the largest 8-connected foreground component (ties: the first in raster order).
pub fn largest_component(mask: &mut [u8], w: u32, h: u32) {
    let (w, h) = (w as usize, h as usize);
    let (label, sizes) = components(mask, w, h, |v| v != 0, true);
    let Some(keep) = (1..sizes.len()).max_by_key(|&i| (sizes[i], std::cmp::Reverse(i))) else {
        return;
    };
    for (m, l) in mask.iter_mut().zip(&label) {
        if *l as usize != keep {
            *m = 0;
        }
    }
}

/// Fills background regions (4-connected) that do not touch the image border.
pub fn fill_holes(mask: &mut [u8], w: u32, h: u32) {
    let (w, h) = (w as usize, h as usize);
    let (label, sizes) = components(mask, w, h, |v| v == 0, false);
    let mut touches = vec![false; sizes.len()];
    for x in 0..w {
        touches[label[x] as usize] = true;
        touches[label[(h - 1) * w + x] as usize] = true;
    }
    for y in 0..h {
        touches[label[y * w] as usize] = true;
        touches[label[y * w + w - 1] as usize] = true;
    }
    for (m, l) in mask.iter_mut().zip(&label) {
        if *l != 0 && !touches[*l as usize] {
            *m = 255;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: &[&str]) -> (Vec<u8>, u32, u32) {
        let h = rows.len() as u32;
        let w = rows[0].len() as u32;
        let v = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| if b == b'#' { 255 } else { 0 }))
            .collect();
        (v, w, h)
    }

    #[test]
    fn the_largest_component_is_kept_and_diagonal_neighbours_count() {
        let (mut m, w, h) = grid(&["##....#", "..#...#", "......#", "#......"]);
        largest_component(&mut m, w, h);
        // The diagonal chain (3 pixels) ties with the right column (3): the first one stays.
        assert_eq!(m, grid(&["##.....", "..#....", ".......", "......."]).0);
        let (mut m, w, h) = grid(&["#....", "...##", "...##"]);
        largest_component(&mut m, w, h);
        assert_eq!(m, grid(&[".....", "...##", "...##"]).0);
    }

    #[test]
    fn enclosed_holes_are_filled_and_open_bays_are_not() {
        let (mut m, w, h) = grid(&[".....", ".###.", ".#.#.", ".###.", ".#.#."]);
        fill_holes(&mut m, w, h);
        assert_eq!(m, grid(&[".....", ".###.", ".###.", ".###.", ".#.#."]).0);
    }

    #[test]
    fn parse_names_the_steps_and_refuses_others() {
        let p = PostProcess::parse("fill,largest").expect("both");
        assert!(p.largest_component && p.fill_holes);
        assert_eq!(p.to_string(), "largest,fill");
        assert!(PostProcess::parse("none").expect("none").is_none());
        assert!(PostProcess::parse("smooth").is_err());
    }
}
