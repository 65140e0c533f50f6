//! Python objects to C bytes and back, by raw type.
//!
//! The raw layer's own rules, narrower than the cffi layer's (`convert.rs`,
//! which works by C type and accepts cdata): integers are Python ints
//! (or objects with `__index__`), range-checked against the type's width;
//! floats are Python numbers; a pointer is an address (int), None, or an
//! object that has one; structs and arrays are bytes. Nothing is written
//! when a conversion fails.

use std::sync::Arc;

use ffi_raw::Type;
use ffi_typed::{IntLayout, Value};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyFloat};

use super::callback::Callback;
use super::function::Function;
use super::library::RawSymbol;
use super::memory::Memory;
use super::types::{describe, type_name};
use crate::ground::memory::Owned;

/// What a call's arguments need kept alive until C returns: the memory of
/// each `raw.Memory` passed as a pointer, so that `free()` from another
/// thread during the call (the GIL is released) only drops the Memory's
/// own reference.
#[derive(Default)]
pub(crate) struct Keep(Vec<Arc<Owned>>);

/// The smallest and largest value of an integer type (ffi-typed's rule);
/// an empty range for any other type, so that no value fits it.
fn int_range(ty: &Type) -> (i128, i128) {
    IntLayout::of_raw(ty).map_or((0, -1), IntLayout::range)
}

enum Integer {
    Value(i128),
    /// Beyond 64 bits either way: no raw type holds it.
    TooWide,
    NotInt,
}

fn integer(obj: &Bound<'_, PyAny>) -> PyResult<Integer> {
    let py = obj.py();
    // A float has no __index__, but say so in our words, not int()'s.
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Integer::NotInt);
    }
    match obj.extract::<i64>() {
        Ok(v) => Ok(Integer::Value(v.into())),
        Err(e) if e.is_instance_of::<PyOverflowError>(py) => Ok(match obj.extract::<u64>() {
            Ok(v) => Integer::Value(v.into()),
            Err(_) => Integer::TooWide,
        }),
        Err(e) if e.is_instance_of::<PyTypeError>(py) => Ok(Integer::NotInt),
        Err(e) => Err(e),
    }
}

fn shown(obj: &Bound<'_, PyAny>) -> String {
    obj.repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn int_to_c(ty: &Type, obj: &Bound<'_, PyAny>) -> PyResult<i128> {
    let (min, max) = int_range(ty);
    match integer(obj)? {
        Integer::Value(v) if (min..=max).contains(&v) => Ok(v),
        Integer::Value(_) | Integer::TooWide => Err(PyOverflowError::new_err(format!(
            "{} does not fit {} ({min} to {max})",
            shown(obj),
            type_name(ty)
        ))),
        Integer::NotInt => Err(PyTypeError::new_err(format!(
            "expected an int for {}, not {}",
            type_name(ty),
            describe(obj)
        ))),
    }
}

fn float_to_c(ty: &Type, obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    match obj.extract::<f64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyTypeError>(obj.py()) => Err(PyTypeError::new_err(format!(
            "expected a float for {}, not {}",
            type_name(ty),
            describe(obj)
        ))),
        Err(e) => Err(e),
    }
}

/// The address `obj` stands for as a `ptr`: an int, None (NULL), or the
/// address of a `Memory`, `Symbol`, `Callback` or `Function`. `bytes` pass
/// as a pointer to their own (read-only, NUL-terminated) buffer only when
/// `keep` is given, that is as a call argument, the one place where the
/// bytes object is known to outlive the pointer.
pub(crate) fn pointer_to_c(obj: &Bound<'_, PyAny>, keep: Option<&mut Keep>) -> PyResult<usize> {
    if obj.is_none() {
        return Ok(0);
    }
    if let Ok(memory) = obj.cast::<Memory>() {
        let block = memory.get().block()?;
        let addr = block.addr();
        if let Some(keep) = keep {
            keep.0.push(block);
        }
        return Ok(addr);
    }
    if let Ok(symbol) = obj.cast::<RawSymbol>() {
        return Ok(symbol.get().address());
    }
    if let Ok(callback) = obj.cast::<Callback>() {
        return Ok(callback.get().address());
    }
    if let Ok(function) = obj.cast::<Function>() {
        return Ok(function.get().address());
    }
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return match keep {
            Some(_) => Ok(bytes.as_bytes().as_ptr() as usize),
            None => Err(PyTypeError::new_err(
                "bytes pass as a ptr only as a call argument (a pointer to their buffer is \
                 valid only during the call); copy them into a raw.Memory instead",
            )),
        };
    }
    match integer(obj)? {
        Integer::Value(v) if (0..=usize::MAX as i128).contains(&v) => Ok(v as usize),
        Integer::Value(_) | Integer::TooWide => Err(PyOverflowError::new_err(format!(
            "{} is not an address (0 to {})",
            shown(obj),
            usize::MAX
        ))),
        Integer::NotInt => Err(PyTypeError::new_err(format!(
            "expected an address for ptr (an int, None, raw.Memory, raw.Symbol, raw.Callback, \
             raw.Function, or bytes as a call argument), not {}",
            describe(obj)
        ))),
    }
}

