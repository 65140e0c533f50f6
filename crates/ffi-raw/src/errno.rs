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
