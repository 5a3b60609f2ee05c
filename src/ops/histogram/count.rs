//! The counting stage: the range pass of f32 images and the histogram count — whole image, a
//! rectangle, a mask or a grid of tiles — with the kernel layout (shared-memory, aligned or
//! global-atomics) chosen for the image and the bin count.

use super::*;

crate::wgsl_struct! {
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    pub(super) struct CountParams = HISTOGRAM_COUNT_PARAMS {
        binning: ShaderBinning,
        width: u32,
        height: u32,
        region_w: u32,
        region_h: u32,
        regions_x: u32,
        origin_x: u32,
        origin_y: u32,
        use_mask: u32,
        copies: u32,
        _pad: [u32; 3],
    }
}

crate::wgsl_struct! {
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    pub(super) struct RangeParams = HISTOGRAM_RANGE_PARAMS {
        count: u32,
        _pad: [u32; 3],
    }
}

/// Where and how a count dispatch reads pixels (see `shaders/histogram_count.wgsl`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CountLayout {
    pub region_w: u32,
    pub region_h: u32,
    pub regions_x: u32,
    pub regions_y: u32,
    pub origin_x: u32,
    pub origin_y: u32,
}

/// Pixels a workgroup of the shared-memory kernels counts before flushing (amortises clear + flush).
const PIXELS_PER_SHARED_GROUP: u64 = 256 * 32;
/// Pixels per workgroup of the global-atomics kernel.
const PIXELS_PER_GLOBAL_GROUP: u64 = 256 * 4;
/// Private histogram copies for a large single-region global-atomics count (see
/// `shaders/histogram_count.wgsl`), and the region size from which they pay for their clear + merge.
const GLOBAL_COPIES: u32 = 4;
const COPIES_FROM_PIXELS: u64 = 1 << 20;

pub(super) fn check_binning(input: &GpuImage, binning: &Binning) -> Result<()> {
    if input.format != binning.format {
        return Err(Error::InvalidParams(format!(
            "binning for {} samples used on a {} image",
            binning.format, input.format
        )));
    }
    Ok(())
}

/// Records the range pass of an f32 image (min and max of the finite samples).
pub fn encode_range(rec: &mut Recorder<'_>, input: &GpuImage) -> Result<GpuTable> {
    if input.format != PixelFormat::F32 {
        return Err(Error::InvalidParams(format!(
            "value range pass is for f32 images, not {}",
            input.format
        )));
    }
    let range = GpuTable::alloc(rec, 2, 1)?;
    range.record_clear(rec);
    let kernel = rec
        .engine()
        .shaders()
        .kernel(kernels::HISTOGRAM_RANGE_MAIN)?;
    let count = u32::try_from(input.pixel_count())
        .map_err(|_| Error::InvalidImage("image has over 2^32 pixels".into()))?;
    let uniform = rec.uniform(
        &RangeParams {
            count,
            _pad: [0; 3],
        },
        "histogram_range params",
    )?;
    let groups = (u64::from(count).div_ceil(PIXELS_PER_SHARED_GROUP)).clamp(1, 4096) as u32;
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, Bind::Image(input)),
            (2, range.bind()),
        ],
        [groups, 1, 1],
    )?;
    Ok(range)
}

/// True when the count can take the aligned path of `histogram_count.wgsl` (whole words, no border
/// folding): integer samples, no mask, and every region starts and ends on a word boundary inside the
/// image.
fn aligned(input: &GpuImage, binning: &Binning, layout: &CountLayout, masked: bool) -> bool {
    let per_word = input.format.pixels_per_word() as u32;
    let right =
        u64::from(layout.origin_x) + u64::from(layout.regions_x) * u64::from(layout.region_w);
    let bottom =
        u64::from(layout.origin_y) + u64::from(layout.regions_y) * u64::from(layout.region_h);
    !masked
        && binning.format != PixelFormat::F32
        && input.width.is_multiple_of(per_word)
        && layout.origin_x.is_multiple_of(per_word)
        && layout.region_w.is_multiple_of(per_word)
        && right <= u64::from(input.width)
        && bottom <= u64::from(input.height)
}

