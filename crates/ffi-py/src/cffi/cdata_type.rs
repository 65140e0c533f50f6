//! The type cdata objects have: a subtype of `CData` whose attribute and
//! item slots are plain functions.
//!
//! `p.x`, `p.x = v`, `a[i]` and `a[i] = v` are the cdata operations a
//! program repeats most (a comparator does two `p[0]` per call), and each
//! through pyo3's slot trampolines costs about a hundred instructions of
//! glue, as much as the access itself (see `ground::entry`). pyo3 offers no raw
//! slots, so this module makes a subtype of the `CData` class with
//! `PyType_FromSpecWithBases` whose four slots are the `extern "C"`
//! functions below, calling the same methods pyo3's slots call. Objects
//! made by [`CData::into_object`] get this type, as `obj.__class__ = T`
//! would give it (the layouts are identical: the subtype adds nothing). It
//! is called `CData` too, and `isinstance(p, ffi_py.CData)` holds as for
//! any subtype; cffi's cdata objects likewise have subtypes of its
//! `CData`.

use pyo3::exceptions::{PyAttributeError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyTuple, PyType};

use ffi_typed::CType;

use super::cdata::CData;
use super::ctype::ctype_object;
use crate::ground::entry::{guarded, object_ptr, status};

/// The subtype and its base, once made (when the module is initialised).
static SUBTYPE: PyOnceLock<(Py<PyType>, Py<PyType>)> = PyOnceLock::new();

/// Makes the subtype; called once by module initialisation. If CPython
/// refuses it (or the switch of a probe object's class), objects keep the
/// `CData` class and pyo3's slots.
pub(crate) fn init(py: Python<'_>) -> PyResult<()> {
    let base = py.get_type::<CData>();
    // The base's own deallocator: it already does all a subtype that adds
    // nothing needs (untrack, clear weak references, drop the Rust value,
    // free, release the object's class), where CPython's default for a
    // subtype, `subtype_dealloc`, would first look for more to do.
    // SAFETY: `base` is a live heap type.
    let dealloc = unsafe { ffi::PyType_GetSlot(base.as_type_ptr(), ffi::Py_tp_dealloc) };
    if dealloc.is_null() {
        return Ok(());
    }
    let mut slots = [
        slot(ffi::Py_tp_dealloc, dealloc),
        slot(ffi::Py_tp_getattro, getattro as *mut _),
        slot(ffi::Py_tp_setattro, setattro as *mut _),
        slot(ffi::Py_mp_subscript, subscript as *mut _),
        slot(ffi::Py_mp_ass_subscript, ass_subscript as *mut _),
        slot(0, std::ptr::null_mut()),
    ];
    let mut spec = ffi::PyType_Spec {
        name: c"ffi_py.CData".as_ptr(),
        basicsize: 0, // the base's: the subtype adds no field
        itemsize: 0,
        flags: ffi::Py_TPFLAGS_DEFAULT as _,
        slots: slots.as_mut_ptr(),
    };
    let bases = PyTuple::new(py, [&base])?;
    // SAFETY: the spec and its slots outlive the call (CPython copies what
    // it keeps); `bases` is a tuple of one type.
    let subtype = unsafe {
        let raw = ffi::PyType_FromSpecWithBases(&mut spec, bases.as_ptr());
        Bound::from_owned_ptr_or_err(py, raw)?.cast_into_unchecked::<PyType>()
    };
    // Let CPython check that objects may switch between the two classes,
    // on a probe: the same check `obj.__class__ = T` makes.
    let void_pointer = ctype_object(py, &CType::pointer_to(CType::Void))?;
    let probe = CData::pointer_of(py, &void_pointer, 0)?.into_bound(py);
    let name = pyo3::intern!(py, "__class__");
    // SAFETY: live objects; the generic setter (CData's own takes only
    // fields) runs `object.__class__`'s, which checks the layouts.
    if unsafe { ffi::PyObject_GenericSetAttr(probe.as_ptr(), name.as_ptr(), subtype.as_ptr()) } != 0
    {
        return Err(PyErr::fetch(py));
    }
    let _ = SUBTYPE.set(py, (subtype.unbind(), base.unbind()));
    Ok(())
}

