//! `radpipe._radpipe.Engine`: one radpipe [`radpipe::Engine`] (device, queue, pipelines, pool,
//! counters) and the one-call ops. Every method copies its arrays in, releases the GIL
//! (`Python::detach`) for the file reads and the GPU work, and copies the result out. One Engine may
//! be used from several Python threads: the radpipe engine is shared and thread-safe.

use std::path::PathBuf;
use std::sync::Mutex;

use numpy::PyUntypedArray;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use radpipe::io::{Input, read_input};
use radpipe::ops::clahe::{ClaheParams, clahe_image};
use radpipe::ops::equalize::{EqualizeParams, equalize_image};
use radpipe::ops::histmatch::{HostMatchReference, MatchParams, match_image};
use radpipe::ops::window::{WindowRequest, WindowSettings, window_image};
use radpipe::stitch::{Station, StitchParams, stitch};
use radpipe::workflow::segment::{
    DeviceChoice, LoadedSegmenter, Prepared, load_segmenter, prepare, segment_batch,
};
use radpipe::workflow::stitch::{LayoutReport, read_station};
use radpipe::workflow::warp::GeometricRequest;
use radpipe::{EngineOptions, Error, HostImage, PixelFormat};

use crate::chain::Chain;
use crate::convert::{to_host, to_numpy};
use crate::errors::IntoPy;
use crate::params::{ArraySource, GeometricSpec, sampling, voi_function};

/// Images per network pass, as `radpipe segment --batch` defaults to.
const SEGMENT_BATCH: usize = 4;

/// A GPU engine: one device and everything built once for it.
#[pyclass(frozen, module = "radpipe._radpipe")]
pub struct Engine {
    pub(crate) inner: radpipe::Engine,
    /// The segmentation network, loaded on first use and kept: (model, size) → loaded.
    segmenter: Mutex<Option<(PathBuf, Option<u32>, LoadedSegmenter)>>,
}

/// Parses a JSON text into Python objects (dicts, lists, numbers).
pub(crate) fn json_to_py(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

fn to_json(value: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::InvalidParams(e.to_string()))
        .py_err()
}

/// An input that is either a path (str) or an array.
enum Item {
    Path(PathBuf),
    Array(HostImage),
}

