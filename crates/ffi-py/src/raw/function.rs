//! `raw.Function`: a code address plus a signature, callable from Python.
//!
//! The signature becomes an `ffi_raw::Cif` once; a call converts each
//! argument into a 16-byte-aligned slot of a scratch buffer (on the stack
//! for small signatures), releases the GIL, calls, and converts the result.

use std::ffi::c_void;

use ffi_raw::{Cif, CodePtr, Position, Type};
use pyo3::PyTraverseError;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::callback::Callback;
use super::library::RawSymbol;
use super::types::{RawType, describe, type_name, type_object, types_and_objects};
use super::value::{Keep, from_c, to_c};
use crate::ground::attach::detached;
use crate::ground::errno::with_saved_errno;
use crate::ground::errors::{argument_error, raw_error};
use crate::ground::scratch::zeroed_vec;

/// Argument scratch of this many 16-byte units, and this many argument
/// pointers, live on the stack; more go to the heap.
const INLINE_UNITS: usize = 16;

/// A signature error from ffi-raw, with the position named as the
/// argument lists of this layer name it (`argtypes[1]`, `variadic[0]`,
/// `restype`) rather than by ffi-raw's flat index.
pub(crate) fn signature_error(e: ffi_raw::Error, nfixed: usize) -> PyErr {
    let place = |position: Position| match position {
        Position::Argument(i) if i < nfixed => format!("argtypes[{i}]"),
        Position::Argument(i) => format!("variadic[{}]", i - nfixed),
        Position::Return => "restype".to_string(),
    };
    match e {
        ffi_raw::Error::VoidValue(position) => PyTypeError::new_err(format!(
            "{} is void; only restype may be void",
            place(position)
        )),
        ffi_raw::Error::ArrayByValue(position) => PyTypeError::new_err(format!(
            "{} is an array; C passes arrays as pointers (use 'ptr')",
            place(position)
        )),
        ffi_raw::Error::NotByValue { position, kind } => PyTypeError::new_err(format!(
            "{} is or contains a {kind}, which libffi cannot pass or return by value",
            place(position)
        )),
        other => raw_error(other),
    }
}

/// `restype`: a type, a type name, or None for void.
pub(crate) fn restype_object(
    py: Python<'_>,
    restype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<RawType>> {
    match restype.filter(|r| !r.is_none()) {
        Some(obj) => type_object(py, obj).map_err(|e| {
            let message = e.value(py).to_string();
            PyErr::from_type(e.get_type(py), format!("restype: {message}"))
        }),
        None => Py::new(py, RawType::from(Type::Void)),
    }
}

/// A C function at an address, with a signature given by raw types.
#[pyclass(name = "Function", module = "ffi_py.raw", frozen)]
pub(crate) struct Function {
    name: String,
    cif: Cif,
    code: CodePtr,
    /// Where each argument goes in the scratch buffer, in 16-byte units.
    slots: Box<[usize]>,
    scratch_units: usize,
    errno: bool,
    release_gil: bool,
    argtypes: Py<PyTuple>,
    variadic: Option<Py<PyTuple>>,
    restype: Py<RawType>,
    /// What keeps the code alive: the Symbol (its library), Callback or
    /// Function it came from; nothing for a bare address.
    code_owner: Option<Py<PyAny>>,
}

impl Function {
    pub(crate) fn address(&self) -> usize {
        self.code.as_ptr() as usize
    }

    #[cold]
    fn arg_count_error(&self, got: usize) -> PyErr {
        let n = self.slots.len();
        PyTypeError::new_err(format!(
            "{}() takes {n} argument{} ({got} given)",
            self.name,
            if n == 1 { "" } else { "s" }
        ))
    }

    /// Calls C with converted arguments; the GIL is released around the
    /// call unless `release_gil` is off.
    ///
    /// # Safety
    /// Each `args[i]` points to a value of argument `i`'s type; `ret` is
    /// valid and aligned for the return type.
    unsafe fn invoke(&self, args: &[*const c_void], ret: *mut c_void) -> PyResult<()> {
        // SAFETY: forwarded from `invoke`; the caller of raw.Function
        // vouched that `code` has this signature.
        let call = || unsafe { self.cif.call(self.code, args, ret) };
        let result = detached(self.release_gil, || {
            if self.errno {
                with_saved_errno(call)
            } else {
                call()
            }
        });
        result.map_err(raw_error)
    }
}

/// The code address a `Function` calls, a default name for it, and the
/// object that keeps the code alive.
fn code_of(obj: &Bound<'_, PyAny>) -> PyResult<(usize, String, Option<Py<PyAny>>)> {
    let owner = Some(obj.clone().unbind());
    let (addr, name, owner) = if let Ok(symbol) = obj.cast::<RawSymbol>() {
        let symbol = symbol.get();
        (symbol.address(), symbol.name().to_string(), owner)
    } else if let Ok(callback) = obj.cast::<Callback>() {
        let addr = callback.get().address();
        (addr, format!("callback at {addr:#x}"), owner)
    } else if let Ok(function) = obj.cast::<Function>() {
        let function = function.get();
        (function.address(), function.name.clone(), owner)
    } else {
        let addr: usize = obj.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "raw.Function() takes an address (int), raw.Symbol, raw.Callback or \
                 raw.Function, not {}",
                describe(obj)
            ))
        })?;
        (addr, format!("function at {addr:#x}"), None)
    };
    if addr == 0 {
        return Err(PyValueError::new_err(format!(
            "cannot make a raw.Function of '{name}': its address is NULL"
        )));
    }
    Ok((addr, name, owner))
}

