//! Calling C functions from Python.
//!
//! `lib.f` is a builtin function object using CPython's fastcall convention,
//! whose `self` is a [`CFunction`] holding a [`CallPlan`]: converters chosen
//! once per function, a prepared `ffi_raw::Cif` and the code address.
//!
//! When every argument and the result are numbers or pointers passed in
//! registers (most C functions), a call converts each argument straight
//! from the caller's argument array into its argument register's slot
//! (`ffi_raw::Registers`), calls C with the GIL released (unless the library
//! opted out), and converts the returned register: no Python frames, no
//! argument tuple, no heap allocation. Everything else (structs, `char`,
//! `long double`, stack arguments) converts into a stack buffer and calls
//! through `Cif::call`.

use std::ffi::{CString, c_void};
use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex};

use ffi_raw::{ArgRegister, Cif, CodePtr, Library, Registers, Returned, Type};
use ffi_typed::{CType, FunctionType, IntLayout};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use rustc_hash::FxHashMap;

use super::cdata::{CData, Kind};
use super::convert::{
    Temporaries, bytes_can_point_to, c_to_py, exact_bytes, exact_float, exact_int_in, float_object,
    float_object_ptr, int_layout, int_object, int_object_ptr, int_range, pointer_from, py_to_c,
    py_to_f64, py_to_int,
};
use crate::ground::attach::detached;
use crate::ground::entry::{Raised, arguments, guarded, object_ptr};
use crate::ground::errno::with_saved_errno;
use crate::ground::errors::{argument_error, typed_error};

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
    F32,
    /// A struct or union returned by value: written into memory the result
    /// owns (see `CData::by_value`).
    Record,
    /// A pointer: a cdata of the return type.
    Pointer,
    Generic,
}

/// A call made through the argument registers.
struct RegisterPlan {
    args: Box<[RegisterArg]>,
    ret: RegisterRet,
}

/// One argument of a register call: its converter and its register.
struct RegisterArg {
    conv: RegisterConv,
    /// The index into `Registers::int` or `Registers::sse`.
    slot: usize,
}

enum RegisterConv {
    /// An integer whose range, as `i64`, is `min..=max`: an exact `int`
    /// in that range converts inline; anything else (a cdata, an enum
    /// name, `__index__`, an unsigned value above `i64::MAX`) takes
    /// [`py_to_int`].
    Int {
        min: i64,
        max: i64,
        layout: IntLayout,
    },
    F64,
    F32,
    /// A pointer to `to` (from a cdata, bytes, a list, a function), through
    /// [`pointer_from`].
    Pointer {
        to: CType,
        /// Whether a `bytes` object passes as a pointer to its characters
        /// (`void *`, `char *`, `signed char *`, `unsigned char *`).
        takes_bytes: bool,
    },
}

impl RegisterConv {
    /// Whether the argument travels in an SSE register.
    fn is_sse(&self) -> bool {
        matches!(self, RegisterConv::F64 | RegisterConv::F32)
    }
}

/// How a register call's result is converted.
#[derive(Clone, Copy)]
enum RegisterRet {
    Void,
    Int(IntLayout),
    F64,
    F32,
    /// A cdata of the return type.
    Pointer,
}

/// The register plan for `fty`, if `cif` can make register calls and every
/// argument and the result have a register converter.
fn register_plan(cif: &Cif, fty: &FunctionType, ret: RetConv) -> Option<RegisterPlan> {
    let layout = cif.register_layout()?;
    let args = fty
        .params
        .iter()
        .zip(layout.args())
        .map(|(param, register)| {
            let conv = match (param, int_layout(param)) {
                (_, Some(layout)) => {
                    let (min, max) = int_range(layout);
                    RegisterConv::Int { min, max, layout }
                }
                (CType::Pointer(to), None) => RegisterConv::Pointer {
                    to: (**to).clone(),
                    takes_bytes: bytes_can_point_to(to),
                },
                (CType::Scalar(s), None) if s.raw_type() == Type::F64 => RegisterConv::F64,
                (CType::Scalar(s), None) if s.raw_type() == Type::F32 => RegisterConv::F32,
                // `char`, wide characters: converted the general way.
                _ => return None,
            };
            let slot = match *register {
                ArgRegister::Int(n) | ArgRegister::Sse(n) => usize::from(n),
            };
            Some(RegisterArg { conv, slot })
        })
        .collect::<Option<Box<[RegisterArg]>>>()?;
    let ret = match ret {
        RetConv::Void => RegisterRet::Void,
        RetConv::Int(layout) => RegisterRet::Int(layout),
        RetConv::F64 => RegisterRet::F64,
        RetConv::F32 => RegisterRet::F32,
        RetConv::Pointer => RegisterRet::Pointer,
        RetConv::Record | RetConv::Generic => return None,
    };
    Some(RegisterPlan { args, ret })
}

