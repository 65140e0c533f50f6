//! `ffi-typed`: C types with layouts identical to the platform C compiler.
//!
//! - [`CType`]: the C type model — scalars (from [`ffi_raw::CScalar`]),
//!   pointers, arrays (fixed and incomplete), structs and unions (named,
//!   anonymous, nested, with bitfields, packing and flexible array members,
//!   completable after an opaque declaration), enums, function types.
//! - [`layout`]: gcc's x86-64 layout rules, computing sizes, alignments,
//!   field offsets and bitfield positions.
//! - [`CType::to_raw`]: the mapping to `ffi_raw::Type` for calls; aggregates
//!   libffi cannot pass by value become memory-only types, which the raw
//!   layer rejects at preparation with a clear error.
//!
//! ```
//! use ffi_typed::{CType, FieldDecl, Packing, RecordKind};
//! use ffi_raw::CScalar;
//!
//! let s = CType::new_record(RecordKind::Struct, Some("point"));
//! s.complete(
//!     vec![
//!         FieldDecl::new("x", CType::Scalar(CScalar::Char)),
//!         FieldDecl::bits("flags", CType::Scalar(CScalar::UInt), 3),
//!         FieldDecl::new("y", CType::Scalar(CScalar::Double)),
//!     ],
//!     Packing::Natural,
//! )
//! .unwrap();
//! assert_eq!((s.size().unwrap(), s.align().unwrap()), (16, 8));
//! assert_eq!(s.to_string(), "struct point");
//! ```

mod call;
mod ctype;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod layout;
mod memory;
pub mod parser;
mod value;

pub use call::Function;
#[doc(hidden)]
pub use ctype::live_records;
pub use ctype::{CType, EnumType, Field, FunctionType, Record, RecordBody, RecordKind};
pub use error::{Error, Result};
pub use layout::{BitField, BitfieldAllocation, BitfieldRules, FieldDecl, Packing, ZeroWidth};
pub use memory::{CBox, View, ViewMut, c_string_at, wide_string_at};
pub use parser::{Declarations, ParseOptions, TagKind};
pub use value::Value;