#[pymethods]
impl Function {
    /// `address`: an int, a `Symbol` (which keeps its library loaded), a
    /// `Callback` or a `Function`. `argtypes`: a list or tuple of types
    /// (for a variadic function, the fixed parameters); `restype`: a type
    /// or None for void. `variadic`: for a variadic function, the types of
    /// the arguments passed for `...` in this call shape (they get C's
    /// default promotions). `errno`: set errno from `get_errno()` before
    /// each call and save it after. `release_gil`: release the GIL during
    /// the call.
    #[new]
    #[pyo3(signature = (address, argtypes, restype = None, *, variadic = None, errno = false, release_gil = true, name = None))]
    #[allow(clippy::too_many_arguments)] // Python keyword arguments
    fn new(
        py: Python<'_>,
        address: &Bound<'_, PyAny>,
        argtypes: &Bound<'_, PyAny>,
        restype: Option<&Bound<'_, PyAny>>,
        variadic: Option<&Bound<'_, PyAny>>,
        errno: bool,
        release_gil: bool,
        name: Option<String>,
    ) -> PyResult<Function> {
        let (addr, default_name, owner) = code_of(address)?;
        let (fixed, argtypes) = types_and_objects(py, argtypes, "argtypes")?;
        let restype = restype_object(py, restype)?;
        let ret = restype.get().ty.clone();
        let nfixed = fixed.len();
        let (cif, variadic) = match variadic {
            None => (Cif::new(fixed, ret), None),
            Some(extra) => {
                let (extra, objects) = types_and_objects(py, extra, "variadic")?;
                (Cif::new_variadic(fixed, extra, ret), Some(objects))
            }
        };
        let cif = cif.map_err(|e| signature_error(e, nfixed))?;
        let mut slots = Vec::with_capacity(cif.arg_types().len());
        let mut units = 0;
        for ty in cif.arg_types() {
            slots.push(units);
            units += ty.size().div_ceil(16);
        }
        Ok(Function {
            name: name.unwrap_or(default_name),
            cif,
            code: CodePtr(addr as *mut c_void),
            slots: slots.into(),
            scratch_units: units,
            errno,
            release_gil,
            argtypes,
            variadic,
            restype,
            code_owner: owner,
        })
    }

