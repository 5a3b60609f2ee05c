"""radpipe: GPU medical-image pipelines from NumPy and pydicom.

The same engine, ops and workflows as the ``radpipe`` command line: WGSL compute shaders on wgpu do
the image work and BiSeNetV2 (burn) segments, on one device. Arrays are ``(H, W)`` NumPy arrays of
uint8, uint16, int16 or float32, and the dtype is preserved; sizes are ``(width, height)`` as in
OpenCV. DICOM inputs may be pydicom ``Dataset`` objects, paths, or arrays of stored values.

Every function takes ``engine=None`` and then uses one default :class:`Engine`, opened on first use
(:func:`default_engine`). The GIL is released while files are read and while the GPU works, so one
engine serves several Python threads.

Keeping images on the GPU between ops::

    with engine.record() as rec:
        h = rec.upload(img)
        h = rec.warp_affine(h, m, (512, 512))
        h = rec.clahe(rec.resize(h, (256, 256)))
        out = rec.download(h)
    out.array          # one submission, one readback

Errors raise :class:`RadpipeError` (subclasses :class:`InvalidInputError`,
:class:`DeviceLimitError`, :class:`GpuError`, :class:`NoAdapterError`) with the CLI's one-line
message; bad arrays raise ``TypeError``/``ValueError`` naming the argument.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import os
import tempfile
import threading
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from . import _radpipe
from ._radpipe import (
    DeviceLimitError,
    GpuError,
    InvalidInputError,
    NoAdapterError,
    RadpipeError,
)

__version__ = _radpipe.__version__

__all__ = [
    "Engine",
    "Recording",
    "Download",
    "Segmentation",
    "RadpipeError",
    "InvalidInputError",
    "DeviceLimitError",
    "GpuError",
    "NoAdapterError",
    "default_engine",
    "list_adapters",
    "info",
    "window",
    "warp_affine",
    "warp_perspective",
    "resize",
    "rotate",
    "crop",
    "equalize",
    "clahe",
    "match_histogram",
    "stitch",
    "segment",
    "window_file",
    "segment_files",
]

Size = Tuple[int, int]


# ----------------------------------------------------------------------------------------------
# Argument normalisation shared by the one-call functions and the recording.


def _size(value: Any, name: str) -> Optional[Size]:
    if value is None:
        return None
    try:
        w, h = value
        w, h = int(w), int(h)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected (width, height), got {value!r}") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"{name}: (width, height) must be positive, got {value!r}")
    return (w, h)


def _matrix(m: Any, rows: int, name: str) -> list:
    a = np.asarray(m, dtype=np.float64)
    if a.shape != (rows, 3):
        raise ValueError(f"{name}: expected a {rows}x3 matrix, got shape {a.shape}")
    return [float(v) for v in a.ravel()]


def _point(p: Any, name: str) -> Tuple[float, float]:
    try:
        x, y = p
        return (float(x), float(y))
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected (x, y), got {p!r}") from None


def _geo_warp(m, dsize, border, border_value, inverse, sampling, perspective):
    kind = "warp_perspective" if perspective else "warp_affine"
    return (
        kind,
        _matrix(m, 3 if perspective else 2, "m"),
        _size(dsize, "dsize"),
        str(border),
        float(border_value),
        bool(inverse),
        "linear",
        str(sampling),
    )


def _geo_resize(dsize, mode, sampling):
    size = _size(dsize, "dsize")
    if size is None:
        raise TypeError("dsize: resize needs (width, height)")
    return ("resize", [], size, "constant", 0.0, False, str(mode), str(sampling))


def _geo_rotate(angle, center, scale, dsize, border, border_value, sampling):
    cx, cy = (float("nan"), float("nan")) if center is None else _point(center, "center")
    return (
        "rotate",
        [float(angle), float(scale), cx, cy],
        _size(dsize, "dsize"),
        str(border),
        float(border_value),
        False,
        "linear",
        str(sampling),
    )


def _geo_crop(center, size, angle, border, border_value, sampling):
    cx, cy = _point(center, "center")
    s = _size(size, "size")
    if s is None:
        raise TypeError("size: crop needs (width, height)")
    return ("crop", [cx, cy, float(angle)], s, str(border), float(border_value), False, "linear",
            str(sampling))


def _is_dataset(obj: Any) -> bool:
    return type(obj).__module__.startswith("pydicom") and hasattr(obj, "save_as")


def _label(ds: Any, fallback: str) -> str:
    name = getattr(ds, "filename", None)
    return str(name) if isinstance(name, (str, os.PathLike)) and str(name) else fallback


class _Materialised:
    """Datasets written to a temporary folder so radpipe's own DICOM reader reads them (the same
    reader, the same rules as ``radpipe window FILE``); paths made ``str``. Errors that name a
    temporary file are re-raised naming the dataset (its ``filename`` when it has one)."""

    def __init__(self):
        self._dir = None
        self._names = {}

    def path(self, obj: Any, index: int, what: str) -> Any:
        if _is_dataset(obj):
            if self._dir is None:
                self._dir = tempfile.TemporaryDirectory(prefix="radpipe-")
            p = os.path.join(self._dir.name, f"dataset{index}.dcm")
            obj.save_as(p, enforce_file_format=False)
            self._names[p] = _label(obj, f"<Dataset {what}>")
            return p
        if isinstance(obj, (str, os.PathLike)):
            return os.fspath(obj)
        return obj

    def rename(self, text: str) -> str:
        for p, label in self._names.items():
            text = text.replace(p, label)
        return text

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if self._dir is not None:
            self._dir.cleanup()
        if isinstance(ev, RadpipeError) and self._names:
            raise type(ev)(self.rename(str(ev))) from None
        return False


def _check_src(src: Any, name: str) -> None:
    if not (isinstance(src, (str, os.PathLike, np.ndarray)) or _is_dataset(src)):
        raise TypeError(
            f"{name}: expected a pydicom Dataset, a path or a numpy.ndarray, "
            f"got {type(src).__name__}"
        )


# ----------------------------------------------------------------------------------------------
# Results


@dataclasses.dataclass
class Segmentation:
    """One segmented image (picklable).

    ``mask``: uint8 0/255 at the image's size; ``center``: (x, y) of the minimum-area box of the
    largest component (pixels); ``box_angle`` and ``line_angle``: that box's and the least-squares
    line's angle (degrees, image coordinates); ``angle``: their mean, the scan-plane angle that
    ``radpipe segment`` reports as ``angle_deg``. The angles and centre are ``None`` for an empty
    mask.
    """

    mask: np.ndarray
    center: Optional[Tuple[float, float]]
    box_angle: Optional[float]
    line_angle: Optional[float]
    angle: Optional[float]
    box_size: Optional[Tuple[float, float]] = None
    area_px: int = 0
    mask_px: int = 0
    empty: bool = True
    device: Optional[dict] = None


class Download:
    """A download recorded in :meth:`Engine.record`; ``.array`` is filled when the block ends."""

    def __init__(self):
        self._array = None

    @property
    def array(self) -> np.ndarray:
        """The downloaded array (only after the ``with`` block has ended)."""
        if self._array is None:
            raise RuntimeError("the recording has not run yet: read .array after the with block")
        return self._array

    def __array__(self, dtype=None, copy=None):
        a = self.array
        return a if dtype is None else a.astype(dtype)

    def __repr__(self):
        state = "pending" if self._array is None else f"{self._array.shape} {self._array.dtype}"
        return f"radpipe.Download({state})"


# ----------------------------------------------------------------------------------------------
# The engine


class Engine:
    """A GPU engine: one wgpu device with its shader pipelines, buffer pool and counters.

    ``Engine()`` opens the best adapter (discrete GPU > integrated > virtual > CPU; ``WGPU_BACKEND``
    and ``WGPU_ADAPTER_NAME`` as for the CLI). ``adapter`` picks by a case-insensitive substring of
    the adapter name, ``pci_bus_id`` by PCI bus id (``"0000:17:00.0"``; nvidia-smi's
    ``"00000000:17:00.0"`` works too) — the way to pin one of several identical GPUs, since Vulkan
    ignores ``CUDA_VISIBLE_DEVICES``. Raises :class:`NoAdapterError` when none matches.

    Engines cannot be pickled; open one per process (for Ray, one per actor).
    """

    def __init__(self, adapter: Optional[str] = None, pci_bus_id: Optional[str] = None):
        self._e = _radpipe.Engine(adapter, pci_bus_id)

    @property
    def adapter(self) -> dict:
        """The adapter in use: ``{"name", "backend", "device_type", "driver", "pci_bus_id"}``."""
        return self._e.adapter

    def stats(self) -> dict:
        """The engine's counters: submissions, readbacks, waits, uploads, upload_bytes,
        readback_bytes, pipelines_created, buffers_created, dispatches, devices_created."""
        return self._e.stats()

    def __repr__(self):
        return repr(self._e)

    def __reduce__(self):
        raise TypeError(
            "radpipe.Engine cannot be pickled: it holds a GPU device; create one Engine per "
            "process (for Ray: one per actor)"
        )

    def record(self) -> "Recording":
        """A resident chain: ``with engine.record() as rec:`` — every op recorded in the block runs
        in one command encoder and one submission when the block ends; ``rec.download(h)`` results
        are read back after that submission (one readback for the lot)."""
        return Recording(self)

    # -- DICOM display --------------------------------------------------------------------------

    def window(
        self,
        src: Any,
        center: Optional[float] = None,
        width: Optional[float] = None,
        function: str = "linear",
        bits: int = 8,
        frame: int = 0,
        slope: float = 1.0,
        intercept: float = 0.0,
    ) -> np.ndarray:
        """The DICOM grey-scale display pipeline of ``radpipe window``: Modality LUT (Rescale
        Slope/Intercept or Modality LUT Sequence), then the VOI window (``center``/``width`` given,
        else the file's first window, else its VOI LUT Sequence, else the frame's range) with the
        VOI LUT ``function`` (linear, linear_exact, sigmoid), MONOCHROME1 inverted.

        ``src``: a pydicom Dataset, a path (DICOM, PNG, TIFF, JPEG) or an array of stored values
        (then ``slope``/``intercept`` give the Rescale). ``frame``: the frame of a multi-frame file.
        Returns uint8 for ``bits=8``, uint16 for 12 or 16.

        ``function`` applies to a given window; with the file's own window the file's function is
        used unless ``function`` is given other than ``"linear"``.
        """
        _check_src(src, "src")
        fn = None if (function is None or (center is None and str(function).lower() == "linear")) \
            else str(function)
        if isinstance(src, np.ndarray):
            if frame != 0:
                raise ValueError("frame: an array has one frame")
            return self._e._window_array(src, _opt(center), _opt(width), fn, int(bits),
                                         float(slope), float(intercept))
        if slope != 1.0 or intercept != 0.0:
            raise ValueError("slope/intercept: only for arrays; a dataset or file has its own")
        with _Materialised() as mat:
            path = mat.path(src, 0, "src")
            return self._e._window_file(path, _opt(center), _opt(width), fn, int(bits), int(frame))

    def window_file(self, src: Any, dst: Union[str, os.PathLike], center: Optional[float] = None,
                    width: Optional[float] = None, function: str = "linear", bits: int = 8,
                    frame: int = 0) -> dict:
        """``radpipe window SRC -o DST``: the same call, the same outputs (``dst`` by extension:
        .png, .tif, .raw, or .dcm for a derived DICOM). ``src``: a path or a pydicom Dataset.
        Returns the CLI's report (width, height, bits, center, width_window, function, source,
        inverted)."""
        _check_src(src, "src")
        if isinstance(src, np.ndarray):
            raise TypeError("src: window_file takes a path or a Dataset; use window() for arrays")
        fn = None if (center is None and str(function).lower() == "linear") else str(function)
        with _Materialised() as mat:
            path = mat.path(src, 0, "src")
            text = self._e._window_file_to_file(path, os.fspath(dst), _opt(center), _opt(width),
                                                fn, int(bits), int(frame))
        return json.loads(text)

    def segment_files(self, inputs: Sequence[Union[str, os.PathLike]],
                      out_dir: Union[str, os.PathLike],
                      model: Optional[Union[str, os.PathLike]] = None, size: Optional[int] = None,
                      overlay_dir: Optional[Union[str, os.PathLike]] = None) -> list:
        """``radpipe segment INPUTS -o OUT_DIR [--overlay DIR]``: writes ``<stem>_mask.png`` per
        input (and ``<stem>_overlay.png``) and returns the CLI's JSON report, one dict per input
        (a file that fails has an ``error`` and the others go on)."""
        if overlay_dir is not None:
            os.makedirs(overlay_dir, exist_ok=True)
        text = self._e._segment_files([os.fspath(p) for p in inputs], os.fspath(out_dir),
                                      None if model is None else os.fspath(model),
                                      _opt_int(size),
                                      None if overlay_dir is None else os.fspath(overlay_dir))
        return json.loads(text)

    # -- resampling -------------------------------------------------------------------------------

    def warp_affine(self, img: np.ndarray, m: Any, dsize: Optional[Size] = None,
                    border: str = "constant", border_value: float = 0, inverse: bool = False,
                    sampling: str = "exact") -> np.ndarray:
        """Bilinear affine warp, as ``cv2.warpAffine(img, m, dsize, flags=INTER_LINEAR)``.

        ``m``: 2x3 matrix source → destination (``inverse=True``: destination → source, OpenCV's
        ``WARP_INVERSE_MAP``). ``dsize``: output (width, height), default the input's.
        ``border``: "constant" (``border_value``), "replicate" or "reflect" (reflect-101).
        ``sampling``: "exact" (float coordinates) or "opencv" (cv2's fixed-point arithmetic,
        ≥ 99.9 % of pixels within 1 LSB of cv2, none > 2).
        """
        return self._e._geometric(img, *_geo_warp(m, dsize, border, border_value, inverse,
                                                  sampling, False))

    def warp_perspective(self, img: np.ndarray, m: Any, dsize: Optional[Size] = None,
                         border: str = "constant", border_value: float = 0,
                         inverse: bool = False, sampling: str = "exact") -> np.ndarray:
        """Bilinear perspective warp by a 3x3 homography, as ``cv2.warpPerspective``; arguments as
        :meth:`warp_affine`."""
        return self._e._geometric(img, *_geo_warp(m, dsize, border, border_value, inverse,
                                                  sampling, True))

    def resize(self, img: np.ndarray, dsize: Size, mode: str = "linear",
               sampling: str = "exact") -> np.ndarray:
        """Resize to ``dsize`` = (width, height): ``mode`` "linear" (``cv2.INTER_LINEAR``) or
        "area" (``cv2.INTER_AREA``, shrinking only)."""
        return self._e._geometric(img, *_geo_resize(dsize, mode, sampling))

    def rotate(self, img: np.ndarray, angle: float, center: Optional[Tuple[float, float]] = None,
               scale: float = 1.0, border: str = "constant", border_value: float = 0,
               dsize: Optional[Size] = None, sampling: str = "exact") -> np.ndarray:
        """Rotation by ``angle`` degrees (positive = counter-clockwise on screen) about ``center``
        (default the image centre ``((w-1)/2, (h-1)/2)``) with ``scale``: the warp by
        ``cv2.getRotationMatrix2D(center, angle, scale)``."""
        return self._e._geometric(img, *_geo_rotate(angle, center, scale, dsize, border,
                                                    border_value, sampling))

    def crop(self, img: np.ndarray, center: Tuple[float, float], size: Size, angle: float = 0.0,
             border: str = "constant", border_value: float = 0,
             sampling: str = "exact") -> np.ndarray:
        """Upright crop of the rotated rectangle ``(center, size, angle)`` (OpenCV ``RotatedRect``:
        positive angle = clockwise on screen); the output is ``size`` = (width, height)."""
        return self._e._geometric(img, *_geo_crop(center, size, angle, border, border_value,
                                                  sampling))

    # -- histograms -------------------------------------------------------------------------------

    def equalize(self, img: np.ndarray, bits: Optional[int] = None) -> np.ndarray:
        """Global histogram equalization (8-bit: equal to ``cv2.equalizeHist``). ``bits``: the
        significant bits of 16-bit data (e.g. 12: 4096 bins, output 0..4095). int16 gives uint16."""
        return self._e._equalize(img, _opt_int(bits))

    def clahe(self, img: np.ndarray, clip_limit: float = 2.0, tiles: Tuple[int, int] = (8, 8),
              bits: Optional[int] = None) -> np.ndarray:
        """Contrast-limited adaptive equalization, as
        ``cv2.createCLAHE(clip_limit, tiles).apply(img)`` (8 and 16 bits, within 1 LSB)."""
        tx, ty = tiles
        return self._e._clahe(img, float(clip_limit), (int(tx), int(ty)), _opt_int(bits))

    def match_histogram(self, img: np.ndarray, reference: np.ndarray,
                        bits: Optional[int] = None) -> np.ndarray:
        """Maps ``img``'s values so its histogram matches ``reference``'s (same dtype; 8/16-bit)."""
        return self._e._match_histogram(img, reference, _opt_int(bits))

    # -- workflows --------------------------------------------------------------------------------

    def stitch(self, stations: Sequence[Any], offsets: Optional[Sequence[Tuple[float, float]]] = None,
               refine: bool = False, max_shift: float = 20, compensate: str = "gain",
               blend: str = "linear", bands: int = 5) -> Tuple[np.ndarray, dict]:
        """Stitches 2–5 overlapping stations (up to 16, with a warning) into one canvas, as
        ``radpipe stitch``.

        ``stations``: datasets, paths or arrays (first = reference); arrays have no geometry, so
        they need ``offsets`` (top-left canvas position of each station, pixels). ``refine``: NCC
        registration within ``max_shift`` pixels. ``compensate``: none, gain, blocks, histogram.
        ``blend``: linear, feather, multiband (``bands`` levels).

        Returns ``(canvas, report)``: the canvas in the stations' dtype and the report as
        ``radpipe stitch --report`` writes it (``{"canvas": [w, h], "stations": [{"file",
        "offset", "gain", "ncc"}], "warnings": [...]}``).
        """
        if isinstance(stations, (str, os.PathLike, np.ndarray)) or _is_dataset(stations):
            raise TypeError("stations: expected a list of stations")
        stations = list(stations)
        for i, s in enumerate(stations):
            _check_src(s, f"stations[{i}]")
        offs = None if offsets is None else [_point(o, f"offsets[{i}]")
                                             for i, o in enumerate(offsets)]
        with _Materialised() as mat:
            items = [mat.path(s, i, f"stations[{i}]") for i, s in enumerate(stations)]
            names = [f"station{i + 1}" for i in range(len(items))]
            canvas, report = self._e._stitch(items, names, offs, bool(refine), float(max_shift),
                                             str(compensate), str(blend), int(bands))
            report = json.loads(mat.rename(report))
        return canvas, report

    def segment(self, src: Any, model: Optional[Union[str, os.PathLike]] = None,
                size: Optional[int] = None):
        """Corpus-callosum segmentation with the shipped BiSeNetV2, as ``radpipe segment``.

        ``src``: one image (array, dataset or path) or a list of them. DICOM is windowed to 8-bit
        display values first (its window, else VOI LUT, else range), uint8 arrays are used as they
        are, other arrays are windowed over their range. ``model``: weights file (default the
        shipped one); ``size``: network input side (default the model's). The network is loaded
        once per engine and kept. Returns a :class:`Segmentation` (a list for a list).
        """
        single = not isinstance(src, (list, tuple))
        srcs = [src] if single else list(src)
        for i, s in enumerate(srcs):
            _check_src(s, "src" if single else f"src[{i}]")
        with _Materialised() as mat:
            items = [mat.path(s, i, "src") for i, s in enumerate(srcs)]
            raw = self._e._segment(items, None if model is None else os.fspath(model),
                                   _opt_int(size))
        out = [Segmentation(**r) for r in raw]
        return out[0] if single else out


def _opt(v):
    return None if v is None else float(v)


def _opt_int(v):
    return None if v is None else int(v)


# ----------------------------------------------------------------------------------------------
# The resident chain


class Recording:
    """What ``engine.record()`` returns. ``upload`` an array to get a GPU handle, apply ops to
    handles (the same names and arguments as the module functions, handles in place of arrays),
    ``download`` handles; nothing runs until the ``with`` block ends, then everything runs in one
    submission and the downloads are read back once. Handles cannot be pickled."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._c = engine._e._chain()
        self._downloads = []

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            self.run()
        return False

    def __reduce__(self):
        raise TypeError("a radpipe recording holds GPU work and cannot be pickled")

    def run(self) -> None:
        """Runs the recording (the end of the ``with`` block calls it)."""
        arrays = self._c._run()
        for d, a in zip(self._downloads, arrays):
            d._array = a

    def upload(self, img: np.ndarray):
        """Records the upload of ``img``; returns its GPU handle."""
        return self._c.upload(img)

    def download(self, h) -> Download:
        """Records reading ``h`` back; ``.array`` after the block."""
        self._c.download(h)
        d = Download()
        self._downloads.append(d)
        return d

    def window(self, h, center=None, width=None, function="linear", bits=8, slope=1.0,
               intercept=0.0):
        """:func:`radpipe.window` of stored values on the GPU (without center/width only for an
        uploaded handle: the window is its range)."""
        fn = None if (center is None and str(function).lower() == "linear") else str(function)
        return self._c._window(h, _opt(center), _opt(width), fn, int(bits), float(slope),
                               float(intercept))

    def warp_affine(self, h, m, dsize=None, border="constant", border_value=0, inverse=False,
                    sampling="exact"):
        """:func:`radpipe.warp_affine` on a handle."""
        return self._c._geometric(h, *_geo_warp(m, dsize, border, border_value, inverse,
                                                sampling, False))

    def warp_perspective(self, h, m, dsize=None, border="constant", border_value=0,
                         inverse=False, sampling="exact"):
        """:func:`radpipe.warp_perspective` on a handle."""
        return self._c._geometric(h, *_geo_warp(m, dsize, border, border_value, inverse,
                                                sampling, True))

    def resize(self, h, dsize, mode="linear", sampling="exact"):
        """:func:`radpipe.resize` on a handle."""
        return self._c._geometric(h, *_geo_resize(dsize, mode, sampling))

    def rotate(self, h, angle, center=None, scale=1.0, border="constant", border_value=0,
               dsize=None, sampling="exact"):
        """:func:`radpipe.rotate` on a handle."""
        return self._c._geometric(h, *_geo_rotate(angle, center, scale, dsize, border,
                                                  border_value, sampling))

    def crop(self, h, center, size, angle=0.0, border="constant", border_value=0,
             sampling="exact"):
        """:func:`radpipe.crop` on a handle."""
        return self._c._geometric(h, *_geo_crop(center, size, angle, border, border_value,
                                                sampling))

    def equalize(self, h, bits=None):
        """:func:`radpipe.equalize` on a handle."""
        return self._c._equalize(h, _opt_int(bits))

    def clahe(self, h, clip_limit=2.0, tiles=(8, 8), bits=None):
        """:func:`radpipe.clahe` on a handle."""
        tx, ty = tiles
        return self._c._clahe(h, float(clip_limit), (int(tx), int(ty)), _opt_int(bits))

    def match_histogram(self, h, reference, bits=None):
        """:func:`radpipe.match_histogram` of handle ``h`` to handle ``reference``."""
        return self._c._match_histogram(h, reference, _opt_int(bits))


# ----------------------------------------------------------------------------------------------
# The default engine and the module functions


_default: Optional[Engine] = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """The engine the module functions use when given ``engine=None`` (opened on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Engine()
        return _default


def list_adapters() -> list:
    """Every adapter wgpu sees, best first (dicts as :attr:`Engine.adapter`)."""
    return _radpipe.list_adapters()


def info(as_json: bool = False) -> str:
    """What ``radpipe info`` prints: the adapters and the one radpipe picks."""
    adapters = list_adapters()
    try:
        chosen, error = Engine().adapter, None
    except RadpipeError as e:
        chosen, error = None, str(e)
    if as_json:
        keep = ("name", "backend", "device_type", "driver")
        return json.dumps({
            "adapters": [{k: a[k] for k in keep} for a in adapters],
            "chosen": None if chosen is None else {k: chosen[k] for k in keep},
            "error": error,
        }, indent=2)
    lines = ["adapters:"]
    lines += [f"  {a['name']} [{a['backend']}; {a['device_type']}; {a['driver']}]"
              for a in adapters]
    if chosen is not None:
        lines.append(f"chosen: {chosen['name']} [{chosen['backend']}; {chosen['device_type']}]")
    else:
        lines.append(f"chosen: none ({error})")
    return "\n".join(lines)


def _module_function(name: str):
    method = getattr(Engine, name)

    @functools.wraps(method)
    def call(*args, engine: Optional[Engine] = None, **kwargs):
        return getattr(engine if engine is not None else default_engine(), name)(*args, **kwargs)

    sig = inspect.signature(method)
    params = list(sig.parameters.values())[1:]
    params.append(inspect.Parameter("engine", inspect.Parameter.KEYWORD_ONLY, default=None))
    call.__signature__ = sig.replace(parameters=params)
    call.__doc__ = (method.__doc__ or "") + "\n\n``engine``: the Engine to use (default: " \
        ":func:`default_engine`)."
    call.__qualname__ = name
    return call


window = _module_function("window")
warp_affine = _module_function("warp_affine")
warp_perspective = _module_function("warp_perspective")
resize = _module_function("resize")
rotate = _module_function("rotate")
crop = _module_function("crop")
equalize = _module_function("equalize")
clahe = _module_function("clahe")
match_histogram = _module_function("match_histogram")
stitch = _module_function("stitch")
segment = _module_function("segment")
window_file = _module_function("window_file")
segment_files = _module_function("segment_files")
