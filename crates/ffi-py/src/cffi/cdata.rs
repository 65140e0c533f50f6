//! `CData` objects: C values, pointers and memory as Python sees them.
//!
//! A cdata is a C type plus either a value (primitives, held inline), an
//! address (pointers: the pointer's value; structs, unions and arrays: where
//! their bytes are). Memory that ffi_py allocated is an [`Owned`] behind an
//! `Arc`: the cdata that `new` returned holds it, and so does every cdata
//! derived from it by indexing, member access, slicing or pointer
//! arithmetic, so the memory lives while anything points into it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ffi_raw::CScalar;
use ffi_typed::{CType, IntLayout, Value};
use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::{PyList, PySlice, PyString};

use super::cdata_pool::CDataPool;
use super::cdata_type;
use super::convert::{self, c_to_py, py_to_c};
use super::ctype::{
    CharKind, NumberKind, NumberMember, PyCType, char_kind, ctype_object, flat_fields,
};
use crate::ground::errors::typed_error;
use crate::ground::memory::Owned;

/// What kind of thing a cdata is, from its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A number, character or enum value, held inline.
    Primitive,
    /// A pointer (data or function): `addr` is its value.
    Pointer,
    /// A struct or union: `addr` is where its bytes are.
    Record,
    /// An array: `addr` is where its elements are.
    Array,
}

/// How a cdata came to be, for its repr and for `release`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A view or value.
    Plain,
    /// The result of `new` (or a struct returned by value): owns its memory.
    Owning,
    /// A slice of an array or pointer.
    Sliced,
    /// `ffi.callback`: the repr names the Python callable.
    Callback(String),
    /// `ffi.new_handle`.
    Handle(String),
    /// `ffi.gc`: calls a destructor when collected or released.
    Gc,
    /// `ffi.from_buffer`.
    Buffer,
}

/// A destructor registered with `ffi.gc`.
pub(crate) struct GcHook {
    destructor: Py<PyAny>,
    original: Py<PyAny>,
}

/// A C value, pointer or piece of memory.
#[pyclass(name = "CData", module = "ffi_py", frozen, weakref, subclass)]
pub struct CData {
    pub(crate) ctype: Py<PyCType>,
    pub(crate) kind: Kind,
    /// The pointer value (pointers) or the data's address (records, arrays).
    /// Atomic only so that a pooled pointer nobody else can reach may be
    /// given a new value (see [`CDataPool`]); reads are plain loads.
    addr: AtomicUsize,
    /// A primitive's value (little-endian, `sizeof` bytes used).
    pub(crate) inline: [u8; 16],
    /// Elements of an array (its declared length, or the length it was made
    /// with for `T[]`); for a pointer `new` made, the bytes it owns (more
    /// than its item's size for a struct ending in `T[]`, see
    /// `convert::new_size`).
    pub(crate) length: usize,
    pub(crate) origin: Origin,
    /// What keeps the memory alive; taken by `release`.
    pub(super) owner: Mutex<Option<Arc<Owned>>>,
    pub(super) released: AtomicBool,
    gc: Mutex<Option<GcHook>>,
}

fn kind_of(ty: &CType) -> PyResult<Kind> {
    Ok(match ty {
        CType::Scalar(_) | CType::Enum(_) => Kind::Primitive,
        CType::Pointer(_) => Kind::Pointer,
        CType::Record(_) => Kind::Record,
        CType::Array(..) => Kind::Array,
        CType::Void | CType::Function(_) | CType::Placeholder(_) => {
            return Err(PyTypeError::new_err(format!(
                "cannot make a cdata of type '{ty}'"
            )));
        }
    })
}

impl CData {
    /// A cdata of `ty` at `addr` (see [`CData::addr`]).
    pub(crate) fn build(
        py: Python<'_>,
        ty: &CType,
        addr: usize,
        length: Option<usize>,
        owner: Option<Arc<Owned>>,
        origin: Origin,
    ) -> PyResult<CData> {
        CData::build_typed(ctype_object(py, ty)?, addr, length, owner, origin)
    }

    /// As [`CData::build`], with the type object already at hand (callers
    /// on hot paths make it once).
    pub(crate) fn build_typed(
        ctype: Py<PyCType>,
        addr: usize,
        length: Option<usize>,
        owner: Option<Arc<Owned>>,
        origin: Origin,
    ) -> PyResult<CData> {
        let ty = &ctype.get().ty;
        let length = match (ty, length) {
            (_, Some(n)) => n,
            (CType::Array(_, Some(n)), None) => *n,
            _ => 0,
        };
        let kind = kind_of(ty)?;
        Ok(CData {
            ctype,
            kind,
            addr: AtomicUsize::new(addr),
            inline: [0; 16],
            length,
            origin,
            owner: Mutex::new(owner),
            released: AtomicBool::new(false),
            gc: Mutex::new(None),
        })
    }

