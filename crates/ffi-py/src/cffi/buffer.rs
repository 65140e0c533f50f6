//! Raw bytes between cdata and Python objects: `ffi.buffer`,
//! `ffi.from_buffer` and `ffi.memmove`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ffi_typed::CType;
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PySlice};

use super::cdata::{CData, Kind, Origin};
use crate::ground::errors::{FFIError, typed_error};
use crate::ground::memory::Owned;

/// `ffi.buffer(cdata)`: the cdata's bytes, readable and writable by index
/// and slice.
///
/// It holds the cdata's memory as every cdata derived from it does, so the
/// memory outlives `ffi.release` of the cdata (and the end of its `with`
/// block) for as long as the buffer, or a memoryview of it, lives. Memory
/// ffi_py does not own (a pointer from C, which `ffi.gc`'s destructor or a
/// callback's release may free) cannot be kept: once its cdata is released,
/// the buffer refuses access.
#[pyclass(name = "buffer", module = "ffi_py", frozen, subclass)]
pub struct Buffer {
    cdata: Py<CData>,
    /// The cdata's owner when it was taken, `None` for memory C owns.
    memory: Option<Arc<Owned>>,
    addr: usize,
    len: usize,
}

impl Buffer {
    pub(crate) fn over(cdata: &Bound<'_, CData>, size: isize) -> PyResult<Buffer> {
        let this = cdata.get();
        let natural = match this.kind {
            Kind::Pointer => {
                let to = this.ctype.get().item_type().expect("pointers have targets");
                to.size().ok()
            }
            Kind::Array => Some(this.data_size()?),
            Kind::Record => this.ty().size().ok(),
            Kind::Primitive => None,
        };
        let addr = this.address()?;
        let len = match (size, natural) {
            (n, _) if n >= 0 => n as usize,
            (_, Some(n)) => n,
            (_, None) => {
                return Err(PyTypeError::new_err(format!(
                    "buffer(): cdata '{}' has no known size; give one",
                    this.cname()
                )));
            }
        };
        if addr == 0 && len > 0 {
            return Err(FFIError::new_err("buffer(): cannot take a buffer of NULL"));
        }
        if let Some(room) = known_room(this)?
            && len > room
        {
            return Err(PyValueError::new_err(format!(
                "buffer(): {len} bytes requested, cdata '{}' has {room} from its address",
                this.cname()
            )));
        }
        Ok(Buffer {
            cdata: cdata.clone().unbind(),
            memory: this.owner(),
            addr,
            len,
        })
    }

    fn bytes(&self) -> PyResult<&[u8]> {
        if self.memory.is_none() && self.cdata.get().released.load(Ordering::Relaxed) {
            return Err(PyValueError::new_err(format!(
                "buffer: cdata '{}', whose memory this buffer shows, has been released",
                self.cdata.get().cname()
            )));
        }
        if self.len == 0 {
            return Ok(&[]);
        }
        // SAFETY: `len` bytes that `memory` keeps allocated (checked against
        // its extent in `over`), or memory C vouches for whose cdata was not
        // released (checked above; releasing needs the GIL this caller holds).
        Ok(unsafe { std::slice::from_raw_parts(self.addr as *const u8, self.len) })
    }

    fn range(&self, key: &Bound<'_, PyAny>) -> PyResult<(usize, usize)> {
        if let Ok(slice) = key.cast::<PySlice>() {
            let indices = slice.indices(self.len as isize)?;
            if indices.step != 1 {
                return Err(PyValueError::new_err("buffer slices take no step"));
            }
            let start = indices.start as usize;
            let stop = (indices.stop as usize).max(start);
            return Ok((start, stop));
        }
        let mut i: isize = key.extract()?;
        if i < 0 {
            i += self.len as isize;
        }
        if i < 0 || i as usize >= self.len {
            return Err(PyIndexError::new_err("buffer index out of range"));
        }
        Ok((i as usize, i as usize + 1))
    }
}

#[pymethods]
impl Buffer {
    /// The address and length of the bytes, for `ffi_py._buffer.buffer`'s
    /// `__buffer__` (which makes a memoryview that holds this object).
    fn _ffi_py_memory(&self) -> PyResult<(usize, usize)> {
        let bytes = self.bytes()?;
        Ok((bytes.as_ptr() as usize, bytes.len()))
    }

