//! The Python layer (a pyo3 extension), built on `ffi-typed` and `ffi-raw`.

use pyo3::prelude::*;

/// The native module, `ffi_py._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