    /// A plain pointer cdata of the pointer type `ctype` whose value is
    /// `addr` (pooled: see [`CDataPool`]).
    pub(crate) fn pointer_of(
        py: Python<'_>,
        ctype: &Py<PyCType>,
        addr: usize,
    ) -> PyResult<Py<CData>> {
        let object = CDataPool::get(py, ctype, || CData::new_pointer(py, ctype, addr))?;
        object.get().addr.store(addr, Ordering::Relaxed);
        Ok(object)
    }

    /// A struct, union or array of type `ctype` owning zeroed memory that
    /// `fill` then writes: a value returned or passed by value (pooled: see
    /// [`CDataPool`]).
    pub(crate) fn by_value(
        py: Python<'_>,
        ctype: &Py<PyCType>,
        fill: impl FnOnce(*mut u8) -> PyResult<()>,
    ) -> PyResult<Py<CData>> {
        let object = CDataPool::get(py, ctype, || {
            let owned = Owned::zeroed(&ctype.get().ty)?;
            let addr = owned.addr();
            let cdata =
                CData::build_typed(ctype.clone_ref(py), addr, None, Some(owned), Origin::Owning)?;
            cdata.into_object(py)
        })?;
        let this = object.get();
        let size = this.ctype.get().size.unwrap_or(0);
        // SAFETY: the record's own memory, of its type's size, which nothing
        // else can reach (new, or private: see `is_private`).
        unsafe { std::ptr::write_bytes(this.addr() as *mut u8, 0, size) };
        fill(this.addr() as *mut u8)?;
        Ok(object)
    }

    fn new_pointer(py: Python<'_>, ctype: &Py<PyCType>, addr: usize) -> PyResult<Py<CData>> {
        CData {
            kind: Kind::Pointer,
            ctype: ctype.clone_ref(py),
            addr: AtomicUsize::new(addr),
            inline: [0; 16],
            length: 0,
            origin: Origin::Plain,
            owner: Mutex::new(None),
            released: AtomicBool::new(false),
            gc: Mutex::new(None),
        }
        .into_object(py)
    }

    /// The Python object for this cdata, of the subtype whose attribute and
    /// item slots skip pyo3's trampolines (see `cdata_type`).
    pub(crate) fn into_object(self, py: Python<'_>) -> PyResult<Py<CData>> {
        let object = Py::new(py, self)?;
        cdata_type::retype(py, &object);
        Ok(object)
    }

    /// A cdata of `ty` at `addr`: a pointer whose value is `addr`, or a
    /// struct, union or array whose bytes are there; `owner` keeps them alive.
    pub(crate) fn plain(
        py: Python<'_>,
        ty: &CType,
        addr: usize,
        owner: Option<Arc<Owned>>,
    ) -> PyResult<Py<CData>> {
        CData::build(py, ty, addr, None, owner, Origin::Plain)?.into_object(py)
    }

    /// A primitive cdata holding `bytes`.
    pub(crate) fn primitive(py: Python<'_>, ty: &CType, bytes: &[u8]) -> PyResult<Py<CData>> {
        let mut cdata = CData::build(py, ty, 0, None, None, Origin::Plain)?;
        cdata.inline[..bytes.len()].copy_from_slice(bytes);
        cdata.into_object(py)
    }

    /// A cdata that owns `owned`: a pointer or array (from `new`) or a
    /// struct (returned by value).
    pub(crate) fn owning(
        py: Python<'_>,
        ty: &CType,
        owned: Arc<Owned>,
        length: Option<usize>,
        origin: Origin,
    ) -> PyResult<Py<CData>> {
        let addr = owned.addr();
        CData::build(py, ty, addr, length, Some(owned), origin)?.into_object(py)
    }

    /// The pointer value (pointers) or where the data is (records, arrays);
    /// meaningless for primitives.
    pub(crate) fn addr(&self) -> usize {
        self.addr.load(Ordering::Relaxed)
    }

    pub(crate) fn cname(&self) -> &str {
        &self.ctype.get().cname
    }

    pub(crate) fn ty(&self) -> &CType {
        &self.ctype.get().ty
    }

    fn check_live(&self) -> PyResult<()> {
        if self.released.load(Ordering::Relaxed) {
            return Err(PyValueError::new_err(format!(
                "cdata '{}' has been released",
                self.cname()
            )));
        }
        Ok(())
    }

