//! `CType` objects: the Python face of `ffi_typed::CType`.
//!
//! One process has one `CType` object per exact type, whichever `FFI`
//! instance asked for it (interned in [`ctype_object`]). Compatibility of
//! cdata with a declared type uses `CType`'s own equality, under which a
//! named struct equals any struct of that name: a cdata made by one `FFI`
//! is accepted where another declared the same type.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use ffi_raw::CScalar;
use ffi_typed::{CType, FunctionType, IntLayout, RecordKind};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyString, PyTuple};
use rustc_hash::FxHashMap;

use super::cdata_pool::CDataPool;
use super::convert::{
    exact_float, exact_int_in, float_object, int_layout, int_object, int_range, py_to_f64,
    py_to_int,
};

/// A C type, as `ffi.typeof()` returns it.
#[pyclass(name = "CType", module = "ffi_py", frozen)]
pub struct PyCType {
    pub(crate) ty: CType,
    /// `sizeof`, if complete.
    pub(crate) size: Option<usize>,
    /// The C spelling (`int *`, `struct point`).
    pub(crate) cname: String,
    /// For a struct or union, or a pointer to one: its number members, for
    /// `cdata.name` without looking the name up as text (made on first use,
    /// once the record is complete).
    /// A `PyOnceLock`: its initialiser interns strings, so a thread waiting
    /// for it must not hold the interpreter.
    members: PyOnceLock<Box<[NumberMember]>>,
    /// For a pointer to or an array of numbers: how an item is stored, for
    /// `p[i]` without the general conversion.
    pub(crate) item_number: Option<NumberKind>,
    /// Cdata of this type kept for reuse (pointers and records).
    pub(crate) pool: CDataPool,
}

/// A struct or union member holding a number, prepared for `cdata.name`.
pub(crate) struct NumberMember {
    /// The member's name, interned: attribute names in Python source are
    /// interned too, so a lookup is a pointer comparison.
    pub(crate) name: Py<PyString>,
    /// Its offset in the record.
    pub(crate) offset: usize,
    pub(crate) kind: NumberKind,
}

/// How a number (an integer, `double` or `float`) is stored: what the fast
/// paths of member and item access, and of callbacks, read and write
/// without the general conversion.
#[derive(Clone, Copy)]
pub(crate) enum NumberKind {
    Int(IntLayout),
    F64,
    F32,
}

impl NumberKind {
    /// The kind of `ty`, if it is a number Python sees as an int or float
    /// (not `char`, wide characters or `long double`).
    pub(crate) fn of(ty: &CType) -> Option<NumberKind> {
        match (ty, int_layout(ty)) {
            (_, Some(layout)) => Some(NumberKind::Int(layout)),
            (CType::Scalar(CScalar::Double), None) => Some(NumberKind::F64),
            (CType::Scalar(CScalar::Float), None) => Some(NumberKind::F32),
            _ => None,
        }
    }

    /// Bytes a number of this kind takes.
    pub(crate) fn size(self) -> usize {
        match self {
            NumberKind::Int(layout) => layout.size,
            NumberKind::F64 => 8,
            NumberKind::F32 => 4,
        }
    }

    /// The number at `src` as a Python int, bool or float.
    ///
    /// # Safety
    /// `src` must be readable for [`NumberKind::size`] bytes.
    #[inline]
    pub(crate) unsafe fn read(self, py: Python<'_>, src: *const u8) -> PyResult<Py<PyAny>> {
        // SAFETY: the caller guarantees the bytes are readable.
        unsafe {
            match self {
                NumberKind::Int(layout) => {
                    // One load of the integer's width (a copy of a variable
                    // length would be a call to memcpy).
                    let raw = match layout.size {
                        1 => u64::from(src.read()),
                        2 => u64::from(src.cast::<u16>().read_unaligned()),
                        4 => u64::from(src.cast::<u32>().read_unaligned()),
                        _ => src.cast::<u64>().read_unaligned(),
                    };
                    int_object(py, raw, layout)
                }
                NumberKind::F64 => float_object(py, src.cast::<f64>().read_unaligned()),
                NumberKind::F32 => float_object(py, f64::from(src.cast::<f32>().read_unaligned())),
            }
        }
    }

