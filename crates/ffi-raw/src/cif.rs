//! Call interfaces: a signature prepared once and called many times.

use std::ffi::c_void;
use std::fmt;
use std::mem::MaybeUninit;

use libffi_sys as sys;

use crate::error::{Error, Position, Result};
use crate::library::CodePtr;
use crate::platform::Target;
use crate::types::Type;

/// A prepared call interface: argument and return types, checked and
/// classified once, then used for any number of calls from any thread.
///
/// ```
/// use std::ffi::c_void;
/// use ffi_raw::{CScalar, Cif, Library};
///
/// let libc = Library::this();
/// let labs = libc.symbol("labs").unwrap();
/// let long = Type::from(CScalar::Long);
/// # use ffi_raw::Type;
/// let cif = Cif::new([long.clone()], long).unwrap();
/// let x: i64 = -42;
/// let mut result: i64 = 0;
/// // SAFETY: `labs` has the signature `long labs(long)`.
/// unsafe {
///     cif.call(labs.code_ptr(), &[(&raw const x).cast()], (&raw mut result).cast())
///         .unwrap();
/// }
/// assert_eq!(result, 42);
/// ```
pub struct Cif {
    /// Boxed so its address is stable: closures keep a pointer to it.
    raw: Box<sys::ffi_cif>,
    /// The types libffi sees, after conversions; `raw` points into this.
    _ffi_args: Box<[*mut sys::ffi_type]>,
    args: Box<[Type]>,
    ret: Type,
    /// `Some(number of fixed arguments)` for a variadic signature.
    fixed: Option<usize>,
    /// How each argument is converted before libffi sees it.
    conversions: Box<[Conversion]>,
    /// Whether any conversion is not `Conversion::None`.
    converts: bool,
    /// `Some(size)` if libffi may write more than the return value's `size`
    /// bytes, so the return bounces through a scratch buffer.
    ret_bounce: Option<usize>,
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fast: Option<crate::fast::Plan>,
    /// Set when [`Cif::call_registers`] can make calls of this signature.
    pub(crate) registers: Option<crate::registers::RegisterLayout>,
}

// SAFETY: after preparation nothing writes to `raw` or the descriptors it
// points at (our own struct descriptors are immutable once built, libffi's
// scalar descriptors are constants), so the interface can be shared and sent.
unsafe impl Send for Cif {}
// SAFETY: as for `Send`; calls only read the prepared interface.
unsafe impl Sync for Cif {}

/// How an argument value is widened before the call.
///
/// Variadic arguments get C's default argument promotions (libffi rejects
/// unpromoted types), and on targets where callees assume it, `char` and
/// `short` arguments are extended to 32 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Conversion {
    None,
    SignExtend8,
    ZeroExtend8,
    SignExtend16,
    ZeroExtend16,
    FloatToDouble,
}

impl Conversion {
    fn for_arg(ty: &Type, variadic: bool) -> Conversion {
        if !variadic && !Target::HOST.extend_small_int_args {
            return Conversion::None;
        }
        match ty {
            Type::I8 => Conversion::SignExtend8,
            Type::U8 => Conversion::ZeroExtend8,
            Type::I16 => Conversion::SignExtend16,
            Type::U16 => Conversion::ZeroExtend16,
            Type::F32 if variadic => Conversion::FloatToDouble,
            _ => Conversion::None,
        }
    }

    /// The type libffi is told about.
    fn passed_type(self, ty: &Type) -> Type {
        match self {
            Conversion::None => ty.clone(),
            Conversion::SignExtend8 | Conversion::SignExtend16 => Type::I32,
            Conversion::ZeroExtend8 | Conversion::ZeroExtend16 => Type::U32,
            Conversion::FloatToDouble => Type::F64,
        }
    }

    /// Reads the original value at `src` and returns the converted value's
    /// bytes (in the low bytes of a `u64`, native endianness).
    ///
    /// # Safety
    /// `src` must point to a readable value of the unconverted type.
    unsafe fn apply(self, src: *const c_void) -> u64 {
        // SAFETY: the caller guarantees `src` points to a value of the type
        // this conversion was chosen for; unaligned reads accept any address.
        unsafe {
            match self {
                Conversion::None => unreachable!("no conversion to apply"),
                Conversion::SignExtend8 => src.cast::<i8>().read_unaligned() as i32 as u32 as u64,
                Conversion::ZeroExtend8 => src.cast::<u8>().read_unaligned() as u64,
                Conversion::SignExtend16 => src.cast::<i16>().read_unaligned() as i32 as u32 as u64,
                Conversion::ZeroExtend16 => src.cast::<u16>().read_unaligned() as u64,
                Conversion::FloatToDouble => (src.cast::<f32>().read_unaligned() as f64).to_bits(),
            }
        }
    }
}

