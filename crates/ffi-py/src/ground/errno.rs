//! The errno every face saves after a C call and restores before the next
//! one: per thread, as C's own, and one value shared by the faces
//! (`ffi.errno` and `ffi_py.raw.get_errno()` read the same one), so that
//! code mixing them sees the errno of the last call it made.

use std::cell::Cell;

thread_local! {
    /// `ffi.errno`: the errno the last C call on this thread left, and the
    /// one the next call starts with (as cffi does).
    static SAVED_ERRNO: Cell<i32> = const { Cell::new(0) };
}

/// `ffi.errno` of this thread.
pub(crate) fn saved_errno() -> i32 {
    SAVED_ERRNO.with(Cell::get)
}

/// Sets `ffi.errno` of this thread.
pub(crate) fn set_saved_errno(value: i32) {
    SAVED_ERRNO.with(|e| e.set(value));
}

/// Runs `call` (a C call) with this thread's saved errno in `errno`, then
/// saves the errno it left: what `ffi.errno` and the raw face's
/// `errno=True` calls see.
#[inline(always)]
pub(crate) fn with_saved_errno<R>(call: impl FnOnce() -> R) -> R {
    SAVED_ERRNO.with(|saved| {
        let (result, after) = ffi_raw::with_errno(saved.get(), call);
        saved.set(after);
        result
    })
}