    /// `ffi.buffer(cdata, size=-1)`: `ffi.buffer` is this type.
    #[new]
    #[pyo3(signature = (cdata, size = -1))]
    fn py_new(cdata: &Bound<'_, CData>, size: isize) -> PyResult<Buffer> {
        Buffer::over(cdata, size)
    }

    fn __len__(&self) -> usize {
        self.len
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, self.bytes()?))
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let (start, stop) = self.range(key)?;
        Ok(PyBytes::new(py, &self.bytes()?[start..stop]))
    }

    fn __setitem__(&self, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let (start, stop) = self.range(key)?;
        let data = bytes_of(value)?;
        // Checks that the memory is still there.
        self.bytes()?;
        if data.len() != stop - start {
            return Err(PyValueError::new_err(format!(
                "buffer assignment needs {} bytes, got {}",
                stop - start,
                data.len()
            )));
        }
        // SAFETY: within the buffer's `len` bytes, still there (see `bytes`).
        unsafe {
            std::ptr::copy(data.as_ptr(), (self.addr + start) as *mut u8, data.len());
        }
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("<ffi_py.buffer of {} bytes at 0x{:x}>", self.len, self.addr)
    }

    /// Compares the bytes with any bytes-like object (or another buffer).
    fn __richcmp__(
        &self,
        other: &Bound<'_, PyAny>,
        op: pyo3::pyclass::CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let py = other.py();
        let ours = self.bytes()?;
        match bytes_of(other) {
            Ok(theirs) => Ok(
                pyo3::types::PyBool::new(py, op.matches(ours.cmp(&theirs[..])))
                    .to_owned()
                    .into_any()
                    .unbind(),
            ),
            Err(_) => Ok(py.NotImplemented()),
        }
    }
}

/// The bytes of a bytes-like Python object (or an ffi_py buffer).
fn bytes_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if let Ok(b) = obj.cast::<Buffer>() {
        return Ok(b.get().bytes()?.to_vec());
    }
    let bytes = obj
        .py()
        .get_type::<PyBytes>()
        .call1((obj,))
        .map_err(|_| PyTypeError::new_err("expected a bytes-like object"))?;
    Ok(bytes.cast::<PyBytes>()?.as_bytes().to_vec())
}

/// `ffi.from_buffer(cdecl, obj)`: a cdata pointing into `obj`'s memory.
///
/// `bytes` are immutable, so their storage is used directly (read-only);
/// writable buffers are reached through `ctypes`, whose `from_buffer` holds
/// a buffer export (the object cannot be resized under the cdata). Both
/// need only the stable ABI.
pub(crate) fn from_buffer(
    py: Python<'_>,
    ty: &CType,
    obj: &Bound<'_, PyAny>,
    require_writable: bool,
) -> PyResult<Py<CData>> {
    let (addr, len, keep) = if let Ok(bytes) = obj.cast::<PyBytes>() {
        if require_writable {
            return Err(PyTypeError::new_err("from_buffer(): bytes are read-only"));
        }
        let data = bytes.as_bytes();
        (data.as_ptr() as usize, data.len(), obj.clone().unbind())
    } else {
        let ctypes = py.import("ctypes")?;
        let view = py.get_type::<pyo3::types::PyMemoryView>().call1((obj,))?;
        let len: usize = view.getattr("nbytes")?.extract()?;
        if view.getattr("readonly")?.extract::<bool>()? {
            return Err(PyTypeError::new_err(format!(
                "from_buffer(): {} is a read-only buffer (only bytes can be read-only)",
                obj.get_type().name()?
            )));
        }
        let array_type = ctypes
            .getattr("c_char")?
            .call_method1("__mul__", (len.max(1),))?;
        let holder = if len == 0 {
            ctypes.getattr("c_char")?.call0()?
        } else {
            array_type.call_method1("from_buffer", (obj,))?
        };
        let addr: usize = ctypes.getattr("addressof")?.call1((&holder,))?.extract()?;
        (addr, len, holder.unbind())
    };
    let (cdata_ty, length) = match ty {
        CType::Array(elem, None) => {
            let size = elem.size().map_err(typed_error)?.max(1);
            (ty.clone(), Some(len / size))
        }
        CType::Array(_, Some(n)) => {
            let need = ty.size().map_err(typed_error)?;
            if need > len {
                return Err(PyValueError::new_err(format!(
                    "from_buffer(): '{ty}' needs {need} bytes, the buffer has {len}"
                )));
            }
            (ty.clone(), Some(*n))
        }
        CType::Pointer(_) => (ty.clone(), None),
        _ => {
            return Err(PyTypeError::new_err(format!(
                "from_buffer(): expected an array or pointer type, got '{ty}'"
            )));
        }
    };
    let owned = Owned::Object {
        addr,
        len,
        _object: keep,
    };
    CData::owning(py, &cdata_ty, Arc::new(owned), length, Origin::Buffer)
}

