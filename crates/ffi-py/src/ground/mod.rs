//! The ground floor: what every Python face (the cffi face in `cffi/`, the
//! raw face in `raw/`) stands on, and nothing face-specific.
//!
//! | file | what |
//! |---|---|
//! | `memory.rs` | `Owned`: memory and objects kept alive while anything points into them; `new_handle`'s registry |
//! | `errno.rs` | the per-thread saved errno, restored before and saved after a C call |
//! | `attach.rs` | C calling Python (`python_closure`: attach from any thread, never unwind into C); detaching around a foreign call; calling a Python callable |
//! | `errors.rs` | the exception classes and the mapping of ffi-typed's and ffi-raw's errors onto Python's |
//! | `entry.rs` | what the plain `extern "C"` entry points of the hottest calls share (panic guard, arguments, results) |
//! | `small_ints.rs` | CPython's cached small ints found by address |
//! | `scratch.rs` | buffers a C type sizes, allocated fallibly (a MemoryError, never an abort) |
//!
//! Rule: nothing here imports from a face (`crate::cffi`, `crate::raw`).

pub(crate) mod attach;
pub(crate) mod entry;
pub(crate) mod errno;
pub(crate) mod errors;
pub(crate) mod memory;
pub(crate) mod scratch;
pub(crate) mod small_ints;
