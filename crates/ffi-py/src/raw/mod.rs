//! `ffi_py.raw`: the raw layer, the Python face of `ffi-raw` (the analog of
//! PyPy's `_rawffi`), for code that builds its own typed layer.
//!
//! No C declarations: types are named by width (`i32`, `u64`, `f64`,
//! `ptr`, ...) and built into structs by hand; a [`function::Function`] is
//! an address plus a signature; [`memory::Memory`] is owned, bounds-checked
//! bytes; [`callback::Callback`] is a C function pointer that runs Python.
//! Unchecked access at an arbitrary address (`peek`/`poke`) is named as
//! such.
//!
//! | file | what |
//! |---|---|
//! | `types.rs` | `Type`, `Struct`, `Array`; type names; `c_type` |
//! | `value.rs` | Python objects to C bytes and back, by raw type |
//! | `library.rs` | `Library` and `Symbol` |
//! | `memory.rs` | `Memory`, `alloc`, `peek`/`poke` |
//! | `function.rs` | `Function`: calling an address |
//! | `callback.rs` | `Callback`: C calling Python |

use ffi_raw::OpenFlags;
use pyo3::prelude::*;

mod callback;
mod function;
mod library;
mod memory;
mod types;
mod value;

/// Builds the `raw` submodule of `_native`.
pub(crate) fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = parent.py();
    let m = PyModule::new(py, "raw")?;
    m.add_class::<types::RawType>()?;
    m.add_class::<types::RawStruct>()?;
    m.add_class::<types::RawArray>()?;
    m.add_class::<library::RawLibrary>()?;
    m.add_class::<library::RawSymbol>()?;
    m.add_class::<memory::Memory>()?;
    m.add_class::<function::Function>()?;
    m.add_class::<callback::Callback>()?;
    m.add_function(wrap_pyfunction!(types::c_type, &m)?)?;
    m.add_function(wrap_pyfunction!(memory::alloc, &m)?)?;
    m.add_function(wrap_pyfunction!(memory::peek, &m)?)?;
    m.add_function(wrap_pyfunction!(memory::poke, &m)?)?;
    m.add_function(wrap_pyfunction!(memory::peek_bytes, &m)?)?;
    m.add_function(wrap_pyfunction!(memory::poke_bytes, &m)?)?;
    m.add_function(wrap_pyfunction!(memory::peek_string, &m)?)?;
    m.add_function(wrap_pyfunction!(get_errno, &m)?)?;
    m.add_function(wrap_pyfunction!(set_errno, &m)?)?;
    for (name, ty) in types::SCALARS {
        m.add(name, Py::new(py, types::RawType::from(ty))?)?;
    }
    m.add("RTLD_NOW", OpenFlags::NOW.bits())?;
    m.add("RTLD_LAZY", OpenFlags::LAZY.bits())?;
    m.add("RTLD_GLOBAL", OpenFlags::GLOBAL.bits())?;
    m.add("RTLD_LOCAL", OpenFlags::LOCAL.bits())?;
    m.add("RTLD_NODELETE", OpenFlags::NODELETE.bits())?;
    parent.add_submodule(&m)
}

/// The errno saved by the last `errno=True` call on this thread (shared
/// with `ffi.errno`).
#[pyfunction]
fn get_errno() -> i32 {
    crate::ground::errno::saved_errno()
}

/// Sets the errno the next `errno=True` call on this thread starts with.
#[pyfunction]
fn set_errno(value: i32) {
    crate::ground::errno::set_saved_errno(value)
}