    /// `value` as the bits this kind stores: an exact int or float
    /// directly; anything else through the general conversion to
    /// `declared()` (the C type, made only then), which also words the
    /// errors. The general conversion may run Python code (`__index__`,
    /// `__float__`), so a caller writing into cdata memory locates, or
    /// checks, its destination after this (see `CData::__setitem__`).
    #[inline]
    pub(crate) fn bits(
        self,
        value: &Bound<'_, PyAny>,
        declared: impl FnOnce() -> PyResult<CType>,
    ) -> PyResult<u64> {
        Ok(match self {
            NumberKind::Int(layout) => match exact_int_in(value.as_ptr(), int_range(layout)) {
                Some(bits) => bits,
                None => py_to_int(&declared()?, layout, value)?,
            },
            NumberKind::F64 | NumberKind::F32 => {
                let v = match exact_float(value.as_ptr()) {
                    Some(v) => v,
                    None => py_to_f64(&declared()?, value)?,
                };
                match self {
                    NumberKind::F32 => u64::from((v as f32).to_bits()),
                    _ => v.to_bits(),
                }
            }
        })
    }

    /// Stores `bits` (from [`NumberKind::bits`]) at `dst`.
    ///
    /// # Safety
    /// `dst` must be writable for [`NumberKind::size`] bytes.
    #[inline]
    pub(crate) unsafe fn store(self, bits: u64, dst: *mut u8) {
        // SAFETY: the caller guarantees `size()` writable bytes.
        unsafe {
            match self.size() {
                1 => dst.write(bits as u8),
                2 => dst.cast::<u16>().write_unaligned(bits as u16),
                4 => dst.cast::<u32>().write_unaligned(bits as u32),
                _ => dst.cast::<u64>().write_unaligned(bits),
            }
        }
    }
}

impl PyCType {
    /// The signature of a function type or a pointer to one.
    fn signature(&self) -> Option<&FunctionType> {
        match &self.ty {
            CType::Function(f) => Some(f),
            CType::Pointer(to) => match &**to {
                CType::Function(f) => Some(f),
                _ => None,
            },
            _ => None,
        }
    }

    /// A type object for `ty`.
    fn new(ty: &CType) -> PyCType {
        PyCType {
            ty: ty.clone(),
            size: ty.size().ok(),
            cname: cffi_spelling(ty),
            members: PyOnceLock::new(),
            item_number: match ty {
                CType::Pointer(item) | CType::Array(item, _) => NumberKind::of(item),
                _ => None,
            },
            pool: CDataPool::new(),
        }
    }

    /// The number members of the struct or union this type is or points to
    /// (members that are not bitfields, not inside anonymous members);
    /// empty for other types and for records not yet complete.
    pub(crate) fn number_members(&self, py: Python<'_>) -> &[NumberMember] {
        if let Some(members) = self.members.get(py) {
            return members;
        }
        let record = match &self.ty {
            CType::Record(r) => r,
            CType::Pointer(to) => match &**to {
                CType::Record(r) => r,
                _ => return &[],
            },
            _ => return &[],
        };
        // An opaque record may be completed later: nothing is cached yet.
        let Some(body) = record.body() else {
            return &[];
        };
        self.members.get_or_init(py, || {
            body.fields
                .iter()
                .filter(|f| f.bits.is_none())
                .filter_map(|f| {
                    Some(NumberMember {
                        name: PyString::intern(py, f.name.as_deref()?).unbind(),
                        offset: f.offset,
                        kind: NumberKind::of(&f.ty)?,
                    })
                })
                .collect()
        })
    }

    /// The pointed-to or element type, for pointers and arrays.
    pub(crate) fn item_type(&self) -> Option<&CType> {
        match &self.ty {
            CType::Pointer(to) => Some(to),
            CType::Array(elem, _) => Some(elem),
            _ => None,
        }
    }
}

/// Exact identity: structs, unions and enums by declaration, the rest
/// structurally. (Two `FFI`s may declare different `struct foo`s; each gets
/// its own object, and `CType`'s name-based equality decides compatibility.)
struct Exact(CType);

fn same(a: &CType, b: &CType) -> bool {
    match (a, b) {
        (CType::Void, CType::Void) => true,
        (CType::Scalar(x), CType::Scalar(y)) => x == y,
        (CType::Pointer(x), CType::Pointer(y)) => same(x, y),
        (CType::Array(x, n), CType::Array(y, m)) => n == m && same(x, y),
        (CType::Record(x), CType::Record(y)) => Arc::ptr_eq(x, y),
        (CType::Enum(x), CType::Enum(y)) => Arc::ptr_eq(x, y),
        (CType::Function(x), CType::Function(y)) => {
            x.variadic == y.variadic
                && same(&x.ret, &y.ret)
                && x.params.len() == y.params.len()
                && x.params.iter().zip(&y.params).all(|(p, q)| same(p, q))
        }
        _ => false,
    }
}

