//! `FFI.cast`: C's conversion of a value to another C type, a plain
//! fastcall method (see `ground::entry`) because comparators and other
//! callbacks run it on every call.

use ffi_raw::CScalar;
use ffi_typed::CType;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFloat, PyInt, PyString};

use super::cdata::{CData, Kind, Origin};
use super::convert::single_code_point;
use super::ffi_object::Ffi;
use crate::ground::entry::{MethodDef, fixed_arguments, guarded, object_ptr};
use crate::ground::errors::{CDefError, typed_error};

impl Ffi {
    /// C's cast: numbers to numbers (truncating), integers and pointers to
    /// pointers (`FFI.cast`, through [`cast_entry`]).
    pub(crate) fn cast(
        &self,
        py: Python<'_>,
        cdecl: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Py<CData>> {
        // Bound, so that dropping it decrefs at once even when called from
        // `cast_entry`, outside pyo3's bookkeeping (see `ground::entry`).
        let ctype = self.resolve(py, cdecl)?.into_bound(py);
        let ty = &ctype.get().ty;
        let points_at_memory =
            |c: &Bound<'_, CData>| matches!(c.get().kind, Kind::Pointer | Kind::Array);
        // A pointer from anything with an address; an array of known length
        // only over what a pointer or array points to (cffi also takes an
        // integer there). Either keeps the memory's owner.
        let addressed = match ty {
            CType::Pointer(_) => true,
            CType::Array(_, Some(_)) => value.cast::<CData>().is_ok_and(points_at_memory),
            _ => false,
        };
        if addressed {
            let addr = cast_address(value, ty)?;
            let owner = value.cast::<CData>().ok().and_then(|c| c.get().owner());
            if owner.is_none() && matches!(ty, CType::Pointer(_)) {
                return CData::pointer_of(py, ctype.as_unbound(), addr);
            }
            let cdata = CData::build_typed(ctype.unbind(), addr, None, owner, Origin::Plain)?;
            return cdata.into_object(py);
        }
        match ty {
            CType::Scalar(_) | CType::Enum(_) => cast_primitive(py, ty, value),
            // cffi's class and words: its type names never denote functions.
            CType::Function(_) => Err(CDefError::new_err(format!(
                "the type '{ty}' is a function type, not a pointer-to-function type"
            ))),
            _ => Err(PyTypeError::new_err(format!(
                "cannot cast to ctype '{ty}': only to numbers, characters, enums, pointers, \
                 and arrays of known length (from a pointer or array cdata)"
            ))),
        }
    }
}

/// `value.__index__()` for a cast to `ty`, or a TypeError naming both.
fn index_for_cast<'py>(value: &Bound<'py, PyAny>, ty: &CType) -> PyResult<Bound<'py, PyInt>> {
    value
        .call_method0("__index__")
        .and_then(|i| Ok(i.cast_into::<PyInt>()?))
        .map_err(|_| {
            let name = value.get_type().name().map(|n| n.to_string());
            PyTypeError::new_err(format!(
                "cannot cast {} to '{ty}'",
                name.unwrap_or_default()
            ))
        })
}

/// A float as the integer a cast to an integer or pointer type takes from
/// it: Python's `int()` of it, exact (truncated toward zero), so that
/// infinities are an OverflowError and NaN a ValueError, as in cffi; C's
/// own conversion of such values is undefined.
fn float_to_int(py: Python<'_>, v: f64) -> PyResult<Bound<'_, PyInt>> {
    // SAFETY: returns a new reference to an int, or NULL with an exception
    // set (for an infinity or NaN).
    unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyLong_FromDouble(v)) }.map(|int| {
        int.cast_into::<PyInt>()
            .expect("PyLong_FromDouble makes an int")
    })
}

/// The low 64 bits of an int, two's complement: what a C cast to an
/// integer type of at most that width keeps.
fn low_bits(int: &Bound<'_, PyInt>) -> u64 {
    // SAFETY: `int` is an int object, for which the masked conversion
    // cannot fail.
    unsafe { pyo3::ffi::PyLong_AsUnsignedLongLongMask(int.as_ptr()) }
}

/// `FFI.cast`, a plain fastcall method (see `ground::entry`): a comparator that
/// casts its arguments runs it twice per comparison.
pub(crate) static CAST: MethodDef = MethodDef::new(pyo3::ffi::PyMethodDef {
    ml_name: c"cast".as_ptr(),
    ml_meth: pyo3::ffi::PyMethodDefPointer {
        PyCFunctionFastWithKeywords: cast_entry,
    },
    ml_flags: pyo3::ffi::METH_FASTCALL | pyo3::ffi::METH_KEYWORDS,
    ml_doc: c"cast(cdecl, source)\n--\n\nC's cast of `source` to the C type `cdecl`: numbers to \
numbers (truncating), integers and pointers to pointers."
        .as_ptr(),
});

unsafe extern "C" fn cast_entry(
    slf: *mut pyo3::ffi::PyObject,
    args: *const *mut pyo3::ffi::PyObject,
    nargs: pyo3::ffi::Py_ssize_t,
    kwnames: *mut pyo3::ffi::PyObject,
) -> *mut pyo3::ffi::PyObject {
    // SAFETY: CPython calls methods with the thread attached.
    let py = unsafe { Python::assume_attached() };
    guarded(py, std::ptr::null_mut(), || {
        // SAFETY: CPython's arguments for a fastcall-with-keywords method.
        let Ok([cdecl, source]) =
            (unsafe { fixed_arguments(py, "cast", ["cdecl", "source"], args, nargs, kwnames) })
        else {
            return std::ptr::null_mut();
        };
        // SAFETY: the method descriptor checked that `slf` is an FFI; the
        // arguments are live for the call.
        let (this, cdecl, source) = unsafe {
            (
                Borrowed::from_ptr(py, slf).cast_unchecked::<Ffi>(),
                Borrowed::from_ptr(py, cdecl),
                Borrowed::from_ptr(py, source),
            )
        };
        object_ptr(py, this.get().cast(py, &cdecl, &source))
    })
}

