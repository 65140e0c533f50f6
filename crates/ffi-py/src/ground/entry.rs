//! Plain `extern "C"` entry points for the hottest calls.
//!
//! pyo3 wraps every method and slot in a trampoline that keeps its own
//! per-thread bookkeeping and moves a `PyResult` through memory: about a
//! hundred instructions, more than the work of `lib.f(x)` or
//! `ffi.cast("int *", p)` itself. The few entry points that run per C call
//! or per callback are therefore plain fastcall functions (`lib.f`'s
//! builtins, `FFI.cast`), and this module holds what each of them needs:
//! a panic guard ([`guarded`]) and the conversions of a result into what
//! CPython expects back ([`object_ptr`], [`Raised`]).
//!
//! Code these entry points reach (and callbacks, which attach with
//! CPython's own `PyGILState_Ensure`) runs without pyo3's per-thread
//! attach count, so a plain drop of a `Py<T>` there only queues its decref
//! until pyo3 next runs a trampoline. Paths that drop a `Py<T>` per call
//! drop it through `Bound` or `Py::drop_ref` instead, so that an object is
//! freed when its last reference goes (`CDataPool`, `Ffi::cast`).

use std::panic::AssertUnwindSafe;

use pyo3::ffi;
use pyo3::prelude::*;

/// Runs `body`, turning a Rust panic into a Python exception instead of
/// letting it unwind into CPython. `body` returns as CPython wants a
/// result back (a new reference, or NULL with an exception set; a status,
/// or -1 with an exception set); after a panic, CPython gets `failed`.
#[inline(always)]
pub(crate) fn guarded<R>(py: Python<'_>, failed: R, body: impl FnOnce() -> R) -> R {
    std::panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        panic_raised(py, panic);
        failed
    })
}

/// Sets a Rust panic as a Python exception.
#[cold]
#[inline(never)]
fn panic_raised(py: Python<'_>, panic: Box<dyn std::any::Any + Send>) {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a Rust panic".into());
    pyo3::panic::PanicException::new_err(message).restore(py);
}

/// A setter's result as CPython wants it back: 0, or -1 with the
/// exception set.
#[inline]
pub(crate) fn status(py: Python<'_>, result: PyResult<()>) -> std::os::raw::c_int {
    match result {
        Ok(()) => 0,
        Err(err) => {
            err.restore(py);
            -1
        }
    }
}

/// The arguments of a fastcall entry point as a slice.
///
/// # Safety
/// `args` holds `nargs` live objects (or `nargs` is 0), as CPython passes
/// them to a fastcall function, and they outlive the slice.
#[inline(always)]
pub(crate) unsafe fn arguments<'a>(
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> &'a [*mut ffi::PyObject] {
    if nargs <= 0 {
        &[]
    } else {
        // SAFETY: forwarded from this function's contract.
        unsafe { std::slice::from_raw_parts(args, nargs as usize) }
    }
}

/// The error side of a hot path's conversions: the exception is already
/// set in the interpreter. Zero-sized, so a `Result<u64, Raised>` stays in
/// registers where a `PyResult` would go through memory.
pub(crate) struct Raised;

impl Raised {
    #[cold]
    pub(crate) fn set(py: Python<'_>, err: PyErr) -> Raised {
        err.restore(py);
        Raised
    }
}

