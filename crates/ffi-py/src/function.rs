//! Calling C functions from Python.
//!
//! `lib.f` is a builtin function object using CPython's fastcall convention,
//! whose `self` is a [`CFunction`] holding a [`CallPlan`]: converters chosen
//! once per function, a prepared `ffi_raw::Cif` (its register fast path on
//! x86-64) and the code address. A call converts each argument straight
//! from the caller's argument array into a stack buffer, calls C (with the
//! GIL released unless the library opted out), and converts the result:
//! no Python frames, no argument tuple, no heap allocation for scalars.

use std::cell::Cell;
use std::ffi::{CString, c_void};
use std::mem::MaybeUninit;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use ffi_raw::{Cif, CodePtr, Library, Type};
use ffi_typed::{CType, FunctionType};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::cdata::{CData, Kind, Origin, Owned};
use crate::convert::{IntLayout, Temporaries, c_to_py, int_layout, py_to_c, py_to_f64, py_to_int};
use crate::errors::{raw_error, typed_error};

thread_local! {
    /// `ffi.errno`: the errno the last C call on this thread left, and the
    /// one the next call starts with (as cffi does).
    static SAVED_ERRNO: Cell<i32> = const { Cell::new(0) };
}

/// `ffi.errno` of this thread.
pub(crate) fn saved_errno() -> i32 {
    SAVED_ERRNO.with(Cell::get)
}

/// Sets `ffi.errno` of this thread.
pub(crate) fn set_saved_errno(value: i32) {
    SAVED_ERRNO.with(|e| e.set(value));
}

/// How one argument is converted.
#[derive(Clone, Copy)]
enum ArgConv {
    Int(IntLayout),
    F64,
    F32,
    /// Anything else, through [`py_to_c`].
    Generic,
}

/// How the result is converted.
#[derive(Clone, Copy)]
enum RetConv {
    Void,
    Int(IntLayout),
    F64,
    /// A struct or union returned by value: written into fresh owned memory.
    Record,
    /// A pointer: a cdata of the return type.
    Pointer,
    Generic,
}

/// Arguments whose total size fits here are converted on the stack.
const INLINE_SCRATCH: usize = 32;
/// Calls with at most this many arguments keep their pointers on the stack.
const INLINE_ARGS: usize = 16;
/// The all-numbers path handles up to this many arguments.
const SCALAR_ARGS: usize = 8;

/// Everything needed to call one C function, prepared once.
pub(crate) struct CallPlan {
    name: String,
    fty: Arc<FunctionType>,
    cif: Cif,
    code: CodePtr,
    args: Box<[(ArgConv, usize)]>,
    ret: RetConv,
    /// Scratch needed for the arguments, in 16-byte units.
    scratch_units: usize,
    /// Whether every argument and the result are numbers (the hot path).
    scalar_only: bool,
    /// The return type's object, made once (pointer and struct returns
    /// become cdata of it).
    ret_ctype: Py<crate::ctypes::PyCType>,
    release_gil: bool,
    /// Keeps the code loaded.
    _library: Option<Library>,
}

fn arg_conv(ty: &CType) -> ArgConv {
    match (int_layout(ty), ty) {
        (Some(layout), _) => ArgConv::Int(layout),
        (None, CType::Scalar(s)) if s.raw_type() == Type::F64 => ArgConv::F64,
        (None, CType::Scalar(s)) if s.raw_type() == Type::F32 => ArgConv::F32,
        _ => ArgConv::Generic,
    }
}

