//! Python objects to C bytes and back, by C type.
//!
//! One converter per direction, shared by function calls, `ffi.new`
//! initialisers, item and member assignment and callbacks. Integers are
//! range-checked (OverflowError), never truncated; the wrong kind of object
//! is a TypeError naming the C type expected.

use std::ptr::NonNull;
use std::sync::Arc;

use ffi_raw::{CScalar, Type};
use ffi_typed::{CType, IntLayout, RecordKind, Value};
use pyo3::exceptions::{PyIndexError, PyKeyError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyList, PyString, PyTuple};

use super::cdata::CData;
use super::ctype::{CharKind, char_kind, ctype_object, flat_fields};
use crate::ground::memory::Owned;
use crate::ground::small_ints;

/// Memory a call's arguments point into, held until C returns: what a
/// conversion made (a `str` as `wchar_t *`, a list as `int *`), and the
/// memory of each cdata passed as a pointer, so that neither Python code a
/// later argument's conversion runs (an `__index__` calling `ffi.release`)
/// nor another thread (the GIL is released during the call) frees it under
/// C. The first is held without a heap allocation (one slot: every
/// register call makes and drops one of these, most with nothing in it).
#[derive(Default)]
pub(crate) struct Temporaries {
    first: Option<Arc<Owned>>,
    rest: Vec<Arc<Owned>>,
}

impl Temporaries {
    fn keep(&mut self, owned: Arc<Owned>) {
        match &self.first {
            None => self.first = Some(owned),
            Some(_) => self.rest.push(owned),
        }
    }
}

/// The integer layout of an integer-like C type, as Python sees it: not
/// `char` or the wide character types, which Python sees as bytes and str.
pub(crate) fn int_layout(ty: &CType) -> Option<IntLayout> {
    match ty {
        CType::Scalar(s) if char_kind(*s) != CharKind::No => None,
        _ => IntLayout::of(ty),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    if let Ok(cdata) = obj.cast::<CData>() {
        return format!("cdata '{}'", cdata.get().cname());
    }
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// TypeError: `obj` cannot initialise a `ty`.
pub(crate) fn wrong_type(ty: &CType, expected: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "initializer for ctype '{ty}' must be {expected}, not {}",
        type_name(obj)
    ))
}

fn overflow(ty: &CType, obj: &Bound<'_, PyAny>) -> PyErr {
    let shown = obj
        .str()
        .map(|s| s.to_string())
        .unwrap_or_else(|_| "?".into());
    PyOverflowError::new_err(format!("integer {shown} does not fit '{ty}'"))
}

/// A Python int (or a cdata of an integer type, or an object with
/// `__index__`) as an integer of `layout`, range-checked.
#[inline]
pub(crate) fn py_to_int(ty: &CType, layout: IntLayout, obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    let ptr = obj.as_ptr();
    // SAFETY: `ptr` is a live object (borrowed from `obj`); these calls take
    // any object and report failure through the return value and the error
    // indicator, which is checked right after.
    // An exact int is the common case: one pointer comparison instead of
    // a call for the type's flags.
    let is_long = unsafe { ffi::Py_TYPE(ptr) == &raw mut ffi::PyLong_Type }
        // SAFETY: as above.
        || unsafe { ffi::PyLong_Check(ptr) } != 0;
    if !is_long {
        return int_from_other(ty, layout, obj);
    }
    if layout.signed {
        let mut overflowed = 0;
        // SAFETY: as above.
        let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(ptr, &mut overflowed) };
        if overflowed != 0 {
            return Err(overflow(ty, obj));
        }
        if v == -1
            && let Some(err) = PyErr::take(obj.py())
        {
            return Err(err);
        }
        let (min, max) = int_range(layout);
        if v < min || v > max {
            return Err(overflow(ty, obj));
        }
        Ok(v as u64)
    } else {
        let mut overflowed = 0;
        // SAFETY: as above.
        let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(ptr, &mut overflowed) };
        let v = if overflowed > 0 {
            // Beyond i64: only the top half of u64 remains possible.
            // SAFETY: as above.
            let u = unsafe { ffi::PyLong_AsUnsignedLongLong(ptr) };
            if u == u64::MAX && PyErr::take(obj.py()).is_some() {
                return Err(overflow(ty, obj));
            }
            u
        } else if overflowed < 0 || v < 0 {
            if v == -1
                && overflowed == 0
                && let Some(err) = PyErr::take(obj.py())
            {
                return Err(err);
            }
            return Err(overflow(ty, obj));
        } else {
            v as u64
        };
        if i128::from(v) > layout.range().1 {
            return Err(overflow(ty, obj));
        }
        Ok(v)
    }
}

#[cold]
fn int_from_other(ty: &CType, layout: IntLayout, obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(cdata) = obj.cast::<CData>()
        && let Some(v) = cdata.get().primitive_int()
    {
        let py = obj.py();
        return py_to_int(ty, layout, &v.into_pyobject(py)?.into_any());
    }
    if obj.is_instance_of::<PyFloat>() || !obj.hasattr("__index__")? {
        return Err(wrong_type(ty, "an integer", obj));
    }
    let index = obj.call_method0("__index__")?;
    py_to_int(ty, layout, &index)
}

