//! `ffi-typed`: C declarations, types and data with layouts identical to
//! the platform C compiler's, on top of [`ffi_raw`].
//!
//! - [`Declarations`] ([`parser`]): cffi-style `cdef` source (typedefs,
//!   structs, unions, enums, prototypes, globals, integer `#define`s) into
//!   a namespace of types; [`Declarations::parse_type`] for type names.
//! - [`CType`]: the C type model — scalars (from [`ffi_raw::CScalar`]),
//!   pointers, arrays (fixed and incomplete), structs and unions (named,
//!   anonymous, nested, with bitfields, packing and flexible array members,
//!   completable after an opaque declaration), enums, function types.
//! - [`layout`]: the C compiler's layout rules (sizes, alignments, member
//!   offsets, bitfield positions); the bitfield rules are a per-ABI table,
//!   [`BitfieldRules`].
//! - [`Value`], [`CBox`], [`View`], [`ViewMut`]: C data — values converted
//!   to and from bytes by type (range-checked), owned typed memory, and
//!   bounds-checked views of members and elements.
//! - [`Function`]: calling a declared C function with [`Value`]s.
//! - [`CType::to_raw`]: the mapping to [`ffi_raw::Type`] for calls;
//!   aggregates libffi cannot pass by value become memory-only types, which
//!   the raw layer rejects at preparation with a clear error.
//!
//! # Parsing declarations, then sizes and offsets
//!
//! ```
//! use ffi_typed::{CType, Declarations, TagKind};
//!
//! let mut decls = Declarations::new();
//! decls
//!     .parse(
//!         "#define NAME_MAX 15
//!          enum kind { CIRCLE = 1, SQUARE = 1 << 4 };
//!          typedef struct shape {
//!              enum kind kind;
//!              unsigned visible : 1, layer : 7;
//!              double size;
//!              char name[NAME_MAX + 1];
//!              struct shape *next;
//!          } shape_t;
//!          double area(const shape_t *s);",
//!     )
//!     .unwrap();
//! assert_eq!(decls.constant("SQUARE"), Some(16));
//!
//! let shape = decls.typedef("shape_t").unwrap();
//! assert_eq!((shape.size().unwrap(), shape.align().unwrap()), (40, 8));
//! let CType::Record(record) = &shape else { unreachable!() };
//! let body = record.body().unwrap();
//! let offsets: Vec<(&str, usize)> = body
//!     .fields
//!     .iter()
//!     .map(|f| (f.name.as_deref().unwrap(), f.offset))
//!     .collect();
//! assert_eq!(
//!     offsets,
//!     [("kind", 0), ("visible", 4), ("layer", 4), ("size", 8), ("name", 16), ("next", 32)]
//! );
//! let (_, layer) = body.field("layer").unwrap();
//! assert_eq!(layer.bits.map(|b| (b.shift, b.width)), Some((1, 7)));
//!
//! let area = decls.function("area").unwrap();
//! // Qualifiers are accepted and dropped.
//! assert_eq!(CType::Function(area).to_string(), "double(struct shape *)");
//! assert_eq!(decls.parse_type("shape_t *[4]").unwrap().size().unwrap(), 32);
//! assert!(decls.tag(TagKind::Enum, "kind").is_some());
//! ```
//!
//! # Typed memory
//!
//! ```
//! use ffi_typed::{CBox, Declarations, Value};
//!
//! let mut decls = Declarations::new();
//! decls.parse("struct point { short x, y; unsigned char flags : 3; int data[4]; };").unwrap();
//! let point = decls.parse_type("struct point").unwrap();
//!
//! let mut p = CBox::new(point).unwrap(); // zeroed
//! p.view_mut().field("y").unwrap().write(&Value::Int(-2)).unwrap();
//! p.view_mut().field("flags").unwrap().write(&Value::Int(5)).unwrap();
//! p.view_mut().field("data").unwrap().index(3).unwrap().write(&Value::Int(40)).unwrap();
//!
//! assert_eq!(p.view().field("y").unwrap().read().unwrap(), Value::Int(-2));
//! assert_eq!(p.view().field("flags").unwrap().read().unwrap(), Value::Int(5));
//! assert_eq!(&p.bytes()[..6], &[0, 0, 0xfe, 0xff, 5, 0]);
//! // Out of range, past the end, no such member: errors, nothing written.
//! assert!(p.view_mut().field("flags").unwrap().write(&Value::Int(8)).is_err());
//! assert!(p.view().field("data").unwrap().index(4).is_err());
//! assert!(p.view().field("z").is_err());
//! ```
//!
//! # Calling a declared function
//!
//! [`ffi_raw::Library::this`] is the running process (`dlopen(NULL)`), so
//! libc's functions are there:
//!
//! ```
//! use ffi_raw::Library;
//! use ffi_typed::{CBox, Declarations, Function, Value};
//!
//! let mut decls = Declarations::new();
//! decls.parse("long labs(long); size_t strlen(const char *);").unwrap();
//! let libc = Library::this();
//! let labs = Function::new(decls.function("labs").unwrap(), libc.symbol("labs").unwrap()).unwrap();
//! // SAFETY: libc's labs is `long labs(long)`.
//! let r = unsafe { labs.call(&[Value::Int(-42)]) }.unwrap();
//! assert_eq!(r, Some(Value::Int(42)));
//!
//! // Pointers are addresses: here, of a C string in typed memory.
//! let text = CBox::with_value(
//!     decls.parse_type("char[6]").unwrap(),
//!     &Value::Array(b"hello\0".iter().map(|&b| Value::Int(b as i128)).collect()),
//! )
//! .unwrap();
//! let strlen = Function::new(decls.function("strlen").unwrap(), libc.symbol("strlen").unwrap()).unwrap();
//! // SAFETY: strlen's type is as declared and `text` holds a NUL-terminated string.
//! let n = unsafe { strlen.call(&[Value::Pointer(text.as_ptr() as usize)]) }.unwrap();
//! assert_eq!(n, Some(Value::Int(5)));
//! ```

#![warn(missing_docs)]

mod call;
mod ctype;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod layout;
mod memory;
pub mod parser;
mod placeholder;
mod value;

pub use call::Function;
#[doc(hidden)]
pub use ctype::live_records;
pub use ctype::{CType, EnumType, Field, FunctionType, Record, RecordBody, RecordKind};
pub use error::{Error, Result};
pub use layout::{BitField, BitfieldAllocation, BitfieldRules, FieldDecl, Packing, ZeroWidth};
pub use memory::{CBox, View, ViewMut, c_string_at, wide_string_at};
pub use parser::{Declarations, ExternPython, NameKind, ParseOptions, TagKind};
pub use placeholder::{Missing, Placeholder};
pub use value::{IntLayout, Value};
