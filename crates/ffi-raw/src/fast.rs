//! The prepared register fast path for x86-64 System V.
//!
//! libffi's `ffi_call` classifies every argument again on every call. For a
//! signature whose arguments all travel in registers, the classification is
//! done once here into a [`Plan`]: a list of loads into the six integer and
//! eight SSE argument registers. A call then fills those registers and jumps
//! to the function through one fixed Rust signature that carries all fourteen.
//!
//! That is sound at the ABI level because the System V convention assigns
//! integer-class and SSE-class values to their register files independently
//! and in order: a callee taking `(double, long)` reads `xmm0` and `rdi`, and
//! the unused registers are caller-saved scratch it never looks at. Variadic
//! callees also read `al` (the number of vector registers used), which a
//! non-variadic call does not set, so variadic signatures stay on libffi, as
//! do `long double` (x87) and anything passed or returned in memory.

use std::ffi::c_void;

use crate::library::CodePtr;
use crate::types::Type;

const GPRS: usize = 6;
const SSE_REGS: usize = 8;

/// One argument word: which argument, where in it, how wide, and into
/// which register.
#[derive(Clone, Copy, Debug)]
struct Load {
    arg: u16,
    offset: u16,
    kind: LoadKind,
    /// Register index within its file.
    reg: u8,
    sse: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LoadKind {
    /// Sign-extended from 1, 2 or 4 bytes (clang-built callees rely on it).
    Signed(u8),
    /// Zero-extended from 1 to 8 bytes.
    Unsigned(u8),
}

/// How the return registers map to the returned value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Return {
    /// `rax` (also `void`: then nothing is copied).
    Int,
    /// `xmm0`.
    Sse,
    /// Two eightbytes: `(first is SSE, second is SSE)`.
    Pair(bool, bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Integer,
    Sse,
}

/// A signature classified once for register-only calls.
#[derive(Debug)]
pub(crate) struct Plan {
    loads: Box<[Load]>,
    uses_sse: bool,
    ret: Return,
    ret_size: usize,
}

impl Plan {
    /// The plan for `args -> ret`, or `None` if some value would not travel
    /// in registers (libffi then handles the call).
    pub(crate) fn new(args: &[Type], ret: &Type) -> Option<Plan> {
        let mut loads = Vec::new();
        let (mut gpr, mut sse) = (0usize, 0usize);
        for (index, arg) in args.iter().enumerate() {
            let arg_index = u16::try_from(index).ok()?;
            let words = eightbytes(arg)?;
            let need_gpr = words.iter().filter(|w| w.class == Class::Integer).count();
            let need_sse = words.len() - need_gpr;
            // An aggregate goes whole into registers or whole into memory.
            if gpr + need_gpr > GPRS || sse + need_sse > SSE_REGS {
                return None;
            }
            for word in words {
                let (reg, is_sse) = match word.class {
                    Class::Integer => (post_inc(&mut gpr), false),
                    Class::Sse => (post_inc(&mut sse), true),
                };
                loads.push(Load {
                    arg: arg_index,
                    offset: word.offset,
                    kind: word.kind,
                    reg: reg as u8,
                    sse: is_sse,
                });
            }
        }
        let ret_words = match ret {
            Type::Void => Vec::new(),
            other => eightbytes(other)?,
        };
        let ret_plan = match ret_words.as_slice() {
            [] => Return::Int,
            [w] => match w.class {
                Class::Integer => Return::Int,
                Class::Sse => Return::Sse,
            },
            [a, b] => Return::Pair(a.class == Class::Sse, b.class == Class::Sse),
            _ => return None,
        };
        Some(Plan {
            uses_sse: sse > 0,
            loads: loads.into_boxed_slice(),
            ret: ret_plan,
            ret_size: ret.size(),
        })
    }