/// Copies a struct or array value (bytes of exactly its size, or the
/// first bytes of a `Memory`) into `out`.
fn aggregate_to_c(ty: &Type, obj: &Bound<'_, PyAny>, out: &mut [u8]) -> PyResult<()> {
    let size = out.len();
    let copy = |data: &[u8], out: &mut [u8]| {
        if data.len() != size {
            return Err(PyValueError::new_err(format!(
                "{} takes exactly {size} bytes, got {}",
                type_name(ty),
                data.len()
            )));
        }
        out.copy_from_slice(data);
        Ok(())
    };
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return copy(bytes.as_bytes(), out);
    }
    if let Ok(array) = obj.cast::<PyByteArray>() {
        return copy(&array.to_vec(), out);
    }
    if let Ok(memory) = obj.cast::<Memory>() {
        return memory.get().copy_out(out, &type_name(ty));
    }
    Err(PyTypeError::new_err(format!(
        "expected bytes, bytearray or raw.Memory for {}, not {}",
        type_name(ty),
        describe(obj)
    )))
}

/// Writes `obj` as a `ty` into `out` (exactly `ty.size()` bytes). `keep`
/// is given for call arguments; see [`pointer_to_c`].
pub(crate) fn to_c(
    ty: &Type,
    obj: &Bound<'_, PyAny>,
    out: &mut [u8],
    keep: Option<&mut Keep>,
) -> PyResult<()> {
    debug_assert_eq!(out.len(), ty.size());
    match ty {
        Type::Void => return Err(PyTypeError::new_err("void has no value")),
        Type::F32 => {
            let v = float_to_c(ty, obj)?;
            let narrowed = v as f32;
            if narrowed.is_infinite() && v.is_finite() {
                return Err(PyOverflowError::new_err(format!(
                    "{v} is out of range for f32"
                )));
            }
            out.copy_from_slice(&narrowed.to_ne_bytes());
        }
        Type::F64 => out.copy_from_slice(&float_to_c(ty, obj)?.to_ne_bytes()),
        Type::LongDouble => {
            let Value::LongDouble(bytes) = Value::long_double_from_f64(float_to_c(ty, obj)?) else {
                unreachable!("long_double_from_f64 makes a long double")
            };
            out.copy_from_slice(&bytes[..out.len()]);
        }
        Type::Pointer => out.copy_from_slice(&pointer_to_c(obj, keep)?.to_ne_bytes()),
        Type::Struct(_) | Type::Array(_) => aggregate_to_c(ty, obj, out)?,
        int => {
            let v = int_to_c(int, obj)?;
            match out.len() {
                1 => out.copy_from_slice(&(v as u8).to_ne_bytes()),
                2 => out.copy_from_slice(&(v as u16).to_ne_bytes()),
                4 => out.copy_from_slice(&(v as u32).to_ne_bytes()),
                _ => out.copy_from_slice(&(v as u64).to_ne_bytes()),
            }
        }
    }
    Ok(())
}

/// The Python value of the `ty` in `bytes` (exactly `ty.size()` bytes):
/// an int, a float, an address (int), bytes for a struct or array, None
/// for void.
pub(crate) fn from_c(py: Python<'_>, ty: &Type, bytes: &[u8]) -> PyResult<Py<PyAny>> {
    debug_assert_eq!(bytes.len(), ty.size());
    let object = match ty {
        Type::Void => py.None().into_bound(py),
        Type::I8 => i8::from_ne_bytes([bytes[0]]).into_pyobject(py)?.into_any(),
        Type::U8 => bytes[0].into_pyobject(py)?.into_any(),
        Type::I16 => i16::from_ne_bytes(array(bytes))
            .into_pyobject(py)?
            .into_any(),
        Type::U16 => u16::from_ne_bytes(array(bytes))
            .into_pyobject(py)?
            .into_any(),
        Type::I32 => i32::from_ne_bytes(array(bytes))
            .into_pyobject(py)?
            .into_any(),
        Type::U32 => u32::from_ne_bytes(array(bytes))
            .into_pyobject(py)?
            .into_any(),
        Type::I64 => i64::from_ne_bytes(array(bytes))
            .into_pyobject(py)?
            .into_any(),
        Type::U64 => u64::from_ne_bytes(array(bytes))
            .into_pyobject(py)?
            .into_any(),
        Type::F32 => f64::from(f32::from_ne_bytes(array(bytes)))
            .into_pyobject(py)?
            .into_any(),
        Type::F64 => f64::from_ne_bytes(array(bytes))
            .into_pyobject(py)?
            .into_any(),
        Type::LongDouble => {
            let mut buf = [0u8; 16];
            buf[..bytes.len()].copy_from_slice(bytes);
            Value::LongDouble(buf)
                .long_double_to_f64()
                .expect("a long double")
                .into_pyobject(py)?
                .into_any()
        }
        Type::Pointer => usize::from_ne_bytes(array(bytes))
            .into_pyobject(py)?
            .into_any(),
        Type::Struct(_) | Type::Array(_) => PyBytes::new(py, bytes).into_any(),
    };
    Ok(object.unbind())
}

/// The first `N` bytes as an array (the caller passes the type's size).
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes[..N].try_into().expect("sized by the type")
}
