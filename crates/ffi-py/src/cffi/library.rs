//! Library objects (`ffi.dlopen`): declared functions, global variables and
//! constants as attributes.

use std::sync::{Arc, Mutex};

use ffi_raw::{CodePtr, Library, OpenFlags};
use ffi_typed::parser::ConstantKind;
use ffi_typed::{CType, NameKind};
use pyo3::exceptions::{
    PyAttributeError, PyNotImplementedError, PyOSError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use super::cdata::CData;
use super::convert::{c_to_py, py_to_c};
use super::ffi_object::FfiState;
use super::function::{CallPlan, call_variadic, make_function};
use crate::ground::errors::{VerificationMissing, missing_error, typed_error};
use crate::ground::memory::Owned;

/// The native half of a library object. `ffi.dlopen` returns an instance
/// of the Python class `ffi_py._lib.Lib` wrapping this: only the first
/// lookup of a function or constant comes here; later ones are hits in the
/// Python object's `__dict__`, which CPython 3.12+ specialises (a native
/// `__getattribute__` would cost a call on every lookup). Global variables
/// come here on every access.
#[pyclass(name = "LibCore", module = "ffi_py", frozen)]
pub struct Lib {
    ffi: Arc<FfiState>,
    /// Keeps the `FFI` object alive while its library is.
    owner: Py<PyAny>,
    /// The library; `None` once closed.
    library: Mutex<Option<Loaded>>,
    name: String,
    release_gil: bool,
}

/// An open library.
#[derive(Clone)]
struct Loaded {
    library: Library,
    /// The same library as an owner that cdata pointing into its data hold,
    /// so that it stays loaded while they live.
    owner: Arc<Owned>,
}

/// A variadic C function: each call builds the signature of its arguments.
#[pyclass(name = "VariadicFunction", module = "ffi_py", frozen)]
pub struct VariadicFunction {
    name: String,
    fty: Arc<ffi_typed::FunctionType>,
    code: usize,
    library: Library,
    release_gil: bool,
}

impl VariadicFunction {
    /// The declared type (fixed parameters and `...`).
    pub(crate) fn function_type(&self) -> Arc<ffi_typed::FunctionType> {
        self.fty.clone()
    }
}

#[pymethods]
impl VariadicFunction {
    #[pyo3(signature = (*args))]
    fn __call__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        let args: Vec<_> = args.iter().collect();
        call_variadic(
            py,
            &self.name,
            &self.fty,
            CodePtr(self.code as *mut std::ffi::c_void),
            Some(self.library.clone()),
            self.release_gil,
            &args,
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "<C function {}>",
            CType::Function(self.fty.clone()).declare(&self.name)
        )
    }
}

impl Lib {
    pub(crate) fn open(
        py: Python<'_>,
        owner: Py<PyAny>,
        ffi: Arc<FfiState>,
        name: Option<&Bound<'_, PyAny>>,
        flags: i32,
        release_gil: bool,
    ) -> PyResult<Py<Lib>> {
        let flags = if flags == 0 {
            OpenFlags::default()
        } else {
            OpenFlags::from_bits(flags)
        };
        let library = match name.filter(|n| !n.is_none()) {
            None => Library::this(),
            Some(name) => match name.cast::<CData>() {
                // `flags` do not apply to a library C has opened already.
                Ok(handle) => open_handle(handle.get())?,
                Err(_) => {
                    let name: String = name.extract().map_err(|_| {
                        PyTypeError::new_err(
                            "dlopen() expects a library name or path (str), None, \
                             or a 'void *' handle from C's dlopen()",
                        )
                    })?;
                    open_by_name(py, &name, flags)?
                }
            },
        };
        Py::new(
            py,
            Lib {
                ffi,
                owner,
                name: library.name().to_string(),
                library: Mutex::new(Some(Loaded {
                    owner: Arc::new(Owned::Library {
                        _library: library.clone(),
                    }),
                    library,
                })),
                release_gil,
            },
        )
    }

