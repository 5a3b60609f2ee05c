//! The GPU layer: adapter choice and device ownership ([`context`]), the shader registry
//! ([`shaders`]), pooled buffers ([`buffers`]) and the images that live in them ([`image`]), the one path back to the CPU ([`readback`]) and the
//! counters that let tests prove how many submissions and readbacks a stage cost ([`stats`]).
//!
//! This layer knows no image operation: ops call into it, never the other way round.

pub mod adapter;
pub mod buffers;
pub mod context;
pub mod image;
pub mod readback;
pub mod shaders;
pub mod stats;

pub use image::GpuImage;

/// Number of workgroups for `items` invocations of a 1-D kernel with `group_width` threads, folded into
/// two dimensions when the count exceeds the per-dimension limit. Shaders rebuild the linear index with
/// `linear_index` from `shaders/common/pixels.wgsl`.
pub fn workgroups_1d(items: u64, group_width: u32, max_per_dim: u32) -> [u32; 3] {
    let groups = items.div_ceil(u64::from(group_width)).max(1);
    let max = u64::from(max_per_dim.max(1));
    if groups <= max {
        [groups as u32, 1, 1]
    } else {
        let y = groups.div_ceil(max);
        [max as u32, y as u32, 1]
    }
}

#[cfg(test)]
mod tests {
    use super::workgroups_1d;

    #[test]
    fn small_dispatches_stay_one_dimensional() {
        assert_eq!(workgroups_1d(1, 256, 65535), [1, 1, 1]);
        assert_eq!(workgroups_1d(256, 256, 65535), [1, 1, 1]);
        assert_eq!(workgroups_1d(257, 256, 65535), [2, 1, 1]);
    }

    #[test]
    fn large_dispatches_fold_into_y() {
        let [x, y, _] = workgroups_1d(65536 * 256 * 3, 256, 65535);
        assert_eq!(x, 65535);
        assert!(u64::from(x) * u64::from(y) >= 65536 * 3);
    }
}