    /// The owner, to share with a cdata derived from this one.
    pub(crate) fn owner(&self) -> Option<Arc<Owned>> {
        self.owner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The number member called `name` (the same string object) of the
    /// record this cdata is or points to, if it has one.
    fn number_member(&self, py: Python<'_>, name: &Bound<'_, PyString>) -> Option<&NumberMember> {
        let wanted = name.as_ptr();
        self.ctype
            .get()
            .number_members(py)
            .iter()
            .find(|m| m.name.as_ptr() == wanted)
    }

    /// The declared type of member `name`, for error messages of the slow
    /// conversions.
    #[cold]
    fn member_type(&self, name: &Bound<'_, PyString>) -> PyResult<CType> {
        let key = name.to_str()?;
        self.record_base()?
            .and_then(|(record, _)| match record {
                CType::Record(r) => r.body()?.field(key).map(|(_, f)| f.ty.clone()),
                _ => None,
            })
            .ok_or_else(|| {
                pyo3::exceptions::PyAttributeError::new_err(format!(
                    "cdata '{}' has no field '{key}'",
                    self.cname()
                ))
            })
    }

    /// The owner to give a value of `ty` read from this cdata's memory: a
    /// struct, union or array read is a view into that memory and must keep
    /// it alive; numbers and pointers are copied out and need nothing (which
    /// spares the hot paths, `p.x` and `a[i]`, a lock and a reference count).
    fn owner_for_view_of(&self, ty: &CType) -> Option<Arc<Owned>> {
        match ty {
            CType::Record(_) | CType::Array(..) => self.owner(),
            _ => None,
        }
    }

    /// The address this cdata stands for as a pointer: a pointer's value, an
    /// array's or record's start.
    pub(crate) fn address(&self) -> PyResult<usize> {
        self.check_live()?;
        match self.kind {
            Kind::Primitive => Err(PyTypeError::new_err(format!(
                "cdata '{}' is not a pointer or array",
                self.cname()
            ))),
            _ => Ok(self.addr()),
        }
    }

    /// Elements of an array, `None` for other kinds.
    fn array_len(&self) -> Option<usize> {
        (self.kind == Kind::Array).then_some(self.length)
    }

    /// The item type and its size; a TypeError for cdata without items.
    fn item(&self) -> PyResult<(&CType, usize)> {
        let Some(item) = self.ctype.get().item_type() else {
            return Err(PyTypeError::new_err(format!(
                "cdata of type '{}' cannot be indexed",
                self.cname()
            )));
        };
        let size = item.size().map_err(|_| {
            PyTypeError::new_err(format!(
                "cdata of type '{}' cannot be indexed: '{item}' has no known size",
                self.cname()
            ))
        })?;
        Ok((item, size))
    }

    fn elem_size(&self) -> PyResult<usize> {
        self.item().map(|(_, size)| size)
    }

    /// The bytes of a record or array, or a primitive's value.
    pub(crate) fn bytes(&self) -> PyResult<&[u8]> {
        self.check_live()?;
        match self.kind {
            Kind::Primitive | Kind::Pointer => {
                let size = self.ctype.get().size.unwrap_or(0);
                if self.kind == Kind::Pointer {
                    return Err(PyTypeError::new_err(format!(
                        "cdata '{}' is a pointer, not data",
                        self.cname()
                    )));
                }
                Ok(&self.inline[..size])
            }
            Kind::Record | Kind::Array => {
                let size = self.data_size()?;
                // SAFETY: the bytes are this cdata's memory: owned (kept
                // alive by `owner`, not released: checked above) or C memory
                // a pointer led to, which C semantics trust.
                Ok(unsafe { std::slice::from_raw_parts(self.addr() as *const u8, size) })
            }
        }
    }

    /// The bytes a record or array spans (an array's items times its length).
    pub(crate) fn data_size(&self) -> PyResult<usize> {
        Ok(match self.kind {
            Kind::Array => self.length * self.elem_size()?,
            _ => self.ctype.get().size.unwrap_or(0),
        })
    }

    /// An integer primitive's value.
    pub(crate) fn primitive_int(&self) -> Option<i128> {
        if self.kind != Kind::Primitive {
            return None;
        }
        let ty = self.ty();
        // A `char` is its byte, 0 to 255, whatever C's signedness of char.
        if let CType::Scalar(s) = ty
            && char_kind(*s) == CharKind::Byte
        {
            return Some(i128::from(self.inline[0]));
        }
        // Integers, enums and the wide character types.
        let layout = IntLayout::of(ty)?;
        let mut buf = [0u8; 8];
        buf[..layout.size].copy_from_slice(&self.inline[..layout.size]);
        let raw = u64::from_le_bytes(buf);
        let shift = 64 - layout.size as u32 * 8;
        Some(if layout.signed {
            i128::from(((raw << shift) as i64) >> shift)
        } else {
            i128::from(raw)
        })
    }

    /// A floating primitive's value.
    pub(crate) fn primitive_float(&self) -> Option<f64> {
        if self.kind != Kind::Primitive {
            return None;
        }
        match self.ty() {
            CType::Scalar(CScalar::Float) => Some(f64::from(f32::from_le_bytes(
                self.inline[..4].try_into().expect("4 bytes"),
            ))),
            CType::Scalar(CScalar::Double) => Some(f64::from_le_bytes(
                self.inline[..8].try_into().expect("8 bytes"),
            )),
            CType::Scalar(CScalar::LongDouble) => {
                Value::LongDouble(self.inline).long_double_to_f64()
            }
            _ => self.primitive_int().map(|v| v as f64),
        }
    }

    /// The record behind this cdata (itself, or what a pointer points to),
    /// for member access.
    fn record_base(&self) -> PyResult<Option<(&CType, usize)>> {
        match (self.kind, self.ty()) {
            (Kind::Record, ty) => {
                self.check_live()?;
                Ok(Some((ty, self.addr())))
            }
            (Kind::Pointer, CType::Pointer(to)) if matches!(**to, CType::Record(_)) => {
                self.check_live()?;
                if self.addr() == 0 {
                    return Err(PyRuntimeError::new_err(format!(
                        "cannot access a member through the NULL pointer '{}'",
                        self.cname()
                    )));
                }
                Ok(Some((to, self.addr())))
            }
            _ => Ok(None),
        }
    }

    /// Address and type of element `index` (bounds-checked for arrays).
    fn element(&self, index: isize) -> PyResult<(usize, &CType)> {
        let (item, size) = self.item()?;
        Ok((self.element_addr(index, size)?, item))
    }

    /// Address of element `index` of items of `size` bytes: the checks
    /// of indexing (released, bounds of arrays, NULL and `new("T *")`
    /// pointers) without finding the item type.
    fn element_addr(&self, index: isize, size: usize) -> PyResult<usize> {
        self.check_live()?;
        match self.kind {
            Kind::Array => {
                if index < 0 || index as usize >= self.length {
                    return Err(PyIndexError::new_err(format!(
                        "index {index} out of bounds for '{}' of length {}",
                        self.cname(),
                        self.length
                    )));
                }
            }
            Kind::Pointer => {
                if self.addr() == 0 {
                    return Err(PyRuntimeError::new_err(format!(
                        "cannot dereference the NULL pointer '{}'",
                        self.cname()
                    )));
                }
                // `new("T *")` allocated exactly one T.
                if self.origin == Origin::Owning && index != 0 {
                    return Err(PyIndexError::new_err(format!(
                        "cdata '{}' from new() owns one item and can only be indexed by 0, \
                         not {index}",
                        self.cname()
                    )));
                }
            }
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "cdata of type '{}' cannot be indexed",
                    self.cname()
                )));
            }
        }
        offset_addr(self.addr(), index, size)
    }

    /// `self[key]` for pointers to and arrays of numbers indexed by an
    /// exact int: the common case, read without the general conversion.
    fn number_item(&self, key: &Bound<'_, PyAny>) -> Option<(NumberKind, isize)> {
        let number = self.ctype.get().item_number?;
        let index = convert::exact_int(key.as_ptr())?;
        Some((number, isize::try_from(index).ok()?))
    }

    fn slice_bounds(&self, slice: &Bound<'_, PySlice>) -> PyResult<(isize, isize)> {
        let get = |name: &str| -> PyResult<Option<isize>> {
            let v = slice.getattr(name)?;
            if v.is_none() {
                Ok(None)
            } else {
                Ok(Some(v.extract()?))
            }
        };
        if get("step")?.is_some() {
            return Err(PyValueError::new_err("cdata slices take no step"));
        }
        let start = get("start")?;
        let stop = get("stop")?;
        let (start, stop) = match (self.array_len(), start, stop) {
            (_, Some(a), Some(b)) => (a, b),
            (Some(n), a, b) => (a.unwrap_or(0), b.unwrap_or(n as isize)),
            (None, _, _) => {
                return Err(PyIndexError::new_err(
                    "slicing a pointer needs both a start and a stop",
                ));
            }
        };
        if start < 0 || stop < start {
            return Err(PyIndexError::new_err(format!(
                "slice [{start}:{stop}] is negative or reversed"
            )));
        }
        if let Some(n) = self.array_len()
            && stop as usize > n
        {
            return Err(PyIndexError::new_err(format!(
                "slice stop {stop} out of bounds for '{}' of length {n}",
                self.cname()
            )));
        }
        // A pointer into memory of known extent (from `new`, derived from
        // it) is bounded by that memory's end.
        if self.array_len().is_none()
            && let Some(room) = super::buffer::known_room(self)?
            && (stop as usize).saturating_mul(self.elem_size()?) > room
        {
            return Err(PyIndexError::new_err(format!(
                "slice stop {stop} is past the end of the memory '{}' points into",
                self.cname()
            )));
        }
        Ok((start, stop))
    }

    fn slice(&self, py: Python<'_>, slice: &Bound<'_, PySlice>) -> PyResult<Py<CData>> {
        self.check_live()?;
        let (item, size) = self.item()?;
        let (start, stop) = self.slice_bounds(slice)?;
        let ty = CType::array_of(item.clone(), None);
        let addr = offset_addr(self.addr(), start, size)?;
        let len = (stop - start) as usize;
        CData::build(py, &ty, addr, Some(len), self.owner(), Origin::Sliced)?.into_object(py)
    }

    /// Registers `ffi.gc`'s destructor.
    pub(crate) fn set_gc(&self, destructor: Py<PyAny>, original: Py<PyAny>) {
        *self.gc.lock().unwrap_or_else(|e| e.into_inner()) = Some(GcHook {
            destructor,
            original,
        });
    }

    /// Removes `ffi.gc`'s destructor (`ffi.gc(p, None)`).
    pub(crate) fn take_gc(&self) {
        self.gc.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// `ffi.release` of the object `slf`: a callback's closure is freed
    /// too (it lives in the object, not in an `Owned`).
    pub(crate) fn release_object(slf: &Bound<'_, CData>) -> PyResult<()> {
        slf.get().release(slf.py())?;
        if let Ok(callback) = slf.cast::<super::callback::CallbackCData>() {
            callback.get().release();
        }
        Ok(())
    }

    /// `ffi.release`: runs the gc destructor or drops this cdata's hold on
    /// its memory (freed once nothing else points into it).
    pub(crate) fn release(&self, py: Python<'_>) -> PyResult<()> {
        let hook = self.gc.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(hook) = hook {
            self.released.store(true, Ordering::Relaxed);
            hook.destructor.call1(py, (hook.original,))?;
            return Ok(());
        }
        if matches!(self.origin, Origin::Plain | Origin::Sliced) {
            return Err(PyValueError::new_err(format!(
                "cdata '{}' does not own memory: only cdata from new(), gc(), \
                 from_buffer() and callback() can be released",
                self.cname()
            )));
        }
        self.released.store(true, Ordering::Relaxed);
        let owner = self.owner.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(owner);
        Ok(())
    }
}