    /// Forgets the library and everything resolved from it; closing twice
    /// is harmless. (Functions and data pointers already fetched keep the
    /// library loaded, so they stay safe to use.)
    pub(crate) fn close(&self) {
        self.library
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    fn loaded(&self) -> PyResult<Loaded> {
        self.library
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                PyValueError::new_err(format!("library '{}' has already been closed", self.name))
            })
    }

    fn library(&self) -> PyResult<Library> {
        self.loaded().map(|l| l.library)
    }

    fn symbol(&self, name: &str) -> PyResult<ffi_raw::Symbol> {
        self.library()?.symbol(name).map_err(|e| {
            PyAttributeError::new_err(format!(
                "symbol '{name}' not found in library '{}': {e}",
                self.name
            ))
        })
    }

    /// `ffi.addressof(lib, name)`: a pointer to a global variable or function.
    pub(crate) fn address_of(&self, py: Python<'_>, name: &str) -> PyResult<Py<CData>> {
        let (variable, function) = {
            let decls = self.ffi.decls();
            (decls.variable(name), decls.function(name))
        };
        let ty = match (variable, function) {
            (Some(ty), _) => CType::pointer_to(ty),
            (None, Some(f)) => CType::pointer_to(CType::Function(f)),
            (None, None) => return Err(self.unknown(name)),
        };
        known(&ty)?;
        let symbol = self.symbol(name)?;
        let owner = self.loaded()?.owner;
        CData::plain(py, &ty, symbol.addr() as usize, Some(owner))
    }

    /// The error for a name the library does not expose: not declared, or
    /// declared as something only cffi's API mode gives a value (an
    /// AttributeError too in cffi's ABI mode).
    fn unknown(&self, name: &str) -> PyErr {
        let (extern_python, kind) = {
            let decls = self.ffi.decls();
            (decls.extern_python(name).is_some(), decls.name_kind(name))
        };
        if kind == Some(NameKind::UnknownConstant) {
            return PyAttributeError::new_err(format!(
                "the value of '{name}' ('#define {name} ...') is known only to the C compiler; \
                 ffi_py has no API mode to ask it"
            ));
        }
        if extern_python {
            return PyAttributeError::new_err(format!(
                "'{name}' is declared extern \"Python\": a function that cffi's API mode \
                 compiles, which a library opened by ffi_py does not have"
            ));
        }
        PyAttributeError::new_err(format!(
            "library '{}' has no function, constant or global variable named '{name}' \
             (declare it with ffi.cdef)",
            self.name
        ))
    }
}

/// Refuses a declaration whose type leads to a fact only the C compiler
/// knows, before the symbol is looked up, as cffi's ABI mode does.
fn known(ty: &CType) -> PyResult<()> {
    match ty.missing() {
        Some(missing) => Err(missing_error(&missing)),
        None => Ok(()),
    }
}

/// The library behind a `void *` handle that C's `dlopen` returned. The
/// handle stays the caller's (see `ffi_raw::Library::from_handle`): ffi_py
/// holds a reference of its own, so neither `ffi.dlclose` nor collecting
/// the library object closes the handle, and closing the handle does not
/// unload the library under functions ffi_py still holds.
fn open_handle(handle: &CData) -> PyResult<Library> {
    if !matches!(handle.ty(), CType::Pointer(to) if matches!(**to, CType::Void)) {
        return Err(PyTypeError::new_err(format!(
            "dlopen() takes a file name or 'void *' handle, not '{}'",
            handle.cname()
        )));
    }
    let addr = handle.address()?;
    if addr == 0 {
        return Err(PyRuntimeError::new_err("cannot call dlopen(NULL)"));
    }
    // SAFETY: as in cffi, a `void *` passed to dlopen() is trusted to be a
    // handle from C's dlopen that is still open.
    unsafe { Library::from_handle(addr as *mut std::ffi::c_void) }
        .map_err(|e| PyOSError::new_err(e.to_string()))
}

/// Opens a library by path or name; a bare name like `"m"` is also tried
/// as `libm.so` and through `ctypes.util.find_library`.
fn open_by_name(py: Python<'_>, name: &str, flags: OpenFlags) -> PyResult<Library> {
    let first = match Library::open(name, flags) {
        Ok(lib) => return Ok(lib),
        Err(e) => e,
    };
    if !name.contains('/') {
        if let Ok(lib) = Library::open(format!("lib{name}.so"), flags) {
            return Ok(lib);
        }
        let found = py
            .import("ctypes.util")
            .and_then(|m| m.getattr("find_library")?.call1((name,)))
            .ok()
            .and_then(|f| f.extract::<Option<String>>().ok().flatten());
        if let Some(path) = found
            && let Ok(lib) = Library::open(&path, flags)
        {
            return Ok(lib);
        }
    }
    Err(PyOSError::new_err(format!(
        "cannot load library '{name}': {first}"
    )))
}

#[pymethods]
impl Lib {
    /// The value of a declared name and whether it may be cached (functions
    /// and constants may; a global variable is read afresh every time).
    #[pyo3(name = "resolve")]
    fn resolve_name(&self, py: Python<'_>, name: &str) -> PyResult<(Py<PyAny>, bool)> {
        match self.resolve(py, name)? {
            Some(found) => Ok(found),
            None => {
                self.library()?;
                Err(self.unknown(name))
            }
        }
    }