/// A Python number as a double.
#[inline]
pub(crate) fn py_to_f64(ty: &CType, obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    // SAFETY: `obj` is live; PyFloat_AsDouble accepts any object and sets
    // the error indicator on failure, checked right after.
    let v = unsafe { ffi::PyFloat_AsDouble(obj.as_ptr()) };
    if v == -1.0
        && let Some(_err) = PyErr::take(obj.py())
    {
        if let Ok(cdata) = obj.cast::<CData>()
            && let Some(v) = cdata.get().primitive_float()
        {
            return Ok(v);
        }
        return Err(wrong_type(ty, "a float", obj));
    }
    Ok(v)
}

fn byte_from(ty: &CType, obj: &Bound<'_, PyAny>) -> PyResult<u8> {
    if let Ok(b) = obj.cast::<PyBytes>()
        && let [byte] = b.as_bytes()
    {
        return Ok(*byte);
    }
    if let Ok(b) = obj.cast::<pyo3::types::PyByteArray>()
        && b.len() == 1
    {
        return Ok(b.to_vec()[0]);
    }
    if let Ok(cdata) = obj.cast::<CData>()
        && cdata.get().ctype.get().ty == CType::Scalar(CScalar::Char)
    {
        return Ok(cdata.get().inline[0]);
    }
    Err(wrong_type(ty, "a bytes of length 1", obj))
}

fn wide_from(ty: &CType, size: usize, obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    if let Ok(s) = obj.cast::<PyString>()
        && let Some(code) = single_code_point(s)
    {
        // cffi's class: such a str is not one character of this type.
        if size == 2 && code > 0xffff {
            return Err(PyTypeError::new_err(format!(
                "initializer for ctype '{ty}' must be a str of one UTF-16 unit, not \
                 U+{code:04X} (two units)"
            )));
        }
        return Ok(code);
    }
    if let Ok(cdata) = obj.cast::<CData>()
        && cdata.get().ctype.get().ty == *ty
    {
        let b = &cdata.get().inline;
        return Ok(match size {
            2 => u32::from(u16::from_le_bytes([b[0], b[1]])),
            _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        });
    }
    Err(wrong_type(ty, "a str of length 1", obj))
}

/// Whether a pointer to `given` may be passed where a pointer to
/// `expected` is wanted: the same type, or either side `void *`; `char *`
/// on either side only with another pointer to single bytes (`signed
/// char *`, `unsigned char *`, `bool *`), as cffi allows.
pub(crate) fn pointer_compatible(expected: &CType, given: &CType) -> bool {
    let is_char = |t: &CType| matches!(t, CType::Scalar(CScalar::Char));
    let byte_sized = |t: &CType| t.size().is_ok_and(|n| n == 1);
    expected == given
        || matches!(expected, CType::Void)
        || matches!(given, CType::Void)
        || ((is_char(expected) || is_char(given)) && byte_sized(expected) && byte_sized(given))
}

/// How a value is being written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// `new`'s initialiser, into memory sized by [`new_size`]: a trailing
    /// `T[]` member may be given as a count of items (left zero).
    New,
    /// Anything else: an assignment, a call argument, an item.
    Assign,
}

/// Writes `obj` as a C `ty` at `dst`.
///
/// `temps` is `Some` for call arguments, which may take objects that need
/// memory of their own (bytes as `char *` point into the bytes object
/// itself; a str or a list as a pointer gets a temporary array).
///
/// # Safety
/// `dst` must be valid for writing `ty.size()` bytes.
pub(crate) unsafe fn py_to_c(
    ty: &CType,
    obj: &Bound<'_, PyAny>,
    dst: *mut u8,
    temps: Option<&mut Temporaries>,
) -> PyResult<()> {
    let size = ty.size().map_err(crate::ground::errors::typed_error)?;
    // SAFETY: the caller guarantees `dst` is valid for `size` bytes.
    let out = unsafe { std::slice::from_raw_parts_mut(dst, size) };
    write_value(ty, obj, out, temps, Fill::Assign)
}

/// Writes `new`'s initialiser `obj` for a `ty` into the `size` bytes
/// [`new_size`] gave for it, of which a trailing `T[]` member's items take
/// those past `ty.size()`.
///
/// # Safety
/// `dst` must be valid for writing `size` bytes, and `size` at least
/// `ty.size()`.
pub(crate) unsafe fn init_new(
    ty: &CType,
    obj: &Bound<'_, PyAny>,
    dst: *mut u8,
    size: usize,
) -> PyResult<()> {
    // SAFETY: the caller guarantees `dst` is valid for `size` bytes.
    let out = unsafe { std::slice::from_raw_parts_mut(dst, size) };
    write_value(ty, obj, out, None, Fill::New)
}