/// `result` as CPython wants a result back: a new reference, or NULL with
/// the exception set.
#[inline]
pub(crate) fn object_ptr<T>(py: Python<'_>, result: PyResult<Py<T>>) -> *mut ffi::PyObject {
    match result {
        Ok(object) => object.into_ptr(),
        Err(err) => {
            err.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// Puts the fastcall function `def` on the type `ty` as a method (in place
/// of the pyo3 method of the same name, which stays the documentation's
/// and the stubs' source of truth for the signature).
///
/// # Safety
/// `def` describes a `METH_FASTCALL` (optionally `| METH_KEYWORDS`)
/// function expecting an instance of `ty` as `self`; CPython checks the
/// instance before each call.
pub(crate) unsafe fn install_method(
    ty: &Bound<'_, pyo3::types::PyType>,
    def: &'static MethodDef,
) -> PyResult<()> {
    let py = ty.py();
    // SAFETY: `def` is static and CPython only reads it; the descriptor
    // type-checks `self` before calling (see this function's contract).
    let descriptor = unsafe {
        let raw = ffi::PyDescr_NewMethod(ty.as_type_ptr(), def.0.get());
        Bound::from_owned_ptr_or_err(py, raw)?
    };
    // SAFETY: `ml_name` is a static NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr((*def.0.get()).ml_name) };
    ty.setattr(name.to_string_lossy().as_ref(), descriptor)
}

/// A method definition that can live in a `static` (CPython only reads it).
pub(crate) struct MethodDef(std::cell::UnsafeCell<ffi::PyMethodDef>);

impl MethodDef {
    pub(crate) const fn new(def: ffi::PyMethodDef) -> MethodDef {
        MethodDef(std::cell::UnsafeCell::new(def))
    }
}

// SAFETY: never written after construction; CPython only reads it.
unsafe impl Sync for MethodDef {}

/// The `N` arguments of a fastcall-with-keywords method whose parameters
/// are `names`, all required, given by position or by name (CPython's own
/// rules and messages for builtins).
///
/// # Safety
/// `args`, `nargs` and `kwnames` are what CPython passed to a
/// `METH_FASTCALL | METH_KEYWORDS` function: `nargs` positional objects,
/// then one value per name in the `kwnames` tuple (or NULL).
#[inline(always)]
pub(crate) unsafe fn fixed_arguments<const N: usize>(
    py: Python<'_>,
    function: &str,
    names: [&str; N],
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> Result<[*mut ffi::PyObject; N], Raised> {
    if kwnames.is_null()
        && let Ok(all) = <[*mut ffi::PyObject; N]>::try_from(
            // SAFETY: forwarded from this function's contract.
            unsafe { arguments(args, nargs) },
        )
    {
        return Ok(all);
    }
    // SAFETY: as above.
    unsafe { keyword_arguments(py, function, names, args, nargs, kwnames) }
}

/// [`fixed_arguments`] when keywords are given or the count is wrong.
///
/// # Safety
/// As for [`fixed_arguments`].
#[cold]
#[inline(never)]
unsafe fn keyword_arguments<const N: usize>(
    py: Python<'_>,
    function: &str,
    names: [&str; N],
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> Result<[*mut ffi::PyObject; N], Raised> {
    use pyo3::exceptions::PyTypeError;
    use pyo3::types::{PyString, PyTuple};
    let fail = |message: String| Raised::set(py, PyTypeError::new_err(message));
    // SAFETY: `kwnames` is NULL or a tuple of str, as CPython passes it.
    let keywords = unsafe { Borrowed::from_ptr_or_opt(py, kwnames) }
        .map(|k| k.to_owned().cast_into::<PyTuple>())
        .transpose()
        .map_err(|e| Raised::set(py, e.into()))?;
    let named = keywords.as_ref().map_or(0, |k| k.len());
    let positional = nargs.max(0) as usize;
    // SAFETY: the positional arguments are followed by one per keyword.
    let all = unsafe { arguments(args, (positional + named) as ffi::Py_ssize_t) };
    if positional > N {
        return Err(fail(format!(
            "{function}() takes at most {N} arguments ({} given)",
            positional + named
        )));
    }
    let mut found = [std::ptr::null_mut(); N];
    found[..positional].copy_from_slice(&all[..positional]);
    for (i, key) in keywords.iter().flat_map(|k| k.iter()).enumerate() {
        let key = key
            .cast_into::<PyString>()
            .map_err(|e| Raised::set(py, e.into()))?;
        let key = key.to_cow().map_err(|e| Raised::set(py, e))?;
        let Some(slot) = names.iter().position(|n| *n == key) else {
            return Err(fail(format!(
                "{function}() got an unexpected keyword argument '{key}'"
            )));
        };
        if !found[slot].is_null() {
            return Err(fail(format!(
                "{function}() got multiple values for argument '{key}'"
            )));
        }
        found[slot] = all[positional + i];
    }
    if let Some(missing) = found.iter().position(|a| a.is_null()) {
        return Err(fail(format!(
            "{function}() missing required argument '{}' (pos {})",
            names[missing],
            missing + 1
        )));
    }
    Ok(found)
}
