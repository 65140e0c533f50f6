//! The exception classes of `ffi_py` and the mapping of lower-layer errors
//! onto Python's exception classes.

use pyo3::create_exception;
use pyo3::exceptions::{
    PyAttributeError, PyException, PyIndexError, PyMemoryError, PyNotImplementedError, PyOSError,
    PyOverflowError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;

create_exception!(
    ffi_py,
    FFIError,
    PyException,
    "A C-level error (`ffi.error`): a bad cast, a NULL dereference, a closed library."
);
create_exception!(
    ffi_py,
    CDefError,
    PyException,
    "A malformed or unsupported declaration (with its line and column)."
);
create_exception!(
    ffi_py,
    VerificationError,
    PyException,
    "Kept for cffi compatibility: ffi_py has no API (compiled) mode."
);
create_exception!(
    ffi_py,
    VerificationMissing,
    PyException,
    "Something only cffi's API (compiled) mode could know, which ffi_py lacks: \
     the layout of a struct declared with '...', an enum declared with '...' \
     and its values."
);

/// A typed-layer error (or a raw-layer one inside it) as the Python
/// exception a cffi user expects.
pub(crate) fn typed_error(e: ffi_typed::Error) -> PyErr {
    use ffi_typed::Error as E;
    let message = e.to_string();
    match e {
        // As cffi: a size past isize::MAX is an OverflowError.
        E::OutOfRange(_) | E::TooLarge(_) | E::Raw(ffi_raw::Error::TooLarge(_)) => {
            PyOverflowError::new_err(message)
        }
        E::IndexOutOfBounds { .. } => PyIndexError::new_err(message),
        E::UnknownField { .. } => PyAttributeError::new_err(message),
        E::Parse(_) => CDefError::new_err(message),
        // As cffi: dereferencing NULL is a RuntimeError.
        E::NullPointer(_) => PyRuntimeError::new_err(message),
        E::Incomplete(_) | E::Layout { .. } | E::AlreadyComplete(_) | E::Value(_) => {
            PyValueError::new_err(message)
        }
        E::Argument { .. } => PyTypeError::new_err(message),
        E::Missing(missing) => missing_error(&missing),
        _ => FFIError::new_err(message),
    }
}

/// A fact only the C compiler knows, as cffi's ABI mode refuses it: a
/// partial struct or enum is `VerificationMissing`, an array of `[...]`
/// length a `CDefError`, an `int...` or `float...` type a
/// `NotImplementedError`.
pub(crate) fn missing_error(missing: &ffi_typed::Missing) -> PyErr {
    use ffi_typed::Missing as M;
    let message = format!("{missing}; ffi_py has no API mode to ask it");
    match missing {
        M::Layout(_) | M::Enumerators(_) => VerificationMissing::new_err(message),
        M::Length(_) => CDefError::new_err(message),
        M::Integer(_) | M::Float(_) => PyNotImplementedError::new_err(message),
        _ => FFIError::new_err(message),
    }
}

/// A raw-layer error as the specific Python exception `ffi_py.raw` raises
/// (the cffi face maps ffi-raw's errors through [`typed_error`], as cffi
/// raises `ffi.error` for them):
/// loading is an OSError, a missing symbol an AttributeError, a signature
/// libffi cannot pass a TypeError, an impossible layout a ValueError, a
/// type over `isize::MAX` bytes an OverflowError.
pub(crate) fn raw_error(e: ffi_raw::Error) -> PyErr {
    use ffi_raw::Error as E;
    let message = e.to_string();
    match e {
        E::Load { .. } => PyOSError::new_err(message),
        E::Symbol { .. } => PyAttributeError::new_err(message),
        E::VoidValue(_)
        | E::ArrayByValue(_)
        | E::NotByValue { .. }
        | E::VariadicWithoutFixed
        | E::ArgCount { .. }
        | E::TypeMismatch { .. } => PyTypeError::new_err(message),
        E::SymbolName(_) | E::EmptyStruct | E::Layout(_) | E::ReturnSize { .. } => {
            PyValueError::new_err(message)
        }
        E::TooLarge(_) => PyOverflowError::new_err(message),
        E::ClosureAlloc => PyMemoryError::new_err(message),
        _ => FFIError::new_err(message),
    }
}

/// Re-raises `err` (same class) with the function and argument named.
pub(crate) fn argument_error(py: Python<'_>, err: PyErr, name: &str, index: usize) -> PyErr {
    let message = err.value(py).to_string();
    let ty = err.get_type(py);
    PyErr::from_type(ty, format!("{name}() argument {}: {message}", index + 1))
}
