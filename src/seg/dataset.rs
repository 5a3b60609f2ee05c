//! Training and evaluation data: a folder with `image/` and `mask/` subfolders of matching files.
//!
//! **Pairing rule.** An image and a mask belong together when their file stems (name without the
//! extension) are equal. Otherwise they are paired by their *subject key*: the stem with its *role
//! word* removed — the text between the stem's last `_` and the next `.` (or the stem's end). That is
//! how the ABIDE corpus callosum set names its files:
//! `image/KKI_0050772_abide_msp.nii-slice000.jpg` ↔ `mask/KKI_0050772_abide_cc.nii-slice000.jpg`
//! (role words `msp` / `cc`, key `KKI_0050772_abide_.nii-slice000`); `case7_image.png` ↔
//! `case7_mask.png` works the same way. A file that matches nothing, or a key that two files of the
//! same folder share, is an error naming the files — never silently dropped.
//!
//! **Site.** The stem's prefix before the first `_` (`KKI`), used to hold out whole sites.
//!
//! **Pixels.** Images go through exactly what `radpipe segment` does before the network: DICOM is
//! windowed to 8-bit display values (the file's window, else its VOI LUT, else the frame's range),
//! 8-bit PNG/JPEG are used as they are (colour → BT.601 luma), 16-bit rasters are windowed over their
//! range ([`crate::seg::infer::prepare`]). Masks are foreground where the sample is above 127
//! (8-bit; other depths are first scaled to 0..255), so JPEG ringing around a 0/255 mask is ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::image::{HostImage, PixelFormat};
use crate::io::{Input, read_input};
use crate::seg::infer::prepare;
use crate::seg::infer::{SegInput, display_reference};
use crate::{Error, Result};

/// Extensions radpipe reads as training images and masks.
pub const EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "tif", "tiff", "dcm", "dicom"];

/// One image/mask pair, by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairPaths {
    /// The image file.
    pub image: PathBuf,
    /// The mask file.
    pub mask: PathBuf,
    /// Acquisition site: the image stem's prefix before the first `_`.
    pub site: String,
    /// The image stem (for reports).
    pub name: String,
}

/// One loaded sample: 8-bit display values and the binary mask, same size.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Display values (0..255), row-major.
    pub image: Vec<u8>,
    /// 1 = foreground, 0 = background, row-major.
    pub mask: Vec<u8>,
    /// Acquisition site.
    pub site: String,
    /// Image stem.
    pub name: String,
}

impl Sample {
    /// The display image as a [`HostImage`] (u8).
    pub fn host_image(&self) -> Result<HostImage> {
        HostImage::new(
            self.width,
            self.height,
            crate::image::Pixels::U8(self.image.clone()),
        )
    }
}

/// The site of a file stem: the prefix before the first `_` (the whole stem when it has none).
pub fn site_of(stem: &str) -> String {
    stem.split('_').next().unwrap_or(stem).to_string()
}