    /// Writes a declared global variable.
    fn set_global(&self, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let variable = self.ffi.decls().variable(name);
        let Some(ty) = variable else {
            self.library()?;
            return Err(PyAttributeError::new_err(format!(
                "cannot set '{name}': library '{}' has no global variable of that name",
                self.name
            )));
        };
        known(&ty)?;
        let symbol = self.symbol(name)?;
        // `int x[];` takes as many items as it is given.
        let ty = match ty {
            CType::Array(elem, None)
                if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() =>
            {
                CType::array_of((*elem).clone(), Some(value.len()?))
            }
            other => other,
        };
        let size = ty.size().map_err(typed_error)?;
        if !symbol.is_writable(size) {
            return Err(PyAttributeError::new_err(format!(
                "cannot set '{name}' in library '{}': the variable is in read-only memory \
                 (a const global)",
                self.name
            )));
        }
        // SAFETY: the symbol is the declared global variable, checked above
        // to lie in writable memory for its whole size; C semantics trust
        // the declaration's type.
        unsafe { py_to_c(&ty, value, symbol.addr().cast(), None) }
    }

    /// Every declared function, global variable and constant, sorted (not
    /// `#define X ...`, whose value only the compiler knows, as cffi).
    fn names(&self) -> Vec<String> {
        let decls = self.ffi.decls();
        let mut names: Vec<String> = decls
            .names()
            .filter(|(kind, _)| !matches!(kind, NameKind::Typedef | NameKind::UnknownConstant))
            .map(|(_, n)| n.to_string())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn __repr__(&self) -> String {
        format!("<Lib object for '{}'>", self.name)
    }

    /// The `FFI` this library keeps alive, which keeps the library alive
    /// in turn (`FFI.__traverse__`): visited so the collector frees both.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.owner)
    }
}

impl Lib {
    /// The value of a declared name and whether it may be cached (functions
    /// and constants may; a global variable is read afresh every time), or
    /// `None` if nothing of that name is declared.
    fn resolve(&self, py: Python<'_>, name: &str) -> PyResult<Option<(Py<PyAny>, bool)>> {
        let (function, variable, constant, opaque_constant) = {
            let decls = self.ffi.decls();
            (
                decls.function(name),
                decls.variable(name),
                decls.constant(name).map(|v| (v, decls.constant_kind(name))),
                decls.opaque_constant(name).is_some(),
            )
        };
        if let Some(fty) = function {
            if let Some(missing) = fty.missing() {
                return Err(missing_error(&missing));
            }
            let symbol = self.symbol(name)?;
            let object = if fty.variadic {
                Py::new(
                    py,
                    VariadicFunction {
                        name: name.to_string(),
                        fty,
                        code: symbol.addr() as usize,
                        library: symbol.library().clone(),
                        release_gil: self.release_gil,
                    },
                )?
                .into_any()
            } else {
                let plan = CallPlan::new(
                    py,
                    name,
                    fty,
                    symbol.code_ptr(),
                    Some(symbol.library().clone()),
                    self.release_gil,
                )?;
                make_function(py, plan)?
            };
            return Ok(Some((object, true)));
        }
        if let Some(ty) = variable {
            known(&ty)?;
            let symbol = self.symbol(name)?;
            let owner = self.loaded()?.owner;
            if let CType::Array(elem, None) = &ty {
                // `int x[];` has no known length: it reads as a pointer.
                let pointer = CType::pointer_to((**elem).clone());
                let value = CData::plain(py, &pointer, symbol.addr() as usize, Some(owner))?;
                return Ok(Some((value.into_any(), false)));
            }
            ty.size().map_err(typed_error)?;
            // SAFETY: the symbol is the declared global variable; C
            // semantics trust the declaration's type.
            let value = unsafe { c_to_py(py, &ty, symbol.addr() as *const u8, Some(&owner))? };
            return Ok(Some((value, false)));
        }
        if let Some((value, kind)) = constant {
            self.library()?;
            if kind == Some(ConstantKind::PartialEnumerator) {
                // As cffi's ABI mode: an enum with `...` has values only
                // the compiler knows.
                return Err(VerificationMissing::new_err(format!(
                    "'{name}' belongs to an enum declared with '...': its value is known only \
                     to the C compiler (ffi_py has no API mode)"
                )));
            }
            return Ok(Some((value.into_pyobject(py)?.into_any().unbind(), true)));
        }
        if opaque_constant {
            // `static const double x = 1.5;`: the value is in the header,
            // not in the library (cffi's error and message).
            self.library()?;
            return Err(PyNotImplementedError::new_err(format!(
                "non-integer constant '{name}' cannot be accessed from a dlopen() library"
            )));
        }
        Ok(None)
    }
}