fn slot(slot: std::os::raw::c_int, pfunc: *mut std::ffi::c_void) -> ffi::PyType_Slot {
    ffi::PyType_Slot { slot, pfunc }
}

/// Gives a new `CData` object (of exactly the `CData` class) the subtype.
pub(crate) fn retype(py: Python<'_>, object: &Py<CData>) {
    let Some((subtype, base)) = SUBTYPE.get(py) else {
        return;
    };
    let raw = object.as_ptr();
    // SAFETY: `raw` is a live object; if its class is exactly `CData`, the
    // switch is what `__class__` assignment does for two classes whose
    // layouts `init` had CPython check: the object holds a reference to
    // its (heap) class, so the new one is taken and the old one released.
    unsafe {
        if ffi::Py_TYPE(raw) == base.as_ptr().cast() {
            ffi::Py_INCREF(subtype.as_ptr());
            (*raw).ob_type = subtype.as_ptr().cast();
            ffi::Py_DECREF(base.as_ptr());
        }
    }
}

/// `p.name`.
unsafe extern "C" fn getattro(
    slf: *mut ffi::PyObject,
    name: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls slots with the thread attached.
    let py = unsafe { Python::assume_attached() };
    guarded(py, std::ptr::null_mut(), || {
        // SAFETY: CPython calls the slot with an instance of the subtype
        // (a CData) and a str name, both live for the call.
        let (slf, name) = unsafe {
            (
                Borrowed::from_ptr(py, slf).cast_unchecked::<CData>(),
                Borrowed::from_ptr(py, name).cast_unchecked::<PyString>(),
            )
        };
        object_ptr(py, CData::__getattribute__(&slf, &name))
    })
}

/// `p.name = value`, and `del p.name` (`value` NULL).
unsafe extern "C" fn setattro(
    slf: *mut ffi::PyObject,
    name: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
) -> std::os::raw::c_int {
    // SAFETY: as in `getattro`.
    let py = unsafe { Python::assume_attached() };
    guarded(py, -1, || {
        // SAFETY: as in `getattro`; `value` is live when not NULL.
        let (slf, name, value) = unsafe {
            (
                Borrowed::from_ptr(py, slf).cast_unchecked::<CData>(),
                Borrowed::from_ptr(py, name).cast_unchecked::<PyString>(),
                Borrowed::from_ptr_or_opt(py, value),
            )
        };
        let result = match value {
            Some(value) => slf.get().__setattr__(&name, &value),
            None => Err(PyAttributeError::new_err("cannot delete struct field")),
        };
        status(py, result)
    })
}

/// `p[key]`.
unsafe extern "C" fn subscript(
    slf: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as in `getattro`.
    let py = unsafe { Python::assume_attached() };
    guarded(py, std::ptr::null_mut(), || {
        // SAFETY: as in `getattro`.
        let (slf, key) = unsafe {
            (
                Borrowed::from_ptr(py, slf).cast_unchecked::<CData>(),
                Borrowed::from_ptr(py, key),
            )
        };
        object_ptr(py, slf.get().__getitem__(py, &key))
    })
}

/// `p[key] = value`, and `del p[key]` (`value` NULL).
unsafe extern "C" fn ass_subscript(
    slf: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
) -> std::os::raw::c_int {
    // SAFETY: as in `getattro`.
    let py = unsafe { Python::assume_attached() };
    guarded(py, -1, || {
        // SAFETY: as in `setattro`.
        let (slf, key, value) = unsafe {
            (
                Borrowed::from_ptr(py, slf).cast_unchecked::<CData>(),
                Borrowed::from_ptr(py, key),
                Borrowed::from_ptr_or_opt(py, value),
            )
        };
        let result = match value {
            Some(value) => slf.get().__setitem__(&key, &value),
            None => Err(PyTypeError::new_err(
                "'del x[n]' not supported for cdata objects",
            )),
        };
        status(py, result)
    })
}
