//! The resident chain behind `with engine.record() as rec:`. Calls on the recorder only describe
//! stages (an upload, ops on handles, downloads); when the block ends, [`Chain::_run`] uploads the
//! arrays, records every stage into one [`Recorder`] (one command encoder), submits once and reads
//! every download back after that one submission. The intermediate images never leave the GPU.

use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use radpipe::gpu::GpuImage;
use radpipe::ops::clahe::ClaheParams;
use radpipe::ops::equalize::{EqualizeParams, output_format};
use radpipe::ops::histmatch::{MatchParams, MatchReference};
use radpipe::ops::histogram::Region;
use radpipe::ops::resize::ResizeParams;
use radpipe::ops::warp::{
    Border, Sampling, Transform, WarpParams, check_border_value, rotated_roi_matrix,
    rotation_matrix,
};
use radpipe::ops::window::{WindowRequest, WindowSettings};
use radpipe::pipeline::Recorder;
use radpipe::workflow::warp::GeometricOp;
use radpipe::{Error, HostImage, PixelFormat};

use crate::convert::{dtype_name, to_host, to_numpy};
use crate::errors::IntoPy;
use crate::params::{ArraySource, GeometricSpec, sampling, voi_function};

static NEXT_CHAIN: AtomicU64 = AtomicU64::new(1);

/// One recorded stage.
enum Node {
    Upload(HostImage),
    Warp(usize, WarpParams),
    Resize(usize, ResizeParams),
    Equalize(usize, EqualizeParams),
    Clahe(usize, ClaheParams),
    Match(usize, usize, MatchParams),
    Window(usize, WindowSettings),
}

/// A GPU-resident image inside a recording: its shape and dtype, no pixels. Cannot be pickled.
#[pyclass(frozen, module = "radpipe._radpipe")]
pub struct Handle {
    chain: u64,
    index: usize,
    width: u32,
    height: u32,
    format: PixelFormat,
}

#[pymethods]
impl Handle {
    /// `(H, W)`.
    #[getter]
    fn shape(&self) -> (u32, u32) {
        (self.height, self.width)
    }

    /// The NumPy dtype name of the samples.
    #[getter]
    fn dtype(&self) -> &'static str {
        dtype_name(self.format)
    }

    fn __repr__(&self) -> String {
        format!(
            "radpipe.Handle(shape=({}, {}), dtype={}, on the GPU)",
            self.height,
            self.width,
            dtype_name(self.format)
        )
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "a radpipe.Handle is an image on the GPU and cannot be pickled; rec.download() it",
        ))
    }
}

/// The recording of one `engine.record()` block.
#[pyclass(module = "radpipe._radpipe")]
pub struct Chain {
    engine: radpipe::Engine,
    id: u64,
    nodes: Vec<Node>,
    /// Shape and format of each node's output.
    shapes: Vec<(u32, u32, PixelFormat)>,
    downloads: Vec<usize>,
    ran: bool,
}

impl Chain {
    pub fn new(engine: radpipe::Engine) -> Self {
        Chain {
            engine,
            id: NEXT_CHAIN.fetch_add(1, Ordering::Relaxed),
            nodes: Vec::new(),
            shapes: Vec::new(),
            downloads: Vec::new(),
            ran: false,
        }
    }

    fn input(&self, handle: &Handle, name: &str) -> PyResult<usize> {
        if self.ran {
            return Err(PyRuntimeError::new_err(
                "this recording has already run; start a new engine.record() block",
            ));
        }
        if handle.chain != self.id {
            return Err(PyValueError::new_err(format!(
                "{name}: the handle belongs to another recording"
            )));
        }
        Ok(handle.index)
    }

    fn push(&mut self, node: Node, shape: (u32, u32, PixelFormat)) -> Handle {
        self.nodes.push(node);
        self.shapes.push(shape);
        Handle {
            chain: self.id,
            index: self.nodes.len() - 1,
            width: shape.0,
            height: shape.1,
            format: shape.2,
        }
    }