/// Writes `obj` as a `ty` into `out`, which holds at least `ty.size()`
/// bytes; only a record's trailing `T[]` member uses any more.
fn write_value(
    ty: &CType,
    obj: &Bound<'_, PyAny>,
    out: &mut [u8],
    temps: Option<&mut Temporaries>,
    fill: Fill,
) -> PyResult<()> {
    let size = ty.size().map_err(crate::ground::errors::typed_error)?;
    if let CType::Record(_) = ty {
        return record_from(ty, obj, out, fill);
    }
    let out = &mut out[..size];
    if let Some(layout) = int_layout(ty) {
        let v = py_to_int(ty, layout, obj)?;
        out.copy_from_slice(&v.to_le_bytes()[..size]);
        return Ok(());
    }
    match ty {
        CType::Scalar(s) => match (char_kind(*s), s.raw_type()) {
            (CharKind::Byte, _) => out[0] = byte_from(ty, obj)?,
            (CharKind::Wide, _) => {
                let code = wide_from(ty, size, obj)?;
                out.copy_from_slice(&code.to_le_bytes()[..size]);
            }
            (_, Type::F32) => out.copy_from_slice(&(py_to_f64(ty, obj)? as f32).to_le_bytes()),
            (_, Type::F64) => out.copy_from_slice(&py_to_f64(ty, obj)?.to_le_bytes()),
            (_, Type::LongDouble) => {
                let v = match obj.cast::<CData>() {
                    Ok(c) if c.get().ctype.get().ty == *ty => {
                        out.copy_from_slice(&c.get().inline[..size]);
                        return Ok(());
                    }
                    _ => py_to_f64(ty, obj)?,
                };
                let Value::LongDouble(bytes) = Value::long_double_from_f64(v) else {
                    unreachable!("long_double_from_f64 makes a long double")
                };
                out.copy_from_slice(&bytes[..size]);
            }
            _ => unreachable!("integers are handled above"),
        },
        CType::Pointer(to) => {
            let addr = pointer_from(ty, to, obj, temps)?;
            out.copy_from_slice(&addr.to_le_bytes());
        }
        CType::Array(elem, len) => array_from(ty, elem, len.unwrap_or(0), obj, out)?,
        CType::Record(_)
        | CType::Void
        | CType::Function(_)
        | CType::Enum(_)
        | CType::Placeholder(_) => {
            return Err(PyTypeError::new_err(format!(
                "cannot store a value of '{ty}'"
            )));
        }
    }
    Ok(())
}

/// Whether an array of `elem` takes `bytes`, a byte an item, as cffi's
/// arrays of every 1-byte character or integer type do (`char`, `signed
/// char`, `unsigned char`, `int8_t`, `uint8_t`, `_Bool`).
pub(crate) fn bytes_fill_array_of(elem: &CType) -> bool {
    matches!(elem, CType::Scalar(s) if char_kind(*s) == CharKind::Byte)
        || int_layout(elem).is_some_and(|l| l.size == 1)
}

/// Whether a `bytes` argument passes as a pointer to `to`: to its characters
/// (`void *`, `char *`, `signed char *`, `unsigned char *`).
pub(crate) fn bytes_can_point_to(to: &CType) -> bool {
    matches!(
        to,
        CType::Void | CType::Scalar(CScalar::Char | CScalar::SChar | CScalar::UChar)
    )
}

/// The address a Python object stands for as a `ty` (`to *`).
pub(crate) fn pointer_from(
    ty: &CType,
    to: &CType,
    obj: &Bound<'_, PyAny>,
    mut temps: Option<&mut Temporaries>,
) -> PyResult<usize> {
    if let Ok(cdata) = obj.cast::<CData>() {
        let cdata = cdata.get();
        let given = cdata.ctype.get();
        if let Some(item) = given.item_type()
            && pointer_compatible(to, item)
        {
            let addr = cdata.address()?;
            if let Some(temps) = temps.as_deref_mut()
                && let Some(owner) = cdata.owner()
            {
                temps.keep(owner);
            }
            return Ok(addr);
        }
        return Err(wrong_type(ty, "a cdata pointer", obj));
    }
    if let CType::Function(_) = to
        && let Some(addr) = super::function::function_address(obj, to)
    {
        return Ok(addr);
    }
    if let Some(temps) = temps {
        if let Ok(bytes) = obj.cast::<PyBytes>()
            && bytes_can_point_to(to)
        {
            // Points into the bytes object, which the caller's argument
            // keeps alive for the whole call.
            return Ok(bytes.as_bytes().as_ptr() as usize);
        }
        if is_file(to)
            && !obj.is_none()
            && let Ok(fileno) = obj.getattr("fileno")
        {
            let file = c_file_for(obj, &fileno)?;
            let addr = file.addr();
            temps.keep(file);
            return Ok(addr);
        }
        let to_array = |len: usize| CType::array_of(to.clone(), Some(len));
        let temporary = if let Ok(s) = obj.cast::<PyString>()
            && matches!(to, CType::Scalar(s) if char_kind(*s) == CharKind::Wide)
        {
            let size = to.size().map_err(crate::ground::errors::typed_error)?;
            let units = wide_units_of(s, size)?.len();
            Some((to_array(units + 1), obj.clone()))
        } else if (obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>())
            && to.size().is_ok()
        {
            Some((to_array(obj.len()?), obj.clone()))
        } else {
            None
        };
        if let Some((array_ty, init)) = temporary {
            let owned = Owned::zeroed(&array_ty)?;
            // SAFETY: the allocation is exactly `array_ty`'s size.
            unsafe { py_to_c(&array_ty, &init, owned.addr() as *mut u8, None)? };
            let addr = owned.addr();
            temps.keep(owned);
            return Ok(addr);
        }
    }
    Err(wrong_type(ty, "a cdata pointer", obj))
}

