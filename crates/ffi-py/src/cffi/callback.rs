//! `ffi.callback`: C function pointers that call Python.
//!
//! A callback is an `ffi_raw::Closure` whose Rust body attaches to the
//! interpreter (from any thread, including threads C created), converts the
//! C arguments, calls the Python callable and converts its result. An
//! exception goes to `onerror` or `sys.unraisablehook` and the callback
//! returns its `error` value; nothing unwinds into C.

use std::sync::{Arc, Mutex};

use ffi_typed::{CType, FunctionType};
use pyo3::prelude::*;

use super::cdata::{CData, Origin};
use super::convert::{c_to_py, py_to_c};
use super::ctype::{NumberKind, PyCType, ctype_object};
use crate::ground::attach::{PythonClosure, call_positional, python_closure};
use crate::ground::errors::typed_error;
use pyo3::{PyClassInitializer, PyTraverseError, PyVisit};

/// A live callback: the closure C calls, and what it calls (shared with
/// the closure's body).
struct PyClosure {
    /// Freed (the code address dies) when this is dropped; a call running
    /// then (the callable may release its own callback) finishes first.
    _closure: PythonClosure,
    callee: Arc<Callee>,
}

/// The object `ffi.callback` returns: a function-pointer cdata whose
/// closure only this object owns (as in cffi, a cast of a callback does not
/// keep it alive). It takes part in garbage collection, so a callable that
/// refers back to its callback (`self.cb = ffi.callback(..., self.method)`)
/// is collected with it.
#[pyclass(extends = CData, name = "CDataCallback", module = "ffi_py", frozen)]
pub(crate) struct CallbackCData {
    /// `None` once released or cleared by the garbage collector.
    closure: Mutex<Option<PyClosure>>,
}

impl CallbackCData {
    /// Frees the closure now (`ffi.release`, `with`): C must not call it
    /// again. A call running now (the callable releasing its own callback)
    /// finishes first; its memory goes when it returns.
    pub(crate) fn release(&self) {
        let closure = self
            .closure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(closure);
    }
}

#[pymethods]
impl CallbackCData {
    /// The Python objects the closure calls. Only this object owns the
    /// closure and the `Callee` in it (the closure's body shares the `Arc`
    /// with `PyClosure`, both inside this object), so each is visited once.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // The lock is only taken under the GIL, which the collector holds;
        // `try_lock` keeps traversal from ever blocking.
        let Ok(closure) = self.closure.try_lock() else {
            return Ok(());
        };
        if let Some(closure) = &*closure {
            visit.call(&closure.callee.callable)?;
            if let Some(onerror) = &closure.callee.onerror {
                visit.call(onerror)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.release();
    }
}

/// What a callback calls, and how it converts: what the closure body
/// needs.
struct Callee {
    callable: Py<PyAny>,
    fty: Arc<FunctionType>,
    /// How each argument becomes a Python object, decided once.
    params: Box<[Param]>,
    /// How the result is stored, if it is a number.
    result_number: Option<NumberKind>,
    /// The return value used when the callable raises.
    error_bytes: Vec<u8>,
    onerror: Option<Py<PyAny>>,
}

/// How an argument reaches the callable.
enum Param {
    /// A pointer cdata of this type (made once).
    Pointer(Py<PyCType>),
    /// An int or float.
    Number(NumberKind),
    /// Anything else, through the general conversion.
    Other,
}

impl Param {
    fn of(py: Python<'_>, ty: &CType) -> PyResult<Param> {
        Ok(match ty {
            CType::Pointer(_) => Param::Pointer(ctype_object(py, ty)?),
            _ => NumberKind::of(ty).map_or(Param::Other, Param::Number),
        })
    }
}

/// Makes the callback cdata for `callable` with the type `fty`.
pub(crate) fn make_callback(
    py: Python<'_>,
    pointer_ty: &CType,
    fty: Arc<FunctionType>,
    callable: Py<PyAny>,
    error: Option<&Bound<'_, PyAny>>,
    onerror: Option<Py<PyAny>>,
) -> PyResult<Py<CData>> {
    if !callable.bind(py).is_callable() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "expected a callable object, not {}",
            callable.bind(py).get_type().name()?
        )));
    }
    if let Some(onerror) = &onerror
        && !onerror.bind(py).is_callable()
    {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "onerror must be a callable object",
        ));
    }
    let ret_size = match fty.ret {
        CType::Void => 0,
        ref ty => ty.size().map_err(typed_error)?,
    };
    let mut error_bytes = crate::ground::scratch::zeroed_vec(ret_size)?;
    if let Some(error) = error
        && !error.is_none()
        && ret_size > 0
    {
        // SAFETY: the buffer is the return type's size.
        unsafe { py_to_c(&fty.ret, error, error_bytes.as_mut_ptr(), None)? };
    }
    let (raw_params, raw_ret) = fty.raw_signature().map_err(typed_error)?;
    let what = callable.bind(py).repr()?.to_string();
    let callee = Callee {
        params: fty
            .params
            .iter()
            .map(|p| Param::of(py, p))
            .collect::<PyResult<_>>()?,
        result_number: NumberKind::of(&fty.ret),
        callable,
        fty: fty.clone(),
        error_bytes: error_bytes.clone(),
        onerror,
    };
    let callee = Arc::new(callee);
    let shared = callee.clone();
    let closure = python_closure(raw_params, raw_ret, error_bytes, move |py, args, ret| {
        callee.run(py, args, ret)
    })
    .map_err(|e| typed_error(e.into()))?;
    let code = closure.code_ptr().as_ptr() as usize;
    let base = CData::build(py, pointer_ty, code, None, None, Origin::Callback(what))?;
    let callback = CallbackCData {
        closure: Mutex::new(Some(PyClosure {
            _closure: closure,
            callee: shared,
        })),
    };
    let object = Py::new(py, PyClassInitializer::from(base).add_subclass(callback))?;
    Ok(object.into_bound(py).into_super().unbind())
}

