//! Closures: C function pointers that call Rust.

use std::ffi::c_void;
use std::fmt;
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use libffi_sys as sys;

use crate::cif::{Cif, Purpose, ReturnScratch, check_status};
use crate::error::{Error, Position, Result};
use crate::library::CodePtr;
use crate::types::Type;

/// What a closure does when its Rust callback panics. A panic never unwinds
/// into the C caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnPanic {
    /// Print the panic message to stderr and abort the process. The default:
    /// a C caller has no way to learn that the call failed.
    Abort,
    /// Return these bytes (exactly the return type's size) to the C caller.
    Return(Vec<u8>),
}

/// The arguments a closure received, typed by its signature.
pub struct ClosureArgs<'a> {
    types: &'a [Type],
    ptrs: &'a [*const c_void],
}

impl<'a> ClosureArgs<'a> {
    /// The number of arguments.
    pub fn len(&self) -> usize {
        self.ptrs.len()
    }

    /// Whether the signature takes no arguments.
    pub fn is_empty(&self) -> bool {
        self.ptrs.is_empty()
    }

    /// The declared argument types.
    pub fn types(&self) -> &'a [Type] {
        self.types
    }

    /// The bytes of argument `i` (exactly its type's size).
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn bytes(&self, i: usize) -> &'a [u8] {
        let size = self.types[i].size();
        // SAFETY: libffi passes, for each argument, a pointer to a value of
        // its declared type, valid for the duration of the callback ('a).
        unsafe { std::slice::from_raw_parts(self.ptrs[i].cast::<u8>(), size) }
    }

    /// Argument `i` as a Rust scalar; fails if its declared type differs.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn get<T: Scalar>(&self, i: usize) -> Result<T> {
        if self.types[i] != T::TYPE {
            return Err(Error::TypeMismatch {
                position: Position::Argument(i),
                actual: self.types[i].to_string(),
                requested: std::any::type_name::<T>(),
            });
        }
        // SAFETY: the declared type is T's type, so the pointer refers to a
        // valid T (every bit pattern of a Scalar is valid).
        Ok(unsafe { self.ptrs[i].cast::<T>().read_unaligned() })
    }

    /// The raw pointer libffi passed for argument `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn as_ptr(&self, i: usize) -> *const c_void {
        self.ptrs[i]
    }
}

impl fmt::Debug for ClosureArgs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClosureArgs")
            .field("types", &self.types)
            .finish()
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Rust types that are a [`Type`] scalar and valid for every bit pattern.
pub trait Scalar: Copy + sealed::Sealed {
    /// The matching [`Type`].
    const TYPE: Type;
}

macro_rules! scalars {
    ($($rust:ty => $ty:expr),* $(,)?) => {$(
        impl sealed::Sealed for $rust {}
        impl Scalar for $rust { const TYPE: Type = $ty; }
    )*};
}

scalars! {
    u8 => Type::U8, i8 => Type::I8, u16 => Type::U16, i16 => Type::I16,
    u32 => Type::U32, i32 => Type::I32, u64 => Type::U64, i64 => Type::I64,
    f32 => Type::F32, f64 => Type::F64,
    *const c_void => Type::Pointer, *mut c_void => Type::Pointer,
}