impl Drop for CData {
    fn drop(&mut self) {
        let hook = self.gc.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(hook) = hook {
            Python::attach(|py| {
                if let Err(e) = hook.destructor.call1(py, (hook.original,)) {
                    e.write_unraisable(py, Some(hook.destructor.bind(py)));
                }
            });
        }
    }
}

/// `base + index * size`, or an error if it leaves the address space.
pub(crate) fn offset_addr(base: usize, index: isize, size: usize) -> PyResult<usize> {
    index
        .checked_mul(size as isize)
        .and_then(|delta| base.checked_add_signed(delta))
        .ok_or_else(|| PyIndexError::new_err("the address leaves the address space"))
}

fn py_index(obj: &Bound<'_, PyAny>) -> PyResult<isize> {
    let index = obj
        .call_method0("__index__")
        .map_err(|_| PyTypeError::new_err("cdata indices must be integers or slices"))?;
    // An integer too large for any index is out of bounds, as in cffi.
    index
        .extract::<isize>()
        .map_err(|_| PyIndexError::new_err(format!("index {index} out of bounds")))
}

#[pymethods]
impl CData {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let name = self.cname();
        let detail = match &self.origin {
            Origin::Callback(what) => format!("calling {what}"),
            Origin::Handle(what) => format!("handle to {what}"),
            Origin::Owning => format!("owning {} bytes", self.owned_size()),
            Origin::Sliced => format!("sliced length {}", self.length),
            _ if self.released.load(Ordering::Relaxed) => "released".into(),
            _ => match self.kind {
                Kind::Primitive => self.primitive_repr(py)?,
                Kind::Pointer if self.addr() == 0 => "NULL".into(),
                Kind::Record => {
                    return Ok(format!("<cdata '{name} &' 0x{:x}>", self.addr()));
                }
                _ => format!("0x{:x}", self.addr()),
            },
        };
        Ok(format!("<cdata '{name}' {detail}>"))
    }

    fn __int__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if let Some(v) = self.primitive_int() {
            return Ok(v.into_pyobject(py)?.into_any().unbind());
        }
        if let Some(v) = self.primitive_float() {
            // Python's int() of the float: exact, and an error for an
            // infinity or NaN (as cffi), where a Rust cast would saturate.
            return Ok(pyo3::types::PyFloat::new(py, v)
                .call_method0("__int__")?
                .unbind());
        }
        // As cffi: a pointer's address is `ffi.cast("intptr_t", p)`.
        Err(PyTypeError::new_err(format!(
            "int() not supported on cdata '{}' (for an address, use \
             ffi.cast(\"intptr_t\", p))",
            self.cname()
        )))
    }

    fn __index__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.primitive_int() {
            Some(v) => Ok(v.into_pyobject(py)?.into_any().unbind()),
            None => Err(PyTypeError::new_err(format!(
                "cdata '{}' cannot be used as an index",
                self.cname()
            ))),
        }
    }

    fn __float__(&self) -> PyResult<f64> {
        self.primitive_float().ok_or_else(|| {
            PyTypeError::new_err(format!("float() not supported on cdata '{}'", self.cname()))
        })
    }

    fn __bool__(&self) -> PyResult<bool> {
        Ok(match self.kind {
            Kind::Primitive => self.primitive_float().is_some_and(|v| v != 0.0),
            Kind::Pointer => self.addr() != 0,
            _ => true,
        })
    }

    fn __len__(&self) -> PyResult<usize> {
        self.array_len().ok_or_else(|| {
            PyTypeError::new_err(format!("cdata of type '{}' has no len()", self.cname()))
        })
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        match self.kind {
            // Equal to a number, so hashed as that number is.
            Kind::Primitive => match self.compared_value(py)? {
                Some(value) => value.bind(py).hash(),
                None => Ok(0),
            },
            _ => Ok(self.addr() as isize),
        }
    }

    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let py = other.py();
        let Ok(other) = other.cast::<CData>() else {
            // A function pointer equals the lib function at its address
            // (`ffi.cast("int(*)(int)", lib.f) == lib.f`), as in cffi.
            if matches!(self.ty(), CType::Pointer(to) if matches!(**to, CType::Function(_)))
                && matches!(op, CompareOp::Eq | CompareOp::Ne)
                && let Some((code, _)) = super::function::c_function_of(other)
            {
                let same = self.addr() == code;
                return Ok(
                    pyo3::types::PyBool::new(py, same == matches!(op, CompareOp::Eq))
                        .to_owned()
                        .into_any()
                        .unbind(),
                );
            }
            return match self.compared_value(py)? {
                Some(mine) => Ok(mine.bind(py).rich_compare(other, op)?.unbind()),
                None => Ok(py.NotImplemented()),
            };
        };
        let other = other.get();
        let result = match (self.kind, other.kind) {
            (Kind::Primitive, Kind::Primitive) => {
                match (self.primitive_int(), other.primitive_int()) {
                    (Some(a), Some(b)) => op.matches(a.cmp(&b)),
                    _ => match (self.primitive_float(), other.primitive_float()) {
                        (Some(a), Some(b)) => match a.partial_cmp(&b) {
                            Some(ord) => op.matches(ord),
                            None => matches!(op, CompareOp::Ne),
                        },
                        _ => return Ok(py.NotImplemented()),
                    },
                }
            }
            (Kind::Primitive, _) | (_, Kind::Primitive) => {
                if matches!(op, CompareOp::Eq | CompareOp::Ne) {
                    matches!(op, CompareOp::Ne)
                } else {
                    return Ok(py.NotImplemented());
                }
            }
            _ => op.matches(self.addr().cmp(&other.addr())),
        };
        Ok(pyo3::types::PyBool::new(py, result)
            .to_owned()
            .into_any()
            .unbind())
    }

    pub(crate) fn __getitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        if let Some((number, index)) = self.number_item(key) {
            let addr = self.element_addr(index, number.size())?;
            // SAFETY: as below, for a number of the item's size.
            return unsafe { number.read(py, addr as *const u8) };
        }
        if let Ok(slice) = key.cast::<PySlice>() {
            return Ok(self.slice(py, slice)?.into_any());
        }
        let (addr, item) = self.element(py_index(key)?)?;
        let owner = self.owner_for_view_of(item);
        // SAFETY: `addr` is a checked element of an array this cdata keeps
        // alive, or what a non-NULL pointer points to (C semantics).
        unsafe { c_to_py(py, item, addr as *const u8, owner.as_ref()) }
    }

    pub(crate) fn __setitem__(
        &self,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if let Some((number, index)) = self.number_item(key) {
            let addr = self.element_addr(index, number.size())?;
            let bits = number.bits(value, || Ok(self.item()?.0.clone()))?;
            // The conversion may have run Python code that released this
            // cdata; otherwise its memory is still held.
            self.check_live()?;
            // SAFETY: as below, for a number of the item's size.
            unsafe { number.store(bits, addr as *mut u8) };
            return Ok(());
        }
        // The general conversions below write while they convert, and may
        // run Python code (an item's `__index__`) that releases this
        // cdata: its memory is held until they are done.
        let _keep = self.owner();
        let item = self.ctype.get().item_type().cloned().ok_or_else(|| {
            PyTypeError::new_err(format!(
                "cdata of type '{}' does not support item assignment",
                self.cname()
            ))
        })?;
        if let Ok(slice) = key.cast::<PySlice>() {
            self.check_live()?;
            let (start, stop) = self.slice_bounds(slice)?;
            let len = (stop - start) as usize;
            let addr = offset_addr(self.addr(), start, self.elem_size()?)?;
            let array = CType::array_of(item, Some(len));
            if let Ok(n) = value.len()
                && n != len
                && !value.is_instance_of::<CData>()
            {
                return Err(PyValueError::new_err(format!(
                    "need {len} items to assign to a slice of length {len}, got {n}"
                )));
            }
            // SAFETY: the slice's bytes, within the checked bounds.
            return unsafe { py_to_c(&array, value, addr as *mut u8, None) };
        }
        let (addr, _) = self.element(py_index(key)?)?;
        // SAFETY: as in `__getitem__`.
        unsafe { py_to_c(&item, value, addr as *mut u8, None) }
    }

    pub(crate) fn __getattribute__(
        slf: &Bound<'_, CData>,
        name: &Bound<'_, PyString>,
    ) -> PyResult<Py<PyAny>> {
        let this = slf.get();
        let py = slf.py();
        if let Some(member) = this.number_member(py, name)
            && let Some((_, base)) = this.record_base()?
        {
            // SAFETY: the member's bytes inside the record (see
            // `record_base`), of the size its kind says.
            return unsafe { member.kind.read(py, (base + member.offset) as *const u8) };
        }
        if let Some((record, base)) = this.record_base()? {
            let key = name.to_str()?;
            if let CType::Record(r) = record
                && let Some(body) = r.body()
                && let Some((offset, field)) = body.field(key)
            {
                let py = slf.py();
                if field.bits.is_some() {
                    // SAFETY: the record's bytes (see `record_base`).
                    let bytes = unsafe { std::slice::from_raw_parts(base as *const u8, body.size) };
                    let v = Value::read_member(field, offset, bytes).map_err(typed_error)?;
                    let Value::Int(v) = v else {
                        unreachable!("bitfields are integers")
                    };
                    return Ok(v.into_pyobject(py)?.into_any().unbind());
                }
                if let CType::Array(item, len @ (None | Some(0))) = &field.ty {
                    return this.flexible_member(py, item, *len, base + offset);
                }
                let owner = this.owner_for_view_of(&field.ty);
                // SAFETY: the member's bytes inside the record.
                return unsafe {
                    c_to_py(py, &field.ty, (base + offset) as *const u8, owner.as_ref())
                };
            }
        }
        generic_getattr(slf.as_any(), name)
    }

    pub(crate) fn __setattr__(
        &self,
        name: &Bound<'_, PyString>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if let Some(member) = self.number_member(value.py(), name)
            && let Some((_, base)) = self.record_base()?
        {
            let dst = (base + member.offset) as *mut u8;
            let bits = member.kind.bits(value, || self.member_type(name))?;
            // As in `__setitem__`: the conversion may have released it.
            self.check_live()?;
            // SAFETY: the member's bytes inside the record (see
            // `record_base`), of the size its kind says.
            unsafe { member.kind.store(bits, dst) };
            return Ok(());
        }
        // As in `__setitem__`: held while the general conversion runs.
        let _keep = self.owner();
        let key = name.to_str()?;
        if let Some((record, base)) = self.record_base()?
            && let CType::Record(r) = record
            && let Some(body) = r.body()
            && let Some((offset, field)) = body.field(key)
        {
            // Memory `new` made for a struct ending in `T[]` has room for
            // that member's items past the struct's size.
            let size = match (self.kind, &self.origin) {
                (Kind::Pointer, Origin::Owning) => body.size.max(self.owned_size()),
                _ => body.size,
            };
            // SAFETY: the record's bytes (see `record_base`), and the rest
            // of the memory `new` allocated for it.
            let bytes = unsafe { std::slice::from_raw_parts_mut(base as *mut u8, size) };
            return convert::write_member(field, offset, value, bytes);
        }
        Err(pyo3::exceptions::PyAttributeError::new_err(format!(
            "cdata '{}' has no field '{key}'",
            self.cname()
        )))
    }

    fn __dir__(&self) -> Vec<String> {
        match self.record_base() {
            Ok(Some((record, _))) => flat_fields(record).into_iter().map(|f| f.name).collect(),
            _ => Vec::new(),
        }
    }

    fn __add__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let Ok(n) = other.extract::<isize>() else {
            return Ok(py.NotImplemented());
        };
        self.moved(py, n)
    }

    fn __radd__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__add__(py, other)
    }

    fn __sub__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if let Ok(other) = other.cast::<CData>() {
            let other = other.get();
            // cffi's rule: `p - q` for a pointer `p` and a pointer or array
            // `q` of the same item type (an array on the left is refused,
            // which also refuses `a - b` of two unrelated arrays).
            let same_items = self.kind == Kind::Pointer
                && matches!(other.kind, Kind::Pointer | Kind::Array)
                && self.ctype.get().item_type() == other.ctype.get().item_type();
            if !same_items {
                return Err(PyTypeError::new_err(format!(
                    "cannot subtract cdata '{}' and cdata '{}'",
                    self.cname(),
                    other.cname()
                )));
            }
            let size = self.arithmetic_size()? as isize;
            let diff = (self.address()? as isize).wrapping_sub(other.address()? as isize);
            if size == 0 || diff % size != 0 {
                return Err(PyValueError::new_err(format!(
                    "pointer subtraction: the distance between the two pointers ({diff} bytes) \
                     is not a multiple of the item size ({size})"
                )));
            }
            return Ok((diff / size).into_pyobject(py)?.into_any().unbind());
        }
        let Ok(n) = other.extract::<isize>() else {
            return Ok(py.NotImplemented());
        };
        self.moved(
            py,
            n.checked_neg()
                .ok_or_else(|| PyValueError::new_err("offset too large"))?,
        )
    }

    #[pyo3(signature = (*args))]
    fn __call__(
        slf: &Bound<'_, CData>,
        args: &Bound<'_, pyo3::types::PyTuple>,
    ) -> PyResult<Py<PyAny>> {
        super::function::call_pointer(slf, args)
    }

    fn __iter__(slf: &Bound<'_, CData>) -> PyResult<Py<PyAny>> {
        let this = slf.get();
        let len = this.array_len().ok_or_else(|| {
            PyTypeError::new_err(format!(
                "cdata '{}' does not support iteration",
                this.cname()
            ))
        })?;
        let py = slf.py();
        let items = PyList::empty(py);
        for i in 0..len {
            items.append(this.__getitem__(py, &i.into_pyobject(py)?.into_any())?)?;
        }
        Ok(items.try_iter()?.into_any().unbind())
    }

    fn __enter__(slf: Py<CData>) -> Py<CData> {
        slf
    }

    fn __exit__(
        slf: &Bound<'_, CData>,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        CData::release_object(slf)?;
        Ok(false)
    }
}