/// The address `value` stands for when cast to the pointer type `ty`.
fn cast_address(value: &Bound<'_, PyAny>, ty: &CType) -> PyResult<usize> {
    if let Ok(cdata) = value.cast::<CData>() {
        let this = cdata.get();
        return match this.kind {
            Kind::Primitive => match (this.primitive_int(), this.primitive_float()) {
                (Some(v), _) => Ok(v as usize),
                // As a Python float would be.
                (None, Some(v)) => Ok(low_bits(&float_to_int(value.py(), v)?) as usize),
                _ => Err(PyTypeError::new_err(format!(
                    "cannot cast cdata '{}' to '{ty}'",
                    this.cname()
                ))),
            },
            _ => this.address(),
        };
    }
    if let Some((addr, _)) = super::function::c_function_of(value) {
        return Ok(addr);
    }
    let int = match value.cast::<PyFloat>() {
        Ok(f) => float_to_int(value.py(), f.value())?,
        Err(_) => index_for_cast(value, ty)?,
    };
    Ok(low_bits(&int) as usize)
}

/// C's conversion of `value` to the number, character or enum type `ty`:
/// integers wrap modulo the type's width, as a cast does in C; a float
/// cast to an integer type is first truncated to an exact integer.
fn cast_primitive(py: Python<'_>, ty: &CType, value: &Bound<'_, PyAny>) -> PyResult<Py<CData>> {
    let size = ty.size().map_err(typed_error)?;
    // A float source: a Python float, or a cdata of a floating type.
    let float_source = match value.cast::<PyFloat>() {
        Ok(f) => Some(f.value()),
        Err(_) => value.cast::<CData>().ok().and_then(|c| {
            let c = c.get();
            c.primitive_int().is_none().then(|| c.primitive_float())?
        }),
    };
    let mut bytes = [0u8; 16];
    match ty {
        CType::Scalar(CScalar::Float) => {
            bytes[..4].copy_from_slice(&(cast_float(value, float_source, ty)? as f32).to_le_bytes())
        }
        CType::Scalar(CScalar::Double) => {
            bytes[..8].copy_from_slice(&cast_float(value, float_source, ty)?.to_le_bytes())
        }
        CType::Scalar(CScalar::LongDouble) => {
            let v = ffi_typed::Value::long_double_from_f64(cast_float(value, float_source, ty)?);
            if let ffi_typed::Value::LongDouble(b) = v {
                bytes = b;
            }
        }
        // C's conversion to _Bool: any non-zero value, 0.1 and NaN
        // included, is 1.
        CType::Scalar(CScalar::Bool) => {
            bytes[0] = u8::from(match float_source {
                Some(v) => v != 0.0,
                None => cast_integer(value, ty)?.is_truthy()?,
            })
        }
        _ => {
            let int = match float_source {
                Some(v) => float_to_int(py, v)?,
                None => cast_integer(value, ty)?,
            };
            bytes[..size].copy_from_slice(&low_bits(&int).to_le_bytes()[..size]);
        }
    }
    CData::primitive(py, ty, &bytes[..size])
}

/// The integer a cast reads from a source that is not a float: an int, an
/// integer cdata's value, a pointer or array cdata's address, the code of a
/// one-character bytes or str, or `__index__`.
fn cast_integer<'py>(value: &Bound<'py, PyAny>, ty: &CType) -> PyResult<Bound<'py, PyInt>> {
    let py = value.py();
    if let Ok(int) = value.cast::<PyInt>() {
        return Ok(int.clone());
    }
    if let Ok(cdata) = value.cast::<CData>() {
        let this = cdata.get();
        let v = match this.kind {
            Kind::Primitive => this.primitive_int().ok_or_else(|| {
                PyTypeError::new_err(format!("cannot cast cdata '{}' to '{ty}'", this.cname()))
            })?,
            _ => this.address()? as i128,
        };
        return Ok(v.into_pyobject(py)?);
    }
    if let Ok(b) = value.cast::<PyBytes>()
        && let [byte] = b.as_bytes()
    {
        return Ok(byte.into_pyobject(py)?.cast_into::<PyInt>()?);
    }
    if let Ok(s) = value.cast::<PyString>()
        && let Some(code) = single_code_point(s)
    {
        return Ok(code.into_pyobject(py)?.cast_into::<PyInt>()?);
    }
    index_for_cast(value, ty)
}

/// The value a cast to a floating type reads: a float source as itself, a
/// cdata or character as its integer, anything else as Python's `float()`
/// sees it (an OverflowError for an int past the range of a double).
fn cast_float(value: &Bound<'_, PyAny>, float_source: Option<f64>, ty: &CType) -> PyResult<f64> {
    if let Some(v) = float_source {
        return Ok(v);
    }
    if value.is_instance_of::<CData>()
        || value.is_instance_of::<PyBytes>()
        || value.is_instance_of::<PyString>()
    {
        return cast_integer(value, ty)?.extract();
    }
    value.extract()
}