type Callback = dyn Fn(&ClosureArgs<'_>, &mut [u8]) + Send + Sync;

/// State the trampoline reaches through libffi's user-data pointer.
struct State {
    cif: Cif,
    callback: Box<Callback>,
    on_panic: OnPanic,
}

/// A C function pointer ([`Closure::code_ptr`]) that runs a Rust callback.
///
/// The callback gets the arguments and a buffer of exactly the return
/// type's size to fill (zeroed beforehand); widening a small integer return
/// to a full register, as C callers expect, is done for it. A closure may be
/// called from any thread, at the same time, since its callback is
/// `Send + Sync`. Dropping it frees its code; C must not call it after. A
/// call already running when it is dropped (the callback may drop its own
/// closure) finishes normally: the state it needs, the callback included,
/// is freed when the last such call returns, on that call's thread.
///
/// ```
/// use ffi_raw::{Cif, Closure, Type};
/// let add = Closure::new([Type::I32, Type::I32], Type::I32, |args, ret| {
///     let sum = args.get::<i32>(0).unwrap() + args.get::<i32>(1).unwrap();
///     ret.copy_from_slice(&sum.to_ne_bytes());
/// })
/// .unwrap();
/// // C would receive add.code_ptr(); here we call it through a Cif.
/// let cif = Cif::new([Type::I32, Type::I32], Type::I32).unwrap();
/// let (a, b, mut out) = (2i32, 40i32, 0i32);
/// // SAFETY: the closure has exactly this signature.
/// unsafe {
///     cif.call(add.code_ptr(), &[(&raw const a).cast(), (&raw const b).cast()], (&raw mut out).cast())
///         .unwrap()
/// };
/// assert_eq!(out, 42);
/// ```
pub struct Closure {
    raw: *mut sys::ffi_closure,
    code: CodePtr,
    /// On the heap: libffi holds pointers to it and to the cif inside it.
    /// Shared with the calls in progress, each of which holds it until it
    /// returns.
    state: Arc<State>,
}

// SAFETY: the libffi closure is immutable once prepared and the state's
// callback is `Send + Sync`; freeing happens once, in Drop.
unsafe impl Send for Closure {}
// SAFETY: as for `Send`.
unsafe impl Sync for Closure {}

impl Closure {
    /// A closure for `args -> ret` that aborts if `callback` panics.
    pub fn new<F>(args: impl IntoIterator<Item = Type>, ret: Type, callback: F) -> Result<Closure>
    where
        F: Fn(&ClosureArgs<'_>, &mut [u8]) + Send + Sync + 'static,
    {
        Closure::with_on_panic(args, ret, OnPanic::Abort, callback)
    }

    /// A closure for `args -> ret` with a chosen panic outcome.
    pub fn with_on_panic<F>(
        args: impl IntoIterator<Item = Type>,
        ret: Type,
        on_panic: OnPanic,
        callback: F,
    ) -> Result<Closure>
    where
        F: Fn(&ClosureArgs<'_>, &mut [u8]) + Send + Sync + 'static,
    {
        if let OnPanic::Return(bytes) = &on_panic
            && bytes.len() != ret.size()
        {
            return Err(Error::ReturnSize {
                expected: ret.size(),
                got: bytes.len(),
            });
        }
        let cif = Cif::prepare(args.into_iter().collect(), ret, None, Purpose::Closure)?;
        let state = Arc::new(State {
            cif,
            callback: Box::new(callback),
            on_panic,
        });
        let mut code: *mut c_void = std::ptr::null_mut();
        // SAFETY: allocates a closure of the right size; `code` receives its
        // executable address.
        let raw =
            unsafe { sys::ffi_closure_alloc(std::mem::size_of::<sys::ffi_closure>(), &mut code) }
                .cast::<sys::ffi_closure>();
        if raw.is_null() {
            return Err(Error::ClosureAlloc);
        }
        let closure = Closure {
            raw,
            code: CodePtr(code),
            state,
        };
        // SAFETY: `raw`/`code` come from ffi_closure_alloc; the cif and the
        // user data (the shared state) live as long as `closure`, which
        // frees the libffi closure before dropping its share, and as long
        // as any call in progress (see `trampoline`).
        let status = unsafe {
            sys::ffi_prep_closure_loc(
                closure.raw,
                closure.state.cif.raw(),
                Some(trampoline),
                Arc::as_ptr(&closure.state).cast_mut().cast(),
                code,
            )
        };
        check_status(status)?;
        Ok(closure)
    }

    /// The address C calls.
    pub fn code_ptr(&self) -> CodePtr {
        self.code
    }
}

impl Drop for Closure {
    fn drop(&mut self) {
        // SAFETY: allocated by ffi_closure_alloc and freed exactly once.
        unsafe { sys::ffi_closure_free(self.raw.cast()) }
    }
}

impl fmt::Debug for Closure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closure")
            .field("code", &self.code.0)
            .field("args", &self.state.cif.arg_types())
            .field("ret", self.state.cif.return_type())
            .field("on_panic", &self.state.on_panic)
            .finish()
    }
}

/// The function libffi calls; it never unwinds.
///
/// It holds a share of the closure's state for the whole call, so that the
/// callback may drop its own `Closure`: libffi reads nothing of the closure
/// or its cif once this returns, and the jump into it is already made.
unsafe extern "C" fn trampoline(
    _cif: *mut sys::ffi_cif,
    ret: *mut c_void,
    args: *mut *mut c_void,
    user_data: *mut c_void,
) {
    let shared = user_data.cast::<State>().cast_const();
    // SAFETY: user_data is the `Arc<State>` of the closure C called, alive
    // at entry (C calls only a live closure); the share taken here is
    // released below.
    let state = unsafe {
        Arc::increment_strong_count(shared);
        Arc::from_raw(shared)
    };
    // SAFETY: forwarded from libffi: `ret` is its return buffer, `args`
    // one pointer per declared argument.
    unsafe { run(&state, ret, args) };
    // The last share frees the callback here if the closure was dropped
    // during the call: a panic in its drop must not unwind into C either.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(state)));
}

/// One call of the closure whose state is `state`.
///
/// # Safety
/// `ret` and `args` are what libffi passes the trampoline for this state's
/// cif: its return buffer, and one pointer per declared argument.
unsafe fn run(state: &State, ret: *mut c_void, args: *mut *mut c_void) {
    let types = state.cif.arg_types();
    let ptrs: &[*const c_void] = if types.is_empty() {
        &[]
    } else {
        // SAFETY: libffi passes one pointer per declared argument.
        unsafe { std::slice::from_raw_parts(args.cast::<*const c_void>(), types.len()) }
    };
    let ret_ty = state.cif.return_type();
    let size = ret_ty.size();
    let mut scratch = [0u8; ReturnScratch::SIZE];
    // A value too large for the scratch is an aggregate libffi returns in
    // the caller's memory: the callback writes there directly, so a call
    // allocates nothing (an allocation the size of a C type could fail,
    // and aborting is all a closure could then do).
    let in_place = size > ReturnScratch::SIZE;
    let out: &mut [u8] = if in_place {
        // SAFETY: libffi's return buffer holds the return type's size
        // (here the caller's memory for the aggregate); nothing else uses
        // it during the callback. Zeroed, as the scratch is.
        unsafe {
            std::ptr::write_bytes(ret.cast::<u8>(), 0, size);
            std::slice::from_raw_parts_mut(ret.cast::<u8>(), size)
        }
    } else {
        &mut scratch[..size]
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        (state.callback)(&ClosureArgs { types, ptrs }, out)
    }));
    if let Err(payload) = outcome {
        match &state.on_panic {
            OnPanic::Abort => {
                let message = panic_message(&*payload);
                let _ = writeln!(
                    std::io::stderr(),
                    "ffi-raw: a closure callback panicked ({message}); aborting, since the panic cannot unwind into C"
                );
                std::process::abort();
            }
            OnPanic::Return(bytes) => {
                // A payload whose Drop panics must not escape either.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
                out.copy_from_slice(bytes);
            }
        }
    }
    if !in_place {
        // SAFETY: libffi's return buffer holds at least the return type's
        // size, and at least a full register (ffi_arg) for integer types.
        unsafe { write_return(ret_ty, out, ret) };
    }
}