impl CallPlan {
    /// A plan for calling `code` as `fty` (fixed arguments only).
    pub(crate) fn new(
        py: Python<'_>,
        name: &str,
        fty: Arc<FunctionType>,
        code: CodePtr,
        library: Option<Library>,
        release_gil: bool,
    ) -> PyResult<CallPlan> {
        let raw_params = fty
            .params
            .iter()
            .map(CType::to_raw)
            .collect::<Result<Vec<_>, _>>()
            .map_err(typed_error)?;
        let cif = Cif::new(raw_params, fty.ret.to_raw().map_err(typed_error)?)
            .map_err(|e| PyTypeError::new_err(format!("cannot call '{name}': {e}")))?;
        let mut offset = 0;
        let mut args = Vec::with_capacity(fty.params.len());
        for param in &fty.params {
            let size = param.size().map_err(typed_error)?;
            args.push((arg_conv(param), offset));
            offset += size.div_ceil(16);
        }
        let ret = match (&fty.ret, int_layout(&fty.ret)) {
            (CType::Void, _) => RetConv::Void,
            (_, Some(layout)) => RetConv::Int(layout),
            (CType::Scalar(s), None) if s.raw_type() == Type::F64 => RetConv::F64,
            (CType::Record(_), None) => RetConv::Record,
            (CType::Pointer(_), None) => RetConv::Pointer,
            _ => RetConv::Generic,
        };
        let scalar_only = args.len() <= SCALAR_ARGS
            && args
                .iter()
                .all(|(conv, _)| !matches!(conv, ArgConv::Generic))
            && matches!(ret, RetConv::Void | RetConv::Int(_) | RetConv::F64);
        let ret_ctype = crate::ctypes::ctype_object(py, &fty.ret)?;
        Ok(CallPlan {
            name: name.to_string(),
            fty,
            cif,
            code,
            args: args.into(),
            ret,
            scratch_units: offset,
            scalar_only,
            ret_ctype,
            release_gil,
            _library: library,
        })
    }

    /// Calls with the arguments in `args`.
    #[inline]
    fn call(&self, py: Python<'_>, args: &[*mut ffi::PyObject]) -> PyResult<Py<PyAny>> {
        if args.len() != self.args.len() {
            return Err(self.arg_count_error(args.len()));
        }
        if self.scalar_only {
            self.call_scalars(py, args)
        } else {
            self.call_general(py, args)
        }
    }

    #[cold]
    #[inline(never)]
    fn arg_count_error(&self, got: usize) -> PyErr {
        let n = self.args.len();
        PyTypeError::new_err(format!(
            "'{}' expects {n} argument{}, got {got}",
            self.name,
            if n == 1 { "" } else { "s" },
        ))
    }

    /// The hot path: numbers in, a number (or nothing) out, every value in
    /// one 8-byte slot on the stack.
    #[inline]
    fn call_scalars(&self, py: Python<'_>, args: &[*mut ffi::PyObject]) -> PyResult<Py<PyAny>> {
        let mut values = [MaybeUninit::<u64>::uninit(); SCALAR_ARGS];
        let mut ptrs = [MaybeUninit::<*const c_void>::uninit(); SCALAR_ARGS];
        for (i, (&(conv, _), &arg)) in self.args.iter().zip(args).enumerate() {
            // SAFETY: the caller's arguments are live for the call.
            let obj = unsafe { Borrowed::from_ptr(py, arg) };
            let param = &self.fty.params[i];
            let bits = match conv {
                ArgConv::Int(layout) => py_to_int(param, layout, &obj),
                ArgConv::F64 => py_to_f64(param, &obj).map(f64::to_bits),
                ArgConv::F32 => py_to_f64(param, &obj).map(|v| u64::from((v as f32).to_bits())),
                ArgConv::Generic => unreachable!("scalar_only plans have no generic arguments"),
            }
            .map_err(|e| argument_error(py, e, &self.name, i))?;
            values[i].write(bits);
            ptrs[i].write(values[i].as_ptr().cast());
        }
        // SAFETY: the first `args.len()` pointers were written above.
        let ptrs = unsafe {
            std::slice::from_raw_parts(ptrs.as_ptr().cast::<*const c_void>(), args.len())
        };
        let mut ret = MaybeUninit::<[u64; 2]>::uninit();
        // SAFETY: each pointer is to an 8-byte slot holding its argument
        // (little-endian, so narrower types read their low bytes); `ret`
        // holds 16 bytes, more than any scalar return.
        unsafe { self.invoke(ptrs, ret.as_mut_ptr().cast())? };
        let ret_ptr = ret.as_ptr().cast::<u8>();
        self.scalar_result(py, ret_ptr)
    }

