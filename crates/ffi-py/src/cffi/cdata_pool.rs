//! `CDataPool`: short-lived cdata of one type, reused when nobody else can
//! reach them.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use super::cdata::CData;
use super::ctype::PyCType;

/// Cdata of one type kept for reuse: plain pointers (no owner) and
/// records that own their memory (a struct returned by value). Such a
/// cdata is usually dropped at once (`cast("int *", p)[0]`,
/// `div(7, 3).quot`), and making and freeing the object is most of what the
/// operation costs. A pooled object that only the pool references any more
/// is given the new value instead of a new object being made; nobody can
/// tell, since nobody else can reach it or its memory (see `is_private`).
pub(crate) struct CDataPool(Mutex<[Option<Py<CData>>; POOLED]>);

/// Objects a pool keeps per type: enough for the pointers of one callback
/// or one expression.
const POOLED: usize = 4;

impl CDataPool {
    pub(crate) fn new() -> CDataPool {
        CDataPool(Mutex::new(Default::default()))
    }

    /// A pooled object of `ctype` nobody else can reach, else a new one
    /// from `make` (then pooled): the caller gives it its value.
    pub(super) fn get(
        py: Python<'_>,
        ctype: &Py<PyCType>,
        make: impl FnOnce() -> PyResult<Py<CData>>,
    ) -> PyResult<Py<CData>> {
        // `try_lock`: if the pool is busy (it is only ever locked briefly)
        // a new object is simply made.
        let slots = &ctype.get().pool.0;
        if let Ok(pool) = slots.try_lock() {
            for object in pool.iter().flatten() {
                if is_private(object.bind(py)) {
                    return Ok(object.clone_ref(py));
                }
            }
        }
        // Made with the pool unlocked: making an object can run Python code
        // (a collection, finalizers), which must not find the pool locked.
        let object = make()?;
        let Ok(mut pool) = slots.try_lock() else {
            return Ok(object);
        };
        // An empty slot, else the first: its object is in use or escaped
        // (kept, released, weakly referenced) and is the user's now.
        let slot = pool.iter().position(Option::is_none).unwrap_or(0);
        let replaced = pool[slot].replace(object.clone_ref(py));
        drop(pool);
        if let Some(replaced) = replaced {
            // Now, not whenever pyo3 next runs its own bookkeeping (a plain
            // drop defers it when called from the `entry` functions, which
            // bypass pyo3's trampolines): the user's last reference must
            // free the object.
            replaced.drop_ref(py);
        }
        Ok(object)
    }
}

/// Whether only the pool's reference reaches `object`: no other strong
/// reference, no weak reference, not released, and no other cdata shares
/// its memory, so that changing its value is unobservable.
fn is_private(object: &Bound<'_, CData>) -> bool {
    // SAFETY: reading the reference count of a live object.
    let references = unsafe { pyo3::ffi::Py_REFCNT(object.as_ptr()) };
    let this = object.get();
    references == 1
        && !has_weak_references(object)
        && !this.released.load(Ordering::Relaxed)
        && this.owner.try_lock().is_ok_and(|owner| {
            owner
                .as_ref()
                .is_none_or(|owned| Arc::strong_count(owned) == 1)
        })
}

/// Whether a weak reference to `object` (a `CData`, not a subclass) exists:
/// its weak reference list head, at the type's `__weakrefoffset__`, is set.
fn has_weak_references(object: &Bound<'_, CData>) -> bool {
    // A `PyOnceLock`: its initialiser calls into Python, so a thread waiting
    // for it must not hold the interpreter.
    static OFFSET: PyOnceLock<isize> = PyOnceLock::new();
    let offset = *OFFSET.get_or_init(object.py(), || {
        object
            .py()
            .get_type::<CData>()
            .getattr("__weakrefoffset__")
            .and_then(|o| o.extract())
            .unwrap_or(0)
    });
    if offset <= 0 {
        // Not where this code expects it: assume there may be one.
        return true;
    }
    // SAFETY: a positive `__weakrefoffset__` is where instances of the type
    // keep their weak reference list head (a `PyObject *`, NULL if none);
    // `object` is an instance of exactly that type.
    unsafe {
        !object
            .as_ptr()
            .cast::<u8>()
            .offset(offset)
            .cast::<*mut pyo3::ffi::PyObject>()
            .read()
            .is_null()
    }
}