    /// The warp or resize of a geometric op on an input of `shape`, as `workflow::warp::run` builds it.
    fn geometric(
        op: &GeometricOp,
        sampling: Sampling,
        shape: (u32, u32, PixelFormat),
    ) -> radpipe::Result<Node> {
        let (w, h, format) = shape;
        let warp = |transform: Transform, inverse: bool, size: (u32, u32), border: Border| {
            check_border_value(border, format)?;
            let mut p = WarpParams::new(transform, size.0, size.1);
            p.inverse = inverse;
            p.border = border;
            p.sampling = sampling;
            Ok::<_, Error>(p)
        };
        let finite = |what: &str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(Error::InvalidParams(format!(
                    "{what} {v} must be a finite number"
                )))
            }
        };
        Ok(match op {
            GeometricOp::Warp {
                transform,
                inverse,
                size,
                border,
            } => Node::Warp(
                0,
                warp(*transform, *inverse, size.unwrap_or((w, h)), *border)?,
            ),
            GeometricOp::Resize { size, mode } => {
                let mut p = ResizeParams::new(size.0, size.1);
                p.mode = *mode;
                p.sampling = sampling;
                Node::Resize(0, p)
            }
            GeometricOp::Rotate {
                angle,
                center,
                scale,
                size,
                border,
            } => {
                finite("angle", *angle)?;
                finite("scale", *scale)?;
                if *scale == 0.0 {
                    return Err(Error::InvalidParams(
                        "scale 0 maps the whole image to one point".into(),
                    ));
                }
                let c = center.unwrap_or([(f64::from(w) - 1.0) / 2.0, (f64::from(h) - 1.0) / 2.0]);
                finite("center x", c[0])?;
                finite("center y", c[1])?;
                let m = rotation_matrix(c, *angle, *scale);
                Node::Warp(
                    0,
                    warp(Transform::Affine(m), false, size.unwrap_or((w, h)), *border)?,
                )
            }
            GeometricOp::Crop {
                center,
                size,
                angle,
                border,
            } => {
                finite("angle", *angle)?;
                finite("center x", center[0])?;
                finite("center y", center[1])?;
                let m = rotated_roi_matrix(*center, [size.0, size.1], *angle);
                Node::Warp(0, warp(Transform::Affine(m), false, *size, *border)?)
            }
        })
    }

    fn execute(&self) -> radpipe::Result<Vec<HostImage>> {
        let engine = &self.engine;
        let mut images: Vec<GpuImage> = Vec::with_capacity(self.nodes.len());
        let mut rec = Recorder::new(engine);
        for node in &self.nodes {
            let out = match node {
                Node::Upload(host) => engine.upload(host)?,
                Node::Warp(i, p) => radpipe::ops::warp::encode(&mut rec, &images[*i], p)?,
                Node::Resize(i, p) => radpipe::ops::resize::encode(&mut rec, &images[*i], p)?,
                Node::Equalize(i, p) => radpipe::ops::equalize::encode(&mut rec, &images[*i], p)?,
                Node::Clahe(i, p) => radpipe::ops::clahe::encode(&mut rec, &images[*i], p)?,
                Node::Match(i, r, p) => {
                    let reference = MatchReference::Image {
                        image: &images[*r],
                        region: Region::ALL,
                    };
                    radpipe::ops::histmatch::encode(
                        &mut rec,
                        &images[*i],
                        &Region::ALL,
                        &reference,
                        p,
                    )?
                }
                Node::Window(i, s) => radpipe::ops::window::encode(&mut rec, &images[*i], s)?,
            };
            images.push(out);
        }
        let downloads = self
            .downloads
            .iter()
            .map(|&i| rec.download(&images[i]))
            .collect::<radpipe::Result<Vec<_>>>()?;
        rec.submit()?;
        downloads.into_iter().map(|d| d.wait()).collect()
    }
}

#[pymethods]
impl Chain {
    /// Records the upload of an array; returns its handle.
    fn upload(&mut self, img: &Bound<'_, PyAny>) -> PyResult<Handle> {
        if self.ran {
            return Err(PyRuntimeError::new_err(
                "this recording has already run; start a new engine.record() block",
            ));
        }
        let image = to_host(img, "img")?;
        self.engine
            .check_fits(image.width, image.height, image.format())
            .py_err()?;
        let shape = (image.width, image.height, image.format());
        Ok(self.push(Node::Upload(image), shape))
    }

    /// Records a geometric op (see `GeometricSpec`).
    #[pyo3(signature = (h, kind, numbers, size, border, border_value, inverse, mode, sampling))]
    fn _geometric(
        &mut self,
        h: &Handle,
        kind: String,
        numbers: Vec<f64>,
        size: Option<(u32, u32)>,
        border: String,
        border_value: f64,
        inverse: bool,
        mode: String,
        sampling: String,
    ) -> PyResult<Handle> {
        let input = self.input(h, "img")?;
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
        let op = spec.op().py_err()?;
        let shape = self.shapes[input];
        let node =
            Self::geometric(&op, self::sampling(&spec.sampling).py_err()?, shape).py_err()?;
        let (node, out) = match node {
            Node::Warp(_, p) => {
                let out = (p.width, p.height, shape.2);
                (Node::Warp(input, p), out)
            }
            Node::Resize(_, p) => {
                let out = (p.width, p.height, shape.2);
                (Node::Resize(input, p), out)
            }
            _ => return Err(PyRuntimeError::new_err("unexpected geometric stage")),
        };
        Ok(self.push(node, out))
    }