/// Writes a closure's return value as libffi expects: integers narrower than
/// a register widened to a full `ffi_arg`, anything else as its bytes.
///
/// # Safety
/// `dst` must be libffi's closure return buffer for `ty`.
unsafe fn write_return(ty: &Type, value: &[u8], dst: *mut c_void) {
    let widened: Option<u64> = match ty {
        Type::I8 => Some(value[0] as i8 as i64 as u64),
        Type::U8 => Some(value[0] as u64),
        Type::I16 => Some(i16::from_ne_bytes([value[0], value[1]]) as i64 as u64),
        Type::U16 => Some(u16::from_ne_bytes([value[0], value[1]]) as u64),
        Type::I32 => Some(i32::from_ne_bytes(value.try_into().expect("4 bytes")) as i64 as u64),
        Type::U32 => Some(u32::from_ne_bytes(value.try_into().expect("4 bytes")) as u64),
        _ => None,
    };
    // SAFETY: the caller guarantees `dst` is libffi's return buffer, which is
    // at least sizeof(ffi_arg) for integer types and the type's size otherwise.
    unsafe {
        match widened {
            Some(word) => dst
                .cast::<sys::ffi_arg>()
                .write_unaligned(word as sys::ffi_arg),
            None => std::ptr::copy_nonoverlapping(value.as_ptr(), dst.cast::<u8>(), value.len()),
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a non-string payload"
    }
}