/// Whether `to` is C's `FILE` (ffi-typed's opaque `struct _IO_FILE`).
fn is_file(to: &CType) -> bool {
    matches!(to, CType::Record(r) if r.kind() == RecordKind::Struct && r.name() == Some("_IO_FILE"))
}

/// A C stream for a Python file object passed as a `FILE *` argument, as
/// cffi offers: the Python file is flushed first (its buffered output goes
/// before C's), and the stream, on a duplicate of its descriptor sharing
/// its offset, is closed (flushed) right after the call.
fn c_file_for(obj: &Bound<'_, PyAny>, fileno: &Bound<'_, PyAny>) -> PyResult<Arc<Owned>> {
    obj.call_method0("flush")?;
    let fd: i32 = fileno.call0()?.extract()?;
    let os_error = || PyErr::from(std::io::Error::last_os_error());
    // SAFETY: F_GETFL only reads the descriptor's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(os_error());
    }
    let append = flags & libc::O_APPEND != 0;
    let mode = match (flags & libc::O_ACCMODE, append) {
        (libc::O_RDONLY, _) => c"r",
        (libc::O_WRONLY, false) => c"w",
        (libc::O_WRONLY, true) => c"a",
        (_, false) => c"r+",
        (_, true) => c"a+",
    };
    // SAFETY: duplicates a descriptor this process has open.
    let copy = unsafe { libc::dup(fd) };
    if copy < 0 {
        return Err(os_error());
    }
    // SAFETY: `copy` is ours and `mode` matches its access mode; fdopen
    // neither truncates nor moves the shared offset.
    let file = unsafe { libc::fdopen(copy, mode.as_ptr()) };
    let Some(file) = NonNull::new(file) else {
        let error = os_error();
        // SAFETY: the duplicate is ours and not yet owned by a stream.
        unsafe { libc::close(copy) };
        return Err(error);
    };
    Ok(Arc::new(Owned::CFile(file)))
}

/// The code point of a str of length 1 (a lone surrogate too); `None` for
/// other lengths.
pub(crate) fn single_code_point(s: &Bound<'_, PyString>) -> Option<u32> {
    // SAFETY: `s` is a live str; both calls only read it, and index 0 is
    // in range once the length is 1.
    unsafe {
        (ffi::PyUnicode_GetLength(s.as_ptr()) == 1).then(|| ffi::PyUnicode_ReadChar(s.as_ptr(), 0))
    }
}

/// The code units of `s` as an array of a wide character type of `size`
/// bytes: UTF-16 for 2-byte units, code points for 4-byte ones. As cffi
/// does, lone surrogates (which Python strs may hold) pass through as
/// themselves rather than failing to encode.
pub(crate) fn wide_units_of(s: &Bound<'_, PyString>, size: usize) -> PyResult<Vec<u32>> {
    let py = s.py();
    // SAFETY: `s` is a live str. The copy is NULL with an exception set,
    // or `len` code points (plus a NUL) from PyMem_Malloc, read here and
    // freed once.
    let code_points = unsafe {
        let len =
            usize::try_from(ffi::PyUnicode_GetLength(s.as_ptr())).map_err(|_| PyErr::fetch(py))?;
        let copy = ffi::PyUnicode_AsUCS4Copy(s.as_ptr());
        if copy.is_null() {
            return Err(PyErr::fetch(py));
        }
        let points = std::slice::from_raw_parts(copy, len).to_vec();
        ffi::PyMem_Free(copy.cast());
        points
    };
    if size != 2 {
        return Ok(code_points);
    }
    let mut units = Vec::new();
    units
        .try_reserve(code_points.len())
        .map_err(|_| pyo3::exceptions::PyMemoryError::new_err("a str too long to convert"))?;
    for code in code_points {
        if let Some(high_low) = code.checked_sub(0x10000) {
            units.push(0xd800 | (high_low >> 10));
            units.push(0xdc00 | (high_low & 0x3ff));
        } else {
            units.push(code);
        }
    }
    Ok(units)
}

