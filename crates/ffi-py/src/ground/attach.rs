//! Attaching to the interpreter when C calls Python: the body of every
//! face's callbacks.
//!
//! C may call from any thread, including threads it created and threads
//! whose state a call released, and after the interpreter is gone; a
//! callback must neither unwind into C nor crash then. [`python_closure`]
//! is the one way a face makes a C function pointer that runs Python.

use std::sync::Arc;

use ffi_raw::{Closure, ClosureArgs, CodePtr, OnPanic, Type};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// What a callback runs for each C call, attached.
type Body = dyn Fn(Python<'_>, &ClosureArgs<'_>, &mut [u8]) + Send + Sync;

/// A C function pointer that runs Python ([`python_closure`]): the closure
/// C calls and the body it runs.
///
/// The closure reaches the body through a weak reference, and each call
/// holds a strong one only while attached. So however this is dropped
/// (under the GIL: by a face's release or deallocation, possibly from
/// inside one of its own calls), the body and the Python objects it holds
/// are dropped attached, here or when the running call's body returns; what
/// ffi-raw keeps for a call still running past that point holds no Python
/// object.
pub(crate) struct PythonClosure {
    /// Declared first, so freed first: no call starts once the body goes.
    closure: Closure,
    _body: Arc<Body>,
}

impl PythonClosure {
    /// The address C calls.
    pub(crate) fn code_ptr(&self) -> CodePtr {
        self.closure.code_ptr()
    }
}

/// A C function pointer of the raw signature `params -> ret` whose every
/// call runs `body` attached to the interpreter ([`run_attached`]). C gets
/// `fallback` (the return type's size) when `body` panics or the
/// interpreter is gone; `body` decides what C gets when Python raises.
/// The result may be dropped while C is running it (see [`PythonClosure`]).
pub(crate) fn python_closure(
    params: Vec<Type>,
    ret: Type,
    fallback: Vec<u8>,
    body: impl Fn(Python<'_>, &ClosureArgs<'_>, &mut [u8]) + Send + Sync + 'static,
) -> Result<PythonClosure, ffi_raw::Error> {
    let body: Arc<Body> = Arc::new(body);
    let weak = Arc::downgrade(&body);
    let on_panic = OnPanic::Return(fallback.clone());
    let closure = Closure::with_on_panic(params, ret, on_panic, move |args, out| {
        run_attached(out, &fallback, |py, out| match weak.upgrade() {
            // Dropped at the end of this arm, still attached.
            Some(body) => body(py, args, out),
            // Only while the closure is being dropped, which C must not race.
            None => out.copy_from_slice(&fallback),
        });
    })?;
    Ok(PythonClosure {
        closure,
        _body: body,
    })
}

/// Runs a callback's `body` attached to the interpreter, from any thread,
/// for C: with CPython's own `PyGILState_Ensure` rather than pyo3's attach,
/// because the thread may be one C created, or one whose state a call
/// released (pyo3's per-thread count cannot tell), and `Ensure` handles
/// both. A panic in `body` is caught and C gets `fallback` in `ret`; so
/// does a call after the interpreter is gone (a thread C started outliving
/// Python), when attaching is impossible.
fn run_attached(ret: &mut [u8], fallback: &[u8], body: impl FnOnce(Python<'_>, &mut [u8])) {
    // SAFETY: Py_IsInitialized may be called at any time.
    if unsafe { ffi::Py_IsInitialized() } == 0 {
        ret.copy_from_slice(fallback);
        return;
    }
    // SAFETY: paired with PyGILState_Release below on every path (the body
    // cannot unwind past it: panics are caught).
    let state = unsafe { ffi::PyGILState_Ensure() };
    // SAFETY: the thread is attached until the Release below.
    let py = unsafe { Python::assume_attached() };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(py, &mut *ret)));
    if outcome.is_err() {
        ret.copy_from_slice(fallback);
    }
    // SAFETY: releases what the Ensure above acquired.
    unsafe { ffi::PyGILState_Release(state) };
}

/// Runs `call`, a foreign call that touches no Python object, detached
/// from the interpreter when `detach` is set (the GIL released, so other
/// threads run Python meanwhile), and attached again afterwards, also if
/// `call` panics.
///
/// CPython's own `PyEval_SaveThread`/`RestoreThread` rather than pyo3's
/// `detach`: nothing in `call` needs pyo3's bookkeeping, and callbacks
/// attach with `PyGILState_Ensure`, which works whether or not this
/// thread's state is current. The caller must be attached (called from
/// Python).
#[inline(always)]
pub(crate) fn detached<R>(detach: bool, call: impl FnOnce() -> R) -> R {
    if !detach {
        return call();
    }
    struct Reattach(*mut ffi::PyThreadState);
    impl Drop for Reattach {
        fn drop(&mut self) {
            // SAFETY: restores, on the same thread, the state saved below.
            unsafe { ffi::PyEval_RestoreThread(self.0) };
        }
    }
    // SAFETY: the thread is attached (the caller's contract); `Reattach`
    // restores the state on every path out of this function.
    let _reattach = Reattach(unsafe { ffi::PyEval_SaveThread() });
    call()
}

/// Calls `callable` with positional arguments, through CPython's vectorcall
/// path for up to four of them (no argument tuple).
pub(crate) fn call_positional<'py>(
    callable: &Bound<'py, PyAny>,
    args: &[Bound<'py, PyAny>],
) -> PyResult<Bound<'py, PyAny>> {
    let py = callable.py();
    let f = callable.as_ptr();
    let null = std::ptr::null_mut::<ffi::PyObject>();
    // SAFETY: every pointer is a live object; the argument list ends with
    // NULL as PyObject_CallFunctionObjArgs requires; the result is a new
    // reference or NULL with an exception set.
    let result = unsafe {
        match args {
            [] => ffi::PyObject_CallFunctionObjArgs(f, null),
            [a] => ffi::PyObject_CallFunctionObjArgs(f, a.as_ptr(), null),
            [a, b] => ffi::PyObject_CallFunctionObjArgs(f, a.as_ptr(), b.as_ptr(), null),
            [a, b, c] => {
                ffi::PyObject_CallFunctionObjArgs(f, a.as_ptr(), b.as_ptr(), c.as_ptr(), null)
            }
            [a, b, c, d] => ffi::PyObject_CallFunctionObjArgs(
                f,
                a.as_ptr(),
                b.as_ptr(),
                c.as_ptr(),
                d.as_ptr(),
                null,
            ),
            _ => return callable.call1(PyTuple::new(py, args)?),
        }
    };
    // SAFETY: as above.
    unsafe { Bound::from_owned_ptr_or_err(py, result) }
}
