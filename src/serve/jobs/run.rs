//! Running one job on the node's engine: the route's workflow over `work/<job>/in/`, results into a
//! fresh `work/<job>/out/`. Only the library's workflows are called; the node owns no image code.
//!
//! Stitch stations are ordered by their geometry — the position of each station along the column
//! direction of its Image Orientation (Patient), i.e. head to foot for a spine — not by Instance
//! Number, which modalities number by acquisition order (and some restart per station).

use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;

use crate::batch::run::run_batch;
use crate::serve::config::{JobKind, ResolvedRoute};
use crate::serve::spool::read_instance;
use crate::workflow::stitch::{StitchRequest, stitch_files};
use crate::{Engine, Error, Result};

/// What a job produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Result files (in `out/`) with their SOP Instance UIDs, in sending order.
    pub outputs: Vec<(PathBuf, String)>,
    /// Job-specific numbers for the status file.
    pub result: serde_json::Value,
    /// What computed it.
    pub engine: String,
}

/// Runs `route`'s job on the inputs in `work/in/`, writing into a cleared `work/out/`.
pub fn run(engine: &Engine, route: &ResolvedRoute, work: &Path) -> Result<Outcome> {
    let inputs = dicom_files(&work.join("in"))?;
    if inputs.is_empty() {
        return Err(Error::InvalidParams(format!(
            "{}: the job has no input instances",
            work.display()
        )));
    }
    let out = work.join("out");
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    }
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let adapter = engine.summary();
    let engine_name = format!("{} ({})", adapter.name, adapter.backend);
    let (files, result) = match route.route.job {
        JobKind::Stitch => stitch(engine, route, &inputs, &out)?,
        JobKind::Pipeline => pipeline(engine, route, &inputs, &out)?,
        JobKind::Segment => super::segment::segment(engine, route, &inputs, &out)?,
    };
    let mut outputs = Vec::new();
    for f in files {
        let uid = read_instance(&f)
            .map_err(|e| Error::format(&f, format!("the result cannot be read back: {e}")))?
            .sop_instance_uid;
        outputs.push((f, uid));
    }
    Ok(Outcome {
        outputs,
        result,
        engine: engine_name,
    })
}

fn stitch(
    engine: &Engine,
    route: &ResolvedRoute,
    inputs: &[PathBuf],
    out: &Path,
) -> Result<(Vec<PathBuf>, serde_json::Value)> {
    let ordered = order_by_geometry(inputs);
    let output = out.join("stitched.dcm");
    let request = StitchRequest {
        inputs: ordered.clone(),
        output: output.clone(),
        params: route.stitch.clone(),
        report: None,
        display: None,
    };
    let (_, report) = stitch_files(engine, &request)?;
    let mut value = serde_json::to_value(&report).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        let names: Vec<String> = ordered
            .iter()
            .map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        obj.insert("order".into(), serde_json::json!(names));
    }
    Ok((vec![output], value))
}

fn pipeline(
    engine: &Engine,
    route: &ResolvedRoute,
    inputs: &[PathBuf],
    out: &Path,
) -> Result<(Vec<PathBuf>, serde_json::Value)> {
    let Some((file, spec)) = &route.pipeline else {
        return Err(Error::InvalidParams(
            "pipeline route without a pipeline".into(),
        ));
    };
    let report = run_batch(engine, spec, inputs, out, |_| {})?;
    if !report.failed.is_empty() {
        let reasons: Vec<String> = report.failed.iter().map(|(_, why)| why.clone()).collect();
        return Err(Error::InvalidParams(format!(
            "{}: {} of {} instances failed: {}",
            file.display(),
            report.failed.len(),
            inputs.len(),
            reasons.join("; ")
        )));
    }
    let value = serde_json::json!({
        "pipeline": file.display().to_string(),
        "processed": report.processed,
        "seconds": report.seconds,
    });
    Ok((dicom_files(out)?, value))
}

/// `*.dcm` in `dir`, sorted by name.
pub fn dicom_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "dcm"))
        .collect();
    v.sort();
    Ok(v)
}

/// Orders stations by Image Position (Patient) projected on the column direction of Image
/// Orientation (Patient) (first to last down the image). Without geometry on every station:
/// Instance Number, then the file name.
pub fn order_by_geometry(inputs: &[PathBuf]) -> Vec<PathBuf> {
    let keyed: Vec<(Option<f64>, i64, PathBuf)> = inputs
        .iter()
        .map(|p| {
            let (along, number) = geometry_key(p);
            (along, number.unwrap_or(i64::MAX), p.clone())
        })
        .collect();
    let all_geometry = keyed.iter().all(|k| k.0.is_some());
    let mut keyed = keyed;
    keyed.sort_by(|a, b| {
        let by_number = a.1.cmp(&b.1).then_with(|| a.2.cmp(&b.2));
        if all_geometry {
            a.0.unwrap_or(0.0)
                .total_cmp(&b.0.unwrap_or(0.0))
                .then(by_number)
        } else {
            by_number
        }
    });
    keyed.into_iter().map(|k| k.2).collect()
}

fn geometry_key(path: &Path) -> (Option<f64>, Option<i64>) {
    let Ok(obj) = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
    else {
        return (None, None);
    };
    let floats = |tag| -> Option<Vec<f64>> {
        let v = obj.element(tag).ok()?.to_multi_float64().ok()?;
        v.iter().all(|x| x.is_finite()).then_some(v)
    };
    let number = obj
        .element(tags::INSTANCE_NUMBER)
        .ok()
        .and_then(|e| e.to_int::<i64>().ok());
    let along = match (
        floats(tags::IMAGE_POSITION_PATIENT),
        floats(tags::IMAGE_ORIENTATION_PATIENT),
    ) {
        (Some(p), Some(o)) if p.len() == 3 && o.len() == 6 => {
            Some(p[0] * o[3] + p[1] * o[4] + p[2] * o[5])
        }
        _ => None,
    };
    (along, number)
}