/// Writes a struct or union from a struct cdata of its type, a list or
/// tuple (the members in order) or a dict (members by name). `out` may be
/// longer than the record: its trailing `T[]` member then has room for
/// items (memory `new` sized for them, see [`new_size`]).
fn record_from(ty: &CType, obj: &Bound<'_, PyAny>, out: &mut [u8], fill: Fill) -> PyResult<()> {
    if let Ok(cdata) = obj.cast::<CData>() {
        let cdata = cdata.get();
        if cdata.ctype.get().ty == *ty {
            let bytes = cdata.bytes()?;
            // Unless the sizes differ: one struct name that two FFIs
            // declared differently.
            if ty.size().ok() == Some(bytes.len()) {
                out[..bytes.len()].copy_from_slice(bytes);
                return Ok(());
            }
        }
        return Err(wrong_type(
            ty,
            "a list or tuple or dict or struct-cdata",
            obj,
        ));
    }
    let fields = flat_fields(ty);
    if let Ok(dict) = obj.cast::<PyDict>() {
        // A snapshot: converting a value runs Python code (`__index__`,
        // `__float__`) that may change the dict, which pyo3's own dict
        // iterator answers with a panic.
        for item in dict.items().iter() {
            let (key, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            let name: String = key.extract()?;
            let flat = fields
                .iter()
                .find(|f| f.name == name)
                .ok_or_else(|| PyKeyError::new_err(format!("'{ty}' has no field '{name}'")))?;
            let trailing = std::ptr::eq(flat, fields.last().expect("a field was found"));
            write_member_into(&flat.field, flat.offset, &value, out, fill, trailing)?;
        }
        return Ok(());
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let items: Vec<Bound<'_, PyAny>> = obj.try_iter()?.collect::<PyResult<_>>()?;
        // As cffi: the members in order, leaving out those that share a
        // union's storage with an earlier one (a union's first member, or
        // all the members of an anonymous struct that comes first).
        let settable: Vec<_> = fields.iter().filter(|f| f.in_ctor()).collect();
        if items.len() > settable.len() {
            return Err(PyValueError::new_err(format!(
                "too many initializers for '{ty}' ({} > {})",
                items.len(),
                settable.len()
            )));
        }
        let last = fields.last();
        for (item, flat) in items.iter().zip(settable) {
            let trailing = last.is_some_and(|last| std::ptr::eq(flat, last));
            write_member_into(&flat.field, flat.offset, item, out, fill, trailing)?;
        }
        return Ok(());
    }
    Err(wrong_type(
        ty,
        "a list or tuple or dict or struct-cdata",
        obj,
    ))
}

/// Writes one member of a record whose bytes are `record`: the record's
/// own size, or more for memory `new` allocated with room for the items
/// of a trailing `T[]` member.
pub(crate) fn write_member(
    field: &ffi_typed::Field,
    offset: usize,
    obj: &Bound<'_, PyAny>,
    record: &mut [u8],
) -> PyResult<()> {
    write_member_into(field, offset, obj, record, Fill::Assign, false)
}

/// [`write_member`]; a `trailing` member (the record's last) that is a
/// struct ending in `T[]` may use all of `record` past its offset.
fn write_member_into(
    field: &ffi_typed::Field,
    offset: usize,
    obj: &Bound<'_, PyAny>,
    record: &mut [u8],
    fill: Fill,
    trailing: bool,
) -> PyResult<()> {
    if field.bits.is_some() {
        let layout = int_layout(&field.ty).expect("bitfields have integer types");
        let v = py_to_int(&field.ty, layout, obj)?;
        let v = if layout.signed {
            i128::from(sign_extend(v, layout.size))
        } else {
            i128::from(v)
        };
        return Value::Int(v)
            .write_member(field, offset, record)
            .map_err(crate::ground::errors::typed_error);
    }
    if let CType::Array(elem, None) = &field.ty {
        return flexible_from(&field.ty, elem, obj, &mut record[offset..], fill);
    }
    let size = field
        .ty
        .size()
        .map_err(crate::ground::errors::typed_error)?;
    // The last member, a struct ending in `T[]`, takes the rest of the
    // memory: nothing follows it.
    let end = if trailing && ends_in_flexible(&field.ty) {
        record.len()
    } else {
        offset + size
    };
    write_value(&field.ty, obj, &mut record[offset..end], None, fill)
}

/// Whether `ty` is a struct whose last member is `T[]`, or itself such a
/// struct (cffi lets `new` size both).
fn ends_in_flexible(ty: &CType) -> bool {
    match flat_fields(ty).last().map(|f| &f.field.ty) {
        Some(CType::Array(_, None)) => true,
        Some(last @ CType::Record(_)) => ends_in_flexible(last),
        _ => false,
    }
}

/// Writes a trailing `T[]` member into `out`, the bytes from the member
/// to the end of the memory: as many items as fit there (none in a record
/// of its declared size). For `new`, a count of items is also accepted:
/// [`new_size`] made room for them, and they stay zero.
fn flexible_from(
    ty: &CType,
    elem: &CType,
    obj: &Bound<'_, PyAny>,
    out: &mut [u8],
    fill: Fill,
) -> PyResult<()> {
    let elem_size = elem.size().map_err(crate::ground::errors::typed_error)?;
    let room = out.len().checked_div(elem_size).unwrap_or(0);
    if fill == Fill::New
        && let Some(n) = item_count(obj)?
    {
        if n > room {
            return Err(PyIndexError::new_err(format!(
                "{n} items do not fit the room for '{ty}' ({room})"
            )));
        }
        return Ok(());
    }
    array_from(ty, elem, room, obj, &mut out[..room * elem_size])
}

/// `obj` as a count of items for `new` (an int, or anything with
/// `__index__`); `None` for anything else, such as the items themselves.
fn item_count(obj: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    let items = obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>()
        || obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyFloat>();
    if items {
        return Ok(None);
    }
    match obj.extract::<isize>() {
        Ok(n) => usize::try_from(n)
            .map(Some)
            .map_err(|_| PyValueError::new_err(format!("negative array length {n}"))),
        // As cffi: a length past isize is an OverflowError.
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => Err(PyOverflowError::new_err(
            format!("array length {obj} is too large"),
        )),
        Err(_) => Ok(None),
    }
}

/// The number of items a `T[]` gets from `new`'s initialiser `init`, as
/// cffi decides it: a count (an int, or anything with `__index__`), one
/// per item of a list or tuple, or the characters of bytes (for `char`)
/// or a str (for wide characters) plus a terminating NUL.
pub(crate) fn new_array_length(elem: &CType, init: &Bound<'_, PyAny>) -> PyResult<usize> {
    if let Some(n) = item_count(init)? {
        return Ok(n);
    }
    if init.is_instance_of::<PyBytes>() && bytes_fill_array_of(elem) {
        return Ok(init.len()? + 1);
    }
    if let CType::Scalar(s) = elem
        && char_kind(*s) == CharKind::Wide
        && let Ok(s) = init.cast::<PyString>()
    {
        let size = elem.size().map_err(crate::ground::errors::typed_error)?;
        return Ok(wide_units_of(s, size)?.len() + 1);
    }
    init.len().map_err(|_| {
        PyTypeError::new_err(format!(
            "expected new array length or list/tuple/str, not {}",
            type_name(init)
        ))
    })
}

/// The bytes `new` allocates for a `ty` initialised from `init`, as cffi
/// computes them: `ty`'s size, or, for a struct whose last member is `T[]`
/// (or a struct ending so), up to the end of the items `init` gives that
/// member, if further.
pub(crate) fn new_size(ty: &CType, init: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    let size = ty.size().map_err(crate::ground::errors::typed_error)?;
    let Some(init) = init else {
        return Ok(size);
    };
    let fields = flat_fields(ty);
    let Some(last) = fields.last() else {
        return Ok(size);
    };
    let value = if let Ok(dict) = init.cast::<PyDict>() {
        dict.get_item(&last.name)?
    } else if init.is_instance_of::<PyList>() || init.is_instance_of::<PyTuple>() {
        let settable = fields.iter().filter(|f| f.in_ctor()).count();
        let covers_last = last.in_ctor() && settable > 0 && init.len()? == settable;
        if covers_last {
            Some(init.get_item(settable - 1)?)
        } else {
            None
        }
    } else {
        None
    };
    let Some(value) = value else {
        return Ok(size);
    };
    let too_large = || PyOverflowError::new_err("array size would overflow a Py_ssize_t");
    let end = match &last.field.ty {
        CType::Array(elem, None) => {
            let elem_size = elem.size().map_err(crate::ground::errors::typed_error)?;
            new_array_length(elem, &value)?
                .checked_mul(elem_size)
                .and_then(|items| items.checked_add(last.offset))
        }
        inner @ CType::Record(_) if ends_in_flexible(inner) && !value.is_instance_of::<CData>() => {
            new_size(inner, Some(&value))?.checked_add(last.offset)
        }
        _ => return Ok(size),
    };
    let end = end
        .filter(|&end| end <= isize::MAX as usize)
        .ok_or_else(too_large)?;
    Ok(size.max(end))
}

fn sign_extend(v: u64, size: usize) -> i64 {
    let shift = 64 - size as u32 * 8;
    ((v << shift) as i64) >> shift
}

fn array_from(
    ty: &CType,
    elem: &CType,
    len: usize,
    obj: &Bound<'_, PyAny>,
    out: &mut [u8],
) -> PyResult<()> {
    let elem_size = elem.size().map_err(crate::ground::errors::typed_error)?;
    let too_long = |n: usize| {
        PyIndexError::new_err(format!("initializer of length {n} is too long for '{ty}'"))
    };
    if let Ok(cdata) = obj.cast::<CData>() {
        let cdata = cdata.get();
        if cdata.ctype.get().ty == *ty {
            let bytes = cdata.bytes()?;
            if bytes.len() > out.len() {
                return Err(too_long(cdata.length));
            }
            out[..bytes.len()].copy_from_slice(bytes);
            return Ok(());
        }
        return Err(wrong_type(ty, "a list or tuple", obj));
    }
    if let Ok(bytes) = obj.cast::<PyBytes>()
        && bytes_fill_array_of(elem)
    {
        let bytes = bytes.as_bytes();
        if bytes.len() > len {
            return Err(too_long(bytes.len()));
        }
        if int_layout(elem).is_some_and(|l| l.is_bool) && bytes.iter().any(|&b| b > 1) {
            return Err(PyValueError::new_err(format!(
                "an array of {elem} can only contain \\x00 or \\x01"
            )));
        }
        out[..bytes.len()].copy_from_slice(bytes);
        return Ok(());
    }
    if let CType::Scalar(s) = elem {
        match char_kind(*s) {
            CharKind::Wide => {
                if let Ok(s) = obj.cast::<PyString>() {
                    let units = wide_units_of(s, elem_size)?;
                    if units.len() > len {
                        return Err(too_long(units.len()));
                    }
                    for (i, unit) in units.iter().enumerate() {
                        out[i * elem_size..(i + 1) * elem_size]
                            .copy_from_slice(&unit.to_le_bytes()[..elem_size]);
                    }
                    return Ok(());
                }
            }
            CharKind::Byte | CharKind::No => {}
        }
    }
    // A snapshot of the items: converting one runs Python code that may
    // change a list's length under an iterator.
    let items = if let Ok(tuple) = obj.cast::<PyTuple>() {
        tuple.clone()
    } else if let Ok(list) = obj.cast::<PyList>() {
        list.to_tuple()
    } else {
        return Err(wrong_type(ty, "a list or tuple", obj));
    };
    if items.len() > len {
        return Err(too_long(items.len()));
    }
    for (i, item) in items.iter().enumerate() {
        let slot = &mut out[i * elem_size..(i + 1) * elem_size];
        write_value(elem, &item, slot, None, Fill::Assign)?;
    }
    Ok(())
}

/// Reads a C `ty` at `src` as a Python object: numbers, bytes and str for
/// scalars, cdata for pointers, and cdata *into* the memory for records and
/// arrays (keeping `owner`, the memory's owner, alive).
///
/// # Safety
/// `src` must be valid for reading `ty.size()` bytes, and for records and
/// arrays stay valid while `owner` lives (or for as long as C keeps it).
pub(crate) unsafe fn c_to_py(
    py: Python<'_>,
    ty: &CType,
    src: *const u8,
    owner: Option<&Arc<Owned>>,
) -> PyResult<Py<PyAny>> {
    if let Some(layout) = int_layout(ty) {
        let mut buf = [0u8; 8];
        // SAFETY: the caller guarantees `src` is readable for the size.
        unsafe { std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), layout.size) };
        return int_object(py, u64::from_le_bytes(buf), layout);
    }
    let size = ty.size().map_err(crate::ground::errors::typed_error)?;
    // SAFETY: as above.
    let bytes = unsafe { std::slice::from_raw_parts(src, size) };
    Ok(match ty {
        CType::Scalar(s) => match (char_kind(*s), s.raw_type()) {
            (CharKind::Byte, _) => PyBytes::new(py, &bytes[..1]).into_any().unbind(),
            (CharKind::Wide, _) => {
                let mut buf = [0u8; 4];
                buf[..size].copy_from_slice(bytes);
                wide_to_str(py, &[u32::from_le_bytes(buf)], size)?
            }
            (_, Type::F32) => f64::from(f32::from_le_bytes(bytes.try_into().expect("4 bytes")))
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            (_, Type::F64) => f64::from_le_bytes(bytes.try_into().expect("8 bytes"))
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            (_, Type::LongDouble) => {
                let mut buf = [0u8; 16];
                buf[..size].copy_from_slice(bytes);
                Value::LongDouble(buf)
                    .long_double_to_f64()
                    .expect("a long double")
                    .into_pyobject(py)?
                    .into_any()
                    .unbind()
            }
            _ => unreachable!("integers are handled above"),
        },
        CType::Pointer(_) => {
            let addr = usize::from_le_bytes(bytes.try_into().expect("pointer-sized"));
            CData::pointer_of(py, &ctype_object(py, ty)?, addr)?.into_any()
        }
        CType::Record(_) | CType::Array(..) => {
            CData::plain(py, ty, src as usize, owner.cloned())?.into_any()
        }
        CType::Void | CType::Function(_) | CType::Enum(_) | CType::Placeholder(_) => {
            return Err(PyTypeError::new_err(format!(
                "cannot read a value of '{ty}'"
            )));
        }
    })
}