    /// Converts a scalar result the call wrote at `ret`.
    #[inline]
    fn scalar_result(&self, py: Python<'_>, ret: *const u8) -> PyResult<Py<PyAny>> {
        match self.ret {
            RetConv::Void => Ok(py.None()),
            RetConv::Int(layout) => {
                // SAFETY: the call wrote the integer (at least `layout.size`
                // bytes; the rest of the word is masked off).
                let raw = unsafe { ret.cast::<u64>().read_unaligned() };
                int_object(py, raw, layout)
            }
            RetConv::F64 => {
                // SAFETY: the call wrote a double.
                let v = unsafe { ret.cast::<f64>().read_unaligned() };
                // SAFETY: returns a new reference or NULL with an exception.
                unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyFloat_FromDouble(v)) }
                    .map(Bound::unbind)
            }
            RetConv::Pointer => {
                // SAFETY: the call wrote a pointer.
                let addr = unsafe { ret.cast::<usize>().read_unaligned() };
                Ok(CData::pointer_of(py, self.ret_ctype.clone_ref(py), addr)?.into_any())
            }
            // SAFETY: the buffer holds a value of the return type.
            RetConv::Generic => unsafe { c_to_py(py, &self.fty.ret, ret, None) },
            RetConv::Record => unreachable!("records are returned into owned memory"),
        }
    }

    /// Everything else: pointers, characters, structs, temporaries.
    fn call_general(&self, py: Python<'_>, args: &[*mut ffi::PyObject]) -> PyResult<Py<PyAny>> {
        let mut inline = [MaybeUninit::<u128>::uninit(); INLINE_SCRATCH];
        let mut heap: Vec<MaybeUninit<u128>> = Vec::new();
        let scratch: &mut [MaybeUninit<u128>] = if self.scratch_units <= INLINE_SCRATCH {
            &mut inline[..]
        } else {
            heap.resize(self.scratch_units, MaybeUninit::uninit());
            &mut heap[..]
        };
        let base = scratch.as_mut_ptr().cast::<u8>();
        let mut temps = Temporaries::default();
        let mut inline_ptrs = [std::ptr::null::<c_void>(); INLINE_ARGS];
        let mut heap_ptrs = Vec::new();
        let ptrs: &mut [*const c_void] = if args.len() <= INLINE_ARGS {
            &mut inline_ptrs[..args.len()]
        } else {
            heap_ptrs.resize(args.len(), std::ptr::null());
            &mut heap_ptrs[..]
        };
        for (i, ((conv, unit), &arg)) in self.args.iter().zip(args).enumerate() {
            // SAFETY: the caller's arguments are live for the call.
            let obj = unsafe { Borrowed::from_ptr(py, arg) };
            let obj = &*obj;
            // SAFETY: `unit` was laid out within `scratch_units` 16-byte
            // units for this parameter's size.
            let slot = unsafe { base.add(unit * 16) };
            let param = &self.fty.params[i];
            let written: PyResult<()> = match conv {
                ArgConv::Int(layout) => py_to_int(param, *layout, obj).map(|v| {
                    // SAFETY: the slot has 16 bytes; writing 8 is in bounds.
                    unsafe { slot.cast::<u64>().write(v) }
                }),
                ArgConv::F64 => py_to_f64(param, obj).map(|v| {
                    // SAFETY: as above.
                    unsafe { slot.cast::<f64>().write(v) }
                }),
                ArgConv::F32 => py_to_f64(param, obj).map(|v| {
                    // SAFETY: as above.
                    unsafe { slot.cast::<f32>().write(v as f32) }
                }),
                // SAFETY: the slot holds the parameter's size.
                ArgConv::Generic => unsafe { py_to_c(param, obj, slot, Some(&mut temps)) },
            };
            written.map_err(|e| argument_error(py, e, &self.name, i))?;
            ptrs[i] = slot.cast_const().cast();
        }
        if let RetConv::Record = self.ret {
            let owned = Owned::zeroed(&self.fty.ret)?;
            // SAFETY: the arguments are converted; the allocation is the
            // return type's size.
            unsafe { self.invoke(ptrs, owned.addr() as *mut c_void) }?;
            let owned = Arc::new(owned);
            let addr = owned.addr();
            let cdata = CData::build_typed(
                self.ret_ctype.clone_ref(py),
                addr,
                None,
                Some(owned),
                Origin::Owning,
            )?;
            return Ok(Py::new(py, cdata)?.into_any());
        }
        let mut ret = MaybeUninit::<[u128; 2]>::uninit();
        // SAFETY: the arguments are converted; 32 bytes hold any scalar or
        // pointer return.
        unsafe { self.invoke(ptrs, ret.as_mut_ptr().cast()) }?;
        drop(temps);
        self.scalar_result(py, ret.as_ptr().cast())
    }

    /// The C call itself, with `ffi.errno` restored before and saved after.
    ///
    /// # Safety
    /// `args` point to converted values of the parameter types; `ret` is
    /// valid for the return type.
    unsafe fn invoke(&self, args: &[*const c_void], ret: *mut c_void) -> PyResult<()> {
        let run = || {
            SAVED_ERRNO.with(|saved| {
                ffi_raw::set_errno(saved.get());
                // SAFETY: forwarded from `invoke`'s contract; the plan's cif
                // matches `code`'s declared signature.
                let result = unsafe { self.cif.call(self.code, args, ret) };
                saved.set(ffi_raw::errno());
                result
            })
        };
        let result = if self.release_gil {
            // Released with CPython's own pair rather than pyo3's `detach`:
            // nothing here touches Python objects, and callbacks attach with
            // PyGILState_Ensure (which works whether or not this thread's
            // state is current), so pyo3's bookkeeping is not needed.
            // SAFETY: the thread is attached (we were called from Python);
            // the saved state is restored right after the call, on this
            // thread.
            let saved = unsafe { ffi::PyEval_SaveThread() };
            let result = run();
            // SAFETY: restores the state saved above.
            unsafe { ffi::PyEval_RestoreThread(saved) };
            result
        } else {
            run()
        };
        result.map_err(raw_error)
    }
}

