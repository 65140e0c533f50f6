//! The `FFI` class: cffi's ABI-mode API over one namespace of declarations.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, RwLock};

use ffi_typed::{CType, Declarations, NameKind, Packing, ParseOptions, TagKind};
use pyo3::exceptions::{PyIndexError, PyKeyError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use super::cdata::{CData, Kind, Origin, offset_addr};
use super::convert::{c_to_py, init_new, new_array_length, new_size, wide_to_str};
use super::ctype::{CharKind, PyCType, char_kind, ctype_object};
use super::library::Lib;
use crate::ground::errors::{CDefError, FFIError, missing_error, typed_error};
use crate::ground::memory::{Owned, handle_object};

/// Declarations shared by an `FFI` and the libraries it opened.
pub(crate) struct FfiState {
    pub(crate) decls: RwLock<Declarations>,
    /// Type objects by spelling; cleared by every `cdef` and `include`.
    types: TypeCache,
}

/// Spellings resolved recently, by the identity of the string.
const RECENT_SPELLINGS: usize = 8;

/// A spelling (the string object itself) and its type object.
type Resolved = (Py<PyString>, Py<PyCType>);

/// Type objects by spelling (`ffi.cast("int *", p)`): first by the identity
/// of the Python string (a literal in Python source is one object, so the
/// common case compares a pointer), then by its text (a dict keyed by the
/// string, whose hash CPython caches).
struct TypeCache {
    /// Direct-mapped by the string's address; holding the string keeps
    /// the address from naming another string.
    recent: Mutex<[Option<Resolved>; RECENT_SPELLINGS]>,
    by_text: Py<PyDict>,
}

impl TypeCache {
    fn new(py: Python<'_>) -> TypeCache {
        TypeCache {
            recent: Mutex::new(Default::default()),
            by_text: PyDict::new(py).unbind(),
        }
    }

    fn slot(spelling: &Bound<'_, PyString>) -> usize {
        // Objects are at least 16-aligned: the low bits carry nothing.
        (spelling.as_ptr() as usize >> 4) % RECENT_SPELLINGS
    }

    fn get(&self, spelling: &Bound<'_, PyString>) -> PyResult<Option<Py<PyCType>>> {
        let py = spelling.py();
        let slot = TypeCache::slot(spelling);
        // `try_lock`: only ever held briefly; if busy, the dict answers.
        if let Ok(recent) = self.recent.try_lock()
            && let Some((text, ctype)) = &recent[slot]
            && text.as_ptr() == spelling.as_ptr()
        {
            return Ok(Some(ctype.clone_ref(py)));
        }
        // Unlocked: a str subclass's `__hash__` or `__eq__` may run here.
        let Some(found) = self.by_text.bind(py).get_item(spelling)? else {
            return Ok(None);
        };
        // SAFETY: only type objects are stored in the dict.
        let ctype = unsafe { found.cast_into_unchecked::<PyCType>() }.unbind();
        let entry = (spelling.clone().unbind(), ctype.clone_ref(py));
        let replaced = match self.recent.try_lock() {
            Ok(mut recent) => recent[slot].replace(entry),
            Err(_) => Some(entry),
        };
        // Released unlocked (a release may run a finalizer) and at once,
        // even when called from `FFI.cast`'s entry point (see
        // `ground::entry`).
        if let Some((text, old)) = replaced {
            text.drop_ref(py);
            old.drop_ref(py);
        }
        Ok(Some(ctype))
    }

    fn insert(&self, spelling: &Bound<'_, PyString>, ctype: &Py<PyCType>) -> PyResult<()> {
        self.by_text.bind(spelling.py()).set_item(spelling, ctype)
    }

    fn clear(&self, py: Python<'_>) {
        let recent = std::mem::take(&mut *self.recent.lock().unwrap_or_else(|e| e.into_inner()));
        // Released unlocked: a release may run a finalizer.
        drop(recent);
        self.by_text.bind(py).clear();
    }
}

impl FfiState {
    pub(crate) fn decls(&self) -> std::sync::RwLockReadGuard<'_, Declarations> {
        self.decls.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// cffi's `FFI` object.
#[pyclass(name = "FFI", module = "ffi_py", subclass, frozen, dict, weakref)]
pub struct Ffi {
    pub(crate) state: Arc<FfiState>,
    /// The library objects `dlopen` returned and `dlclose` has not closed:
    /// an FFI keeps its libraries alive, as cffi's does (each library keeps
    /// its FFI alive too; the collector frees the pair, see `__traverse__`).
    libraries: Mutex<Vec<Py<PyAny>>>,
}

/// Keyword arguments `new_allocator` fixes for its allocations.
#[pyclass(name = "Allocator", module = "ffi_py", frozen)]
pub struct Allocator {
    ffi: Py<Ffi>,
    alloc: Option<Py<PyAny>>,
    free: Option<Py<PyAny>>,
    clear: bool,
}

impl Ffi {
    /// The C type a `cdecl` argument names: a CType, or a type spelling.
    pub(crate) fn resolve(
        &self,
        py: Python<'_>,
        cdecl: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyCType>> {
        // A str first: the common case, and the cheaper type check.
        let Ok(spelling) = cdecl.cast::<PyString>() else {
            if let Ok(ctype) = cdecl.cast::<PyCType>() {
                return Ok(ctype.clone().unbind());
            }
            return Err(PyTypeError::new_err(format!(
                "expected a C type name (str) or a CType, not {}",
                cdecl.get_type().name()?
            )));
        };
        if let Some(found) = self.state.types.get(spelling)? {
            return Ok(found);
        }
        let text = spelling.to_str()?;
        let ty = self.state.decls().parse_type(text).map_err(|e| {
            let message = format!("cannot parse \"{text}\"\n{e}");
            // cffi's class: its parser takes the name, its backend then
            // refuses the type.
            if e.function_returns_array {
                PyTypeError::new_err(message)
            } else {
                CDefError::new_err(message)
            }
        })?;
        check_buildable(py, &ty)?;
        let object = ctype_object(py, &ty)?;
        self.state.types.insert(spelling, &object)?;
        Ok(object)
    }

    fn resolve_ty(&self, py: Python<'_>, cdecl: &Bound<'_, PyAny>) -> PyResult<CType> {
        Ok(self.resolve(py, cdecl)?.get().ty.clone())
    }

    /// `new` with a given allocator (ffi_py's own when `custom` is None).
    fn allocate(
        &self,
        py: Python<'_>,
        cdecl: &Bound<'_, PyAny>,
        init: Option<&Bound<'_, PyAny>>,
        custom: Option<&Allocator>,
    ) -> PyResult<Py<CData>> {
        let ctype = self.resolve(py, cdecl)?;
        let ty = &ctype.get().ty;
        let init = init.filter(|i| !i.is_none());
        // What the memory holds: the pointed-to type, or the whole array.
        let (storage, length) = match ty {
            CType::Pointer(to) => {
                if to.size().is_err() {
                    return Err(PyTypeError::new_err(format!(
                        "cannot instantiate ctype '{to}' of unknown size"
                    )));
                }
                (Cow::Borrowed(&**to), None)
            }
            CType::Array(_, Some(n)) => (Cow::Borrowed(ty), Some(*n)),
            CType::Array(elem, None) => {
                let init = init.ok_or_else(|| {
                    PyTypeError::new_err(
                        "new() of an array of unspecified length needs a length or an initializer",
                    )
                })?;
                let n = new_array_length(elem, init)?;
                (
                    Cow::Owned(CType::array_of((**elem).clone(), Some(n))),
                    Some(n),
                )
            }
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "expected a pointer or array ctype, got '{ty}'"
                )));
            }
        };
        // More than `storage`'s size for a struct ending in `T[]` whose
        // items the initialiser gives (as cffi does).
        let size = new_size(&storage, init)?;
        let owned = match custom {
            Some(allocator) if allocator.alloc.is_some() => {
                Arc::new(allocator.custom_memory(py, size)?)
            }
            _ => Owned::zeroed_bytes(size, storage.align().map_err(typed_error)?.max(16))?,
        };
        let count_only = matches!(ty, CType::Array(_, None))
            && init.is_some_and(|i| i.extract::<isize>().is_ok() && !i.is_instance_of::<PyBytes>());
        if let Some(init) = init.filter(|_| !count_only) {
            // SAFETY: the allocation is `size` bytes, at least `storage`'s.
            unsafe { init_new(&storage, init, owned.addr() as *mut u8, size)? };
        }
        let addr = owned.addr();
        // A pointer's length is the bytes it owns (see `CData::length`).
        let length = length.or(Some(size));
        let cdata = CData::build_typed(ctype, addr, length, Some(owned), Origin::Owning)?;
        cdata.into_object(py)
    }
}