impl CData {
    /// A primitive's value as a Python number (characters by code).
    fn primitive_value(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        if let Some(v) = self.primitive_int() {
            return Ok(Some(v.into_pyobject(py)?.into_any().unbind()));
        }
        Ok(self
            .primitive_float()
            .map(|v| v.into_pyobject(py).map(|f| f.into_any().unbind()))
            .transpose()?)
    }

    /// The Python value a primitive cdata compares (and hashes) as: a
    /// number, or a character's bytes or str (as cffi); `None` for others.
    fn compared_value(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match (self.kind, self.ty()) {
            (Kind::Primitive, CType::Scalar(s)) if char_kind(*s) != CharKind::No => {
                // SAFETY: `inline` holds the character (16 bytes, any
                // character type fits).
                Ok(Some(unsafe {
                    c_to_py(py, self.ty(), self.inline.as_ptr(), None)?
                }))
            }
            (Kind::Primitive, _) => self.primitive_value(py),
            _ => Ok(None),
        }
    }

    /// A trailing `T[]` or `T[0]` member at `addr`, which has no length of
    /// its own. As cffi: in memory `new` allocated, a `T[]` of the items
    /// that fit in the allocation (bounds-checked); elsewhere (a cast, a
    /// pointer from C) a `T *` to its first item, whose length only the
    /// program knows.
    #[cold]
    fn flexible_member(
        &self,
        py: Python<'_>,
        item: &Arc<CType>,
        len: Option<usize>,
        addr: usize,
    ) -> PyResult<Py<PyAny>> {
        let owner = self.owner();
        if len.is_none() && self.origin == Origin::Owning {
            let item_size = item.size().map_err(typed_error)?.max(1);
            let room = (self.addr() + self.owned_size()).saturating_sub(addr);
            let array = CData::build(
                py,
                &CType::Array(item.clone(), None),
                addr,
                Some(room / item_size),
                owner,
                Origin::Plain,
            )?;
            return Ok(array.into_object(py)?.into_any());
        }
        let pointer = CType::pointer_to((**item).clone());
        Ok(CData::plain(py, &pointer, addr, owner)?.into_any())
    }