fn item(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Item> {
    if obj.cast::<PyString>().is_ok() {
        return Ok(Item::Path(obj.extract::<PathBuf>()?));
    }
    if obj.cast::<PyUntypedArray>().is_ok() {
        return Ok(Item::Array(to_host(obj, name)?));
    }
    Err(PyTypeError::new_err(format!(
        "{name}: expected a path, a pydicom Dataset or a numpy.ndarray"
    )))
}

/// Every adapter wgpu sees (best first): dicts with name, backend, device_type, driver, pci_bus_id.
#[pyfunction]
pub fn list_adapters(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let text = py.detach(|| {
        let backends =
            radpipe::wgpu::Backends::from_env().unwrap_or(radpipe::wgpu::Backends::PRIMARY);
        let mut desc = radpipe::wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = backends;
        let instance = radpipe::wgpu::Instance::new(desc);
        let mut infos: Vec<radpipe::wgpu::AdapterInfo> =
            pollster::block_on(instance.enumerate_adapters(backends))
                .iter()
                .map(radpipe::wgpu::Adapter::get_info)
                .collect();
        infos.sort_by_key(radpipe::gpu::adapter::preference);
        let list: Vec<serde_json::Value> = infos.iter().map(adapter_json).collect();
        serde_json::Value::Array(list).to_string()
    });
    json_to_py(py, &text)
}

fn adapter_json(info: &radpipe::wgpu::AdapterInfo) -> serde_json::Value {
    let s = radpipe::AdapterSummary::from_info(info);
    serde_json::json!({
        "name": s.name,
        "backend": s.backend,
        "device_type": s.device_type,
        "driver": s.driver,
        "pci_bus_id": info.device_pci_bus_id,
    })
}

impl Engine {
    fn window_settings_array(
        image: &HostImage,
        request: &WindowRequest,
        slope: f64,
        intercept: f64,
    ) -> radpipe::Result<WindowSettings> {
        WindowSettings::from_source(
            &ArraySource {
                image,
                slope,
                intercept,
            },
            0,
            request,
        )
    }

    fn segmenter(
        &self,
        model: Option<PathBuf>,
        size: Option<u32>,
    ) -> radpipe::Result<LoadedSegmenter> {
        let mut cache = self
            .segmenter
            .lock()
            .map_err(|_| Error::Gpu("segmenter lock poisoned".into()))?;
        let key = radpipe::workflow::segment::resolve_model(model.as_deref())?;
        if let Some((m, s, loaded)) = cache.as_ref()
            && *m == key
            && *s == size
        {
            return Ok(loaded.clone());
        }
        let loaded = load_segmenter(Some(&self.inner), Some(&key), size, DeviceChoice::Auto)?;
        *cache = Some((key, size, loaded.clone()));
        Ok(loaded)
    }
}

#[pymethods]
impl Engine {
    /// Opens a GPU adapter: the best one (discrete > integrated > virtual > CPU), or the one whose
    /// name contains `adapter` (case-insensitive), or the one on PCI bus `pci_bus_id`.
    #[new]
    #[pyo3(signature = (adapter=None, pci_bus_id=None))]
    fn new(py: Python<'_>, adapter: Option<String>, pci_bus_id: Option<String>) -> PyResult<Self> {
        let inner = py
            .detach(|| {
                radpipe::Engine::with_options(EngineOptions {
                    adapter_name: adapter,
                    pci_bus_id,
                    ..EngineOptions::default()
                })
            })
            .py_err()?;
        Ok(Engine {
            inner,
            segmenter: Mutex::new(None),
        })
    }

    /// The adapter in use: dict with name, backend, device_type, driver, pci_bus_id.
    #[getter]
    fn adapter(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_to_py(py, &adapter_json(self.inner.adapter_info()).to_string())
    }

    /// The engine's counters (submissions, readbacks, waits, uploads, bytes, pipelines, buffers,
    /// dispatches, devices_created) as a dict.
    fn stats(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_to_py(py, &to_json(&self.inner.stats())?)
    }

    fn __repr__(&self) -> String {
        let s = self.inner.summary();
        format!(
            "radpipe.Engine({} [{}; {}])",
            s.name, s.backend, s.device_type
        )
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "radpipe.Engine cannot be pickled: it holds a GPU device; create one Engine per process \
             (for Ray: one per actor)",
        ))
    }

    /// A resident chain recorder (see `radpipe.Engine.record`).
    fn _chain(&self) -> Chain {
        Chain::new(self.inner.clone())
    }

    /// Windows frame `frame` of a DICOM or raster file.
    #[pyo3(signature = (path, center, width, function, bits, frame))]
    fn _window_file(
        &self,
        py: Python<'_>,
        path: PathBuf,
        center: Option<f64>,
        width: Option<f64>,
        function: Option<String>,
        bits: u32,
        frame: u32,
    ) -> PyResult<Py<PyAny>> {
        let request = WindowRequest {
            center,
            width,
            function: voi_function(function.as_deref()).py_err()?,
            bits,
        };
        let engine = &self.inner;
        let out = py
            .detach(|| -> radpipe::Result<HostImage> {
                let with_file = |e: Error| e.in_file(&path);
                let (stored, settings) = match read_input(&path)? {
                    Input::Dicom(d) => {
                        let settings = WindowSettings::from_source(d.as_ref(), frame, &request)
                            .map_err(with_file)?;
                        (d.frame(frame)?, settings)
                    }
                    Input::Raster(img) => {
                        if frame != 0 {
                            return Err(with_file(Error::InvalidParams(format!(
                                "frame {frame} requested, a raster image has one frame"
                            ))));
                        }
                        let settings =
                            WindowSettings::for_image(&img, &request).map_err(with_file)?;
                        (img, settings)
                    }
                };
                window_image(engine, &stored, &settings).map_err(with_file)
            })
            .py_err()?;
        to_numpy(py, out)
    }

    /// `radpipe window IN -o OUT`: the file-to-file call, output by extension (.png, .tif, .raw,
    /// .dcm); returns the CLI's report as JSON text.
    #[pyo3(signature = (input, output, center, width, function, bits, frame))]
    fn _window_file_to_file(
        &self,
        py: Python<'_>,
        input: PathBuf,
        output: PathBuf,
        center: Option<f64>,
        width: Option<f64>,
        function: Option<String>,
        bits: u32,
        frame: u32,
    ) -> PyResult<String> {
        let request = WindowRequest {
            center,
            width,
            function: voi_function(function.as_deref()).py_err()?,
            bits,
        };
        let engine = &self.inner;
        let report = py
            .detach(|| {
                radpipe::workflow::window::window_file(engine, &input, &output, &request, frame)
            })
            .py_err()?;
        to_json(&report)
    }

    /// `radpipe segment IN... -o OUT_DIR [--overlay DIR]`: writes `<stem>_mask.png` (and overlays)
    /// and returns the CLI's JSON report (one entry per input, failures included) as text.
    #[pyo3(signature = (inputs, out_dir, model, size, overlay_dir))]
    fn _segment_files(
        &self,
        py: Python<'_>,
        inputs: Vec<PathBuf>,
        out_dir: PathBuf,
        model: Option<PathBuf>,
        size: Option<u32>,
        overlay_dir: Option<PathBuf>,
    ) -> PyResult<String> {
        let engine = &self.inner;
        let entries = py
            .detach(|| {
                let model_path = radpipe::workflow::segment::resolve_model(model.as_deref());
                let size = match &model_path {
                    Ok(m) => radpipe::workflow::segment::input_size(m, size),
                    Err(_) => size.unwrap_or(radpipe::workflow::segment::DEFAULT_INPUT_SIZE),
                };
                let request = radpipe::workflow::segment::SegmentRequest {
                    model,
                    out_dir,
                    size,
                    batch: SEGMENT_BATCH,
                    device: DeviceChoice::Auto,
                    overlay_dir,
                    preprocess: None,
                };
                radpipe::workflow::segment::segment_files(Some(engine), &inputs, &request)
            })
            .py_err()?;
        to_json(&entries)
    }

    /// Benchmark aid: times `reps` calls of one op made from Rust on an image converted once
    /// (`equalize`, `resize` to half size, or `warp_affine` by a small rotation) — the library
    /// called directly, no Python between calls. Seconds per call.
    #[pyo3(signature = (kind, img, reps))]
    fn _time_rust(
        &self,
        py: Python<'_>,
        kind: String,
        img: &Bound<'_, PyAny>,
        reps: usize,
    ) -> PyResult<Vec<f64>> {
        let image = to_host(img, "img")?;
        let engine = &self.inner;
        let op = match kind.as_str() {
            "equalize" => None,
            "resize" => Some(radpipe::workflow::warp::GeometricOp::Resize {
                size: (image.width / 2, image.height / 2),
                mode: radpipe::ops::resize::ResizeMode::Linear,
            }),
            "warp_affine" => Some(radpipe::workflow::warp::GeometricOp::Rotate {
                angle: 5.0,
                center: None,
                scale: 1.0,
                size: None,
                border: radpipe::ops::warp::Border::default(),
            }),
            other => {
                return Err(PyTypeError::new_err(format!("kind: unknown op {other}")));
            }
        };
        py.detach(|| {
            let mut times = Vec::with_capacity(reps);
            for _ in 0..reps {
                let t = std::time::Instant::now();
                let out = match &op {
                    None => equalize_image(engine, &image, &EqualizeParams::default()),
                    Some(op) => radpipe::workflow::warp::run(
                        engine,
                        &image,
                        &GeometricRequest {
                            op: op.clone(),
                            sampling: radpipe::ops::warp::Sampling::Exact,
                            frame: 0,
                        },
                    ),
                }?;
                std::hint::black_box(out);
                times.push(t.elapsed().as_secs_f64());
            }
            Ok(times)
        })
        .py_err()
    }

    /// Windows an array of stored values with a Rescale Slope/Intercept.
    #[pyo3(signature = (src, center, width, function, bits, slope, intercept))]
    fn _window_array(
        &self,
        py: Python<'_>,
        src: &Bound<'_, PyAny>,
        center: Option<f64>,
        width: Option<f64>,
        function: Option<String>,
        bits: u32,
        slope: f64,
        intercept: f64,
    ) -> PyResult<Py<PyAny>> {
        let image = to_host(src, "src")?;
        let request = WindowRequest {
            center,
            width,
            function: voi_function(function.as_deref()).py_err()?,
            bits,
        };
        let engine = &self.inner;
        let out = py
            .detach(|| {
                let settings = Self::window_settings_array(&image, &request, slope, intercept)?;
                window_image(engine, &image, &settings)
            })
            .py_err()?;
        to_numpy(py, out)
    }

    /// warp_affine / warp_perspective / resize / rotate / crop (see `GeometricSpec`).
    #[pyo3(signature = (img, kind, numbers, size, border, border_value, inverse, mode, sampling))]
    fn _geometric(
        &self,
        py: Python<'_>,
        img: &Bound<'_, PyAny>,
        kind: String,
        numbers: Vec<f64>,
        size: Option<(u32, u32)>,
        border: String,
        border_value: f64,
        inverse: bool,
        mode: String,
        sampling: String,
    ) -> PyResult<Py<PyAny>> {
        let image = to_host(img, "img")?;
        let spec = GeometricSpec {
            kind,
            numbers,
            size,
            border,
            border_value,
            inverse,
            mode,
            sampling,
        };
        let request = GeometricRequest {
            op: spec.op().py_err()?,
            sampling: self::sampling(&spec.sampling).py_err()?,
            frame: 0,
        };
        let engine = &self.inner;
        let out = py
            .detach(|| radpipe::workflow::warp::run(engine, &image, &request))
            .py_err()?;
        to_numpy(py, out)
    }

    /// Global histogram equalization.
    #[pyo3(signature = (img, bits))]
    fn _equalize(
        &self,
        py: Python<'_>,
        img: &Bound<'_, PyAny>,
        bits: Option<u32>,
    ) -> PyResult<Py<PyAny>> {
        let image = to_host(img, "img")?;
        let params = EqualizeParams {
            bits,
            ..EqualizeParams::default()
        };
        let engine = &self.inner;
        let out = py
            .detach(|| equalize_image(engine, &image, &params))
            .py_err()?;
        to_numpy(py, out)
    }

    /// CLAHE.
    #[pyo3(signature = (img, clip_limit, tiles, bits))]
    fn _clahe(
        &self,
        py: Python<'_>,
        img: &Bound<'_, PyAny>,
        clip_limit: f64,
        tiles: (u32, u32),
        bits: Option<u32>,
    ) -> PyResult<Py<PyAny>> {
        let image = to_host(img, "img")?;
        let params = ClaheParams {
            clip_limit,
            tiles_x: tiles.0,
            tiles_y: tiles.1,
            bits,
            ..ClaheParams::default()
        };
        let engine = &self.inner;
        let out = py
            .detach(|| clahe_image(engine, &image, &params))
            .py_err()?;
        to_numpy(py, out)
    }

    /// Histogram matching of `img` to `reference` (same dtype).
    #[pyo3(signature = (img, reference, bits))]
    fn _match_histogram(
        &self,
        py: Python<'_>,
        img: &Bound<'_, PyAny>,
        reference: &Bound<'_, PyAny>,
        bits: Option<u32>,
    ) -> PyResult<Py<PyAny>> {
        let image = to_host(img, "img")?;
        let reference = to_host(reference, "reference")?;
        let params = MatchParams {
            bits,
            ..MatchParams::default()
        };
        let engine = &self.inner;
        let out = py
            .detach(|| {
                let r = HostMatchReference::Image {
                    image: &reference,
                    rect: None,
                    mask: None,
                };
                match_image(engine, &image, None, &r, &params)
            })
            .py_err()?;
        to_numpy(py, out)
    }

    /// Stitches stations (paths or arrays); returns (canvas, report JSON text).
    #[pyo3(signature = (stations, names, offsets, refine, max_shift, compensate, blend, bands))]
    fn _stitch(
        &self,
        py: Python<'_>,
        stations: Vec<Bound<'_, PyAny>>,
        names: Vec<String>,
        offsets: Option<Vec<(f64, f64)>>,
        refine: bool,
        max_shift: f64,
        compensate: String,
        blend: String,
        bands: u32,
    ) -> PyResult<(Py<PyAny>, String)> {
        let items: Vec<Item> = stations
            .iter()
            .enumerate()
            .map(|(i, s)| item(s, &format!("stations[{i}]")))
            .collect::<PyResult<_>>()?;
        let params = StitchParams {
            offsets: offsets.map(|o| o.into_iter().map(|(x, y)| [x, y]).collect()),
            refine,
            max_shift,
            compensate: compensate.parse().py_err()?,
            blend: blend.parse().py_err()?,
            bands,
            ..StitchParams::default()
        };
        let engine = &self.inner;
        let (canvas, report) = py
            .detach(|| -> radpipe::Result<(HostImage, String)> {
                let mut list = Vec::new();
                for (item, name) in items.into_iter().zip(names) {
                    list.push(match item {
                        Item::Path(p) => read_station(&p)?.0,
                        Item::Array(img) => Station::new(name, img),
                    });
                }
                let result = stitch(engine, &list, &params)?;
                let report = LayoutReport {
                    canvas: result.layout.canvas,
                    stations: result.stations.clone(),
                    warnings: result.warnings.clone(),
                };
                let text = serde_json::to_string(&report)
                    .map_err(|e| Error::InvalidParams(format!("report: {e}")))?;
                Ok((result.image, text))
            })
            .py_err()?;
        Ok((to_numpy(py, canvas)?, report))
    }

    /// Segments images (paths or arrays); a list of dicts (mask, center, box_angle, line_angle,
    /// angle, area_px, mask_px, empty, box_size, device).
    #[pyo3(signature = (items, model, size))]
    fn _segment(
        &self,
        py: Python<'_>,
        items: Vec<Bound<'_, PyAny>>,
        model: Option<PathBuf>,
        size: Option<u32>,
    ) -> PyResult<Py<PyAny>> {
        let items: Vec<Item> = items
            .iter()
            .enumerate()
            .map(|(i, s)| item(s, &format!("src[{i}]")))
            .collect::<PyResult<_>>()?;
        let results = py
            .detach(|| -> radpipe::Result<_> {
                let loaded = self.segmenter(model, size)?;
                let mut prepared = Vec::new();
                for item in items {
                    prepared.push(match item {
                        Item::Path(p) => prepare(&p)?,
                        Item::Array(image) => {
                            let window = if image.format() == PixelFormat::U8 {
                                None
                            } else {
                                Some(WindowSettings::for_image(
                                    &image,
                                    &WindowRequest::default(),
                                )?)
                            };
                            Prepared { image, window }
                        }
                    });
                }
                let mut out = Vec::new();
                for chunk in prepared.chunks(SEGMENT_BATCH) {
                    let batch: Vec<&Prepared> = chunk.iter().collect();
                    for r in segment_batch(&loaded.segmenter, &batch)? {
                        out.push(r?);
                    }
                }
                Ok((out, loaded.device))
            })
            .py_err()?;
        let (segmented, device) = results;
        let list = PyList::empty(py);
        let device = json_to_py(py, &to_json(&device)?)?;
        for s in segmented {
            let d = PyDict::new(py);
            let fit = s.measurement.pixels;
            d.set_item("center", fit.map(|f| (f.bbox.center[0], f.bbox.center[1])))?;
            d.set_item("box_size", fit.map(|f| (f.bbox.size[0], f.bbox.size[1])))?;
            d.set_item("box_angle", fit.map(|f| f.bbox.angle_deg))?;
            d.set_item("line_angle", fit.and_then(|f| f.line).map(|l| l.angle_deg))?;
            d.set_item("angle", fit.and_then(|f| f.angle_deg))?;
            d.set_item("area_px", s.measurement.area_px)?;
            d.set_item("mask_px", s.measurement.mask_px)?;
            d.set_item("empty", s.measurement.area_px == 0)?;
            d.set_item("device", device.clone_ref(py))?;
            d.set_item("mask", to_numpy(py, s.mask)?)?;
            list.append(d)?;
        }
        Ok(list.into_any().unbind())
    }
}
