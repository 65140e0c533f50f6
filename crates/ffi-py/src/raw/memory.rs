//! `raw.Memory`: owned, zeroed, bounds-checked bytes read and written by
//! raw type; and `peek`/`poke`, the unchecked access at any address.

use std::sync::{Arc, Mutex};

use ffi_raw::Type;
use pyo3::exceptions::{PyIndexError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyTuple};

use super::types::{describe, type_name, type_of};
use super::value::{from_c, pointer_to_c, to_c};
use crate::ground::memory::Owned;
use crate::ground::scratch::zeroed_vec;

/// A block of memory this layer allocated (zeroed), freed by `free()`,
/// at the end of a `with` block, or when the object goes.
///
/// Every access checks the bounds and refuses freed memory. A pointer to
/// it given to C as a call argument keeps the block allocated until the
/// call returns; a pointer stored in memory keeps nothing alive.
#[pyclass(name = "Memory", module = "ffi_py.raw", frozen)]
pub(crate) struct Memory {
    /// `None` once freed. Shared with calls in progress (see
    /// [`super::value::Keep`]).
    block: Mutex<Option<Arc<Owned>>>,
    size: usize,
}

impl Memory {
    fn allocate(size: usize, align: usize) -> PyResult<Memory> {
        if !align.is_power_of_two() {
            return Err(PyValueError::new_err(format!(
                "alignment {align} is not a power of two"
            )));
        }
        Ok(Memory {
            block: Mutex::new(Some(Owned::zeroed_bytes(size, align)?)),
            size,
        })
    }

    /// The memory, unless it was freed.
    pub(crate) fn block(&self) -> PyResult<Arc<Owned>> {
        self.block
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| PyValueError::new_err("this raw.Memory has been freed"))
    }

    /// The memory and the address of `len` bytes at `offset`, checked to
    /// lie inside it; `what` describes the access for the error message.
    fn span(&self, offset: isize, len: usize, what: &str) -> PyResult<(Arc<Owned>, usize)> {
        let block = self.block()?;
        let inside = usize::try_from(offset)
            .ok()
            .filter(|&start| start.checked_add(len).is_some_and(|end| end <= self.size));
        match inside {
            Some(start) => {
                let addr = block.addr() + start;
                Ok((block, addr))
            }
            None => Err(PyIndexError::new_err(format!(
                "{what} at offset {offset} is outside this raw.Memory's {} bytes",
                self.size
            ))),
        }
    }

    /// Copies the first `out.len()` bytes into `out` (passing the memory
    /// as a struct or array value of that size).
    pub(crate) fn copy_out(&self, out: &mut [u8], what: &str) -> PyResult<()> {
        if out.len() > self.size {
            return Err(PyValueError::new_err(format!(
                "{what} takes {} bytes, this raw.Memory has {}",
                out.len(),
                self.size
            )));
        }
        let (_block, addr) = self.span(0, out.len(), what)?;
        // SAFETY: `span` checked that the bytes lie inside the block, which
        // `_block` keeps allocated; `out` is a distinct Rust buffer.
        unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, out.as_mut_ptr(), out.len()) };
        Ok(())
    }
}

#[pymethods]
impl Memory {
    /// `size` zeroed bytes aligned to `align` (a power of two).
    #[new]
    #[pyo3(signature = (size, align = 16))]
    fn new(size: isize, align: usize) -> PyResult<Memory> {
        let size = usize::try_from(size)
            .map_err(|_| PyValueError::new_err(format!("a size must be >= 0, not {size}")))?;
        Memory::allocate(size, align)
    }

    /// New memory holding a copy of `data` (bytes or bytearray).
    #[staticmethod]
    fn from_bytes(data: &Bound<'_, PyAny>) -> PyResult<Memory> {
        let data = bytes_of(data)?;
        let memory = Memory::allocate(data.len(), 16)?;
        let (_block, addr) = memory.span(0, data.len(), "from_bytes")?;
        // SAFETY: the fresh block holds exactly `data.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), addr as *mut u8, data.len()) };
        Ok(memory)
    }

    /// The address of the first byte (ValueError once freed).
    #[getter]
    fn address(&self) -> PyResult<usize> {
        Ok(self.block()?.addr())
    }

    #[getter]
    fn size(&self) -> usize {
        self.size
    }

    fn __len__(&self) -> usize {
        self.size
    }