/// Arguments whose total size fits here are converted on the stack.
const INLINE_SCRATCH: usize = 32;
/// Calls with at most this many arguments keep their pointers on the stack.
const INLINE_ARGS: usize = 16;

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
    /// Set when the call can go through the argument registers (the hot
    /// path).
    registers: Option<RegisterPlan>,
    /// The return type's object, made once (pointer and struct returns
    /// become cdata of it).
    ret_ctype: Py<super::ctype::PyCType>,
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
        let cif = fty.cif().map_err(|e| match e {
            // What libffi cannot pass: named as the call it makes impossible.
            ffi_typed::Error::Raw(e) => PyTypeError::new_err(format!("cannot call '{name}': {e}")),
            e => typed_error(e),
        })?;
        CallPlan::with_cif(py, name, fty, cif, code, library, release_gil)
    }

    /// A plan calling through `cif`, prepared for `fty` (for a variadic
    /// function, for one call's argument types).
    fn with_cif(
        py: Python<'_>,
        name: &str,
        fty: Arc<FunctionType>,
        cif: Cif,
        code: CodePtr,
        library: Option<Library>,
        release_gil: bool,
    ) -> PyResult<CallPlan> {
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
            (CType::Scalar(s), None) if s.raw_type() == Type::F32 => RetConv::F32,
            (CType::Record(_), None) => RetConv::Record,
            (CType::Pointer(_), None) => RetConv::Pointer,
            _ => RetConv::Generic,
        };
        let registers = register_plan(&cif, &fty, ret);
        let ret_ctype = super::ctype::ctype_object(py, &fty.ret)?;
        Ok(CallPlan {
            name: name.to_string(),
            fty,
            cif,
            code,
            args: args.into(),
            ret,
            scratch_units: offset,
            registers,
            ret_ctype,
            release_gil,
            _library: library,
        })
    }

    /// The fastcall function of this plan's builtin: one specialised by
    /// arity when every argument travels in the same class of register
    /// (most C functions), [`call_entry`] otherwise.
    fn entry_point(&self) -> ffi::PyCFunctionFast {
        let Some(plan) = &self.registers else {
            return call_entry;
        };
        // `call_uniform` puts the i-th argument in the i-th register.
        let uniform = |sse: bool| {
            (plan.args.iter().enumerate()).all(|(i, a)| a.conv.is_sse() == sse && a.slot == i)
        };
        let entries: &[ffi::PyCFunctionFast] = if uniform(false) {
            &INT_ENTRIES
        } else if uniform(true) {
            &SSE_ENTRIES
        } else {
            &[]
        };
        entries.get(plan.args.len()).copied().unwrap_or(call_entry)
    }

    /// Calls with the arguments in `args`.
    fn call(&self, py: Python<'_>, args: &[*mut ffi::PyObject]) -> PyResult<Py<PyAny>> {
        let result = self.call_object(py, args);
        // SAFETY: `call_object` returns a new reference, or NULL with an
        // exception set.
        unsafe { Bound::from_owned_ptr_or_err(py, result) }.map(Bound::unbind)
    }

    /// Calls with the arguments in `args`: a new reference to the result,
    /// or NULL with the exception set, as CPython wants it back (the hot
    /// path never carries a `PyResult`, whose error side is large enough
    /// that moving it costs more than the rest of the call's glue).
    #[inline]
    fn call_object(&self, py: Python<'_>, args: &[*mut ffi::PyObject]) -> *mut ffi::PyObject {
        match &self.registers {
            Some(plan) if args.len() == plan.args.len() => self.call_registers(py, plan, args),
            _ => self.call_general(py, args),
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

    /// The hot path: each argument converted into its register's slot.
    /// Returns as [`CallPlan::call_object`] does.
    #[inline]
    fn call_registers(
        &self,
        py: Python<'_>,
        plan: &RegisterPlan,
        args: &[*mut ffi::PyObject],
    ) -> *mut ffi::PyObject {
        let mut regs = Registers::default();
        let mut temps = Temporaries::default();
        for (i, (arg, &obj)) in plan.args.iter().zip(args).enumerate() {
            let converted = if arg.conv.is_sse() {
                self.sse_register(py, i, &arg.conv, obj)
                    .map(|v| regs.sse[arg.slot] = v)
            } else {
                self.int_register(py, i, &arg.conv, obj, &mut temps)
                    .map(|v| regs.int[arg.slot] = v)
            };
            if converted.is_err() {
                return std::ptr::null_mut();
            }
        }
        self.finish_register_call(py, plan.ret, &regs, temps)
    }

    /// [`CallPlan::call_registers`] for a signature of `N` arguments that
    /// all travel in integer registers (`SSE == false`: integers and
    /// pointers) or all in SSE registers (`SSE == true`: `double` and
    /// `float`), so that the `i`-th argument goes in the `i`-th register.
    /// With `N` and the register class known when this is compiled, the
    /// loop unrolls and the registers never go through memory: this is
    /// the path of most C functions (see [`CallPlan::entry_point`]).
    #[inline(always)]
    fn call_uniform<const N: usize, const SSE: bool>(
        &self,
        py: Python<'_>,
        args: &[*mut ffi::PyObject],
    ) -> *mut ffi::PyObject {
        let plan = match &self.registers {
            Some(plan) if args.len() == N => plan,
            _ => return self.call_general(py, args),
        };
        let (Ok(params), Ok(args)) = (
            <&[RegisterArg; N]>::try_from(&plan.args[..]),
            <&[*mut ffi::PyObject; N]>::try_from(args),
        ) else {
            return self.call_general(py, args);
        };
        let mut regs = Registers::default();
        let mut temps = Temporaries::default();
        for i in 0..N {
            let converted = if SSE {
                self.sse_register(py, i, &params[i].conv, args[i])
                    .map(|v| regs.sse[i] = v)
            } else {
                self.int_register(py, i, &params[i].conv, args[i], &mut temps)
                    .map(|v| regs.int[i] = v)
            };
            if converted.is_err() {
                return std::ptr::null_mut();
            }
        }
        self.finish_register_call(py, plan.ret, &regs, temps)
    }

    /// Makes a register call whose arguments are in `regs` (and kept alive
    /// by `temps`), and converts its result.
    #[inline(always)]
    fn finish_register_call(
        &self,
        py: Python<'_>,
        ret: RegisterRet,
        regs: &Registers,
        temps: Temporaries,
    ) -> *mut ffi::PyObject {
        let out = self.with_errno_and_gil(|| {
            // SAFETY: the plan's cif matches `code`'s declared signature, and
            // `register_plan` placed the arguments by its register layout;
            // pointer arguments stay valid until `temps` is dropped below.
            unsafe { self.cif.call_registers(self.code, regs) }
        });
        drop(temps);
        self.register_result(py, ret, out)
    }

    /// Argument `i` (an integer or a pointer) as its integer register holds
    /// it.
    #[inline(always)]
    fn int_register(
        &self,
        py: Python<'_>,
        i: usize,
        conv: &RegisterConv,
        obj: *mut ffi::PyObject,
        temps: &mut Temporaries,
    ) -> Result<u64, Raised> {
        match conv {
            &RegisterConv::Int { min, max, layout } => match exact_int_in(obj, (min, max)) {
                Some(bits) => Ok(bits),
                None => self.convert_int(py, i, layout, obj),
            },
            RegisterConv::Pointer { to, takes_bytes } => {
                match exact_bytes(obj).filter(|_| *takes_bytes) {
                    // The caller's argument keeps the bytes alive for the
                    // whole call.
                    Some(chars) => Ok(chars as u64),
                    None => self
                        .convert_pointer(py, i, to, obj, temps)
                        .map(|addr| addr as u64),
                }
            }
            RegisterConv::F64 | RegisterConv::F32 => unreachable!("an SSE argument"),
        }
    }

    /// Argument `i` (a `double` or a `float`) as its SSE register holds it.
    #[inline(always)]
    fn sse_register(
        &self,
        py: Python<'_>,
        i: usize,
        conv: &RegisterConv,
        obj: *mut ffi::PyObject,
    ) -> Result<f64, Raised> {
        let value = match exact_float(obj) {
            Some(v) => v,
            None => self.convert_float(py, i, obj)?,
        };
        Ok(match conv {
            RegisterConv::F32 => Registers::float_bits(value as f32),
            _ => value,
        })
    }

    /// Argument `i` as an integer, the general way.
    #[cold]
    #[inline(never)]
    fn convert_int(
        &self,
        py: Python<'_>,
        i: usize,
        layout: IntLayout,
        obj: *mut ffi::PyObject,
    ) -> Result<u64, Raised> {
        // SAFETY: the caller's arguments are live for the call.
        let obj = unsafe { Borrowed::from_ptr(py, obj) };
        py_to_int(&self.fty.params[i], layout, &obj)
            .map_err(|e| Raised::set(py, argument_error(py, e, &self.name, i)))
    }

    /// Argument `i` as a double, the general way.
    #[cold]
    #[inline(never)]
    fn convert_float(
        &self,
        py: Python<'_>,
        i: usize,
        obj: *mut ffi::PyObject,
    ) -> Result<f64, Raised> {
        // SAFETY: the caller's arguments are live for the call.
        let obj = unsafe { Borrowed::from_ptr(py, obj) };
        py_to_f64(&self.fty.params[i], &obj)
            .map_err(|e| Raised::set(py, argument_error(py, e, &self.name, i)))
    }

    /// Argument `i` as a pointer.
    fn convert_pointer(
        &self,
        py: Python<'_>,
        i: usize,
        to: &CType,
        obj: *mut ffi::PyObject,
        temps: &mut Temporaries,
    ) -> Result<usize, Raised> {
        // SAFETY: the caller's arguments are live for the call.
        let obj = unsafe { Borrowed::from_ptr(py, obj) };
        pointer_from(&self.fty.params[i], to, &obj, Some(temps))
            .map_err(|e| Raised::set(py, argument_error(py, e, &self.name, i)))
    }

    /// The value a register call returned, as [`CallPlan::call_object`]
    /// returns it.
    #[inline(always)]
    fn register_result(
        &self,
        py: Python<'_>,
        ret: RegisterRet,
        out: Returned,
    ) -> *mut ffi::PyObject {
        match ret {
            RegisterRet::Void => py.None().into_ptr(),
            RegisterRet::Int(layout) => int_object_ptr(out.int, layout),
            RegisterRet::F64 => float_object_ptr(out.sse),
            RegisterRet::F32 => float_object_ptr(f64::from(out.float())),
            RegisterRet::Pointer => {
                let addr = out.int as usize;
                object_ptr(
                    py,
                    CData::pointer_of(py, &self.ret_ctype, addr).map(Py::into_any),
                )
            }
        }
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
            // SAFETY: the call wrote a double.
            RetConv::F64 => float_object(py, unsafe { ret.cast::<f64>().read_unaligned() }),
            RetConv::F32 => {
                // SAFETY: the call wrote a float.
                let v = unsafe { ret.cast::<f32>().read_unaligned() };
                float_object(py, f64::from(v))
            }
            RetConv::Pointer => {
                // SAFETY: the call wrote a pointer.
                let addr = unsafe { ret.cast::<usize>().read_unaligned() };
                Ok(CData::pointer_of(py, &self.ret_ctype, addr)?.into_any())
            }
            // SAFETY: the buffer holds a value of the return type.
            RetConv::Generic => unsafe { c_to_py(py, &self.fty.ret, ret, None) },
            RetConv::Record => unreachable!("records are returned into owned memory"),
        }
    }

    /// Everything else (characters, structs, `long double`, stack
    /// arguments), and wrong argument counts. Returns as
    /// [`CallPlan::call_object`] does.
    #[inline(never)]
    fn call_general(&self, py: Python<'_>, args: &[*mut ffi::PyObject]) -> *mut ffi::PyObject {
        object_ptr(py, self.call_general_result(py, args))
    }

    fn call_general_result(
        &self,
        py: Python<'_>,
        args: &[*mut ffi::PyObject],
    ) -> PyResult<Py<PyAny>> {
        if args.len() != self.args.len() {
            return Err(self.arg_count_error(args.len()));
        }
        // The arguments' bytes start zeroed, as `new`'s memory does: a
        // struct or array from a partial initializer (a dict naming some
        // members, a short list) leaves the rest as it finds them, and C
        // must not receive stack garbage there.
        let mut inline = [MaybeUninit::<u128>::uninit(); INLINE_SCRATCH];
        let mut heap: Vec<MaybeUninit<u128>> = Vec::new();
        let scratch: &mut [MaybeUninit<u128>] = if self.scratch_units <= INLINE_SCRATCH {
            inline[..self.scratch_units].fill(MaybeUninit::zeroed());
            &mut inline[..]
        } else {
            heap.resize(self.scratch_units, MaybeUninit::zeroed());
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
            let record = CData::by_value(py, &self.ret_ctype, |memory| {
                // SAFETY: the arguments are converted; the memory is the
                // return type's size.
                unsafe { self.invoke(ptrs, memory.cast()) }
            })?;
            return Ok(record.into_any());
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
        self.with_errno_and_gil(|| {
            // SAFETY: forwarded from `invoke`'s contract; the plan's cif
            // matches `code`'s declared signature.
            unsafe { self.cif.call(self.code, args, ret) }
        })
        .map_err(|e| typed_error(e.into()))
    }

    /// Runs `call` (which touches no Python object) with `ffi.errno` in
    /// `errno` and the GIL released (unless the library opted out), then
    /// saves `errno` as `ffi.errno`.
    #[inline(always)]
    fn with_errno_and_gil<R>(&self, call: impl FnOnce() -> R) -> R {
        detached(self.release_gil, || with_saved_errno(call))
    }
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
            PyCFunctionFast: plan.entry_point(),
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

/// The fastcall entry point of a C function's builtin, in general.
unsafe extern "C" fn call_entry(
    slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a builtin with its own `self`, arguments and
    // count.
    unsafe { enter(slf, args, nargs, CallPlan::call_object) }
}

/// The entry point of a builtin whose plan [`CallPlan::call_uniform`]
/// can call: `N` arguments, all in integer registers or all in SSE ones.
unsafe extern "C" fn uniform_entry<const N: usize, const SSE: bool>(
    slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: as for `call_entry`.
    unsafe { enter(slf, args, nargs, CallPlan::call_uniform::<N, SSE>) }
}

/// Entry points by arity for signatures whose arguments all travel in
/// integer registers (x86-64 passes six).
const INT_ENTRIES: [ffi::PyCFunctionFast; 7] = [
    uniform_entry::<0, false>,
    uniform_entry::<1, false>,
    uniform_entry::<2, false>,
    uniform_entry::<3, false>,
    uniform_entry::<4, false>,
    uniform_entry::<5, false>,
    uniform_entry::<6, false>,
];

/// Entry points by arity for signatures whose arguments are all `double`
/// or `float` (more than four are rare; those take `call_entry`).
const SSE_ENTRIES: [ffi::PyCFunctionFast; 5] = [
    uniform_entry::<0, true>,
    uniform_entry::<1, true>,
    uniform_entry::<2, true>,
    uniform_entry::<3, true>,
    uniform_entry::<4, true>,
];

/// What every entry point does around `call`: finds the plan, and turns a
/// Rust panic into a Python exception instead of unwinding into CPython.
///
/// # Safety
/// `slf` is a [`CFunction`] and `args` holds `nargs` live objects (CPython
/// calling a builtin made by [`make_function`]).
#[inline(always)]
unsafe fn enter(
    slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    call: impl FnOnce(&CallPlan, Python<'_>, &[*mut ffi::PyObject]) -> *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls builtins with the thread attached.
    let py = unsafe { Python::assume_attached() };
    guarded(py, std::ptr::null_mut(), || {
        // SAFETY: `slf` is the CFunction given to PyCFunction_NewEx, alive
        // for the call.
        let holder = unsafe { Borrowed::from_ptr(py, slf).cast_unchecked::<CFunction>() };
        // SAFETY: CPython passes `nargs` live borrowed arguments.
        let argv = unsafe { arguments(args, nargs) };
        call(&holder.get().plan, py, argv)
    })
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
        return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
            "cannot call the NULL function pointer '{}'",
            this.cname()
        )));
    }
    let code = CodePtr(addr as *mut c_void);
    if fty.variadic {
        let objects: Vec<Bound<'_, PyAny>> = args.iter().collect();
        return call_variadic(py, this.cname(), &fty, code, None, true, &objects);
    }
    let plan = pointer_plan(py, this, fty, code)?;
    let mut inline = [std::ptr::null_mut::<ffi::PyObject>(); INLINE_ARGS];
    let ptrs: Vec<*mut ffi::PyObject>;
    let ptrs: &[*mut ffi::PyObject] = if args.len() <= INLINE_ARGS {
        for (slot, arg) in inline.iter_mut().zip(args.iter_borrowed()) {
            *slot = arg.as_ptr();
        }
        &inline[..args.len()]
    } else {
        ptrs = args.iter().map(|a| a.as_ptr()).collect();
        &ptrs
    };
    plan.call(py, ptrs)
}

