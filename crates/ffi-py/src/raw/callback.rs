//! `raw.Callback`: a C function pointer that calls a Python callable.
//!
//! Built on the ground floor's `python_closure`, as the cffi face's
//! callbacks are: an `ffi_raw::Closure` whose body attaches with
//! `PyGILState_Ensure` (any thread, including threads C created), converts
//! the arguments by raw type, calls, and converts the result. An exception, a result of the
//! wrong type or a panic never reaches C: it is reported to
//! `sys.unraisablehook` and C gets the `default` value (zero unless given).

use std::sync::Arc;

use ffi_raw::{ClosureArgs, Type};
use pyo3::PyTraverseError;
use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::function::{restype_object, signature_error};
use super::types::{RawType, describe, type_name, types_and_objects};
use super::value::{from_c, to_c};
use crate::ground::attach::{PythonClosure, call_positional, python_closure};
use crate::ground::scratch::zeroed_vec;

/// A C function pointer (`address`) that calls `callable`. C must not
/// call it after this object is gone: keep it referenced while C may.
#[pyclass(name = "Callback", module = "ffi_py.raw", frozen)]
pub(crate) struct Callback {
    closure: PythonClosure,
    /// Shared with the closure body: the callable is referenced once, so
    /// the garbage collector can account for it (see `__traverse__`).
    callee: Arc<Callee>,
    argtypes: Py<PyTuple>,
    restype: Py<RawType>,
}

impl Callback {
    pub(crate) fn address(&self) -> usize {
        self.closure.code_ptr().as_ptr() as usize
    }
}

/// What a callback calls, and how it converts: what the closure body
/// needs.
struct Callee {
    callable: Py<PyAny>,
    args: Vec<Type>,
    ret: Type,
    /// Returned to C when the call fails.
    default: Vec<u8>,
}

impl Callee {
    /// Runs the callable for one C call, attached to the interpreter.
    fn run(&self, py: Python<'_>, args: &ClosureArgs<'_>, ret: &mut [u8]) {
        if let Err(err) = self.call(py, args, ret) {
            ret.copy_from_slice(&self.default);
            err.write_unraisable(py, Some(self.callable.bind(py)));
        }
    }

    fn call(&self, py: Python<'_>, args: &ClosureArgs<'_>, ret: &mut [u8]) -> PyResult<()> {
        let objects = self
            .args
            .iter()
            .enumerate()
            .map(|(i, ty)| from_c(py, ty, args.bytes(i)).map(|o| o.into_bound(py)))
            .collect::<PyResult<Vec<_>>>()?;
        let result = call_positional(self.callable.bind(py), &objects)?;
        if self.ret == Type::Void {
            if !result.is_none() {
                return Err(PyTypeError::new_err(format!(
                    "a raw.Callback with restype void returned {}, expected None",
                    describe(&result)
                )));
            }
            return Ok(());
        }
        to_c(&self.ret, &result, ret, None).map_err(|e| {
            let message = e.value(py).to_string();
            PyErr::from_type(
                e.get_type(py),
                format!(
                    "the result of a raw.Callback returning {}: {message}",
                    type_name(&self.ret)
                ),
            )
        })
    }
}

#[pymethods]
impl Callback {
    /// `callable` is called with the arguments converted by `argtypes`
    /// (ints, floats, addresses as ints, structs as bytes); its result is
    /// converted by `restype` (None for void). `default` is what C gets
    /// when the callable raises or returns something unconvertible.
    #[new]
    #[pyo3(signature = (callable, argtypes, restype = None, *, default = None))]
    fn new(
        py: Python<'_>,
        callable: &Bound<'_, PyAny>,
        argtypes: &Bound<'_, PyAny>,
        restype: Option<&Bound<'_, PyAny>>,
        default: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Callback> {
        if !callable.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "raw.Callback() needs a callable, not {}",
                describe(callable)
            )));
        }
        let (args, argtypes) = types_and_objects(py, argtypes, "argtypes")?;
        let restype = restype_object(py, restype)?;
        let ret = restype.get().ty.clone();
        let mut default_bytes = zeroed_vec(ret.size())?;
        if let Some(default) = default.filter(|d| !d.is_none()) {
            if ret == Type::Void {
                return Err(PyTypeError::new_err(
                    "a raw.Callback with restype void has no default value",
                ));
            }
            to_c(&ret, default, &mut default_bytes, None).map_err(|e| {
                let message = e.value(py).to_string();
                PyErr::from_type(e.get_type(py), format!("default: {message}"))
            })?;
        }
        let nargs = args.len();
        let callee = Arc::new(Callee {
            callable: callable.clone().unbind(),
            args: args.clone(),
            ret: ret.clone(),
            default: default_bytes.clone(),
        });
        let body = Arc::clone(&callee);
        let closure = python_closure(args, ret, default_bytes, move |py, args, ret| {
            body.run(py, args, ret)
        })
        .map_err(|e| signature_error(e, nargs))?;
        Ok(Callback {
            closure,
            callee,
            argtypes,
            restype,
        })
    }

    /// The C function pointer, as an int.
    #[getter(address)]
    fn address_py(&self) -> usize {
        self.address()
    }

    #[getter]
    fn callable(&self, py: Python<'_>) -> Py<PyAny> {
        self.callee.callable.clone_ref(py)
    }

    /// A callable that refers back to its callback (`self.cb =
    /// raw.Callback(self.method, ...)`) makes a cycle; reporting the
    /// reference lets the collector free it. Nothing here is mutable, so
    /// there is no `__clear__`: the cycle is broken at the other objects.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.callee.callable)
    }

    #[getter]
    fn argtypes(&self, py: Python<'_>) -> Py<PyTuple> {
        self.argtypes.clone_ref(py)
    }

    #[getter]
    fn restype(&self, py: Python<'_>) -> Py<RawType> {
        self.restype.clone_ref(py)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let params: Vec<String> = self
            .argtypes
            .bind(py)
            .iter()
            .map(|t| {
                t.cast::<RawType>()
                    .map(|t| type_name(&t.get().ty))
                    .unwrap_or_default()
            })
            .collect();
        let callable = self
            .callee
            .callable
            .bind(py)
            .repr()
            .map(|r| r.to_string())
            .unwrap_or_else(|_| "?".into());
        format!(
            "<raw.Callback {}({}) calling {callable} at {:#x}>",
            type_name(&self.restype.get().ty),
            params.join(", "),
            self.address()
        )
    }
}
