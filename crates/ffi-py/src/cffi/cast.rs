//! `FFI.cast`: C's conversion of a value to another C type, a plain
//! fastcall method (see `ground::entry`) because comparators and other
//! callbacks run it on every call.

use ffi_raw::CScalar;
use ffi_typed::CType;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::cdata::{CData, Kind, Origin};
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
fn index_for_cast(value: &Bound<'_, PyAny>, ty: &CType) -> PyResult<i128> {
    value
        .call_method0("__index__")
        .and_then(|i| i.extract())
        .map_err(|_| {
            let name = value.get_type().name().map(|n| n.to_string());
            PyTypeError::new_err(format!(
                "cannot cast {} to '{ty}'",
                name.unwrap_or_default()
            ))
        })
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
            Kind::Primitive => {
                let v = this.primitive_int().ok_or_else(|| {
                    PyTypeError::new_err(format!("cannot cast cdata '{}' to '{ty}'", this.cname()))
                })?;
                Ok(v as usize)
            }
            _ => this.address(),
        };
    }
    if let Some((addr, _)) = super::function::c_function_of(value) {
        return Ok(addr);
    }
    if value.is_instance_of::<pyo3::types::PyFloat>() {
        return Err(PyTypeError::new_err(format!(
            "cannot cast a float to '{ty}'"
        )));
    }
    let v = index_for_cast(value, ty)?;
    Ok(v as usize)
}

/// C's conversion of `value` to the number, character or enum type `ty`:
/// integers wrap modulo the type's width, as a cast does in C.
fn cast_primitive(py: Python<'_>, ty: &CType, value: &Bound<'_, PyAny>) -> PyResult<Py<CData>> {
    let size = ty.size().map_err(typed_error)?;
    let float_source = value.is_instance_of::<pyo3::types::PyFloat>()
        || value.cast::<CData>().is_ok_and(|c| {
            c.get().primitive_int().is_none() && c.get().primitive_float().is_some()
        });
    let as_int = |value: &Bound<'_, PyAny>| -> PyResult<i128> {
        if float_source {
            let v: f64 = value.extract().or_else(|_| {
                value
                    .cast::<CData>()
                    .ok()
                    .and_then(|c| c.get().primitive_float())
                    .ok_or_else(|| PyTypeError::new_err("expected a number"))
            })?;
            return Ok(v as i128);
        }
        if let Ok(cdata) = value.cast::<CData>() {
            let this = cdata.get();
            return match this.kind {
                Kind::Primitive => this.primitive_int().ok_or_else(|| {
                    PyTypeError::new_err(format!("cannot cast cdata '{}'", this.cname()))
                }),
                _ => Ok(this.address()? as i128),
            };
        }
        if let Ok(b) = value.cast::<PyBytes>()
            && let [byte] = b.as_bytes()
        {
            return Ok(i128::from(*byte));
        }
        if let Ok(s) = value.cast::<PyString>() {
            let s = s.to_cow()?;
            let mut chars = s.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                return Ok(i128::from(c as u32));
            }
        }
        index_for_cast(value, ty)
    };
    let mut bytes = [0u8; 16];
    match ty {
        CType::Scalar(CScalar::Float) => bytes[..4]
            .copy_from_slice(&(number(value, float_source, &as_int)? as f32).to_le_bytes()),
        CType::Scalar(CScalar::Double) => {
            bytes[..8].copy_from_slice(&number(value, float_source, &as_int)?.to_le_bytes())
        }
        CType::Scalar(CScalar::LongDouble) => {
            let v = ffi_typed::Value::long_double_from_f64(number(value, float_source, &as_int)?);
            if let ffi_typed::Value::LongDouble(b) = v {
                bytes = b;
            }
        }
        // C's conversion to _Bool: any non-zero value, 0.1 included, is 1.
        CType::Scalar(CScalar::Bool) if float_source => {
            bytes[0] = u8::from(number(value, float_source, &as_int)? != 0.0);
        }
        CType::Scalar(CScalar::Bool) => bytes[0] = u8::from(as_int(value)? != 0),
        _ => {
            let v = as_int(value)?;
            bytes[..size].copy_from_slice(&v.to_le_bytes()[..size]);
        }
    }
    CData::primitive(py, ty, &bytes[..size])
}

fn number(
    value: &Bound<'_, PyAny>,
    float_source: bool,
    as_int: &dyn Fn(&Bound<'_, PyAny>) -> PyResult<i128>,
) -> PyResult<f64> {
    if float_source {
        if let Ok(v) = value.extract::<f64>() {
            return Ok(v);
        }
        if let Some(v) = value
            .cast::<CData>()
            .ok()
            .and_then(|c| c.get().primitive_float())
        {
            return Ok(v);
        }
    }
    if let Ok(v) = value.extract::<f64>()
        && !value.is_instance_of::<CData>()
    {
        return Ok(v);
    }
    Ok(as_int(value)? as f64)
}
