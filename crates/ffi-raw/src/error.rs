//! The one error type of this crate.

use crate::types::AggregateKind;

/// Where in a signature a type appears; used by error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// The argument at this zero-based index.
    Argument(usize),
    /// The return value.
    Return,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Argument(i) => write!(f, "argument {i}"),
            Position::Return => f.write_str("return value"),
        }
    }
}

/// Everything that can go wrong in `ffi-raw`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `dlopen` failed; `message` is the loader's own text (`dlerror`).
    #[error("cannot load library {name:?}: {message}")]
    Load { name: String, message: String },
    /// `dlsym` failed; `message` is the loader's own text (`dlerror`).
    #[error("library {library:?} has no symbol {symbol:?}: {message}")]
    Symbol {
        library: String,
        symbol: String,
        message: String,
    },
    /// A symbol name that cannot be passed to the loader.
    #[error("invalid symbol name {0:?}: it contains a NUL byte")]
    SymbolName(String),
    /// `void` used where a value is required.
    #[error("{0} has type void; only a return type may be void")]
    VoidValue(Position),
    /// C arrays are never passed by value; they decay to pointers.
    #[error("{0} is an array; C passes arrays as pointers, declare it as Type::Pointer")]
    ArrayByValue(Position),
    /// An aggregate that libffi cannot pass or return by value correctly.
    #[error("{position} is or contains a {kind}, which libffi cannot pass or return by value")]
    NotByValue {
        position: Position,
        kind: AggregateKind,
    },
    /// A struct with no fields (a GNU extension with size 0).
    #[error("a struct must have at least one field")]
    EmptyStruct,
    /// An explicit layout that is impossible.
    #[error("invalid layout: {0}")]
    Layout(String),
    /// A type larger than any object can be: over `isize::MAX` bytes (C's
    /// and Rust's limit on an object's size).
    #[error("{0} is too large: sizes are limited to isize::MAX bytes")]
    TooLarge(String),
    /// The wrong number of arguments for a call interface.
    #[error("expected {expected} arguments, got {got}")]
    ArgCount { expected: usize, got: usize },
    /// A variadic signature needs at least one fixed argument in C.
    #[error("a variadic function needs at least one fixed argument")]
    VariadicWithoutFixed,
    /// A value read with the wrong Rust type.
    #[error("{position} has type {actual}, not {requested}")]
    TypeMismatch {
        position: Position,
        actual: String,
        requested: &'static str,
    },
    /// A default return value of the wrong size for a closure.
    #[error("default return value has {got} bytes, the return type needs {expected}")]
    ReturnSize { expected: usize, got: usize },
    /// libffi refused the signature (`ffi_prep_cif` or `ffi_prep_closure_loc`).
    #[error("libffi rejected the signature: {0}")]
    Libffi(&'static str),
    /// libffi could not allocate executable memory for a closure.
    #[error("libffi could not allocate a closure")]
    ClosureAlloc,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