/// What cffi's ABI mode does when it builds the type a type name names:
/// one that leads to a fact only the C compiler knows (a struct or enum
/// declared with `...`, a `[...]` length, an `int...` type) is refused, as
/// cffi refuses it (`missing_error`); one leading (through pointers and
/// arrays) to an enum declared without values (`enum foo;`) is taken to be
/// `unsigned int`, with a warning, given once per spelling until the next
/// `cdef`, as resolved types are cached.
fn check_buildable(py: Python<'_>, ty: &CType) -> PyResult<()> {
    if let Some(missing) = ty.missing() {
        return Err(missing_error(&missing));
    }
    let mut base = ty;
    while let CType::Pointer(to) | CType::Array(to, _) = base {
        base = to;
    }
    let CType::Enum(e) = base else {
        return Ok(());
    };
    if !e.is_opaque() {
        return Ok(());
    }
    let message = format!(
        "'{base}' has no values explicitly defined; guessing that it is equivalent to \
         'unsigned int'"
    );
    let message = std::ffi::CString::new(message).expect("a C name has no NUL");
    let category = py.get_type::<pyo3::exceptions::PyUserWarning>();
    PyErr::warn(py, category.as_any(), &message, 1)
}

impl Allocator {
    /// Memory of `size` bytes from the allocator's `alloc(size)`, which
    /// must return a pointer or array cdata (as in cffi: an int is not
    /// taken as an address) with room for `size` bytes where ffi_py knows
    /// its extent (memory from `new`, an array); a pointer from C is
    /// trusted, as C's `malloc` is.
    fn custom_memory(&self, py: Python<'_>, size: usize) -> PyResult<Owned> {
        let alloc = self.alloc.as_ref().expect("custom allocator");
        let allocated = alloc.call1(py, (size,))?;
        let cdata = allocated.bind(py).cast::<CData>().map_err(|_| {
            PyTypeError::new_err(format!(
                "alloc() must return a cdata object (got {})",
                allocated
                    .bind(py)
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        let this = cdata.get();
        if !matches!(this.kind, Kind::Pointer | Kind::Array) {
            return Err(PyTypeError::new_err(format!(
                "alloc() must return a cdata pointer, not '{}'",
                this.cname()
            )));
        }
        let addr = this.address()?;
        if addr == 0 {
            return Err(pyo3::exceptions::PyMemoryError::new_err(format!(
                "alloc() returned NULL for {size} bytes"
            )));
        }
        if let Some(room) = super::buffer::known_room(this)?
            && room < size
        {
            return Err(PyValueError::new_err(format!(
                "alloc() returned cdata '{}' with {room} bytes, {size} are needed",
                this.cname()
            )));
        }
        if self.clear {
            // SAFETY: `size` writable bytes at `addr`: checked above where
            // ffi_py knows the extent, the allocator's promise elsewhere.
            unsafe { std::ptr::write_bytes(addr as *mut u8, 0, size) };
        }
        Ok(Owned::Custom {
            addr,
            len: size,
            _memory: this.owner(),
            allocated,
            free: self.free.as_ref().map(|f| f.clone_ref(py)),
        })
    }
}

#[pymethods]
impl Allocator {
    #[pyo3(signature = (cdecl, init = None))]
    fn __call__(
        &self,
        py: Python<'_>,
        cdecl: &Bound<'_, PyAny>,
        init: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<CData>> {
        self.ffi.get().allocate(py, cdecl, init, Some(self))
    }
}

fn field_path(ty: &CType, fields: &[Bound<'_, PyAny>]) -> PyResult<(CType, usize)> {
    let mut ty = ty.clone();
    let mut offset = 0usize;
    for (i, key) in fields.iter().enumerate() {
        if let Ok(name) = key.cast::<PyString>() {
            let name = name.to_str()?;
            let target = match &ty {
                CType::Pointer(to) if i == 0 => (**to).clone(),
                other => other.clone(),
            };
            let CType::Record(r) = &target else {
                return Err(PyTypeError::new_err(format!(
                    "'{ty}' is not a struct or union"
                )));
            };
            let body = r
                .body()
                .ok_or_else(|| PyTypeError::new_err(format!("'{target}' is opaque")))?;
            let (field_offset, field) = body
                .field(name)
                .ok_or_else(|| PyKeyError::new_err(format!("'{target}' has no field '{name}'")))?;
            if field.bits.is_some() {
                return Err(PyTypeError::new_err(format!(
                    "field '{name}' is a bitfield"
                )));
            }
            offset += field_offset;
            ty = field.ty.clone();
        } else {
            let index: isize = key.extract()?;
            let elem = match &ty {
                CType::Array(elem, _) => (**elem).clone(),
                CType::Pointer(to) if i == 0 => (**to).clone(),
                _ => return Err(PyTypeError::new_err(format!("'{ty}' is not an array"))),
            };
            let size = elem.size().map_err(typed_error)?;
            offset = offset_addr(offset, index, size)?;
            ty = elem;
        }
    }
    Ok((ty, offset))
}

#[pymethods]
impl Ffi {
    #[new]
    #[pyo3(signature = (backend = None))]
    fn construct(py: Python<'_>, backend: Option<&Bound<'_, PyAny>>) -> Ffi {
        let _ = backend;
        Ffi {
            state: Arc::new(FfiState {
                decls: RwLock::new(Declarations::new()),
                types: TypeCache::new(py),
            }),
            libraries: Mutex::new(Vec::new()),
        }
    }

    /// Parses C declarations into this FFI's namespace.
    #[pyo3(signature = (csource, r#override = false, packed = None, pack = None))]
    fn cdef(
        &self,
        py: Python<'_>,
        csource: &str,
        r#override: bool,
        packed: Option<&Bound<'_, PyAny>>,
        pack: Option<usize>,
    ) -> PyResult<()> {
        let packed = match packed {
            None => false,
            // As cffi: other packings are spelt `pack=N`.
            Some(p) if p.is_instance_of::<pyo3::types::PyBool>() || p.eq(0)? || p.eq(1)? => {
                p.is_truthy()?
            }
            Some(p) => {
                return Err(PyValueError::new_err(format!(
                    "'packed' should be False or True, not {}; use 'pack' for other values",
                    p.repr()?
                )));
            }
        };
        let packing = match (packed, pack) {
            (true, Some(_)) => {
                return Err(PyValueError::new_err(
                    "'packed' and 'pack' are mutually exclusive",
                ));
            }
            (true, None) => Packing::Packed,
            (false, Some(n)) if n.is_power_of_two() => Packing::Pack(n),
            (false, Some(n)) => {
                return Err(PyValueError::new_err(format!(
                    "'pack' must be a power of two, not {n}"
                )));
            }
            (false, None) => Packing::Natural,
        };
        let options = ParseOptions::default()
            .with_packing(packing)
            .with_override(r#override);
        let mut decls = self.state.decls.write().unwrap_or_else(|e| e.into_inner());
        decls.parse_with(csource, options).map_err(|e| {
            // As cffi: declaring a name again, differently, is an FFIError;
            // malformed source is a CDefError.
            if e.redefinition {
                FFIError::new_err(e.to_string())
            } else {
                CDefError::new_err(e.to_string())
            }
        })?;
        self.state.types.clear(py);
        Ok(())
    }

    /// Declares here the typedefs, structs, unions, enums and constants of
    /// another `FFI` (the same types, shared), as cffi's `ffi.include`.
    fn include(slf: &Bound<'_, Ffi>, other: &Bound<'_, Ffi>) -> PyResult<()> {
        let (mine, theirs) = (&slf.get().state, &other.get().state);
        if Arc::ptr_eq(mine, theirs) {
            return Err(PyValueError::new_err("an FFI cannot include itself"));
        }
        // Locked in address order, so that two FFIs including each other
        // from two threads cannot deadlock.
        let result = if Arc::as_ptr(mine) < Arc::as_ptr(theirs) {
            let mut decls = mine.decls.write().unwrap_or_else(|e| e.into_inner());
            decls.include(&theirs.decls())
        } else {
            let source = theirs.decls();
            let mut decls = mine.decls.write().unwrap_or_else(|e| e.into_inner());
            decls.include(&source)
        };
        result.map_err(|e| FFIError::new_err(e.to_string()))?;
        mine.types.clear(slf.py());
        Ok(())
    }

    /// Opens a library: by name (`"c"`, `"libm.so.6"`), by path, the
    /// running process itself with `None`, or the library behind a `void *`
    /// handle that C's `dlopen` returned (which stays the caller's to close).
    /// `release_gil=False` keeps the GIL during this library's calls (for
    /// very short functions).
    #[pyo3(signature = (name, flags = 0, release_gil = true))]
    fn dlopen(
        slf: &Bound<'_, Ffi>,
        name: Option<&Bound<'_, PyAny>>,
        flags: i32,
        release_gil: bool,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let core = Lib::open(
            py,
            slf.clone().into_any().unbind(),
            slf.get().state.clone(),
            name,
            flags,
            release_gil,
        )?;
        static LIB_CLASS: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
        let class = LIB_CLASS.get_or_try_init(py, || {
            py.import("ffi_py._lib")?.getattr("Lib").map(Bound::unbind)
        })?;
        let lib = class.call1(py, (core,))?;
        slf.get()
            .libraries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(lib.clone_ref(py));
        Ok(lib)
    }

    /// Closes a library: its attributes stop working (functions and data
    /// pointers already fetched keep it loaded, so they stay safe to use).
    fn dlclose(&self, lib: &Bound<'_, PyAny>) -> PyResult<()> {
        let core = lib_core(lib)?;
        lib.call_method0("_ffi_py_forget")?;
        core.get().close();
        self.libraries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|kept| !kept.is(lib));
        Ok(())
    }

    /// The libraries this FFI keeps alive, which refer back to it.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // The lock is only taken under the GIL, which the collector holds;
        // `try_lock` keeps traversal from ever blocking.
        if let Ok(libraries) = self.libraries.try_lock() {
            for lib in libraries.iter() {
                visit.call(lib)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        let libraries =
            std::mem::take(&mut *self.libraries.lock().unwrap_or_else(|e| e.into_inner()));
        drop(libraries);
    }

    /// Allocates zeroed memory for a pointer's target or an array, optionally
    /// initialised; it lives while any cdata pointing into it lives.
    #[pyo3(name = "new", signature = (cdecl, init = None))]
    fn new_cdata(
        &self,
        py: Python<'_>,
        cdecl: &Bound<'_, PyAny>,
        init: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<CData>> {
        self.allocate(py, cdecl, init, None)
    }

    /// An allocator with cffi's `new` signature using `alloc(size)` and
    /// `free(ptr)` (ffi_py's own allocator when `alloc` is None).
    #[pyo3(signature = (alloc = None, free = None, should_clear_after_alloc = true))]
    fn new_allocator(
        slf: &Bound<'_, Ffi>,
        alloc: Option<Py<PyAny>>,
        free: Option<Py<PyAny>>,
        should_clear_after_alloc: bool,
    ) -> PyResult<Allocator> {
        if alloc.is_none() && free.is_some() {
            return Err(PyTypeError::new_err("cannot give 'free' without 'alloc'"));
        }
        Ok(Allocator {
            ffi: slf.clone().unbind(),
            alloc,
            free,
            clear: should_clear_after_alloc,
        })
    }

    /// The C string behind a `char *`/`char[]` (bytes) or `wchar_t *` (str)
    /// up to its NUL (or `maxlen`); a character's value; an enum's name.
    #[pyo3(signature = (cdata, maxlen = -1))]
    fn string(
        &self,
        py: Python<'_>,
        cdata: &Bound<'_, CData>,
        maxlen: isize,
    ) -> PyResult<Py<PyAny>> {
        let this = cdata.get();
        let ty = this.ty();
        match (this.kind, ty) {
            (Kind::Primitive, CType::Enum(e)) => {
                let v = this.primitive_int().unwrap_or(0);
                let name = e
                    .values
                    .iter()
                    .find(|(_, x)| *x == v)
                    .map(|(n, _)| n.clone())
                    .unwrap_or_else(|| v.to_string());
                return Ok(PyString::new(py, &name).into_any().unbind());
            }
            (Kind::Primitive, CType::Scalar(s)) if char_kind(*s) != CharKind::No => {
                // SAFETY: the inline value is the character.
                return unsafe { c_to_py(py, ty, this.inline.as_ptr(), None) };
            }
            _ => {}
        }
        let elem = match (this.kind, ty) {
            (Kind::Pointer | Kind::Array, CType::Pointer(e) | CType::Array(e, _)) => (**e).clone(),
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "string(): expected a pointer or array of characters, got cdata '{ty}'"
                )));
            }
        };
        let addr = this.address()?;
        if addr == 0 {
            return Err(PyRuntimeError::new_err(
                "string(): cannot read from a NULL pointer",
            ));
        }
        let mut limit = usize::try_from(maxlen).unwrap_or(usize::MAX);
        if this.kind == Kind::Array {
            limit = limit.min(this.length);
        }
        if this.origin == Origin::Owning && this.kind == Kind::Pointer {
            // Memory from new() has a known end: never read past it.
            limit = limit.min(this.owned_size() / elem.size().map_err(typed_error)?.max(1));
        }
        let CType::Scalar(s) = &elem else {
            return Err(PyTypeError::new_err(format!(
                "string(): '{elem}' is not a character type"
            )));
        };
        let size = elem.size().map_err(typed_error)?;
        match char_kind(*s) {
            CharKind::Byte | CharKind::No if size == 1 => {
                // SAFETY: C string semantics: read up to NUL or the limit,
                // within the array for arrays.
                let bytes = unsafe { read_units(addr, 1, limit) };
                let bytes: Vec<u8> = bytes.into_iter().map(|u| u as u8).collect();
                Ok(PyBytes::new(py, &bytes).into_any().unbind())
            }
            CharKind::Wide => {
                // SAFETY: as above, in units of the wide type.
                let units = unsafe { read_units(addr, size, limit) };
                wide_to_str(py, &units, size)
            }
            _ => Err(PyTypeError::new_err(format!(
                "string(): '{elem}' is not a character type"
            ))),
        }
    }

    /// `length` items from a pointer or array: bytes for `char`, str for
    /// wide characters, a list otherwise.
    fn unpack(
        &self,
        py: Python<'_>,
        cdata: &Bound<'_, CData>,
        length: isize,
    ) -> PyResult<Py<PyAny>> {
        let this = cdata.get();
        let length = usize::try_from(length)
            .map_err(|_| PyValueError::new_err(format!("negative length {length}")))?;
        let elem = match (this.kind, this.ty()) {
            (Kind::Pointer | Kind::Array, CType::Pointer(e) | CType::Array(e, _)) => (**e).clone(),
            (_, ty) => {
                return Err(PyTypeError::new_err(format!(
                    "unpack(): expected a pointer or array, got cdata '{ty}'"
                )));
            }
        };
        if this.kind == Kind::Array && length > this.length {
            return Err(PyIndexError::new_err(format!(
                "unpack(): {length} items requested from an array of {}",
                this.length
            )));
        }
        let addr = this.address()?;
        if addr == 0 && length > 0 {
            return Err(PyRuntimeError::new_err(
                "unpack(): cannot read from a NULL pointer",
            ));
        }
        let size = elem.size().map_err(typed_error)?;
        let total = size
            .checked_mul(length)
            .ok_or_else(|| PyValueError::new_err("unpack(): length too large"))?;
        // Memory of known extent (from `new`, or derived from it) bounds a
        // pointer too; elsewhere the caller vouches for the length, as in C.
        if let Some(room) = super::buffer::known_room(this)?
            && total > room
        {
            return Err(PyIndexError::new_err(format!(
                "unpack(): {length} items of '{elem}' need {total} bytes, the memory                  '{}' points into has {room}",
                this.cname()
            )));
        }
        // Held while the items are read and converted.
        let _keep = this.owner();
        if let CType::Scalar(s) = &elem {
            match char_kind(*s) {
                CharKind::Byte => {
                    // SAFETY: the caller vouches for `length` readable items
                    // (bounds-checked for arrays above).
                    let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, total) };
                    return Ok(PyBytes::new(py, bytes).into_any().unbind());
                }
                CharKind::Wide => {
                    // SAFETY: as above.
                    let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, total) };
                    let units: Vec<u32> = bytes
                        .chunks(size)
                        .map(|c| {
                            let mut b = [0u8; 4];
                            b[..size].copy_from_slice(c);
                            u32::from_le_bytes(b)
                        })
                        .collect();
                    return wide_to_str(py, &units, size);
                }
                CharKind::No => {}
            }
        }
        let owner = this.owner();
        let items = (0..length)
            .map(|i| {
                // SAFETY: as above, item by item.
                unsafe { c_to_py(py, &elem, (addr + i * size) as *const u8, owner.as_ref()) }
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(pyo3::types::PyList::new(py, items)?.into_any().unbind())
    }

    /// A cdata pointing into a Python object's memory, without copying:
    /// `bytes` (read-only) or any writable buffer (bytearray, array, ...).
    #[pyo3(name = "from_buffer", signature = (cdecl, python_buffer = None, require_writable = false))]
    fn cdata_from_buffer(
        &self,
        py: Python<'_>,
        cdecl: &Bound<'_, PyAny>,
        python_buffer: Option<&Bound<'_, PyAny>>,
        require_writable: bool,
    ) -> PyResult<Py<CData>> {
        let (cdecl, object) = match python_buffer {
            Some(object) => (cdecl.clone(), object.clone()),
            None => (PyString::new(py, "char[]").into_any(), cdecl.clone()),
        };
        let ty = self.resolve_ty(py, &cdecl)?;
        super::buffer::from_buffer(py, &ty, &object, require_writable)
    }

    /// Copies `n` bytes from `src` (cdata or bytes-like) to `dest` (cdata
    /// or writable buffer); the regions may overlap.
    fn memmove(&self, dest: &Bound<'_, PyAny>, src: &Bound<'_, PyAny>, n: isize) -> PyResult<()> {
        super::buffer::memmove(dest, src, n)
    }

    /// `sizeof` of a type or of a cdata's value.
    fn sizeof(&self, py: Python<'_>, cdecl: &Bound<'_, PyAny>) -> PyResult<usize> {
        if let Ok(cdata) = cdecl.cast::<CData>() {
            let this = cdata.get();
            if this.kind == Kind::Array {
                return this.data_size();
            }
            return this.ty().size().map_err(typed_error);
        }
        self.resolve_ty(py, cdecl)?.size().map_err(typed_error)
    }

    /// `_Alignof` of a type.
    fn alignof(&self, py: Python<'_>, cdecl: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ty = match cdecl.cast::<CData>() {
            Ok(cdata) => cdata.get().ty().clone(),
            Err(_) => self.resolve_ty(py, cdecl)?,
        };
        ty.align().map_err(typed_error)
    }

    /// `offsetof(T, a.b[3])` as `offsetof(T, 'a', 'b', 3)`.
    #[pyo3(signature = (cdecl, *fields))]
    fn offsetof(
        &self,
        py: Python<'_>,
        cdecl: &Bound<'_, PyAny>,
        fields: &Bound<'_, PyTuple>,
    ) -> PyResult<usize> {
        let ty = self.resolve_ty(py, cdecl)?;
        if fields.is_empty() {
            return Err(PyTypeError::new_err("offsetof() needs at least one field"));
        }
        let fields: Vec<_> = fields.iter().collect();
        // A pointer to a struct or union names the members of its target,
        // as cffi allows.
        let ty = match ty {
            CType::Pointer(to)
                if fields[0].is_instance_of::<PyString>() && matches!(*to, CType::Record(_)) =>
            {
                (*to).clone()
            }
            CType::Pointer(_) if fields[0].is_instance_of::<PyString>() => {
                return Err(PyTypeError::new_err(format!(
                    "'{ty}' is not a struct or union"
                )));
            }
            other => other,
        };
        Ok(field_path(&ty, &fields)?.1)
    }

    /// The CType of a cdata, a C function from a library, or a spelling.
    #[pyo3(name = "typeof")]
    fn type_of(&self, py: Python<'_>, cdecl: &Bound<'_, PyAny>) -> PyResult<Py<PyCType>> {
        if let Ok(cdata) = cdecl.cast::<CData>() {
            return Ok(cdata.get().ctype.clone_ref(py));
        }
        if let Some((_, fty)) = super::function::c_function_of(cdecl) {
            return ctype_object(py, &CType::pointer_to(fty));
        }
        if let Ok(variadic) = cdecl.cast::<super::library::VariadicFunction>() {
            let fty = CType::Function(variadic.get().function_type());
            return ctype_object(py, &CType::pointer_to(fty));
        }
        if cdecl.is_instance_of::<PyString>() || cdecl.is_instance_of::<PyCType>() {
            return self.resolve(py, cdecl);
        }
        Err(PyTypeError::new_err(format!(
            "typeof() expects a str, a CType or a cdata, not {}",
            cdecl.get_type().name()?
        )))
    }

    /// The address of a struct, union or array cdata (or of one of its
    /// members, by name or index) as a pointer, keeping the memory alive.
    #[pyo3(signature = (cdata, *fields))]
    fn addressof(
        &self,
        py: Python<'_>,
        cdata: &Bound<'_, PyAny>,
        fields: &Bound<'_, PyTuple>,
    ) -> PyResult<Py<CData>> {
        if let Ok(lib) = lib_core(cdata) {
            let name: String = fields
                .get_item(0)
                .map_err(|_| PyTypeError::new_err("addressof(lib, name) needs a name"))?
                .extract()?;
            return lib.get().address_of(py, &name);
        }
        let cdata = cdata.cast::<CData>().map_err(|_| {
            PyTypeError::new_err("addressof() expects a cdata struct, union or array")
        })?;
        let this = cdata.get();
        let derefs_pointer = this.kind == Kind::Pointer && !fields.is_empty();
        if !matches!(this.kind, Kind::Record | Kind::Array) && !derefs_pointer {
            return Err(PyTypeError::new_err(format!(
                "addressof() expects a cdata struct, union or array, not cdata '{}'",
                this.cname()
            )));
        }
        let fields: Vec<_> = fields.iter().collect();
        let (ty, offset) = field_path(this.ty(), &fields)?;
        let addr = this
            .address()?
            .checked_add(offset)
            .ok_or_else(|| PyIndexError::new_err("the address leaves the address space"))?;
        CData::plain(py, &CType::pointer_to(ty), addr, this.owner())
    }

    /// The C spelling of a type, with `replace_with` in the declarator
    /// position (`getctype("int[3]", "*p")` is `int(*p)[3]`).
    #[pyo3(signature = (cdecl, replace_with = ""))]
    fn getctype(
        &self,
        py: Python<'_>,
        cdecl: &Bound<'_, PyAny>,
        replace_with: &str,
    ) -> PyResult<String> {
        let ty = self.resolve_ty(py, cdecl)?;
        let mut name = replace_with.trim().to_string();
        if name.starts_with('*') && matches!(ty, CType::Array(..)) {
            name = format!("({name})");
        } else if !name.is_empty() && !name.starts_with(['[', '(']) {
            // As cffi: the name is set off by a space, after a `*` too
            // (`int * x`).
            name.insert(0, ' ');
        }
        // Where a declarator goes in the type's spelling (`int` + name, `int *`
        // + name, `int` + name + `[5]`), without C's own spacing.
        const SPOT: &str = "\u{1}";
        let spelled = ty.declare(SPOT).replace(&format!(" {SPOT}"), SPOT);
        Ok(spelled.replace(SPOT, &name))
    }

    /// The errno the last C call on this thread left (and the one the next
    /// call starts with).
    #[getter]
    fn get_errno(&self) -> i32 {
        crate::ground::errno::saved_errno()
    }

    #[setter]
    fn set_errno(&self, value: i32) {
        crate::ground::errno::set_saved_errno(value);
    }

    /// A cdata like `cdata` that calls `destructor(cdata)` when collected
    /// (or released).
    #[pyo3(signature = (cdata, destructor, size = 0))]
    fn gc(
        &self,
        py: Python<'_>,
        cdata: &Bound<'_, CData>,
        destructor: Py<PyAny>,
        size: isize,
    ) -> PyResult<Option<Py<CData>>> {
        let _ = size;
        let this = cdata.get();
        if destructor.is_none(py) {
            // `gc(p, None)`: p, returned by an earlier `gc`, no longer runs
            // its destructor.
            if this.origin != Origin::Gc {
                return Err(PyTypeError::new_err(format!(
                    "gc(p, None): cdata '{}' has no destructor (it was not returned by gc())",
                    this.cname()
                )));
            }
            this.take_gc();
            return Ok(None);
        }
        let mut copy = CData::build(
            py,
            this.ty(),
            this.addr(),
            Some(this.length),
            this.owner(),
            Origin::Gc,
        )?;
        copy.inline = this.inline;
        let copy = copy.into_object(py)?;
        copy.get()
            .set_gc(destructor, cdata.clone().into_any().unbind());
        Ok(Some(copy))
    }

    /// Frees a cdata's memory now (from new, gc, from_buffer, callback)
    /// instead of when it is collected.
    fn release(&self, cdata: &Bound<'_, CData>) -> PyResult<()> {
        CData::release_object(cdata)
    }

    /// A `void *` that stands for `obj` (valid while the handle lives).
    fn new_handle(&self, py: Python<'_>, obj: Py<PyAny>) -> PyResult<Py<CData>> {
        let what = obj.bind(py).repr()?.to_string();
        CData::owning(
            py,
            &CType::pointer_to(CType::Void),
            Owned::handle(obj),
            None,
            Origin::Handle(what),
        )
    }

    /// The object behind a `new_handle` pointer.
    #[pyo3(name = "from_handle")]
    fn object_from_handle(&self, py: Python<'_>, handle: &Bound<'_, CData>) -> PyResult<Py<PyAny>> {
        let addr = handle.get().address()?;
        handle_object(py, addr).ok_or_else(|| {
            FFIError::new_err(format!(
                "from_handle(): 0x{addr:x} is not a live handle from new_handle()"
            ))
        })
    }

    /// A C function pointer calling `python_callable`; without it, a
    /// decorator. If the callable raises, `onerror(type, value, tb)` is
    /// called (or the exception reported) and `error` is returned.
    #[pyo3(signature = (cdecl, python_callable = None, error = None, onerror = None))]
    fn callback(
        slf: &Bound<'_, Ffi>,
        cdecl: &Bound<'_, PyAny>,
        python_callable: Option<Py<PyAny>>,
        error: Option<Py<PyAny>>,
        onerror: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let ty = slf.get().resolve_ty(py, cdecl)?;
        let (pointer_ty, fty) = match &ty {
            CType::Pointer(to) => match &**to {
                CType::Function(f) => (ty.clone(), f.clone()),
                _ => return Err(not_function(&ty)),
            },
            CType::Function(f) => (CType::pointer_to(ty.clone()), f.clone()),
            _ => return Err(not_function(&ty)),
        };
        let Some(callable) = python_callable else {
            let decorator = move |args: &Bound<'_, PyTuple>,
                                  _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>|
                  -> PyResult<Py<PyAny>> {
                let py = args.py();
                let callable = args.get_item(0)?.unbind();
                let error = error.as_ref().map(|e| e.bind(py).clone());
                let onerror = onerror.as_ref().map(|o| o.clone_ref(py));
                Ok(super::callback::make_callback(
                    py,
                    &pointer_ty,
                    fty.clone(),
                    callable,
                    error.as_ref(),
                    onerror,
                )?
                .into_any())
            };
            return Ok(
                pyo3::types::PyCFunction::new_closure(py, None, None, decorator)?
                    .into_any()
                    .unbind(),
            );
        };
        let error = error.as_ref().map(|e| e.bind(py).clone());
        Ok(
            super::callback::make_callback(
                py,
                &pointer_ty,
                fty,
                callable,
                error.as_ref(),
                onerror,
            )?
            .into_any(),
        )
    }

    /// `(typedef names, struct names, union names)`, each sorted.
    fn list_types(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        // Names only: asking for types would keep self-referential records
        // alive after this FFI is gone (ffi-typed's `Declarations` docs).
        let decls = self.state.decls();
        let mut typedefs: Vec<String> = decls
            .names()
            .filter(|(kind, _)| *kind == NameKind::Typedef)
            .map(|(_, n)| n.to_string())
            .collect();
        let mut structs = Vec::new();
        let mut unions = Vec::new();
        for (kind, name) in decls.tag_names() {
            match kind {
                TagKind::Struct => structs.push(name.to_string()),
                TagKind::Union => unions.push(name.to_string()),
                TagKind::Enum => {}
            }
        }
        typedefs.sort();
        structs.sort();
        unions.sort();
        (typedefs, structs, unions)
    }

    /// The value of an integer constant (`#define` or enumerator).
    fn integer_const(&self, name: &str) -> PyResult<i128> {
        self.state
            .decls()
            .constant(name)
            .ok_or_else(|| PyKeyError::new_err(format!("no integer constant named '{name}'")))
    }

    /// `ffi.buffer(cdata, size=-1)`: the buffer type itself, as in cffi.
    #[classattr]
    fn buffer(py: Python<'_>) -> Py<pyo3::types::PyType> {
        py.get_type::<super::buffer::Buffer>().unbind()
    }

    #[classattr]
    #[pyo3(name = "NULL")]
    fn null(py: Python<'_>) -> PyResult<Py<CData>> {
        CData::plain(py, &CType::pointer_to(CType::Void), 0, None)
    }

    #[classattr]
    #[pyo3(name = "CData")]
    fn cdata_class(py: Python<'_>) -> Py<pyo3::types::PyType> {
        py.get_type::<CData>().unbind()
    }

    #[classattr]
    #[pyo3(name = "CType")]
    fn ctype_class(py: Python<'_>) -> Py<pyo3::types::PyType> {
        py.get_type::<PyCType>().unbind()
    }

    #[classattr]
    fn error(py: Python<'_>) -> Py<pyo3::types::PyType> {
        py.get_type::<FFIError>().unbind()
    }

    #[classattr]
    #[pyo3(name = "CDefError")]
    fn cdef_error(py: Python<'_>) -> Py<pyo3::types::PyType> {
        py.get_type::<CDefError>().unbind()
    }

    #[classattr]
    #[pyo3(name = "RTLD_NOW")]
    fn rtld_now() -> i32 {
        ffi_raw::OpenFlags::NOW.bits()
    }

    #[classattr]
    #[pyo3(name = "RTLD_LAZY")]
    fn rtld_lazy() -> i32 {
        ffi_raw::OpenFlags::LAZY.bits()
    }

    #[classattr]
    #[pyo3(name = "RTLD_GLOBAL")]
    fn rtld_global() -> i32 {
        ffi_raw::OpenFlags::GLOBAL.bits()
    }

    #[classattr]
    #[pyo3(name = "RTLD_LOCAL")]
    fn rtld_local() -> i32 {
        ffi_raw::OpenFlags::LOCAL.bits()
    }

    #[classattr]
    #[pyo3(name = "RTLD_NODELETE")]
    fn rtld_nodelete() -> i32 {
        ffi_raw::OpenFlags::NODELETE.bits()
    }
}

/// The native half of a library object from `dlopen`.
fn lib_core<'py>(lib: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Lib>> {
    let core = lib
        .getattr(LIB_CORE_ATTRIBUTE)
        .map_err(|_| PyTypeError::new_err("expected a library object from dlopen()"))?;
    Ok(core.cast_into::<Lib>()?)
}

/// Where `ffi_py._lib.Lib` keeps its native half (a name no C declaration
/// is likely to use).
const LIB_CORE_ATTRIBUTE: &str = "_ffi_py_core";

fn not_function(ty: &CType) -> PyErr {
    PyTypeError::new_err(format!("expected a function type, got '{ty}'"))
}

/// Reads units of `size` bytes from `addr` up to a zero unit or `limit`.
///
/// # Safety
/// The memory must be readable up to the first zero unit or `limit` units.
unsafe fn read_units(addr: usize, size: usize, limit: usize) -> Vec<u32> {
    let mut out = Vec::new();
    let mut p = addr as *const u8;
    while out.len() < limit {
        let mut buf = [0u8; 4];
        // SAFETY: forwarded from the contract: this unit is before the NUL
        // or the limit.
        unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), size) };
        let unit = u32::from_le_bytes(buf);
        if unit == 0 {
            break;
        }
        out.push(unit);
        // SAFETY: moving to the next unit, read only if within the contract.
        p = unsafe { p.add(size) };
    }
    out
}