fn hash_exact<H: Hasher>(ty: &CType, h: &mut H) {
    std::mem::discriminant(ty).hash(h);
    match ty {
        CType::Void => {}
        CType::Scalar(s) => s.hash(h),
        CType::Pointer(to) => hash_exact(to, h),
        CType::Array(elem, len) => {
            len.hash(h);
            hash_exact(elem, h);
        }
        CType::Record(r) => (Arc::as_ptr(r) as usize).hash(h),
        CType::Enum(e) => (Arc::as_ptr(e) as usize).hash(h),
        CType::Function(f) => {
            f.variadic.hash(h);
            f.params.len().hash(h);
            hash_exact(&f.ret, h);
        }
        CType::Placeholder(p) => p.hash(h),
    }
}

impl PartialEq for Exact {
    fn eq(&self, other: &Exact) -> bool {
        same(&self.0, &other.0)
    }
}
impl Eq for Exact {}
impl Hash for Exact {
    fn hash<H: Hasher>(&self, h: &mut H) {
        hash_exact(&self.0, h)
    }
}

static INTERNED: Mutex<Option<FxHashMap<Exact, Py<PyCType>>>> = Mutex::new(None);

/// The one `CType` object for `ty`.
pub(crate) fn ctype_object(py: Python<'_>, ty: &CType) -> PyResult<Py<PyCType>> {
    let key = Exact(ty.clone());
    // The lock is never held across Python code, so it cannot deadlock with
    // the GIL.
    if let Some(found) = INTERNED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(FxHashMap::default)
        .get(&key)
    {
        return Ok(found.clone_ref(py));
    }
    let object = Py::new(py, PyCType::new(ty))?;
    let (interned, spare) = {
        let mut table = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
        match table.get_or_insert_with(FxHashMap::default).entry(key) {
            // Another thread made it meanwhile: theirs is the one.
            Entry::Occupied(found) => (found.get().clone_ref(py), Some(object)),
            Entry::Vacant(slot) => (slot.insert(object).clone_ref(py), None),
        }
    };
    // Released unlocked: a release may run Python code.
    drop(spare);
    Ok(interned)
}

/// A type's name as cffi spells it: C's spelling, with the stars of a
/// pointer to a pointer apart (`int * *`, `int(* *)(int)`).
fn cffi_spelling(ty: &CType) -> String {
    let mut name = ty.to_string();
    while name.contains("**") {
        name = name.replace("**", "* *");
    }
    name
}

/// cffi's name for the kind of a type.
pub(crate) fn kind_name(ty: &CType) -> &'static str {
    match ty {
        CType::Void => "void",
        CType::Scalar(_) => "primitive",
        CType::Pointer(_) => "pointer",
        CType::Array(..) => "array",
        CType::Record(r) if r.kind() == RecordKind::Union => "union",
        CType::Record(_) => "struct",
        CType::Enum(_) => "enum",
        CType::Function(_) => "function",
        CType::Placeholder(p) => match **p {
            ffi_typed::Placeholder::Array(_) => "array",
            _ => "primitive",
        },
    }
}

/// A struct or union member, as `CType.fields` lists it.
#[pyclass(name = "CField", module = "ffi_py", frozen)]
pub struct CField {
    #[pyo3(get, name = "type")]
    ty: Py<PyCType>,
    #[pyo3(get)]
    offset: usize,
    /// Bit position in the storage unit at `offset`; -1 for a plain member.
    #[pyo3(get)]
    bitshift: i64,
    /// Width in bits; -1 for a plain member.
    #[pyo3(get)]
    bitsize: i64,
    #[pyo3(get)]
    flags: i64,
}

#[pymethods]
impl CField {
    fn __repr__(&self) -> String {
        format!("<CField {} at offset {}>", self.ty.get().cname, self.offset)
    }
}

/// A named member of a record, as [`flat_fields`] lists it.
pub(crate) struct FlatField {
    pub(crate) name: String,
    /// From the start of the outermost record.
    pub(crate) offset: usize,
    pub(crate) field: ffi_typed::Field,
    /// cffi's `CField.flags`: [`FlatField::IGNORE_IN_CTOR`] or 0.
    pub(crate) flags: u8,
}

impl FlatField {
    /// cffi's `BF_IGNORE_IN_CTOR`: a list initialiser skips this member,
    /// because it shares its storage with an earlier member of a union
    /// (itself, or an anonymous union it is reached through, is not that
    /// union's first member).
    pub(crate) const IGNORE_IN_CTOR: u8 = 0x01;

    /// Whether a list or tuple initialiser sets this member.
    pub(crate) fn in_ctor(&self) -> bool {
        self.flags & FlatField::IGNORE_IN_CTOR == 0
    }
}