/// The subject key of a file stem (see the module docs): the stem without its role word, the text
/// between the last `_` and the next `.` (`KKI_0050772_abide_msp.nii-slice000` →
/// `KKI_0050772_abide_.nii-slice000`). A stem without `_` is its own key.
pub fn subject_key(stem: &str) -> String {
    match stem.rfind('_') {
        Some(i) => {
            let tail = &stem[i + 1..];
            let role_end = tail.find('.').unwrap_or(tail.len());
            format!("{}_{}", &stem[..i], &tail[role_end..])
        }
        None => stem.to_string(),
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn list_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::io(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "folder not found (a data folder holds image/ and mask/ subfolders of matching files)",
            ),
        ));
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || !path.is_file() {
            continue;
        }
        if EXTENSIONS.contains(&crate::io::extension(&path).as_str()) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn listing(files: &[&PathBuf]) -> String {
    let shown: Vec<String> = files
        .iter()
        .take(5)
        .map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let more = files.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Pairs `DIR/image/*` with `DIR/mask/*` (see the module docs for the rule). Errors name unmatched and
/// ambiguous files.
pub fn pair_files(data: &Path) -> Result<Vec<PairPaths>> {
    if !data.is_dir() {
        return Err(Error::io(
            data,
            std::io::Error::new(std::io::ErrorKind::NotFound, "data folder not found"),
        ));
    }
    let images = list_files(&data.join("image"))?;
    let masks = list_files(&data.join("mask"))?;
    if images.is_empty() {
        return Err(Error::format(
            data.join("image"),
            format!("no images ({})", EXTENSIONS.join(", ")),
        ));
    }
    let by_stem: BTreeMap<String, &PathBuf> = masks.iter().map(|m| (stem(m), m)).collect();
    let mut by_key: BTreeMap<String, Vec<&PathBuf>> = BTreeMap::new();
    for m in &masks {
        by_key.entry(subject_key(&stem(m))).or_default().push(m);
    }
    let mut pairs = Vec::with_capacity(images.len());
    let mut used: BTreeMap<&PathBuf, &PathBuf> = BTreeMap::new();
    let mut unmatched: Vec<&PathBuf> = Vec::new();
    for image in &images {
        let s = stem(image);
        let mask = match by_stem.get(&s) {
            Some(m) => Some(*m),
            None => match by_key.get(&subject_key(&s)).map(Vec::as_slice) {
                Some([m]) => Some(*m),
                Some(many @ [_, _, ..]) => {
                    return Err(Error::format(
                        image,
                        format!(
                            "ambiguous: masks {} share its subject key '{}'",
                            listing(many),
                            subject_key(&s)
                        ),
                    ));
                }
                _ => None,
            },
        };
        match mask {
            Some(m) => {
                if let Some(other) = used.insert(m, image) {
                    return Err(Error::format(
                        m,
                        format!(
                            "mask matches two images: {} and {}",
                            other.display(),
                            image.display()
                        ),
                    ));
                }
                pairs.push(PairPaths {
                    image: image.clone(),
                    mask: m.clone(),
                    site: site_of(&s),
                    name: s,
                });
            }
            None => unmatched.push(image),
        }
    }
    let orphans: Vec<&PathBuf> = masks.iter().filter(|m| !used.contains_key(m)).collect();
    if !unmatched.is_empty() || !orphans.is_empty() {
        let mut parts = Vec::new();
        if !unmatched.is_empty() {
            parts.push(format!(
                "{} image(s) without a mask: {}",
                unmatched.len(),
                listing(&unmatched)
            ));
        }
        if !orphans.is_empty() {
            parts.push(format!(
                "{} mask(s) without an image: {}",
                orphans.len(),
                listing(&orphans)
            ));
        }
        return Err(Error::format(
            data,
            format!(
                "{} (pairs need equal stems, or stems equal but for the role word after the last _, \
                 e.g. X_abide_msp.nii ↔ X_abide_cc.nii)",
                parts.join("; ")
            ),
        ));
    }
    Ok(pairs)
}

/// Reads a mask file as 0/1 (foreground above 127 on the 0..255 scale).
pub fn read_mask(path: &Path) -> Result<HostImage> {
    let image = match read_input(path)? {
        Input::Raster(img) => img,
        Input::Dicom(d) => d.frame(0)?,
    };
    let scale = match image.format() {
        PixelFormat::U8 => 1.0,
        PixelFormat::U16 => 255.0 / 65535.0,
        _ => 1.0,
    };
    let bits: Vec<u8> = (0..image.pixel_count())
        .map(|i| u8::from(image.pixels.get_f64(i) * scale > 127.0))
        .collect();
    HostImage::new(image.width, image.height, crate::image::Pixels::U8(bits))
}

/// Loads one pair: the display image (as `radpipe segment` prepares it) and its 0/1 mask.
pub fn load_pair(pair: &PairPaths) -> Result<Sample> {
    let prepared = prepare(&pair.image)?;
    let display = display_reference(&SegInput {
        image: &prepared.image,
        window: prepared.window.as_ref(),
    })
    .map_err(|e| e.in_file(&pair.image))?;
    let image = match display.pixels {
        crate::image::Pixels::U8(v) => v,
        other => (0..other.len())
            .map(|i| other.get_f64(i).round().clamp(0.0, 255.0) as u8)
            .collect(),
    };
    let mask = read_mask(&pair.mask)?;
    if (mask.width, mask.height) != (display.width, display.height) {
        return Err(Error::format(
            &pair.mask,
            format!(
                "mask is {}x{} but its image {} is {}x{}",
                mask.width,
                mask.height,
                pair.image.display(),
                display.width,
                display.height
            ),
        ));
    }
    let crate::image::Pixels::U8(mask) = mask.pixels else {
        unreachable!("read_mask returns u8")
    };
    Ok(Sample {
        width: display.width,
        height: display.height,
        image,
        mask,
        site: pair.site.clone(),
        name: pair.name.clone(),
    })
}

/// Parses a comma-separated site list (`A,B,C`), trimmed, empty entries dropped.
pub fn parse_sites(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks every requested site exists in `pairs`; names the unknown ones and lists the known.
pub fn check_sites(pairs: &[PairPaths], sites: &[String]) -> Result<()> {
    let known: std::collections::BTreeSet<&str> = pairs.iter().map(|p| p.site.as_str()).collect();
    let unknown: Vec<&str> = sites
        .iter()
        .map(String::as_str)
        .filter(|s| !known.contains(s))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidParams(format!(
            "unknown site(s) {}; the data has {}",
            unknown.join(", "),
            known.into_iter().collect::<Vec<_>>().join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abide_names_pair_by_subject_key() {
        assert_eq!(
            subject_key("KKI_0050772_abide_msp.nii-slice000"),
            subject_key("KKI_0050772_abide_cc.nii-slice000")
        );
        assert_eq!(
            subject_key("KKI_0050772_abide_msp.nii-slice000"),
            "KKI_0050772_abide_.nii-slice000"
        );
        assert_ne!(
            subject_key("Leuven_1_0050682_abide_msp.nii-slice000"),
            subject_key("Leuven_1_0050683_abide_cc.nii-slice000")
        );
        assert_eq!(subject_key("case7_image"), subject_key("case7_mask"));
        assert_ne!(
            subject_key("KKI_0050772_abide_msp.nii-slice000"),
            subject_key("KKI_0050772_abide_msp.nii-slice001")
        );
        assert_eq!(site_of("KKI_0050772_abide_msp.nii-slice000"), "KKI");
        assert_eq!(subject_key("plain"), "plain");
    }
}