fn int_object(py: Python<'_>, raw: u64, layout: IntLayout) -> PyResult<Py<PyAny>> {
    let shift = 64 - layout.size as u32 * 8;
    let object = if layout.is_bool {
        // SAFETY: returns a new reference to a bool singleton.
        return Ok(unsafe {
            Bound::from_owned_ptr(py, ffi::PyBool_FromLong(i64::from(raw as u8 != 0) as _))
        }
        .unbind());
    } else if layout.signed {
        // SAFETY: PyLong_FromLongLong returns a new reference or NULL with
        // an exception set.
        unsafe { ffi::PyLong_FromLongLong(((raw << shift) as i64) >> shift) }
    } else {
        // SAFETY: as above.
        unsafe { ffi::PyLong_FromUnsignedLongLong(raw & (u64::MAX >> shift)) }
    };
    // SAFETY: a new reference or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, object) }.map(Bound::unbind)
}

/// Re-raises `err` (same class) with the function and argument named.
pub(crate) fn argument_error(py: Python<'_>, err: PyErr, name: &str, index: usize) -> PyErr {
    let message = err.value(py).to_string();
    let ty = err.get_type(py);
    PyErr::from_type(ty, format!("{name}() argument {}: {message}", index + 1))
}

/// The Python face of one C function: the `self` of its builtin.
#[pyclass(frozen, module = "ffi_py")]
pub(crate) struct CFunction {
    pub(crate) plan: CallPlan,
    /// The method definition the builtin points to; boxed so that its
    /// address is stable, and owned here because the builtin holds `self`.
    def: MethodDef,
}