    #[getter]
    fn freed(&self) -> bool {
        self.block
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// The value of type `type` at byte `offset` (no alignment needed).
    #[pyo3(signature = (r#type, offset = 0))]
    fn read(
        &self,
        py: Python<'_>,
        r#type: &Bound<'_, PyAny>,
        offset: isize,
    ) -> PyResult<Py<PyAny>> {
        let ty = value_type(r#type)?;
        let what = format!("read of {}", type_name(&ty));
        let (_block, addr) = self.span(offset, ty.size(), &what)?;
        // SAFETY: `span` checked the bytes lie inside the block, which
        // `_block` keeps allocated while they are read.
        let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, ty.size()) };
        from_c(py, &ty, bytes)
    }

    /// Writes `value` as a `type` at byte `offset`.
    fn write(
        &self,
        r#type: &Bound<'_, PyAny>,
        offset: isize,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let ty = value_type(r#type)?;
        let what = format!("write of {}", type_name(&ty));
        let (_block, addr) = self.span(offset, ty.size(), &what)?;
        let mut converted = zeroed_vec(ty.size())?;
        to_c(&ty, value, &mut converted, None)?;
        // SAFETY: as in `read`; the converted value is a separate buffer.
        unsafe { std::ptr::copy_nonoverlapping(converted.as_ptr(), addr as *mut u8, ty.size()) };
        Ok(())
    }

    /// `size` bytes from `offset` (to the end if `size` is None).
    #[pyo3(signature = (offset = 0, size = None))]
    fn read_bytes<'py>(
        &self,
        py: Python<'py>,
        offset: isize,
        size: Option<isize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let size = match size {
            Some(n) => usize::try_from(n)
                .map_err(|_| PyValueError::new_err(format!("a size must be >= 0, not {n}")))?,
            None => usize::try_from(offset)
                .ok()
                .and_then(|start| self.size.checked_sub(start))
                .unwrap_or(0),
        };
        let (_block, addr) = self.span(offset, size, &format!("read of {size} bytes"))?;
        // SAFETY: as in `read`.
        let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, size) };
        Ok(PyBytes::new(py, bytes))
    }

    /// Copies `data` (bytes or bytearray) to `offset`.
    fn write_bytes(&self, offset: isize, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = bytes_of(data)?;
        let what = format!("write of {} bytes", data.len());
        let (_block, addr) = self.span(offset, data.len(), &what)?;
        // SAFETY: as in `read`; `data` is a separate buffer.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), addr as *mut u8, data.len()) };
        Ok(())
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.read_bytes(py, 0, None)
    }

    /// Frees the memory now (a call in progress that was given it keeps
    /// it until it returns). Freeing twice is harmless.
    fn free(&self) {
        // Dropped outside the lock: the block's Drop runs no Python code,
        // but there is no reason to hold the lock for it.
        let block = self.block.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(block);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, PyTuple>) -> bool {
        self.free();
        false
    }

    fn __repr__(&self) -> String {
        match self.block() {
            Ok(block) => format!("<raw.Memory {} bytes at {:#x}>", self.size, block.addr()),
            Err(_) => format!("<raw.Memory {} bytes, freed>", self.size),
        }
    }
}

/// A type with a value, for reads and writes (not void).
fn value_type(obj: &Bound<'_, PyAny>) -> PyResult<Type> {
    let ty = type_of(obj)?;
    if ty == Type::Void {
        return Err(PyTypeError::new_err("void has no value to read or write"));
    }
    Ok(ty)
}

/// The contents of a bytes or bytearray object (copied: a bytearray may
/// change size under us otherwise).
fn bytes_of(data: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(bytes) = data.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    if let Ok(array) = data.cast::<PyByteArray>() {
        return Ok(array.to_vec());
    }
    Err(PyTypeError::new_err(format!(
        "expected bytes or bytearray, not {}",
        describe(data)
    )))
}