    /// Records a global equalization.
    #[pyo3(signature = (h, bits))]
    fn _equalize(&mut self, h: &Handle, bits: Option<u32>) -> PyResult<Handle> {
        let input = self.input(h, "img")?;
        let (w, hh, f) = self.shapes[input];
        let p = EqualizeParams {
            bits,
            ..EqualizeParams::default()
        };
        p.binning(f).py_err()?;
        Ok(self.push(Node::Equalize(input, p), (w, hh, output_format(f))))
    }

    /// Records a CLAHE.
    #[pyo3(signature = (h, clip_limit, tiles, bits))]
    fn _clahe(
        &mut self,
        h: &Handle,
        clip_limit: f64,
        tiles: (u32, u32),
        bits: Option<u32>,
    ) -> PyResult<Handle> {
        let input = self.input(h, "img")?;
        let (w, hh, f) = self.shapes[input];
        let p = ClaheParams {
            clip_limit,
            tiles_x: tiles.0,
            tiles_y: tiles.1,
            bits,
            ..ClaheParams::default()
        };
        Ok(self.push(Node::Clahe(input, p), (w, hh, output_format(f))))
    }

    /// Records a histogram match of `h` to `reference` (both handles of this recording).
    #[pyo3(signature = (h, reference, bits))]
    fn _match_histogram(
        &mut self,
        h: &Handle,
        reference: &Handle,
        bits: Option<u32>,
    ) -> PyResult<Handle> {
        let input = self.input(h, "img")?;
        let r = self.input(reference, "reference")?;
        let (w, hh, f) = self.shapes[input];
        let p = MatchParams {
            bits,
            ..MatchParams::default()
        };
        p.binning(f).py_err()?;
        Ok(self.push(Node::Match(input, r, p), (w, hh, output_format(f))))
    }

    /// Records a window/level of stored values with a Rescale Slope/Intercept. Without
    /// `center`/`width` the window is the range of the values, which needs the input to be an upload.
    #[pyo3(signature = (h, center, width, function, bits, slope, intercept))]
    fn _window(
        &mut self,
        h: &Handle,
        center: Option<f64>,
        width: Option<f64>,
        function: Option<String>,
        bits: u32,
        slope: f64,
        intercept: f64,
    ) -> PyResult<Handle> {
        let input = self.input(h, "src")?;
        let request = WindowRequest {
            center,
            width,
            function: voi_function(function.as_deref()).py_err()?,
            bits,
        };
        let (w, hh, f) = self.shapes[input];
        let probe;
        let image = match (&self.nodes[input], center.zip(width)) {
            (Node::Upload(img), _) => img,
            (_, Some(_)) => {
                // Any image will do: with an explicit window only the modality values matter.
                probe = HostImage::new(1, 1, radpipe::Pixels::F32(vec![0.0])).py_err()?;
                &probe
            }
            (_, None) => {
                return Err(PyValueError::new_err(
                    "window of a computed image in a recording needs center= and width=",
                ));
            }
        };
        let settings = WindowSettings::from_source(
            &ArraySource {
                image,
                slope,
                intercept,
            },
            0,
            &request,
        )
        .py_err()?;
        let out = settings.out_format();
        let _ = f;
        Ok(self.push(Node::Window(input, settings), (w, hh, out)))
    }

    /// Records a download of `h`; returns its index in the list `_run` returns.
    fn download(&mut self, h: &Handle) -> PyResult<usize> {
        let input = self.input(h, "h")?;
        self.downloads.push(input);
        Ok(self.downloads.len() - 1)
    }

    /// Runs the recording: uploads, one submission, the downloads read back; the arrays in download
    /// order.
    fn _run(&mut self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        if self.ran {
            return Err(PyRuntimeError::new_err("this recording has already run"));
        }
        self.ran = true;
        let this = &*self;
        let images = py.detach(|| this.execute()).py_err()?;
        images.into_iter().map(|i| to_numpy(py, i)).collect()
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "a radpipe recording holds GPU work and cannot be pickled",
        ))
    }
}