/// Every named member of a record, anonymous members' members included
/// (as cffi flattens them), with offsets from the record's start.
pub(crate) fn flat_fields(ty: &CType) -> Vec<FlatField> {
    fn walk(ty: &CType, base: usize, inherited: u8, out: &mut Vec<FlatField>) {
        let CType::Record(r) = ty else { return };
        let Some(body) = r.body() else { return };
        let is_union = r.kind() == RecordKind::Union;
        for (i, field) in body.fields.iter().enumerate() {
            let flags = if is_union && i > 0 {
                inherited | FlatField::IGNORE_IN_CTOR
            } else {
                inherited
            };
            match &field.name {
                Some(name) => out.push(FlatField {
                    name: name.clone(),
                    offset: base + field.offset,
                    field: field.clone(),
                    flags,
                }),
                None => walk(&field.ty, base + field.offset, flags, out),
            }
        }
    }
    let mut out = Vec::new();
    walk(ty, 0, 0, &mut out);
    out
}

#[pymethods]
impl PyCType {
    /// `'primitive'`, `'pointer'`, `'array'`, `'struct'`, `'union'`,
    /// `'enum'`, `'function'` or `'void'`.
    #[getter]
    fn kind(&self) -> &'static str {
        // As cffi: a function pointer type is a "function" type.
        match self.signature() {
            Some(_) => "function",
            None => kind_name(&self.ty),
        }
    }

    /// The C spelling of the type.
    #[getter]
    fn cname(&self) -> &str {
        &self.cname
    }

    /// The pointed-to type of a pointer, the element type of an array.
    #[getter]
    fn item(&self, py: Python<'_>) -> PyResult<Option<Py<PyCType>>> {
        self.item_type().map(|t| ctype_object(py, t)).transpose()
    }

    /// The length of an array (`None` for `T[]`).
    #[getter]
    fn length(&self) -> Option<usize> {
        match &self.ty {
            CType::Array(_, len) => *len,
            _ => None,
        }
    }

    /// A struct's or union's members as `(name, CField)` pairs; `None` while
    /// opaque.
    #[getter]
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let CType::Record(r) = &self.ty else {
            return Ok(None);
        };
        if r.body().is_none() {
            return Ok(None);
        }
        let list = PyList::empty(py);
        for flat in flat_fields(&self.ty) {
            let (bitshift, bitsize) = match flat.field.bits {
                Some(b) => (i64::from(b.shift), i64::from(b.width)),
                None => (-1, -1),
            };
            let cfield = CField {
                ty: ctype_object(py, &flat.field.ty)?,
                offset: flat.offset,
                bitshift,
                bitsize,
                flags: i64::from(flat.flags),
            };
            list.append((flat.name, Py::new(py, cfield)?))?;
        }
        Ok(Some(list))
    }

    /// A function type's, or function pointer type's, parameter types.
    #[getter]
    fn args<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let Some(f) = self.signature() else {
            return Ok(None);
        };
        let params = f
            .params
            .iter()
            .map(|p| ctype_object(py, p))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Some(PyTuple::new(py, params)?))
    }

    /// A function type's return type.
    #[getter]
    fn result(&self, py: Python<'_>) -> PyResult<Option<Py<PyCType>>> {
        self.signature()
            .map(|f| ctype_object(py, &f.ret))
            .transpose()
    }

    /// Whether a function type is variadic.
    #[getter]
    fn ellipsis(&self) -> Option<bool> {
        self.signature().map(|f| f.variadic)
    }

    /// The calling convention (always the platform default, 2 as in cffi).
    #[getter]
    fn abi(&self) -> Option<i32> {
        self.signature().map(|_| 2)
    }

    /// An enum's `{value: name}`.
    #[getter]
    fn elements(&self) -> Option<HashMap<i128, String>> {
        match &self.ty {
            CType::Enum(e) => Some(
                e.values
                    .iter()
                    .rev()
                    .map(|(n, v)| (*v, n.clone()))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// An enum's `{name: value}`.
    #[getter]
    fn relements(&self) -> Option<HashMap<String, i128>> {
        match &self.ty {
            CType::Enum(e) => Some(e.values.iter().cloned().collect()),
            _ => None,
        }
    }

    fn __repr__(&self) -> String {
        format!("<ctype '{}'>", self.cname)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyCType>()
            .is_ok_and(|o| same(&self.ty, &o.get().ty))
    }

    fn __hash__(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        hash_exact(&self.ty, &mut h);
        h.finish()
    }
}

/// How Python sees a scalar: `char` as one byte of `bytes`, the wide
/// character types as one character of `str`, the rest as numbers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum CharKind {
    /// Not a character type.
    No,
    /// `char`.
    Byte,
    /// `wchar_t`, `char16_t`, `char32_t`.
    Wide,
}

pub(crate) fn char_kind(s: CScalar) -> CharKind {
    match s {
        CScalar::Char => CharKind::Byte,
        CScalar::WChar | CScalar::Char16 | CScalar::Char32 => CharKind::Wide,
        _ => CharKind::No,
    }
}
