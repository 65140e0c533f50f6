//! The error type of `ffi-typed`.

/// Everything that can go wrong in `ffi-typed`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A type used where a complete type (known size) is needed.
    #[error("{0} is an incomplete type: its size is unknown")]
    Incomplete(String),
    /// A declaration that cannot be laid out.
    #[error("invalid layout of {ty}: {reason}")]
    Layout {
        /// The type being laid out, as C spells it.
        ty: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A type larger than any object can be: over `isize::MAX` bytes (C's
    /// and Rust's limit on an object's size).
    #[error("{0} is too large: sizes are limited to isize::MAX bytes")]
    TooLarge(String),
    /// A struct or union completed twice.
    #[error("{0} is already complete")]
    AlreadyComplete(String),
    /// An integer that does not fit its type (never silently truncated).
    #[error("integer out of range: {0}")]
    OutOfRange(String),
    /// A value of the wrong kind for a type.
    #[error("{0}")]
    Value(String),
    /// An index past the end of an array of known length.
    #[error("index {index} is out of bounds (length {len})")]
    IndexOutOfBounds {
        /// The index asked for.
        index: usize,
        /// The array's length.
        len: usize,
    },
    /// A struct or union has no member of that name.
    #[error("{ty} has no member named '{field}'")]
    UnknownField {
        /// The struct or union, as C spells it.
        ty: String,
        /// The name asked for.
        field: String,
    },
    /// A NULL pointer where a value is needed.
    #[error("dereferencing a NULL pointer of type {0}")]
    NullPointer(String),
    /// An argument of a call could not be converted.
    #[error("argument {index}: {source}")]
    Argument {
        /// The argument's position, from 0.
        index: usize,
        /// What is wrong with it.
        source: Box<Error>,
    },
    /// A fact only the C compiler knows: the declarations leave it to one
    /// of cffi's `...` placeholders.
    #[error("{0}")]
    Missing(#[from] crate::placeholder::Missing),
    /// A malformed declaration.
    #[error("{0}")]
    Parse(#[from] crate::parser::ParseError),
    /// An error from the raw layer.
    #[error(transparent)]
    Raw(#[from] ffi_raw::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