/// Plans for calls through function pointers, by the pointer's type object
/// (interned, so its address names the exact type) and the code address:
/// preparing a plan costs far more than the call it makes.
static POINTER_PLANS: Mutex<Option<PointerPlans>> = Mutex::new(None);

/// (type object address, code address) -> plan.
type PointerPlans = FxHashMap<(usize, usize), Arc<CallPlan>>;

/// At most this many plans are kept; when full, the cache starts afresh.
const POINTER_PLANS_MAX: usize = 256;

/// The plan for calling the function-pointer cdata `this` (at `code`).
fn pointer_plan(
    py: Python<'_>,
    this: &CData,
    fty: Arc<FunctionType>,
    code: CodePtr,
) -> PyResult<Arc<CallPlan>> {
    let key = (this.ctype.as_ptr() as usize, code.as_ptr() as usize);
    let cached = POINTER_PLANS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|plans| plans.get(&key).cloned());
    if let Some(plan) = cached {
        return Ok(plan);
    }
    let plan = Arc::new(CallPlan::new(py, this.cname(), fty, code, None, true)?);
    let evicted = {
        let mut plans = POINTER_PLANS.lock().unwrap_or_else(|e| e.into_inner());
        let plans = plans.get_or_insert_with(FxHashMap::default);
        let evicted = if plans.len() >= POINTER_PLANS_MAX {
            std::mem::take(plans)
        } else {
            FxHashMap::default()
        };
        plans.insert(key, plan.clone());
        evicted
    };
    // Dropped unlocked: a plan holds Python objects, whose release may run
    // Python code.
    drop(evicted);
    Ok(plan)
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
    let cif = fty
        .variadic_cif(&instance.params[fty.params.len()..])
        .map_err(typed_error)?;
    let plan = CallPlan::with_cif(
        py,
        name,
        Arc::new(instance),
        cif,
        code,
        library,
        release_gil,
    )?;
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
            // cffi's message word for word (it names the position).
            return Err(PyTypeError::new_err(format!(
                "argument {} passed in the variadic part needs to be a cdata object (got {})",
                i + 1,
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