    /// Bytes of memory this cdata owns (0 if it owns none).
    pub(crate) fn owned_size(&self) -> usize {
        match self.kind {
            Kind::Pointer => {
                let item = self.ctype.get().item_type().and_then(|t| t.size().ok());
                item.unwrap_or(0).max(self.length)
            }
            _ => self.data_size().unwrap_or(0),
        }
    }

    fn primitive_repr(&self, py: Python<'_>) -> PyResult<String> {
        let ty = self.ty();
        if let CType::Enum(e) = ty {
            let v = self.primitive_int().unwrap_or(0);
            return Ok(match e.values.iter().find(|(_, x)| *x == v) {
                Some((name, _)) => format!("{v}: {name}"),
                None => v.to_string(),
            });
        }
        // SAFETY: `inline` holds the value (16 bytes, any scalar fits).
        let value = unsafe { c_to_py(py, ty, self.inline.as_ptr(), None)? };
        Ok(value.bind(py).repr()?.to_string())
    }

    /// `self + n` for pointers and arrays (an array decays to a pointer).
    fn moved(&self, py: Python<'_>, n: isize) -> PyResult<Py<PyAny>> {
        let item = match (self.kind, self.ctype.get().item_type()) {
            (Kind::Pointer | Kind::Array, Some(item)) => item.clone(),
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "pointer arithmetic needs a pointer or array, not cdata '{}'",
                    self.cname()
                )));
            }
        };
        let addr = offset_addr(self.address()?, n, self.arithmetic_size()?)?;
        let ty = CType::pointer_to(item);
        Ok(CData::plain(py, &ty, addr, self.owner())?.into_any())
    }

    /// The size pointer arithmetic steps by: the item's, or 1 for `void *`
    /// (as cffi and GNU C do).
    fn arithmetic_size(&self) -> PyResult<usize> {
        match self.ctype.get().item_type() {
            Some(CType::Void) if self.kind == Kind::Pointer => Ok(1),
            _ => self.elem_size(),
        }
    }
}

/// Python's own attribute lookup, for names that are not members.
fn generic_getattr(obj: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> PyResult<Py<PyAny>> {
    // SAFETY: both objects are live; the call returns a new reference or
    // NULL with an exception set, which `from_owned_ptr_or_err` handles.
    unsafe {
        let result = pyo3::ffi::PyObject_GenericGetAttr(obj.as_ptr(), name.as_ptr());
        Bound::from_owned_ptr_or_err(obj.py(), result).map(Bound::unbind)
    }
}