/// Code units of a wide type (`size` bytes each) as a str; UTF-16 for
/// 2-byte units, code points for 4-byte ones. As cffi does, a surrogate
/// that is not half of a pair stays itself in the str (Python strs can
/// hold one), so such strings round-trip; a 4-byte value past U+10FFFF is
/// a ValueError.
pub(crate) fn wide_to_str(py: Python<'_>, units: &[u32], size: usize) -> PyResult<Py<PyAny>> {
    let is_high = |u: u32| (0xd800..0xdc00).contains(&u);
    let is_low = |u: u32| (0xdc00..0xe000).contains(&u);
    let mut utf32: Vec<u8> = Vec::new();
    utf32
        .try_reserve(units.len().saturating_mul(4))
        .map_err(|_| pyo3::exceptions::PyMemoryError::new_err("a string too long to convert"))?;
    let mut i = 0;
    while i < units.len() {
        let mut code = units[i];
        if size == 2 {
            code &= 0xffff;
            let next = units.get(i + 1).map(|u| u & 0xffff);
            if let Some(low) = next.filter(|&low| is_high(code) && is_low(low)) {
                code = 0x10000 + ((code & 0x3ff) << 10 | (low & 0x3ff));
                i += 1;
            }
        } else if code > 0x10ffff {
            return Err(PyValueError::new_err(format!(
                "0x{code:x} is not a valid character (past U+10FFFF)"
            )));
        }
        utf32.extend_from_slice(&code.to_le_bytes());
        i += 1;
    }
    let len = isize::try_from(utf32.len())
        .map_err(|_| pyo3::exceptions::PyMemoryError::new_err("a string too long to convert"))?;
    let mut little_endian: std::ffi::c_int = -1;
    // SAFETY: `utf32` holds `len` bytes of UTF-32-LE; the decoder copies
    // them, and returns a new reference or NULL with an exception set.
    unsafe {
        let s = ffi::PyUnicode_DecodeUTF32(
            utf32.as_ptr().cast(),
            len,
            c"surrogatepass".as_ptr(),
            &mut little_endian,
        );
        Bound::from_owned_ptr_or_err(py, s).map(Bound::unbind)
    }
}

