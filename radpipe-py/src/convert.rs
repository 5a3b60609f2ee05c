//! NumPy arrays ↔ radpipe images. Arrays are `(H, W)`, C-contiguous, native byte order, of dtype
//! uint8, uint16, int16 or float32; anything else is refused with a `TypeError`/`ValueError` that
//! names the argument. Samples are copied (the GPU upload needs owned, packed words anyway).

use numpy::{
    PyArray1, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray2, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use radpipe::{HostImage, PixelFormat, Pixels};

use crate::errors::IntoPy;

/// The NumPy name of a sample format.
pub fn dtype_name(format: PixelFormat) -> &'static str {
    match format {
        PixelFormat::U8 => "uint8",
        PixelFormat::U16 => "uint16",
        PixelFormat::I16 => "int16",
        PixelFormat::F32 => "float32",
    }
}

fn samples<T: numpy::Element + Copy>(array: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<T>> {
    let view: PyReadonlyArray2<'_, T> = array.extract()?;
    let slice = view.as_slice().map_err(|_| {
        PyValueError::new_err(format!(
            "{name}: the array is not C-contiguous; pass numpy.ascontiguousarray({name})"
        ))
    })?;
    Ok(slice.to_vec())
}

/// Checks `array` (the argument called `name`) and copies it into a [`HostImage`].
pub fn to_host(array: &Bound<'_, PyAny>, name: &str) -> PyResult<HostImage> {
    let py = array.py();
    let Ok(a) = array.cast::<PyUntypedArray>() else {
        let type_name = array
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(PyTypeError::new_err(format!(
            "{name}: expected a numpy.ndarray, got {type_name}"
        )));
    };
    if a.ndim() != 2 {
        return Err(PyValueError::new_err(format!(
            "{name}: expected a 2-D (H, W) array, got shape {:?}",
            a.shape()
        )));
    }
    if !a.is_c_contiguous() {
        return Err(PyValueError::new_err(format!(
            "{name}: the array is not C-contiguous; pass numpy.ascontiguousarray({name})"
        )));
    }
    let (h, w) = (a.shape()[0], a.shape()[1]);
    let dt = a.dtype();
    let pixels = if dt.is_equiv_to(&numpy::dtype::<u8>(py)) {
        Pixels::U8(samples::<u8>(array, name)?)
    } else if dt.is_equiv_to(&numpy::dtype::<u16>(py)) {
        Pixels::U16(samples::<u16>(array, name)?)
    } else if dt.is_equiv_to(&numpy::dtype::<i16>(py)) {
        Pixels::I16(samples::<i16>(array, name)?)
    } else if dt.is_equiv_to(&numpy::dtype::<f32>(py)) {
        Pixels::F32(samples::<f32>(array, name)?)
    } else {
        let shown = dt
            .str()
            .map(|s| s.to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(PyTypeError::new_err(format!(
            "{name}: dtype {shown} is not supported; radpipe takes uint8, uint16, int16 or float32 \
             (native byte order)"
        )));
    };
    let (Ok(w), Ok(h)) = (u32::try_from(w), u32::try_from(h)) else {
        return Err(PyValueError::new_err(format!(
            "{name}: shape {:?} is too large",
            a.shape()
        )));
    };
    HostImage::new(w, h, pixels).py_err()
}

/// Copies `image` into a new `(H, W)` array of its dtype.
pub fn to_numpy(py: Python<'_>, image: HostImage) -> PyResult<Py<PyAny>> {
    let shape = [image.height as usize, image.width as usize];
    let array = match image.pixels {
        Pixels::U8(v) => PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
        Pixels::U16(v) => PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
        Pixels::I16(v) => PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
        Pixels::F32(v) => PyArray1::from_vec(py, v).reshape(shape)?.into_any(),
    };
    Ok(array.unbind())
}
