//! The Python layer: a pyo3 extension (`ffi_py._native`) with two faces on
//! one ground floor.
//!
//! - [`ground`]: what every face stands on: owned memory and handles, the
//!   saved errno, attaching to the interpreter (C calling Python), error
//!   mapping, the plain entry points' helpers.
//! - [`cffi`]: cffi's ABI-mode API (`ffi_py.FFI`) over ffi-typed.
//! - [`raw`]: `ffi_py.raw`, the Python face of ffi-raw.
//!
//! A face imports from the ground floor and from itself, never from
//! another face; the ground floor imports from no face.

#![allow(missing_debug_implementations)] // pyclasses show themselves through __repr__

use pyo3::prelude::*;

mod cffi;
mod ground;
mod raw;

/// The native module, `ffi_py._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    ground::small_ints::find(py);
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<cffi::ffi_object::Ffi>()?;
    // SAFETY: `CAST` is a fastcall-with-keywords method of FFI instances.
    unsafe {
        ground::entry::install_method(&py.get_type::<cffi::ffi_object::Ffi>(), &cffi::cast::CAST)?
    };
    m.add_class::<cffi::ffi_object::Allocator>()?;
    m.add_class::<cffi::cdata::CData>()?;
    cffi::cdata_type::init(py)?;
    m.add_class::<cffi::ctype::PyCType>()?;
    m.add_class::<cffi::ctype::CField>()?;
    m.add_class::<cffi::library::Lib>()?;
    m.add_class::<cffi::library::VariadicFunction>()?;
    m.add_class::<cffi::buffer::Buffer>()?;
    m.add("FFIError", py.get_type::<ground::errors::FFIError>())?;
    m.add("CDefError", py.get_type::<ground::errors::CDefError>())?;
    m.add(
        "VerificationError",
        py.get_type::<ground::errors::VerificationError>(),
    )?;
    m.add(
        "VerificationMissing",
        py.get_type::<ground::errors::VerificationMissing>(),
    )?;
    raw::register(m)?;
    Ok(())
}