// Fast paths for numbers, shared by calls and member access.

/// The values of an integer layout (ffi-typed's rule), as `i64`: capped
/// at `i64::MAX`, so larger unsigned values take the general conversion.
#[inline]
pub(crate) fn int_range(layout: IntLayout) -> (i64, i64) {
    let (min, max) = layout.range();
    (min as i64, max.min(i64::MAX.into()) as i64)
}

/// The value of an exact `int` within `range` (from [`int_range`]), as the
/// bits a register or memory holds; `None` for anything else (the general
/// conversion then decides, and names the error).
#[inline]
pub(crate) fn exact_int_in(obj: *mut ffi::PyObject, (min, max): (i64, i64)) -> Option<u64> {
    exact_int(obj)
        .filter(|v| min <= *v && *v <= max)
        .map(|v| v as u64)
}

/// The value of an exact `int` that fits `i64`; `None` for anything else.
#[inline]
pub(crate) fn exact_int(obj: *mut ffi::PyObject) -> Option<i64> {
    if let Some(v) = small_ints::value(obj) {
        return Some(v);
    }
    // SAFETY: `obj` is a live object. For an exact int, the conversion
    // cannot fail other than by overflow, which it reports in `overflow`
    // (leaving no exception set).
    unsafe {
        if ffi::Py_TYPE(obj) != &raw mut ffi::PyLong_Type {
            return None;
        }
        let mut overflow = 0;
        let v = ffi::PyLong_AsLongLongAndOverflow(obj, &mut overflow);
        (overflow == 0).then_some(v)
    }
}

