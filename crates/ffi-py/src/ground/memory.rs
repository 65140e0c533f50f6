//! Memory and objects that Python-visible values keep alive: every face's
//! owned memory (the cffi face's `new`, the raw face's `Memory`), the
//! objects behind `ffi.new_handle`, and what a pointer into foreign memory
//! must keep (a buffer's object, a library, a C stream).
//!
//! An [`Owned`] is only ever shared behind an `Arc`: a value that points
//! into it holds the `Arc`, so the memory lives while anything points into
//! it, and dropping the last holder frees it exactly once.

use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use ffi_typed::CType;
use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::prelude::*;

use super::errors::typed_error;

/// Memory of at most this many bytes (16-aligned) is kept inside the
/// `Arc<Owned>` itself: one allocation instead of two for small structs and
/// arrays (a struct returned by value, `new("int[16]")`).
const INLINE_BYTES: usize = 64;

/// Something a cdata keeps alive.
pub(crate) enum Owned {
    /// Zeroed memory from ffi_py's allocator.
    Memory { ptr: NonNull<u8>, layout: Layout },
    /// Small zeroed memory, inside this value: its first `len` bytes. C
    /// writes to it through shared references, hence the cell; its address
    /// is stable because an `Owned` holding it is only ever made inside its
    /// `Arc`.
    Inline {
        bytes: UnsafeCell<[u128; INLINE_BYTES / 16]>,
        len: usize,
    },
    /// `len` bytes from an `ffi.new_allocator` allocator, freed by its
    /// `free`. When the allocator's cdata points into memory ffi_py owns,
    /// that memory is held too, so that releasing the cdata does not free
    /// it under this.
    Custom {
        addr: usize,
        len: usize,
        allocated: Py<PyAny>,
        free: Option<Py<PyAny>>,
        _memory: Option<Arc<Owned>>,
    },
    /// The object behind `ffi.new_handle`.
    Handle(Py<PyAny>),
    /// An object whose memory (`len` bytes) a cdata points into
    /// (`ffi.from_buffer`), held so that the memory stays put.
    Object {
        addr: usize,
        len: usize,
        _object: Py<PyAny>,
    },
    /// A library whose data a cdata points into, kept loaded.
    Library { _library: ffi_raw::Library },
    /// A C stream on a duplicate of a Python file's descriptor, for one
    /// call taking a `FILE *`; closing it flushes what C wrote.
    CFile(NonNull<libc::FILE>),
}

// SAFETY: `Memory` is plain bytes owned by this value alone (no thread
// affinity); the other variants hold Send + Sync types or addresses.
unsafe impl Send for Owned {}
// SAFETY: as for Send; shared access to the bytes is what C semantics give.
unsafe impl Sync for Owned {}

impl Owned {
    /// Zeroed memory for a value of `ty` (at least 1 byte, 16-aligned so any
    /// scalar fits).
    pub(crate) fn zeroed(ty: &CType) -> PyResult<Arc<Owned>> {
        let size = ty.size().map_err(typed_error)?;
        let align = ty.align().map_err(typed_error)?.max(16);
        Owned::zeroed_bytes(size, align)
    }