/// Records a count into a fresh, zeroed table of `regions_x · regions_y` rows.
pub(crate) fn encode_count(
    rec: &mut Recorder<'_>,
    input: &GpuImage,
    binning: &Binning,
    range: Option<&GpuTable>,
    layout: CountLayout,
    mask: Option<&GpuImage>,
) -> Result<GpuTable> {
    check_binning(input, binning)?;
    if let Some(m) = mask
        && (m.format != PixelFormat::U8 || m.width != input.width || m.height != input.height)
    {
        return Err(Error::InvalidParams(format!(
            "mask must be a u8 image of the input's size {}x{}, got {} {}x{}",
            input.width, input.height, m.format, m.width, m.height
        )));
    }
    let regions = layout.regions_x * layout.regions_y;
    // A workgroup-local histogram of 256 or 4096 counters when the bins fit, else global atomics.
    let local_bins = match binning.bins {
        0..=256 => Some(256.0),
        257..=4096 => Some(4096.0),
        _ => None,
    };
    let per_group = if local_bins.is_some() {
        PIXELS_PER_SHARED_GROUP
    } else {
        PIXELS_PER_GLOBAL_GROUP
    };
    let region_pixels = u64::from(layout.region_w) * u64::from(layout.region_h);
    let copies = if local_bins.is_none() && regions == 1 && region_pixels >= COPIES_FROM_PIXELS {
        GLOBAL_COPIES
    } else {
        1
    };
    let format = ("IN_FORMAT", f64::from(binning.format.shader_code()));
    let shaders = rec.engine().shaders();
    let aligned = aligned(input, binning, &layout, mask.is_some());
    let kernel = match (local_bins, aligned) {
        (Some(n), true) => shaders.specialized(
            kernels::HISTOGRAM_COUNT_ALIGNED_LOCAL,
            &[("LOCAL_BINS", n), format],
        )?,
        (Some(n), false) => {
            shaders.specialized(kernels::HISTOGRAM_COUNT_COUNT_LOCAL, &[("LOCAL_BINS", n)])?
        }
        (None, true) => shaders.specialized(kernels::HISTOGRAM_COUNT_ALIGNED_GLOBAL, &[format])?,
        (None, false) => shaders.kernel(kernels::HISTOGRAM_COUNT_COUNT_GLOBAL)?,
    };
    let params = CountParams {
        binning: binning.shader(),
        width: input.width,
        height: input.height,
        region_w: layout.region_w,
        region_h: layout.region_h,
        regions_x: layout.regions_x,
        origin_x: layout.origin_x,
        origin_y: layout.origin_y,
        use_mask: u32::from(mask.is_some()),
        copies,
        _pad: [0; 3],
    };
    let uniform = rec.uniform(&params, "histogram_count params")?;
    // Enough workgroups to fill a GPU, never more than one per `per_group` pixels of a region.
    let target_groups = (4096 / u64::from(regions)).max(1);
    let chunks = region_pixels.div_ceil(per_group).clamp(1, target_groups) as u32;
    let counts = GpuTable::alloc(rec, binning.bins, regions)?;
    let target = if copies > 1 {
        GpuTable::alloc(rec, binning.bins, copies)?
    } else {
        counts.clone()
    };
    target.record_clear(rec);
    let mut binds = vec![
        (0, Bind::Pooled(&uniform)),
        (1, Bind::Image(input)),
        (4, target.bind()),
    ];
    if !aligned {
        // The general walkers test the mask and range words at run time (`use_mask`, f32 input);
        // without them the input stands in, never read.
        binds.push((2, Bind::Image(mask.unwrap_or(input))));
        binds.push((
            3,
            match range {
                Some(r) => r.bind(),
                None => Bind::Image(input),
            },
        ));
    }
    rec.dispatch(&kernel, &binds, [chunks, regions, 1])?;
    if copies > 1 {
        let merge = rec
            .engine()
            .shaders()
            .kernel(kernels::HISTOGRAM_COUNT_MERGE_COPIES)?;
        let groups = rec.groups_1d(&merge, u64::from(binning.bins));
        rec.dispatch(
            &merge,
            &[
                (0, Bind::Pooled(&uniform)),
                (1, target.bind()),
                (4, counts.bind()),
            ],
            groups,
        )?;
    }
    Ok(counts)
}

/// Records the histogram of `input`'s pixels inside `region` (f32 images: preceded by the range pass).
pub fn encode_histogram(
    rec: &mut Recorder<'_>,
    input: &GpuImage,
    binning: &Binning,
    region: &Region<'_>,
) -> Result<GpuHistogram> {
    check_binning(input, binning)?;
    let rect = region.rect.unwrap_or(Rect {
        x: 0,
        y: 0,
        width: input.width,
        height: input.height,
    });
    rect.validate(input.width, input.height)?;
    let range = if binning.format == PixelFormat::F32 {
        Some(encode_range(rec, input)?)
    } else {
        None
    };
    let layout = CountLayout {
        region_w: rect.width,
        region_h: rect.height,
        regions_x: 1,
        regions_y: 1,
        origin_x: rect.x,
        origin_y: rect.y,
    };
    let counts = encode_count(rec, input, binning, range.as_ref(), layout, region.mask)?;
    Ok(GpuHistogram {
        counts,
        binning: *binning,
        range,
    })
}
