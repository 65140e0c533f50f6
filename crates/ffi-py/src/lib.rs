//! The Python layer: a pyo3 extension (`ffi_py._native`) exposing a
//! cffi-compatible ABI-mode API over `ffi-typed`, and the raw layer
//! (`ffi_py.raw`) over `ffi-raw`.
//!
//! Where things live: [`ffi`] is the `FFI` class, [`ctypes`] the `CType`
//! objects, [`cdata`] the `CData` objects and what keeps memory alive
//! ([`fast_cdata`] their slots),
//! [`convert`] Python objects to C bytes and back
//! (with [`small_ints`] for the ints CPython caches), [`function`] the native
//! call path, [`callback`] C calling Python, [`entry`] the plain entry
//! points of the hottest calls, [`library`] `dlopen`'s library
//! objects, [`buffer`] raw byte access, [`raw`] the raw layer.

#![allow(missing_debug_implementations)] // pyclasses show themselves through __repr__

use pyo3::prelude::*;

mod buffer;
mod callback;
mod cdata;
mod convert;
mod ctypes;
mod entry;
mod errors;
mod fast_cdata;
mod ffi;
mod function;
mod library;
mod raw;
mod small_ints;

/// The native module, `ffi_py._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    small_ints::find(py);
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<ffi::Ffi>()?;
    // SAFETY: `CAST` is a fastcall-with-keywords method of FFI instances.
    unsafe { entry::install_method(&py.get_type::<ffi::Ffi>(), &ffi::CAST)? };
    m.add_class::<ffi::Allocator>()?;
    m.add_class::<cdata::CData>()?;
    fast_cdata::init(py)?;
    m.add_class::<ctypes::PyCType>()?;
    m.add_class::<ctypes::CField>()?;
    m.add_class::<library::Lib>()?;
    m.add_class::<library::VariadicFunction>()?;
    m.add_class::<buffer::Buffer>()?;
    m.add("FFIError", py.get_type::<errors::FFIError>())?;
    m.add("CDefError", py.get_type::<errors::CDefError>())?;
    m.add(
        "VerificationError",
        py.get_type::<errors::VerificationError>(),
    )?;
    m.add(
        "VerificationMissing",
        py.get_type::<errors::VerificationMissing>(),
    )?;
    raw::register(m)?;
    Ok(())
}