/// What a call interface is prepared for: a call from Rust into C converts
/// arguments as the callee expects; a closure receives them as declared.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Call,
    Closure,
}

/// A return buffer big enough for any value returned in registers, aligned
/// for any scalar. libffi writes whole registers (8 bytes for a `char`
/// return), so calls land here first and copy out exactly the type's size.
#[repr(C, align(16))]
pub(crate) struct ReturnScratch(pub(crate) [MaybeUninit<u8>; ReturnScratch::SIZE]);

impl ReturnScratch {
    pub(crate) const SIZE: usize = 32;

    pub(crate) fn new() -> ReturnScratch {
        ReturnScratch([MaybeUninit::uninit(); ReturnScratch::SIZE])
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut c_void {
        self.0.as_mut_ptr().cast()
    }
}

impl Cif {
    /// A fixed-arity signature.
    ///
    /// Fails if an argument is `void` or an array, or if an argument or the
    /// return value is an aggregate libffi cannot pass by value (see
    /// [`crate::AggregateKind`]).
    pub fn new(args: impl IntoIterator<Item = Type>, ret: Type) -> Result<Cif> {
        Cif::prepare(args.into_iter().collect(), ret, None, Purpose::Call)
    }

    /// A variadic signature, for one call shape: `fixed` are the declared
    /// parameters, `variadic` the types of the arguments given for `...`.
    ///
    /// Variadic arguments are passed with C's default argument promotions,
    /// applied by [`Cif::call`]: give an `F32` value for an `F32` argument and
    /// the callee receives a `double`; `I8`/`U8`/`I16`/`U16` arrive as `int`.
    pub fn new_variadic(
        fixed: impl IntoIterator<Item = Type>,
        variadic: impl IntoIterator<Item = Type>,
        ret: Type,
    ) -> Result<Cif> {
        let mut args: Vec<Type> = fixed.into_iter().collect();
        let nfixed = args.len();
        if nfixed == 0 {
            return Err(Error::VariadicWithoutFixed);
        }
        args.extend(variadic);
        Cif::prepare(args, ret, Some(nfixed), Purpose::Call)
    }

    pub(crate) fn prepare(
        args: Vec<Type>,
        ret: Type,
        fixed: Option<usize>,
        purpose: Purpose,
    ) -> Result<Cif> {
        for (i, arg) in args.iter().enumerate() {
            arg.check_by_value(Position::Argument(i))?;
        }
        ret.check_by_value(Position::Return)?;
        let conversions: Box<[Conversion]> = args
            .iter()
            .enumerate()
            .map(|(i, ty)| match purpose {
                Purpose::Closure => Conversion::None,
                Purpose::Call => Conversion::for_arg(ty, fixed.is_some_and(|n| i >= n)),
            })
            .collect();
        let passed: Vec<Type> = args
            .iter()
            .zip(conversions.iter())
            .map(|(ty, conv)| conv.passed_type(ty))
            .collect();
        let mut ffi_args: Box<[*mut sys::ffi_type]> = passed.iter().map(Type::ffi_type).collect();
        let ffi_ret = libffi_return_type(&ret);
        let nargs = u32::try_from(args.len()).map_err(|_| Error::Libffi("too many arguments"))?;
        // SAFETY: ffi_cif is plain old data that ffi_prep_cif fully initialises.
        let mut raw: Box<sys::ffi_cif> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: `raw` is writable; the type pointers are valid descriptors
        // that outlive the cif (`ffi_args` and the `Type`s are stored in it;
        // converted types are scalars with static descriptors).
        let status = unsafe {
            match fixed {
                None => sys::ffi_prep_cif(
                    &mut *raw,
                    sys::ffi_abi_FFI_DEFAULT_ABI,
                    nargs,
                    ffi_ret.ffi_type(),
                    ffi_args.as_mut_ptr(),
                ),
                Some(nfixed) => sys::ffi_prep_cif_var(
                    &mut *raw,
                    sys::ffi_abi_FFI_DEFAULT_ABI,
                    nfixed as u32,
                    nargs,
                    ffi_ret.ffi_type(),
                    ffi_args.as_mut_ptr(),
                ),
            }
        };
        check_status(status)?;
        let converts = conversions.iter().any(|c| *c != Conversion::None);
        let ret_bounce = libffi_overwrites_return(&ret).then(|| ret.size());
        Ok(Cif {
            #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
            fast: match (purpose, fixed) {
                (Purpose::Call, None) => crate::fast::Plan::new(&args, &ret),
                _ => None,
            },
            registers: match (purpose, fixed) {
                (Purpose::Call, None) => crate::registers::RegisterLayout::new(&args, &ret),
                _ => None,
            },
            raw,
            _ffi_args: ffi_args,
            args: args.into_boxed_slice(),
            ret,
            fixed,
            conversions,
            converts,
            ret_bounce,
        })
    }