/// `ffi.memmove(dest, src, n)`.
pub(crate) fn memmove(dest: &Bound<'_, PyAny>, src: &Bound<'_, PyAny>, n: isize) -> PyResult<()> {
    let n = usize::try_from(n).map_err(|_| PyValueError::new_err("memmove(): negative size"))?;
    // A cdata destination's memory is held until the copy is done: reading
    // the source may run Python code (`__bytes__`, the buffer protocol)
    // that releases the destination.
    let (dest_addr, _keep) = match dest.cast::<CData>() {
        Ok(c) => (span(c.get(), n, "destination")?, c.get().owner()),
        Err(_) => {
            let holder = from_buffer(
                dest.py(),
                &CType::array_of(CType::Scalar(ffi_raw::CScalar::Char), None),
                dest,
                true,
            )?;
            let this = holder.get();
            if this.length < n {
                return Err(PyValueError::new_err(
                    "memmove(): destination buffer too small",
                ));
            }
            // The holder is dropped after the copy below: keep it.
            return copy_into(this.addr(), src, n).map(|_| drop(holder));
        }
    };
    copy_into(dest_addr, src, n)
}

fn copy_into(dest: usize, src: &Bound<'_, PyAny>, n: usize) -> PyResult<()> {
    if n == 0 {
        return Ok(());
    }
    if dest == 0 {
        return Err(FFIError::new_err("memmove(): NULL destination"));
    }
    if let Ok(cdata) = src.cast::<CData>() {
        let from = span(cdata.get(), n, "source")?;
        if from == 0 {
            return Err(FFIError::new_err("memmove(): NULL source"));
        }
        // SAFETY: both regions hold `n` bytes: checked where ffi_py knows
        // their extent (`span`), C's memmove contract (the caller's promise)
        // elsewhere; `copy` allows overlap.
        unsafe { std::ptr::copy(from as *const u8, dest as *mut u8, n) };
        return Ok(());
    }
    let data = bytes_of(src)?;
    if data.len() < n {
        return Err(PyValueError::new_err(format!(
            "memmove(): the source has {} bytes, {n} requested",
            data.len()
        )));
    }
    // SAFETY: `data` has at least `n` bytes; the destination's size is
    // checked where ffi_py knows it, the caller's promise (as in C) elsewhere.
    unsafe { std::ptr::copy(data.as_ptr(), dest as *mut u8, n) };
    Ok(())
}

/// The address of `cdata` for `memmove` to copy `n` bytes at, refused when
/// ffi_py knows that fewer are there (see [`known_room`]).
fn span(cdata: &CData, n: usize, what: &str) -> PyResult<usize> {
    let addr = cdata.address()?;
    if let Some(room) = known_room(cdata)?
        && n > room
    {
        return Err(PyValueError::new_err(format!(
            "memmove(): the {what}, cdata '{}', has {room} bytes from its address, {n} requested",
            cdata.cname()
        )));
    }
    Ok(addr)
}

/// How many bytes from `cdata`'s address on belong to it, where ffi_py
/// knows: an array's own length, and the end of the memory its owner holds
/// (`new`'s, an allocator's, a Python buffer's), which also bounds every
/// pointer derived from it. `None` when nothing bounds it (a pointer from
/// C): then the program vouches for the length, as in C.
pub(crate) fn known_room(cdata: &CData) -> PyResult<Option<usize>> {
    let addr = cdata.address()?;
    let array = match cdata.kind {
        Kind::Array => Some(cdata.data_size()?),
        _ => None,
    };
    let owned = cdata.owner().and_then(|owner| owner.room_from(addr));
    Ok(match (array, owned) {
        (Some(a), Some(o)) => Some(a.min(o)),
        (a, o) => a.or(o),
    })
}