    /// `size` zeroed bytes aligned to `align`.
    pub(crate) fn zeroed_bytes(size: usize, align: usize) -> PyResult<Arc<Owned>> {
        if size <= INLINE_BYTES && align <= 16 {
            return Ok(Arc::new(Owned::Inline {
                bytes: UnsafeCell::new([0; INLINE_BYTES / 16]),
                len: size,
            }));
        }
        let layout = Layout::from_size_align(size.max(1), align)
            .map_err(|_| PyValueError::new_err(format!("cannot allocate {size} bytes")))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr)
            .ok_or_else(|| PyMemoryError::new_err(format!("cannot allocate {size} bytes")))?;
        Ok(Arc::new(Owned::Memory { ptr, layout }))
    }

    /// What keeps `object` alive for `ffi.new_handle`: its address is the
    /// handle, which [`handle_object`] accepts while this lives.
    pub(crate) fn handle(object: Py<PyAny>) -> Arc<Owned> {
        with_handles(|table| *table.entry(object.as_ptr() as usize).or_insert(0) += 1);
        Arc::new(Owned::Handle(object))
    }

    /// The address of the memory or object.
    pub(crate) fn addr(&self) -> usize {
        match self {
            Owned::Memory { ptr, .. } => ptr.as_ptr() as usize,
            Owned::Inline { bytes, .. } => bytes.get() as usize,
            Owned::Custom { addr, .. } | Owned::Object { addr, .. } => *addr,
            Owned::Handle(object) => object.as_ptr() as usize,
            // Not one address: cdata into a library carry their own.
            Owned::Library { .. } => 0,
            Owned::CFile(file) => file.as_ptr() as usize,
        }
    }

    /// How many bytes from `addr` on belong to this memory, when its extent
    /// is known (0 if `addr` lies outside it, and for a handle, whose
    /// address names an object rather than memory); `None` for what has no
    /// extent of its own (a library, a stream).
    pub(crate) fn room_from(&self, addr: usize) -> Option<usize> {
        let len = match self {
            Owned::Memory { layout, .. } => layout.size(),
            Owned::Inline { len, .. } | Owned::Custom { len, .. } | Owned::Object { len, .. } => {
                *len
            }
            // A handle's address names an object: no byte of it is ffi_py's
            // to show.
            Owned::Handle(_) => return Some(0),
            Owned::Library { .. } | Owned::CFile(_) => return None,
        };
        let start = self.addr();
        Some(match addr.checked_sub(start) {
            Some(offset) if offset <= len => len - offset,
            _ => 0,
        })
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        match self {
            Owned::Memory { ptr, layout } => {
                // SAFETY: allocated with exactly this layout in `zeroed_bytes`.
                unsafe { std::alloc::dealloc(ptr.as_ptr(), *layout) }
            }
            Owned::Custom {
                allocated, free, ..
            } => {
                if let Some(free) = free.take() {
                    Python::attach(|py| {
                        if let Err(e) = free.call1(py, (allocated.clone_ref(py),)) {
                            e.write_unraisable(py, Some(free.bind(py)));
                        }
                    });
                }
            }
            Owned::Handle(object) => unregister_handle(object.as_ptr() as usize),
            Owned::CFile(file) => {
                // SAFETY: opened by `fdopen` for this value alone, closed
                // once; this flushes C's buffer and closes the duplicate
                // descriptor (not the Python file's own).
                unsafe { libc::fclose(file.as_ptr()) };
            }
            Owned::Inline { .. } | Owned::Object { .. } | Owned::Library { .. } => {}
        }
    }
}

/// The objects behind live `new_handle` addresses, counted (one object can
/// have several handles), so that `from_handle` refuses anything else
/// instead of crashing.
static HANDLES: Mutex<Option<HashMap<usize, usize>>> = Mutex::new(None);

fn with_handles<R>(f: impl FnOnce(&mut HashMap<usize, usize>) -> R) -> R {
    let mut guard = HANDLES.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

/// Forgets one handle for the object at `addr` (its `Owned` died).
fn unregister_handle(addr: usize) {
    with_handles(|table| {
        if let Some(count) = table.get_mut(&addr) {
            *count -= 1;
            if *count == 0 {
                table.remove(&addr);
            }
        }
    });
}

/// The object a live handle at `addr` stands for, or `None` if no live
/// handle has that address.
pub(crate) fn handle_object(py: Python<'_>, addr: usize) -> Option<Py<PyAny>> {
    with_handles(|table| {
        // The reference is taken under the registry's lock, so the last
        // handle cannot die between the check and the reference.
        table.contains_key(&addr).then(|| {
            // SAFETY: the registry holds addresses of objects that live
            // handles keep alive, and the lock keeps them registered.
            unsafe { Bound::from_borrowed_ptr(py, addr as *mut pyo3::ffi::PyObject) }.unbind()
        })
    })
}