impl Callee {
    fn run(&self, py: Python<'_>, args: &ffi_raw::ClosureArgs<'_>, ret: &mut [u8]) {
        if let Err(err) = self.call(py, args, ret) {
            ret.copy_from_slice(&self.error_bytes);
            self.report(py, err, ret);
        }
    }

    fn call(
        &self,
        py: Python<'_>,
        args: &ffi_raw::ClosureArgs<'_>,
        ret: &mut [u8],
    ) -> PyResult<()> {
        let callable = self.callable.bind(py);
        let arg = |i| self.argument(py, args, i);
        // Up to three arguments without a heap allocation.
        let result = match self.params.len() {
            0 => call_positional(callable, &[]),
            1 => call_positional(callable, &[arg(0)?]),
            2 => call_positional(callable, &[arg(0)?, arg(1)?]),
            3 => call_positional(callable, &[arg(0)?, arg(1)?, arg(2)?]),
            n => call_positional(callable, &(0..n).map(arg).collect::<PyResult<Vec<_>>>()?),
        }?;
        if self.fty.ret == CType::Void && !result.is_none() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "callback with a void return type returned {}, expected None",
                result.repr()?
            )));
        }
        if let Some(number) = self.result_number {
            let bits = number.bits(&result, || Ok(self.fty.ret.clone()))?;
            // SAFETY: `ret` is the return type's size, a number of this kind.
            unsafe { number.store(bits, ret.as_mut_ptr()) };
            return Ok(());
        }
        if !ret.is_empty() {
            // SAFETY: `ret` is the return type's size.
            unsafe { py_to_c(&self.fty.ret, &result, ret.as_mut_ptr(), None)? };
        }
        Ok(())
    }

    /// Argument `i` of a C call as the Python object the callable gets.
    fn argument<'py>(
        &self,
        py: Python<'py>,
        args: &ffi_raw::ClosureArgs<'_>,
        i: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ty = &self.fty.params[i];
        let src = args.as_ptr(i).cast::<u8>();
        let object = match &self.params[i] {
            Param::Pointer(ctype) => {
                // SAFETY: the argument is a pointer value.
                let addr = unsafe { src.cast::<usize>().read_unaligned() };
                CData::pointer_of(py, ctype, addr)?.into_any()
            }
            // SAFETY: libffi gives a pointer to the argument's value,
            // a number of this kind.
            Param::Number(number) => unsafe { number.read(py, src)? },
            Param::Other => match ty {
                CType::Record(_) | CType::Array(..) => {
                    // A by-value argument lives only during this call: copy.
                    // Bound: dropped at once (see `ground::entry`).
                    let ctype = ctype_object(py, ty)?.into_bound(py);
                    let size = ty.size().map_err(typed_error)?;
                    CData::by_value(py, ctype.as_unbound(), |memory| {
                        // SAFETY: both regions are the parameter's size.
                        unsafe { std::ptr::copy_nonoverlapping(src, memory, size) };
                        Ok(())
                    })?
                    .into_any()
                }
                // SAFETY: libffi gives a pointer to the argument's value.
                _ => unsafe { c_to_py(py, ty, src, None)? },
            },
        };
        Ok(object.into_bound(py))
    }

    /// Reports an exception: `onerror(type, value, traceback)` (whose
    /// non-None result becomes the return value), else the unraisable hook.
    fn report(&self, py: Python<'_>, err: PyErr, ret: &mut [u8]) {
        let Some(onerror) = &self.onerror else {
            err.write_unraisable(py, Some(self.callable.bind(py)));
            return;
        };
        let outcome = onerror
            .bind(py)
            .call1((err.get_type(py), err.value(py), err.traceback(py)));
        let outcome = outcome.and_then(|value| {
            if value.is_none() || ret.is_empty() {
                return Ok(());
            }
            let mut bytes = vec![0u8; ret.len()];
            // SAFETY: the buffer is the return type's size.
            unsafe { py_to_c(&self.fty.ret, &value, bytes.as_mut_ptr(), None)? };
            ret.copy_from_slice(&bytes);
            Ok(())
        });
        if let Err(second) = outcome {
            // Both are reported: the callback's exception, then onerror's.
            err.write_unraisable(py, Some(self.callable.bind(py)));
            second.write_unraisable(py, Some(onerror.bind(py)));
        }
    }
}
