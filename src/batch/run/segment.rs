//! The segment stage on burn's CPU backend (`device = "auto"` on a CPU adapter, or `"cpu"`): the
//! stages before it ran on the engine and their 8-bit result was read back; the network runs here,
//! on the executor's thread, as the image's readback is collected.

use crate::image::{HostImage, PixelFormat};
use crate::seg::infer::{SegInput, Segmenter};
use crate::{Error, Result};

/// The mask of an 8-bit image read back for a network on burn's CPU backend.
pub(super) fn segment_on_cpu(
    segmenter: Option<&Segmenter>,
    display: HostImage,
) -> Result<HostImage> {
    let segmenter = segmenter
        .ok_or_else(|| Error::InvalidParams("the segmentation model was not loaded".into()))?;
    if display.format() != PixelFormat::U8 {
        return Err(Error::InvalidParams(format!(
            "segmentation needs 8-bit display values, not {} samples: window to 8 bits first",
            display.format()
        )));
    }
    let input = SegInput {
        image: &display,
        window: None,
    };
    segmenter
        .segment(&[input])?
        .pop()
        .ok_or_else(|| Error::InvalidParams("the network returned no mask".into()))
}
