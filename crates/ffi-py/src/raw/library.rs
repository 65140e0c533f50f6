//! `raw.Library` and `raw.Symbol`: `dlopen`/`dlsym` with the loader's own
//! messages. A `Symbol` (and a `Function` made from one) holds its library
//! loaded, so closing a `Library` never unloads code still reachable from
//! Python; only a bare integer address carries no such guarantee.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Mutex;

use ffi_raw::{Library, OpenFlags, Symbol};
use pyo3::exceptions::{PyAttributeError, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::types::describe;

/// A shared library opened with `dlopen`, or the running process.
#[pyclass(name = "Library", module = "ffi_py.raw", frozen)]
pub(crate) struct RawLibrary {
    /// `None` once closed.
    library: Mutex<Option<Library>>,
    name: String,
}

impl RawLibrary {
    fn library(&self) -> PyResult<Library> {
        self.library
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| PyValueError::new_err(format!("library '{}' is closed", self.name)))
    }
}

#[pymethods]
impl RawLibrary {
    /// Opens `name` (a file name searched as `dlopen` searches, or a path;
    /// str, bytes or os.PathLike), or the running process for None.
    /// `flags` are `RTLD_*` bits; 0 means `RTLD_NOW | RTLD_LOCAL`.
    #[new]
    #[pyo3(signature = (name, flags = 0))]
    fn new(name: &Bound<'_, PyAny>, flags: i32) -> PyResult<RawLibrary> {
        let flags = match flags {
            0 => OpenFlags::default(),
            bits => OpenFlags::from_bits(bits),
        };
        let library = if name.is_none() {
            Library::this()
        } else {
            let path: PathBuf = if let Ok(bytes) = name.cast::<PyBytes>() {
                OsStr::from_bytes(bytes.as_bytes()).into()
            } else {
                name.extract().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "raw.Library() takes a name or path (str, bytes or os.PathLike) or \
                         None, not {}",
                        describe(name)
                    ))
                })?
            };
            if path.as_os_str().as_bytes().contains(&0) {
                return Err(PyValueError::new_err(
                    "a library name cannot contain a NUL byte",
                ));
            }
            Library::open(&path, flags).map_err(|e| PyOSError::new_err(e.to_string()))?
        };
        Ok(RawLibrary {
            name: library.name().to_string(),
            library: Mutex::new(Some(library)),
        })
    }

    /// The symbol `name`. It keeps this library loaded, even after `close`.
    fn symbol(&self, name: &str) -> PyResult<RawSymbol> {
        if name.contains('\0') {
            return Err(PyValueError::new_err(
                "a symbol name cannot contain a NUL byte",
            ));
        }
        let symbol = self.library()?.symbol(name).map_err(|e| match e {
            ffi_raw::Error::Symbol { message, .. } => PyAttributeError::new_err(format!(
                "library '{}' has no symbol '{name}' ({message})",
                self.name
            )),
            other => crate::ground::errors::raw_error(other),
        })?;
        Ok(RawSymbol {
            symbol,
            name: name.to_string(),
        })
    }

    /// Drops this object's hold on the library. Symbols and functions
    /// obtained from it keep it loaded; it is unloaded when the last goes.
    /// Closing twice is harmless.
    fn close(&self) {
        self.library
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    #[getter]
    fn closed(&self) -> bool {
        self.library
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// The name or path it was opened with (`<this process>` for None).
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        let state = if self.closed() { " (closed)" } else { "" };
        format!("<raw.Library '{}'{state}>", self.name)
    }
}

/// An address found in a library, holding the library loaded.
#[pyclass(name = "Symbol", module = "ffi_py.raw", frozen)]
pub(crate) struct RawSymbol {
    symbol: Symbol,
    name: String,
}

impl RawSymbol {
    pub(crate) fn address(&self) -> usize {
        self.symbol.addr() as usize
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

#[pymethods]
impl RawSymbol {
    /// The address, as an int. The int does not keep the library loaded.
    #[getter(address)]
    fn address_py(&self) -> usize {
        self.address()
    }

    #[getter(name)]
    fn name_py(&self) -> &str {
        &self.name
    }

    /// The name of the library it was found in.
    #[getter]
    fn library(&self) -> &str {
        self.symbol.library().name()
    }

    fn __repr__(&self) -> String {
        format!(
            "<raw.Symbol '{}' at {:#x} in '{}'>",
            self.name,
            self.address(),
            self.symbol.library().name()
        )
    }
}
