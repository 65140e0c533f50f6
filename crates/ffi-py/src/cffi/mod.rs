//! The cffi face: cffi's ABI-mode API (`ffi_py.FFI`) over ffi-typed's
//! declarations and layouts, calling through ffi-raw, on the ground floor.
//!
//! | file | what |
//! |---|---|
//! | `ffi_object.rs` | the `FFI` class: `cdef`, `new`, `string`, `typeof`, `callback`, ... |
//! | `cast.rs` | `FFI.cast`, a plain fastcall method |
//! | `ctype.rs` | `CType` objects, interned: one object per exact type in the process |
//! | `cdata.rs` | `CData` objects: C values, pointers and memory as Python sees them |
//! | `cdata_type.rs` | the subtype of `CData` every cdata object gets, whose attribute and item slots are plain functions |
//! | `cdata_pool.rs` | `CDataPool`: short-lived cdata reused |
//! | `convert.rs` | Python object <-> C bytes, by C type |
//! | `function.rs` | the native call path of `lib.f`, variadic calls |
//! | `callback.rs` | `ffi.callback`: C function pointers that call Python |
//! | `library.rs` | the native half of `dlopen`'s library objects |
//! | `buffer.rs` | `ffi.buffer`, `ffi.from_buffer`, `ffi.memmove` |

pub(crate) mod buffer;
pub(crate) mod callback;
pub(crate) mod cast;
pub(crate) mod cdata;
pub(crate) mod cdata_pool;
pub(crate) mod cdata_type;
pub(crate) mod convert;
pub(crate) mod ctype;
pub(crate) mod ffi_object;
pub(crate) mod function;
pub(crate) mod library;
