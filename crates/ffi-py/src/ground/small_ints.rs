//! CPython's small ints, by address.
//!
//! CPython makes one object for each int from -5 to 256 when the
//! interpreter starts, keeps them until it ends, and hands out those
//! objects whenever one of these values is wanted. On every CPython we
//! support they sit in one array. Once its start and stride are known (and
//! checked value by value), an exact int argument in that range is its
//! value by address arithmetic, and a result in that range is its object,
//! without a call into the interpreter: C arguments and results are mostly
//! small (counts, flags, status codes, characters).
//!
//! Nothing here reads an int's memory, whose layout the stable ABI does not
//! promise: only the addresses of objects the interpreter itself returned.
//! If the objects are not laid out as one array, the table stays empty and
//! every int takes the interpreter's calls.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;

/// The smallest and largest cached values (CPython's `_PY_NSMALLNEGINTS`
/// and `_PY_NSMALLPOSINTS - 1`; the check in [`find`] would notice a
/// change).
const MIN: i64 = -5;
const MAX: i64 = 256;
const COUNT: usize = (MAX - MIN + 1) as usize;

/// The address of the object for `MIN`, or 0 when the table is empty.
static BASE: AtomicUsize = AtomicUsize::new(0);
/// log2 of the distance between neighbouring objects.
static SHIFT: AtomicU32 = AtomicU32::new(0);

/// Finds the small ints of the running interpreter; called when the module
/// is initialised (again after the interpreter is initialised again, as
/// its objects are then new).
pub(crate) fn find(py: Python<'_>) {
    let (base, shift) = locate(py).unwrap_or((0, 0));
    // Relaxed: the module is initialised before any call can read these,
    // and with the GIL held (which orders everything after it).
    BASE.store(base, Ordering::Relaxed);
    SHIFT.store(shift, Ordering::Relaxed);
}

/// The table's base and shift, if every value's object is where one array
/// would put it, and asking again for a value gives the same object.
fn locate(py: Python<'_>) -> Option<(usize, u32)> {
    let object = |v: i64| -> Option<usize> {
        // SAFETY: PyLong_FromLongLong returns a new reference or NULL; the
        // reference is dropped at once, as these objects live as long as
        // the interpreter (the address is all that is kept).
        let obj = unsafe { Bound::from_owned_ptr_or_opt(py, ffi::PyLong_FromLongLong(v)) }?;
        Some(obj.as_ptr() as usize)
    };
    let base = object(MIN)?;
    let stride = object(MIN + 1)?.checked_sub(base)?;
    if !stride.is_power_of_two() || stride < std::mem::size_of::<ffi::PyObject>() {
        return None;
    }
    let shift = stride.trailing_zeros();
    for (i, v) in (MIN..=MAX).enumerate() {
        let at = base + (i << shift);
        if object(v)? != at || object(v)? != at {
            return None;
        }
    }
    // The neighbours just outside the range are new objects (or, were the
    // range ever wider, at least not where the array would continue).
    let past = base + (COUNT << shift);
    if object(MAX + 1)? == past || object(MIN - 1)? == base.wrapping_sub(stride) {
        return None;
    }
    Some((base, shift))
}

/// The value of `obj` if it is one of the small ints. `obj` must be a live
/// object; anything else (another int, another type) gives `None`.
#[inline(always)]
pub(crate) fn value(obj: *mut ffi::PyObject) -> Option<i64> {
    let base = BASE.load(Ordering::Relaxed);
    let shift = SHIFT.load(Ordering::Relaxed);
    let offset = (obj as usize).wrapping_sub(base);
    // With an empty table (base 0, shift 0) the offset is the object's
    // address, never below COUNT: the first page is never mapped.
    (offset < COUNT << shift && offset & ((1 << shift) - 1) == 0)
        .then(|| (offset >> shift) as i64 + MIN)
}

/// A new reference to the small int `v`, if `v` is in the table's range.
#[inline(always)]
pub(crate) fn object(v: i64) -> Option<*mut ffi::PyObject> {
    let base = BASE.load(Ordering::Relaxed);
    if base == 0 || !(MIN..=MAX).contains(&v) {
        return None;
    }
    let obj =
        (base + (((v - MIN) as usize) << SHIFT.load(Ordering::Relaxed))) as *mut ffi::PyObject;
    // SAFETY: `obj` is the interpreter's object for `v` (see `locate`),
    // alive as long as the interpreter; the caller gets the new reference.
    unsafe { ffi::Py_INCREF(obj) };
    Some(obj)
}
