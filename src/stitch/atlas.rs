//! The atlas — one f32 storage buffer holding every station one after another, so each kernel binds
//! one buffer whatever the number of stations — and the station table the GPU-decided stages read
//! the stations' sizes and nominal placements from (`shaders/common/atlas.wgsl`,
//! `shaders/common/placement.wgsl`), with their CPU twins for the references.
//!
//! Why a module of its own: registration, every compensation, the layout and the blend all address
//! stations through these types; kept here, below all of them, none needs to import the pipeline that
//! runs them.

use super::layout::Placement;

/// Words per station in the station table, as `shaders/common/placement.wgsl` declares them.
pub const STATION_WORDS: u32 = crate::gpu::shaders::common::placement::STATION_WORDS;

/// Where one station's f32 samples start in the atlas, and where it sits on the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AtlasEntry {
    /// First word of the station in the atlas.
    pub offset: u32,
    /// Placement (its width and height are the station's).
    pub placement: Placement,
}

/// Bilinear sample of an atlas entry at station coordinates, clamped to the edges — the f32
/// arithmetic of `atlas_sample` in `shaders/common/atlas.wgsl`.
pub fn atlas_sample(atlas: &[f32], e: &AtlasEntry, sx: f32, sy: f32) -> f32 {
    let (w, h) = (e.placement.width, e.placement.height);
    let x = sx.clamp(0.0, (w - 1) as f32);
    let y = sy.clamp(0.0, (h - 1) as f32);
    let x0 = (x.floor() as u32).min(w - 1);
    let y0 = (y.floor() as u32).min(h - 1);
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let (tx, ty) = (x - x0 as f32, y - y0 as f32);
    let at = |xx: u32, yy: u32| atlas[(e.offset + yy * w + xx) as usize];
    let top = at(x0, y0) + tx * (at(x1, y0) - at(x0, y0));
    let bottom = at(x0, y1) + tx * (at(x1, y1) - at(x0, y1));
    top + ty * (bottom - top)
}

/// Words of the station table (`shaders/common/placement.wgsl`, [`STATION_WORDS`] per
/// station): atlas offset, size, nominal offset, cos and sin of the rotation.
pub fn station_table(entries: &[AtlasEntry]) -> Vec<u32> {
    let mut words = Vec::with_capacity(entries.len() * STATION_WORDS as usize);
    for e in entries {
        let p = &e.placement;
        let (sin, cos) = p.angle.sin_cos();
        words.extend([e.offset, p.width, p.height, 0]);
        words.extend(
            [p.offset[0], p.offset[1], cos, sin]
                .iter()
                .map(|&v| (v as f32).to_bits()),
        );
        words.resize(words.len().next_multiple_of(STATION_WORDS as usize), 0);
    }
    words
}

/// One station of the table, decoded as the shaders read it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TableStation {
    pub(crate) atlas: u32,
    pub(crate) size: [u32; 2],
    pub(crate) nominal: [f32; 2],
    pub(crate) cos: f32,
    pub(crate) sin: f32,
}

impl TableStation {
    pub(crate) fn read(table: &[u32], k: usize) -> Self {
        let w = &table[k * STATION_WORDS as usize..(k + 1) * STATION_WORDS as usize];
        TableStation {
            atlas: w[0],
            size: [w[1], w[2]],
            nominal: [f32::from_bits(w[4]), f32::from_bits(w[5])],
            cos: f32::from_bits(w[6]),
            sin: f32::from_bits(w[7]),
        }
    }

    pub(crate) fn centre(&self) -> [f32; 2] {
        [
            (self.size[0] as f32 - 1.0) * 0.5,
            (self.size[1] as f32 - 1.0) * 0.5,
        ]
    }

    fn canvas_point(&self, off: [f32; 2], s: [f32; 2]) -> [f32; 2] {
        let c = self.centre();
        let d = [s[0] - c[0], s[1] - c[1]];
        [
            off[0] + c[0] + self.cos * d[0] - self.sin * d[1],
            off[1] + c[1] + self.sin * d[0] + self.cos * d[1],
        ]
    }

    pub(crate) fn station_point(&self, off: [f32; 2], p: [f32; 2]) -> [f32; 2] {
        let c = self.centre();
        let d = [p[0] - off[0] - c[0], p[1] - off[1] - c[1]];
        [
            c[0] + self.cos * d[0] + self.sin * d[1],
            c[1] - self.sin * d[0] + self.cos * d[1],
        ]
    }

    pub(crate) fn covers(&self, off: [f32; 2], p: [f32; 2]) -> bool {
        let s = self.station_point(off, p);
        let (w, h) = (self.size[0] as f32, self.size[1] as f32);
        s[0] > -0.5 && s[1] > -0.5 && s[0] < w - 0.5 && s[1] < h - 0.5
    }

    pub(crate) fn bbox(&self, off: [f32; 2]) -> [f32; 4] {
        let (w, h) = (self.size[0] as f32, self.size[1] as f32);
        let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
        for s in [
            [-0.5, -0.5],
            [w - 0.5, -0.5],
            [-0.5, h - 0.5],
            [w - 0.5, h - 0.5],
        ] {
            let p = self.canvas_point(off, s);
            b = [
                b[0].min(p[0]),
                b[1].min(p[1]),
                b[2].max(p[0]),
                b[3].max(p[1]),
            ];
        }
        b
    }

    /// Bilinear sample at station pixel coordinates `s`, as the shaders' `atlas_sample`.
    pub(crate) fn sample(&self, atlas: &[f32], s: [f32; 2]) -> f32 {
        atlas_sample(atlas, &self.entry(), s[0], s[1])
    }

    /// The atlas entry [`atlas_sample`] reads (it uses only the atlas offset and the size).
    fn entry(&self) -> AtlasEntry {
        AtlasEntry {
            offset: self.atlas,
            placement: Placement::new([0.0, 0.0], self.size[0], self.size[1]),
        }
    }
}

/// Every `stride`-th canvas point of two stations' bounding-box overlap (counted from its first
/// whole-pixel point) that both cover, with each station's pixel coordinates there — the points the
/// GPU compensation shaders take their overlap statistics over.
pub(crate) fn shared_points<'a>(
    (a, oa): (&'a TableStation, [f32; 2]),
    (b, ob): (&'a TableStation, [f32; 2]),
    stride: usize,
) -> impl Iterator<Item = ([f32; 2], [f32; 2])> + 'a {
    box_overlap(a.bbox(oa), b.bbox(ob))
        .into_iter()
        .flat_map(move |r| {
            let xs = r[0].ceil() as i64..=r[2].floor() as i64;
            let ys = r[1].ceil() as i64..=r[3].floor() as i64;
            ys.step_by(stride).flat_map(move |y| {
                xs.clone().step_by(stride).filter_map(move |x| {
                    let p = [x as f32, y as f32];
                    (a.covers(oa, p) && b.covers(ob, p))
                        .then(|| (a.station_point(oa, p), b.station_point(ob, p)))
                })
            })
        })
}

pub(crate) fn box_overlap(a: [f32; 4], b: [f32; 4]) -> Option<[f32; 4]> {
    let r = [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ];
    (r[2] - r[0] >= 1.0 && r[3] - r[1] >= 1.0).then_some(r)
}
