//! The segment job: every localizer of the series is segmented (corpus callosum), measured (oriented
//! box, fitted line, centre, scan-plane angle) and drawn — the localizer with the contour, box, line,
//! centre and angle burnt in — and the picture is sent as a Secondary Capture derived from the
//! localizer (same study, a new series, the localizer in its Source Image Sequence). The numbers go
//! into the job status so a planning system can read them without parsing pixels.
//!
//! The network is loaded once per model and size and kept for the node's life (loading the weights
//! costs more than segmenting a localizer); on a CPU adapter it runs on burn's CPU backend
//! (`DeviceChoice::Auto`), on a GPU on the engine's own device.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::io::dicom::{DerivedDicom, read_dicom, write_derived_rgb};
use crate::seg::infer::DeviceChoice;
use crate::serve::config::ResolvedRoute;
use crate::serve::spool::read_instance;
use crate::workflow::segment::{LoadedSegmenter, load_segmenter, segment_file};
use crate::{Engine, Error, Result};

type Key = (u64, Option<PathBuf>, Option<u32>);

fn loaded(engine: &Engine, route: &ResolvedRoute) -> Result<LoadedSegmenter> {
    static CACHE: OnceLock<Mutex<HashMap<Key, LoadedSegmenter>>> = OnceLock::new();
    let key = (engine.uid(), route.model.clone(), route.route.size);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(l) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(l.clone());
    }
    let l = load_segmenter(
        Some(engine),
        route.model.as_deref(),
        route.route.size,
        DeviceChoice::Auto,
    )?;
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, l.clone());
    Ok(l)
}

/// Segments each input, writes `out/<n>_overlay.dcm` per localizer; the numbers per localizer.
pub fn segment(
    engine: &Engine,
    route: &ResolvedRoute,
    inputs: &[PathBuf],
    out: &Path,
) -> Result<(Vec<PathBuf>, serde_json::Value)> {
    let net = loaded(engine, route)?;
    let mut files = Vec::new();
    let mut localizers = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let source = read_dicom(input)?;
        let result = segment_file(&net.segmenter, input)?;
        let fit = result.measurement.pixels.as_ref().ok_or_else(|| {
            Error::InvalidImage(format!(
                "{}: no corpus callosum found (empty mask): no scan plane",
                input.display()
            ))
        })?;
        let angle = fit.angle_deg;
        let description = format!(
            "corpus callosum segmented by radpipe (BiSeNetV2, {}); contour, oriented box, fitted line and scan plane{} drawn in",
            net.model.file_name().unwrap_or_default().to_string_lossy(),
            angle.map(|a| format!(" at {a:.2} deg")).unwrap_or_default()
        );
        let path = out.join(format!("{:03}_overlay.dcm", i + 1));
        let o = &result.overlay;
        write_derived_rgb(
            &path,
            o.width,
            o.height,
            &o.rgb,
            &DerivedDicom::from_source(Some(&source), description),
        )?;
        let uid = read_instance(input)
            .map(|i| i.sop_instance_uid)
            .unwrap_or_default();
        localizers.push(serde_json::json!({
            "sop_instance_uid": uid,
            "area_px": result.measurement.area_px,
            "center": fit.bbox.center,
            "box_angle_deg": fit.bbox.angle_deg,
            "line_angle_deg": fit.line.as_ref().map(|l| l.angle_deg),
            "angle_deg": angle,
            "mm": result.measurement.mm,
            "patient": result.measurement.patient,
        }));
        files.push(path);
    }
    let first_angle = localizers
        .first()
        .map(|l| l["angle_deg"].clone())
        .unwrap_or_default();
    let value = serde_json::json!({
        "device": net.device,
        "model": net.model.display().to_string(),
        "angle_deg": first_angle,
        "localizers": localizers,
    });
    Ok((files, value))
}