    /// Performs the call.
    ///
    /// # Safety
    /// As for [`crate::Cif::call`] with the signature this plan was made
    /// from; `args.len()` has been checked.
    #[inline]
    pub(crate) unsafe fn call(&self, func: CodePtr, args: &[*const c_void], ret: *mut c_void) {
        let mut gprs = [0u64; GPRS];
        let mut sses = [0u64; SSE_REGS];
        for load in self.loads.iter() {
            // SAFETY: `load.arg < args.len()` by construction, and the word
            // at `offset` of `width` bytes lies inside that argument's value
            // (eightbytes() never reads past a value's size), which the
            // caller guarantees is readable.
            let value = unsafe {
                let src = args
                    .get_unchecked(load.arg as usize)
                    .cast::<u8>()
                    .add(load.offset as usize);
                read_word(src, load.kind)
            };
            if load.sse {
                sses[load.reg as usize] = value;
            } else {
                gprs[load.reg as usize] = value;
            }
        }
        let f = func.0;
        // SAFETY: `f` has the planned signature (caller's contract) and takes
        // every argument in the registers filled above, so calling it with
        // all argument registers set is the call it expects (module docs).
        // The Rust return type picks the register(s) the value comes back
        // in, matching the plan's classification of the return type.
        let (lo, hi) = unsafe {
            match self.ret {
                Return::Int if !self.uses_sse => call_int_only::<u64>(f, &gprs).words(),
                Return::Int => call::<u64>(f, &gprs, &sses).words(),
                Return::Sse => call::<f64>(f, &gprs, &sses).words(),
                Return::Pair(false, false) => call::<Pair<u64, u64>>(f, &gprs, &sses).words(),
                Return::Pair(true, true) => call::<Pair<f64, f64>>(f, &gprs, &sses).words(),
                Return::Pair(false, true) => call::<Pair<u64, f64>>(f, &gprs, &sses).words(),
                Return::Pair(true, false) => call::<Pair<f64, u64>>(f, &gprs, &sses).words(),
            }
        };
        let size = self.ret_size;
        if size > 0 {
            let words = [lo.to_le_bytes(), hi.to_le_bytes()];
            // SAFETY: `ret` is valid for `size` bytes (caller's contract) and
            // `size <= 16` for a register return, which `words` covers.
            unsafe {
                std::ptr::copy_nonoverlapping(words.as_ptr().cast::<u8>(), ret.cast::<u8>(), size)
            };
        }
    }
}

fn post_inc(n: &mut usize) -> usize {
    *n += 1;
    *n - 1
}

/// Reads one register word.
///
/// # Safety
/// `src` must be readable for the kind's width.
#[inline(always)]
unsafe fn read_word(src: *const u8, kind: LoadKind) -> u64 {
    // SAFETY: the caller guarantees `src` is readable for the width read;
    // unaligned reads accept any address.
    unsafe {
        match kind {
            LoadKind::Signed(1) => src.cast::<i8>().read() as i64 as u64,
            LoadKind::Signed(2) => src.cast::<i16>().read_unaligned() as i64 as u64,
            LoadKind::Signed(_) => src.cast::<i32>().read_unaligned() as i64 as u64,
            LoadKind::Unsigned(8) => src.cast::<u64>().read_unaligned(),
            LoadKind::Unsigned(4) => src.cast::<u32>().read_unaligned() as u64,
            LoadKind::Unsigned(2) => src.cast::<u16>().read_unaligned() as u64,
            LoadKind::Unsigned(1) => src.read() as u64,
            LoadKind::Unsigned(n) => {
                let mut bytes = [0u8; 8];
                std::ptr::copy_nonoverlapping(src, bytes.as_mut_ptr(), n as usize);
                u64::from_le_bytes(bytes)
            }
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Pair<A, B>(A, B);

/// A value returned in one or two registers, as raw words.
trait ReturnWords {
    fn words(self) -> (u64, u64);
}

trait RegisterBits {
    fn bits(self) -> u64;
}

impl RegisterBits for u64 {
    fn bits(self) -> u64 {
        self
    }
}

impl RegisterBits for f64 {
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

impl<W: RegisterBits> ReturnWords for W {
    fn words(self) -> (u64, u64) {
        (self.bits(), 0)
    }
}

impl<A: RegisterBits, B: RegisterBits> ReturnWords for Pair<A, B> {
    fn words(self) -> (u64, u64) {
        (self.0.bits(), self.1.bits())
    }
}

type AllRegs<R> =
    unsafe extern "C" fn(u64, u64, u64, u64, u64, u64, f64, f64, f64, f64, f64, f64, f64, f64) -> R;
type IntRegs<R> = unsafe extern "C" fn(u64, u64, u64, u64, u64, u64) -> R;

/// # Safety
/// `f` must take its arguments in the registers given (module docs) and
/// return a value in the register(s) `R` is returned in.
#[inline(always)]
unsafe fn call<R>(f: *mut c_void, g: &[u64; GPRS], s: &[u64; SSE_REGS]) -> R {
    let s = s.map(f64::from_bits);
    // SAFETY: forwarded from this function's contract; a code address and a
    // function pointer have the same representation.
    unsafe {
        let f = std::mem::transmute::<*mut c_void, AllRegs<R>>(f);
        f(
            g[0], g[1], g[2], g[3], g[4], g[5], s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
        )
    }
}

/// As [`call`], for signatures without SSE arguments.
///
/// # Safety
/// As for [`call`].
#[inline(always)]
unsafe fn call_int_only<R>(f: *mut c_void, g: &[u64; GPRS]) -> R {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        let f = std::mem::transmute::<*mut c_void, IntRegs<R>>(f);
        f(g[0], g[1], g[2], g[3], g[4], g[5])
    }
}

/// One eightbyte of a value, classified.
struct Word {
    offset: u16,
    kind: LoadKind,
    class: Class,
}

/// Splits a value into its classified eightbytes, or `None` if it is not
/// passed in registers (x87 `long double`, aggregates over 16 bytes,
/// memory-only aggregates).
fn eightbytes(ty: &Type) -> Option<Vec<Word>> {
    let scalar = |kind, class| {
        Some(vec![Word {
            offset: 0,
            kind,
            class,
        }])
    };
    match ty {
        Type::I8 => scalar(LoadKind::Signed(1), Class::Integer),
        Type::I16 => scalar(LoadKind::Signed(2), Class::Integer),
        Type::I32 => scalar(LoadKind::Signed(4), Class::Integer),
        Type::U8 => scalar(LoadKind::Unsigned(1), Class::Integer),
        Type::U16 => scalar(LoadKind::Unsigned(2), Class::Integer),
        Type::U32 => scalar(LoadKind::Unsigned(4), Class::Integer),
        Type::U64 | Type::I64 | Type::Pointer => scalar(LoadKind::Unsigned(8), Class::Integer),
        Type::F32 => scalar(LoadKind::Unsigned(4), Class::Sse),
        Type::F64 => scalar(LoadKind::Unsigned(8), Class::Sse),
        Type::Struct(s) if s.by_value_obstacle().is_none() && s.size() <= 16 => {
            let mut classes: [Option<Class>; 2] = [None, None];
            let mut ok = true;
            ty.for_each_leaf(&mut |leaf, offset| {
                let class = match leaf {
                    Type::F32 | Type::F64 => Class::Sse,
                    Type::LongDouble => {
                        ok = false;
                        return;
                    }
                    _ => Class::Integer,
                };
                let slot = &mut classes[offset / 8];
                *slot = match (*slot, class) {
                    (Some(Class::Integer), _) | (_, Class::Integer) => Some(Class::Integer),
                    _ => Some(Class::Sse),
                };
            });
            if !ok {
                return None;
            }
            let size = s.size();
            let words = classes
                .iter()
                .enumerate()
                .filter_map(|(i, class)| {
                    let offset = i * 8;
                    // Padding-only eightbytes do not exist in a natural
                    // layout of at most 16 bytes except at the tail, where
                    // the value ends anyway.
                    class.map(|class| Word {
                        offset: offset as u16,
                        kind: LoadKind::Unsigned((size - offset).min(8) as u8),
                        class,
                    })
                })
                .collect();
            Some(words)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ArrayType, StructType};

    fn st(fields: Vec<Type>) -> Type {
        Type::Struct(StructType::new(fields).unwrap())
    }

    #[test]
    fn classification() {
        let plan = Plan::new(&[Type::I64], &Type::I64).unwrap();
        assert_eq!(plan.ret, Return::Int);
        assert!(!plan.uses_sse);
        let plan = Plan::new(&[Type::F64, Type::F64], &Type::F64).unwrap();
        assert_eq!(plan.ret, Return::Sse);
        let dl = st(vec![Type::F64, Type::I64]);
        assert_eq!(Plan::new(&[], &dl).unwrap().ret, Return::Pair(true, false));
        let fff = st(vec![Type::F32, Type::F32, Type::F32]);
        let plan = Plan::new(std::slice::from_ref(&fff), &fff).unwrap();
        assert_eq!(plan.ret, Return::Pair(true, true));
        assert_eq!(plan.loads[1].kind, LoadKind::Unsigned(4));
        let fi = st(vec![Type::F32, Type::I32]);
        assert_eq!(Plan::new(&[], &fi).unwrap().ret, Return::Int);
        let arr = Type::Array(ArrayType::new(Type::U8, 9).unwrap());
        assert_eq!(
            Plan::new(&[], &st(vec![arr])).unwrap().ret,
            Return::Pair(false, false)
        );
    }

    #[test]
    fn what_stays_on_libffi() {
        assert!(Plan::new(&[Type::LongDouble], &Type::Void).is_none());
        assert!(Plan::new(&[], &Type::LongDouble).is_none());
        assert!(Plan::new(&[st(vec![Type::I64, Type::I64, Type::I64])], &Type::Void).is_none());
        assert!(Plan::new(&vec![Type::I32; 7], &Type::Void).is_none());
        assert!(Plan::new(&vec![Type::F64; 9], &Type::Void).is_none());
        assert!(Plan::new(&vec![Type::I32; 6], &Type::Void).is_some());
        // Five integers used, the struct needs two more: the whole struct
        // would go to memory.
        let two = st(vec![Type::I64, Type::I64]);
        let mut args = vec![Type::I32; 5];
        args.push(two);
        assert!(Plan::new(&args, &Type::Void).is_none());
    }
}