struct MethodDef {
    def: Box<ffi::PyMethodDef>,
    _name: CString,
    _doc: CString,
}

// SAFETY: the definition is immutable after construction; CPython only reads
// it, under the GIL.
unsafe impl Send for MethodDef {}
// SAFETY: as for Send.
unsafe impl Sync for MethodDef {}

/// A builtin function calling `plan`.
pub(crate) fn make_function(py: Python<'_>, plan: CallPlan) -> PyResult<Py<PyAny>> {
    let name = CString::new(plan.name.clone())
        .map_err(|_| PyValueError::new_err("a function name cannot contain NUL"))?;
    let doc = CString::new(format!(
        "{};\n\nC function from ffi_py",
        CType::Function(plan.fty.clone()).declare(&plan.name)
    ))
    .map_err(|_| PyValueError::new_err("a declaration cannot contain NUL"))?;
    let def = Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFast: call_entry,
        },
        ml_flags: ffi::METH_FASTCALL,
        ml_doc: doc.as_ptr(),
    });
    let holder = Py::new(
        py,
        CFunction {
            plan,
            def: MethodDef {
                def,
                _name: name,
                _doc: doc,
            },
        },
    )?;
    let def_ptr = (&*holder.get().def.def as *const ffi::PyMethodDef).cast_mut();
    // SAFETY: `def_ptr` stays valid while `holder` lives, and the builtin
    // keeps a reference to `holder` (its self) for its whole life.
    unsafe {
        let f = ffi::PyCFunction_NewEx(def_ptr, holder.as_ptr(), std::ptr::null_mut());
        Bound::from_owned_ptr_or_err(py, f).map(Bound::unbind)
    }
}

/// The fastcall entry point of every C function's builtin.
unsafe extern "C" fn call_entry(
    slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls builtins with the thread attached.
    let py = unsafe { Python::assume_attached() };
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `slf` is the CFunction given to PyCFunction_NewEx, alive
        // for the call.
        let holder = unsafe { Borrowed::from_ptr(py, slf).cast_unchecked::<CFunction>() };
        let argv: &[*mut ffi::PyObject] = if nargs <= 0 {
            &[]
        } else {
            // SAFETY: CPython passes `nargs` live borrowed arguments.
            unsafe { std::slice::from_raw_parts(args, nargs as usize) }
        };
        holder.get().plan.call(py, argv)
    }));
    finish(py, outcome)
}

/// Hands a result or error back to CPython; a panic becomes an exception.
fn finish(py: Python<'_>, outcome: std::thread::Result<PyResult<Py<PyAny>>>) -> *mut ffi::PyObject {
    match outcome {
        Ok(Ok(result)) => result.into_ptr(),
        Ok(Err(err)) => {
            err.restore(py);
            std::ptr::null_mut()
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a Rust panic".into());
            pyo3::panic::PanicException::new_err(message).restore(py);
            std::ptr::null_mut()
        }
    }
}

/// The code address of `obj` if it is a C function of type `fty` (a
/// `lib.f` builtin), for passing it where a function pointer is wanted.
pub(crate) fn function_address(obj: &Bound<'_, PyAny>, fty: &CType) -> Option<usize> {
    let (code, its_type) = c_function_of(obj)?;
    (fty == &its_type).then_some(code)
}

/// The code address and function type behind a `lib.f` builtin.
pub(crate) fn c_function_of(obj: &Bound<'_, PyAny>) -> Option<(usize, CType)> {
    let holder = obj.getattr("__self__").ok()?;
    let holder = holder.cast::<CFunction>().ok()?;
    let plan = &holder.get().plan;
    Some((
        plan.code.as_ptr() as usize,
        CType::Function(plan.fty.clone()),
    ))
}

