//! `ffi-raw`: call any C function at run time.
//!
//! The bottom layer of the toolkit, the Rust analog of PyPy's `_rawffi`:
//!
//! - [`Library`] / [`Symbol`]: `dlopen`/`dlsym` with the loader's own error
//!   text, or a handle C code got from `dlopen`; a symbol keeps its library
//!   loaded.
//! - [`Type`] / [`StructType`] / [`CScalar`]: what can be passed, with the host
//!   C layout; [`Target`] holds every platform fact in one place.
//! - [`Cif`]: a signature (fixed or variadic) prepared once, called many
//!   times from any thread. x86-64 register-only signatures take a prepared
//!   fast path; everything else goes through libffi. Callers that convert
//!   arguments themselves can fill the argument registers directly
//!   ([`Cif::call_registers`]).
//! - [`Closure`]: a C function pointer that runs Rust; panics never unwind
//!   into C ([`OnPanic`]).
//! - [`errno`] / [`set_errno`] and [`Cif::call_with_errno`].
//!
//! ```
//! use std::ffi::c_void;
//! use ffi_raw::{CScalar, Cif, Library, Type};
//!
//! let libm = Library::open("libm.so.6", Default::default()).unwrap();
//! let pow = libm.symbol("pow").unwrap();
//! let cif = Cif::new([Type::F64, Type::F64], Type::F64).unwrap();
//! let (x, y, mut r) = (2.0f64, 10.0f64, 0.0f64);
//! let args: [*const c_void; 2] = [(&raw const x).cast(), (&raw const y).cast()];
//! // SAFETY: pow is `double pow(double, double)`.
//! unsafe { cif.call(pow.code_ptr(), &args, (&raw mut r).cast()).unwrap() };
//! assert_eq!(r, 1024.0);
//! # let _ = CScalar::Double;
//! ```

mod cif;
mod closure;
mod errno;
mod error;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod fast;
mod library;
mod platform;
mod registers;
mod types;

pub use cif::Cif;
pub use closure::{Closure, ClosureArgs, OnPanic, Scalar};
pub use errno::{errno, set_errno, with_errno};
pub use error::{Error, Position, Result};
pub use library::{CodePtr, Library, OpenFlags, Symbol};
pub use platform::{BitfieldAbi, CScalar, Target};
pub use registers::{ArgRegister, RegisterLayout, Registers, Returned};
pub use types::{AggregateKind, ArrayType, StructType, Type};

// The README's example is compiled and run as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExample;

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// libffi must be linked statically (the Python wheel may not depend on
    /// a system libffi): after using it, no libffi shared object is mapped.
    #[test]
    fn libffi_is_linked_statically() {
        let cif = crate::Cif::new([crate::Type::LongDouble], crate::Type::Void).unwrap();
        assert!(!cif.uses_fast_path(), "this signature goes through libffi");
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        assert!(
            !maps.lines().any(|l| l.contains("libffi.so")),
            "a shared libffi is mapped into the process"
        );
    }
}