    #[pyo3(signature = (*args))]
    fn __call__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        let types = self.cif.arg_types();
        if args.len() != types.len() {
            return Err(self.arg_count_error(args.len()));
        }
        let mut inline = [0u128; INLINE_UNITS];
        let mut heap;
        let scratch: &mut [u128] = if self.scratch_units <= INLINE_UNITS {
            &mut inline[..self.scratch_units]
        } else {
            heap = zeroed_vec(self.scratch_units)?;
            &mut heap
        };
        // SAFETY: a u128 slice viewed as its bytes: same memory, any bit
        // pattern is a valid u8, and the view replaces the slice's use.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(scratch.as_mut_ptr().cast::<u8>(), scratch.len() * 16)
        };
        let mut keep = Keep::default();
        for (i, (ty, arg)) in types.iter().zip(args.iter()).enumerate() {
            let start = self.slots[i] * 16;
            to_c(
                ty,
                &arg,
                &mut bytes[start..start + ty.size()],
                Some(&mut keep),
            )
            .map_err(|e| argument_error(py, e, &self.name, i))?;
        }
        let mut inline_ptrs = [std::ptr::null::<c_void>(); INLINE_UNITS];
        let mut heap_ptrs = Vec::new();
        let ptrs: &mut [*const c_void] = if self.slots.len() <= INLINE_UNITS {
            &mut inline_ptrs[..self.slots.len()]
        } else {
            heap_ptrs.resize(self.slots.len(), std::ptr::null());
            &mut heap_ptrs
        };
        for (ptr, &unit) in ptrs.iter_mut().zip(self.slots.iter()) {
            *ptr = bytes[unit * 16..].as_ptr().cast();
        }
        let ret_ty = self.cif.return_type();
        let ret_units = ret_ty.size().div_ceil(16).max(1);
        let mut ret_inline = [0u128; 2];
        let mut ret_heap;
        let ret: &mut [u128] = if ret_units <= 2 {
            &mut ret_inline
        } else {
            ret_heap = zeroed_vec(ret_units)?;
            &mut ret_heap
        };
        // SAFETY: each pointer is to a slot holding a converted value of
        // its argument's type (16-aligned); `ret` is 16-aligned and holds
        // the return type's size. The memory of Memory arguments is held
        // by `keep` until after the call.
        unsafe { self.invoke(ptrs, ret.as_mut_ptr().cast())? };
        drop(keep);
        // SAFETY: as above, the return buffer viewed as bytes.
        let ret_bytes =
            unsafe { std::slice::from_raw_parts(ret.as_ptr().cast::<u8>(), ret_ty.size()) };
        from_c(py, ret_ty, ret_bytes)
    }

    /// The code address.
    #[getter(address)]
    fn address_py(&self) -> usize {
        self.address()
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The (fixed) argument types.
    #[getter]
    fn argtypes(&self, py: Python<'_>) -> Py<PyTuple> {
        self.argtypes.clone_ref(py)
    }

    /// The types passed for `...`, or None if not variadic.
    #[getter]
    fn variadic(&self, py: Python<'_>) -> Option<Py<PyTuple>> {
        self.variadic.as_ref().map(|v| v.clone_ref(py))
    }

    #[getter]
    fn restype(&self, py: Python<'_>) -> Py<RawType> {
        self.restype.clone_ref(py)
    }

    #[getter]
    fn errno(&self) -> bool {
        self.errno
    }

    #[getter]
    fn release_gil(&self) -> bool {
        self.release_gil
    }

    /// The code owner may lead back here (a callback whose callable holds
    /// this function); see `Callback::__traverse__`.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.code_owner)
    }

    fn __repr__(&self) -> String {
        let fixed = self.cif.fixed_args().unwrap_or(self.cif.arg_types().len());
        let mut params: Vec<String> = self.cif.arg_types().iter().map(type_name).collect();
        if self.cif.fixed_args().is_some() {
            params.insert(fixed, "...".into());
        }
        format!(
            "<raw.Function {} {}({}) at {:#x}>",
            type_name(self.cif.return_type()),
            self.name,
            params.join(", "),
            self.address()
        )
    }
}