/// Calls a function-pointer cdata (variadic ones included).
pub(crate) fn call_pointer(
    slf: &Bound<'_, CData>,
    args: &Bound<'_, PyTuple>,
) -> PyResult<Py<PyAny>> {
    let py = slf.py();
    let this = slf.get();
    let fty = match (this.kind, this.ty()) {
        (Kind::Pointer, CType::Pointer(to)) => match &**to {
            CType::Function(f) => f.clone(),
            _ => None.ok_or_else(|| not_callable(this))?,
        },
        _ => return Err(not_callable(this)),
    };
    let addr = this.address()?;
    if addr == 0 {
        return Err(crate::errors::FFIError::new_err(format!(
            "cannot call the NULL function pointer '{}'",
            this.cname()
        )));
    }
    let name = this.cname().to_string();
    let objects: Vec<Bound<'_, PyAny>> = args.iter().collect();
    let code = CodePtr(addr as *mut c_void);
    if fty.variadic {
        return call_variadic(py, &name, &fty, code, None, true, &objects);
    }
    let plan = CallPlan::new(py, &name, fty, code, None, true)?;
    let ptrs: Vec<*mut ffi::PyObject> = objects.iter().map(Bound::as_ptr).collect();
    plan.call(py, &ptrs)
}

/// Calls a variadic C function with these arguments.
pub(crate) fn call_variadic(
    py: Python<'_>,
    name: &str,
    fty: &FunctionType,
    code: CodePtr,
    library: Option<Library>,
    release_gil: bool,
    args: &[Bound<'_, PyAny>],
) -> PyResult<Py<PyAny>> {
    let instance = variadic_instance(fty, args, name)?;
    let mut raw_params = instance
        .params
        .iter()
        .map(CType::to_raw)
        .collect::<Result<Vec<_>, _>>()
        .map_err(typed_error)?;
    let extra = raw_params.split_off(fty.params.len());
    let cif = Cif::new_variadic(
        raw_params,
        extra,
        instance.ret.to_raw().map_err(typed_error)?,
    )
    .map_err(raw_error)?;
    let mut plan = CallPlan::new(py, name, Arc::new(instance), code, library, release_gil)?;
    plan.cif = cif;
    let ptrs: Vec<*mut ffi::PyObject> = args.iter().map(Bound::as_ptr).collect();
    plan.call(py, &ptrs)
}

/// The fixed signature of one call of a variadic function: the declared
/// parameters, then each extra argument's own C type (from its cdata; bytes
/// pass as `char *`), as C's default promotions will see it.
fn variadic_instance(
    fty: &FunctionType,
    args: &[Bound<'_, PyAny>],
    name: &str,
) -> PyResult<FunctionType> {
    if args.len() < fty.params.len() {
        return Err(PyTypeError::new_err(format!(
            "'{name}' expects at least {} arguments, got {}",
            fty.params.len(),
            args.len()
        )));
    }
    let mut params = fty.params.clone();
    for (i, extra) in args.iter().enumerate().skip(fty.params.len()) {
        let ty = if let Ok(cdata) = extra.cast::<CData>() {
            match cdata.get().ty() {
                CType::Array(elem, _) => CType::pointer_to((**elem).clone()),
                other => other.clone(),
            }
        } else if extra.is_instance_of::<PyBytes>() {
            CType::pointer_to(CType::Scalar(ffi_raw::CScalar::Char))
        } else {
            let n = i + 1;
            return Err(PyTypeError::new_err(format!(
                "{name}() argument {n}: argument {n} passed in the variadic part needs to be a \
                 cdata object (got {})",
                extra.get_type().name()?
            )));
        };
        params.push(ty);
    }
    Ok(FunctionType {
        ret: fty.ret.clone(),
        params,
        variadic: false,
    })
}

fn not_callable(this: &CData) -> PyErr {
    PyTypeError::new_err(format!("cdata '{}' is not callable", this.cname()))
}