    /// The argument types, as given (before variadic promotion).
    pub fn arg_types(&self) -> &[Type] {
        &self.args
    }

    /// The return type.
    pub fn return_type(&self) -> &Type {
        &self.ret
    }

    /// `Some(n)` if this is a variadic signature with `n` fixed arguments.
    pub fn fixed_args(&self) -> Option<usize> {
        self.fixed
    }

    /// Whether calls take the prepared register fast path instead of libffi.
    pub fn uses_fast_path(&self) -> bool {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        return self.fast.is_some();
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        false
    }

    pub(crate) fn raw(&self) -> *mut sys::ffi_cif {
        (&*self.raw as *const sys::ffi_cif).cast_mut()
    }

    /// Calls `func` with this signature.
    ///
    /// `args[i]` points to the value of argument `i` (of type
    /// `arg_types()[i]`); the return value is written to `ret`: exactly
    /// `return_type().size()` bytes, never more, however the C ABI returns it.
    ///
    /// Returns [`Error::ArgCount`] if `args` has the wrong length.
    ///
    /// # Safety
    /// - `func` must be the address of a function with this signature (for a
    ///   variadic signature, one whose fixed parameters are these).
    /// - Each `args[i]` must point to an initialised value of its type.
    /// - `ret` must be valid for writing `return_type().size()` bytes and
    ///   aligned for the return type (it is ignored for `void`).
    /// - Whatever the C function itself requires of its arguments.
    #[inline]
    pub unsafe fn call(
        &self,
        func: CodePtr,
        args: &[*const c_void],
        ret: *mut c_void,
    ) -> Result<()> {
        if args.len() != self.args.len() {
            return Err(self.arg_count_error(args.len()));
        }
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        if let Some(plan) = &self.fast {
            // SAFETY: forwarded from this function's contract; the plan was
            // built for exactly this signature.
            unsafe { plan.call(func, args, ret) };
            return Ok(());
        }
        // SAFETY: forwarded from this function's contract.
        unsafe { self.call_libffi(func, args, ret) };
        Ok(())
    }

    /// Like [`Cif::call`], with `errno` set to `set_before` (if given) just
    /// before the call and read just after it, on the calling thread.
    ///
    /// # Safety
    /// As for [`Cif::call`].
    pub unsafe fn call_with_errno(
        &self,
        func: CodePtr,
        args: &[*const c_void],
        ret: *mut c_void,
        set_before: Option<i32>,
    ) -> Result<i32> {
        // Checked here too so that a failed call leaves errno alone.
        if args.len() != self.args.len() {
            return Err(self.arg_count_error(args.len()));
        }
        if let Some(value) = set_before {
            crate::errno::set_errno(value);
        }
        // SAFETY: forwarded from this function's contract.
        unsafe { self.call(func, args, ret)? };
        Ok(crate::errno::errno())
    }

    #[cold]
    #[inline(never)]
    fn arg_count_error(&self, got: usize) -> Error {
        Error::ArgCount {
            expected: self.args.len(),
            got,
        }
    }

