//! The calling thread's `errno`.

/// The calling thread's current `errno`.
pub fn errno() -> i32 {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`.
pub fn set_errno(value: i32) {
    // SAFETY: as in `errno`; the location is writable by its thread.
    unsafe { *libc::__errno_location() = value }
}

/// Runs `f` with `errno` set to `before`, and returns its result with the
/// `errno` it left: the pattern of a binding that gives each foreign call
/// its own saved `errno`. Cheaper than [`set_errno`] then [`errno`]: the
/// thread's `errno` is located once.
///
/// ```
/// let (len, after) = ffi_raw::with_errno(7, || ffi_raw::errno());
/// assert_eq!((len, after), (7, 7));
/// let ((), after) = ffi_raw::with_errno(0, || ffi_raw::set_errno(33));
/// assert_eq!(after, 33);
/// ```
#[inline]
pub fn with_errno<R>(before: i32, f: impl FnOnce() -> R) -> (R, i32) {
    // SAFETY: as in `errno`. The location stays valid: `f` runs on this
    // thread, whose errno it is.
    let location = unsafe { libc::__errno_location() };
    // SAFETY: writable by its thread (this one).
    unsafe { *location = before };
    let result = f();
    // SAFETY: as above.
    (result, unsafe { *location })
}