/// The address of an exact `bytes` object's characters; `None` for
/// anything else.
#[inline]
pub(crate) fn exact_bytes(obj: *mut ffi::PyObject) -> Option<usize> {
    // SAFETY: `obj` is a live object; for an exact bytes object the call
    // returns its (NUL-terminated) buffer and cannot fail.
    unsafe {
        (ffi::Py_TYPE(obj) == &raw mut ffi::PyBytes_Type)
            .then(|| ffi::PyBytes_AsString(obj) as usize)
    }
}

/// The value of an exact `float`; `None` for anything else.
#[inline]
pub(crate) fn exact_float(obj: *mut ffi::PyObject) -> Option<f64> {
    // SAFETY: `obj` is a live object; for an exact float the call cannot
    // fail.
    unsafe { (ffi::Py_TYPE(obj) == &raw mut ffi::PyFloat_Type).then(|| ffi::PyFloat_AsDouble(obj)) }
}

/// A C integer (the low `layout.size` bytes of `raw`) as a Python int or bool.
pub(crate) fn int_object(py: Python<'_>, raw: u64, layout: IntLayout) -> PyResult<Py<PyAny>> {
    // SAFETY: a new reference or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, int_object_ptr(raw, layout)) }.map(Bound::unbind)
}

/// [`int_object`] as a new reference, or NULL with an exception set.
///
/// A `_Bool` whose byte is neither 0 nor 1 (memory C or a cast filled) is a
/// ValueError, as in cffi: C gives such a value no meaning.
#[inline]
pub(crate) fn int_object_ptr(raw: u64, layout: IntLayout) -> *mut ffi::PyObject {
    let shift = 64 - layout.size as u32 * 8;
    // SAFETY: each returns a new reference or NULL with an exception set
    // (PyBool_FromLong cannot fail).
    unsafe {
        if layout.is_bool {
            match raw as u8 {
                byte @ (0 | 1) => ffi::PyBool_FromLong(byte.into()),
                byte => invalid_bool(byte),
            }
        } else if layout.signed {
            let v = ((raw << shift) as i64) >> shift;
            small_ints::object(v).unwrap_or_else(|| ffi::PyLong_FromLongLong(v))
        } else {
            let v = raw & (u64::MAX >> shift);
            match i64::try_from(v).ok().and_then(small_ints::object) {
                Some(obj) => obj,
                None => ffi::PyLong_FromUnsignedLongLong(v),
            }
        }
    }
}

/// Sets cffi's ValueError for a `_Bool` byte that is neither 0 nor 1;
/// returns NULL.
#[cold]
#[inline(never)]
fn invalid_bool(byte: u8) -> *mut ffi::PyObject {
    let message = std::ffi::CString::new(format!("got a _Bool of value {byte}, expected 0 or 1"))
        .expect("no NUL in the message");
    // SAFETY: callers hold the GIL (they make Python objects); the
    // exception type is a static object and the message a C string.
    unsafe { ffi::PyErr_SetString(ffi::PyExc_ValueError, message.as_ptr()) };
    std::ptr::null_mut()
}

/// A Python float.
pub(crate) fn float_object(py: Python<'_>, v: f64) -> PyResult<Py<PyAny>> {
    // SAFETY: a new reference or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, float_object_ptr(v)) }.map(Bound::unbind)
}

/// [`float_object`] as a new reference, or NULL with an exception set.
#[inline]
pub(crate) fn float_object_ptr(v: f64) -> *mut ffi::PyObject {
    // SAFETY: returns a new reference or NULL with an exception set.
    unsafe { ffi::PyFloat_FromDouble(v) }
}