/// Zeroed memory for `n` values of `type`, aligned for it (and to at least
/// 16 bytes, as malloc is).
#[pyfunction]
#[pyo3(signature = (r#type, n = 1))]
pub(crate) fn alloc(r#type: &Bound<'_, PyAny>, n: isize) -> PyResult<Memory> {
    let ty = value_type(r#type)?;
    let n = usize::try_from(n)
        .map_err(|_| PyValueError::new_err(format!("a count must be >= 0, not {n}")))?;
    let size = ty
        .size()
        .checked_mul(n)
        .filter(|&size| size <= isize::MAX as usize);
    let size = size.ok_or_else(|| {
        PyOverflowError::new_err(format!(
            "{n} values of {} do not fit memory",
            type_name(&ty)
        ))
    })?;
    Memory::allocate(size, ty.align().max(16))
}

/// An address for `peek`/`poke`: anything a `ptr` accepts, except NULL.
fn unchecked_address(address: &Bound<'_, PyAny>, what: &str) -> PyResult<usize> {
    match pointer_to_c(address, None)? {
        0 => Err(PyValueError::new_err(format!("{what} at NULL"))),
        addr => Ok(addr),
    }
}

/// UNCHECKED: the value of `type` at `address`. A wrong address crashes the
/// process; only NULL is refused.
#[pyfunction]
pub(crate) fn peek(
    py: Python<'_>,
    r#type: &Bound<'_, PyAny>,
    address: &Bound<'_, PyAny>,
) -> PyResult<Py<PyAny>> {
    let ty = value_type(r#type)?;
    let addr = unchecked_address(address, "peek")?;
    // SAFETY: not checkable: peek's documented contract is that the caller
    // vouches for `address` holding `ty.size()` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, ty.size()) };
    from_c(py, &ty, bytes)
}

/// UNCHECKED: writes `value` as a `type` at `address`. A wrong address
/// corrupts or crashes the process; only NULL is refused.
#[pyfunction]
pub(crate) fn poke(
    r#type: &Bound<'_, PyAny>,
    address: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let ty = value_type(r#type)?;
    let addr = unchecked_address(address, "poke")?;
    let mut converted = zeroed_vec(ty.size())?;
    to_c(&ty, value, &mut converted, None)?;
    // SAFETY: not checkable: poke's documented contract is that the caller
    // vouches for `address` holding `ty.size()` writable bytes.
    unsafe { std::ptr::copy_nonoverlapping(converted.as_ptr(), addr as *mut u8, ty.size()) };
    Ok(())
}

/// UNCHECKED: `size` bytes at `address`.
#[pyfunction]
pub(crate) fn peek_bytes<'py>(
    py: Python<'py>,
    address: &Bound<'_, PyAny>,
    size: isize,
) -> PyResult<Bound<'py, PyBytes>> {
    let size = usize::try_from(size)
        .map_err(|_| PyValueError::new_err(format!("a size must be >= 0, not {size}")))?;
    let addr = unchecked_address(address, "peek_bytes")?;
    // SAFETY: not checkable: the caller vouches for `size` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, size) };
    Ok(PyBytes::new(py, bytes))
}

/// UNCHECKED: copies `data` (bytes or bytearray) to `address`.
#[pyfunction]
pub(crate) fn poke_bytes(address: &Bound<'_, PyAny>, data: &Bound<'_, PyAny>) -> PyResult<()> {
    let data = bytes_of(data)?;
    let addr = unchecked_address(address, "poke_bytes")?;
    // SAFETY: not checkable: the caller vouches for `data.len()` writable
    // bytes at `address`.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), addr as *mut u8, data.len()) };
    Ok(())
}

/// UNCHECKED: the NUL-terminated string at `address` (without the NUL),
/// reading at most `maxlen` bytes if given.
#[pyfunction]
#[pyo3(signature = (address, maxlen = None))]
pub(crate) fn peek_string<'py>(
    py: Python<'py>,
    address: &Bound<'_, PyAny>,
    maxlen: Option<isize>,
) -> PyResult<Bound<'py, PyBytes>> {
    let addr = unchecked_address(address, "peek_string")? as *const u8;
    let limit = match maxlen {
        Some(n) => Some(
            usize::try_from(n)
                .map_err(|_| PyValueError::new_err(format!("maxlen must be >= 0, not {n}")))?,
        ),
        None => None,
    };
    let mut len = 0usize;
    // SAFETY: not checkable: the caller vouches for a readable string at
    // `address`, terminated by NUL or at least `maxlen` bytes long; no byte
    // past the NUL or the limit is read.
    while limit.is_none_or(|max| len < max) && unsafe { *addr.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the loop read these `len` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(addr, len) };
    Ok(PyBytes::new(py, bytes))
}