    /// The general path: libffi's `ffi_call`, after converting the arguments
    /// that need it; returns libffi would write too widely bounce through a
    /// scratch buffer.
    ///
    /// Kept out of line so that the fast path's frame stays small.
    ///
    /// # Safety
    /// As for [`Cif::call`]; `args.len()` has been checked.
    #[inline(never)]
    unsafe fn call_libffi(&self, func: CodePtr, args: &[*const c_void], ret: *mut c_void) {
        let mut scratch = ReturnScratch::new();
        let target = match self.ret_bounce {
            Some(_) => scratch.as_mut_ptr(),
            None => ret,
        };
        // SAFETY: forwarded from this function's contract; `target` is `ret`
        // only where libffi writes at most the return type's size.
        unsafe {
            if self.converts {
                self.ffi_call_converted(func, args, target);
            } else {
                self.ffi_call(func, args, target);
            }
        }
        if let Some(size) = self.ret_bounce {
            // SAFETY: the scratch holds the returned value's `size` bytes,
            // and `ret` is valid for `size` bytes (caller's contract).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    scratch.0.as_ptr(),
                    ret.cast::<MaybeUninit<u8>>(),
                    size,
                )
            };
        }
    }

    /// `ffi_call` on arguments as libffi was told about them.
    ///
    /// # Safety
    /// `func` has this signature, each `args[i]` points to a value of the
    /// type libffi was told for argument `i`, and `ret` is valid for what
    /// libffi writes for the return type.
    #[inline(always)]
    unsafe fn ffi_call(&self, func: CodePtr, args: &[*const c_void], ret: *mut c_void) {
        // SAFETY: forwarded from this function's contract; a code address
        // and a function pointer have the same representation.
        unsafe {
            sys::ffi_call(
                self.raw(),
                Some(std::mem::transmute::<*mut c_void, unsafe extern "C" fn()>(
                    func.0,
                )),
                ret,
                args.as_ptr() as *mut *mut c_void,
            );
        }
    }

    /// Converts the arguments that need it into a buffer on the stack (the
    /// heap past 16 arguments), then calls.
    ///
    /// # Safety
    /// As for [`Cif::ffi_call`], with `args` holding the unconverted values.
    #[inline(never)]
    unsafe fn ffi_call_converted(&self, func: CodePtr, args: &[*const c_void], ret: *mut c_void) {
        const INLINE: usize = 16;
        let n = args.len();
        let convert = |values: &mut [MaybeUninit<u64>], ptrs: &mut [MaybeUninit<*const c_void>]| {
            for i in 0..n {
                let ptr = match self.conversions[i] {
                    Conversion::None => args[i],
                    // SAFETY: args[i] points to a value of the type the
                    // conversion was chosen for (caller's contract).
                    conv => values[i].write(unsafe { conv.apply(args[i]) }) as *const u64
                        as *const c_void,
                };
                ptrs[i].write(ptr);
            }
            // SAFETY: the loop initialised all `n` pointers.
            unsafe { std::slice::from_raw_parts(ptrs.as_ptr().cast::<*const c_void>(), n) }
        };
        if n <= INLINE {
            let mut values = [MaybeUninit::<u64>::uninit(); INLINE];
            let mut ptrs = [MaybeUninit::<*const c_void>::uninit(); INLINE];
            let converted = convert(&mut values, &mut ptrs);
            // SAFETY: converted pointers refer to `values`, alive until the
            // call returns; the rest is forwarded.
            unsafe { self.ffi_call(func, converted, ret) }
        } else {
            let mut values = vec![MaybeUninit::<u64>::uninit(); n];
            let mut ptrs = vec![MaybeUninit::<*const c_void>::uninit(); n];
            let converted = convert(&mut values, &mut ptrs);
            // SAFETY: as above.
            unsafe { self.ffi_call(func, converted, ret) }
        }
    }
}

impl fmt::Debug for Cif {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cif")
            .field("args", &self.args)
            .field("ret", &self.ret)
            .field("fixed", &self.fixed)
            .field("fast_path", &self.uses_fast_path())
            .finish()
    }
}

/// Whether libffi may write more than the return type's size. On x86-64 it
/// stores a whole register (`ffi_arg`) for integers narrower than 8 bytes;
/// floats and structs returned in registers are stored at their exact size
/// and larger structs are written by the callee (the differential test's
/// canary bytes check this). Elsewhere, assume any register-sized return may
/// be widened.
fn libffi_overwrites_return(ret: &Type) -> bool {
    if cfg!(target_arch = "x86_64") {
        ret.is_integer() && ret.size() < 8
    } else {
        (1..=ReturnScratch::SIZE).contains(&ret.size())
    }
}

/// The return type libffi is told about.
///
/// On x86-64 a struct that is exactly one `long double` (also nested, or as
/// `long double[1]`) is classified X87/X87UP and returned in `st(0)`, just
/// like a `long double`. libffi's struct path reads `rax:rdx` instead and
/// leaves the value on the x87 stack (found by the differential test), so
/// it is described to libffi as the `long double` it is returned as.
fn libffi_return_type(ret: &Type) -> Type {
    if cfg!(target_arch = "x86_64") && matches!(ret, Type::Struct(_)) && ret.size() == 16 {
        let mut leaves = Vec::new();
        ret.for_each_leaf(&mut |leaf, offset| leaves.push((leaf.clone(), offset)));
        if leaves == [(Type::LongDouble, 0)] {
            return Type::LongDouble;
        }
    }
    ret.clone()
}

pub(crate) fn check_status(status: sys::ffi_status) -> Result<()> {
    match status {
        sys::ffi_status_FFI_OK => Ok(()),
        sys::ffi_status_FFI_BAD_TYPEDEF => Err(Error::Libffi("bad type definition")),
        sys::ffi_status_FFI_BAD_ABI => Err(Error::Libffi("bad ABI")),
        sys::ffi_status_FFI_BAD_ARGTYPE => Err(Error::Libffi("bad argument type")),
        _ => Err(Error::Libffi("unknown status")),
    }
}
