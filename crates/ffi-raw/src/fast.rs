//! The prepared register fast path for x86-64 System V.
//!
//! libffi's `ffi_call` classifies every argument again on every call. For a
//! signature whose arguments all travel in registers, the classification is
//! done once here into a [`Plan`]: for each of the six integer and eight SSE
//! argument registers, where its value comes from; and one `invoke` function
//! chosen from monomorphised instances by how many registers of each kind
//! are used and how the value comes back. A call runs that function, which
//! reads each used register's value straight from the caller's argument (no
//! loop, no register array in memory) and calls the target through a fixed
//! Rust signature carrying the argument registers.
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

/// Where one argument register's value comes from: which argument, where
/// in it, and how to read it.
///
/// Four bytes, four-aligned, so it decodes with plain byte loads: a fast
/// plan has at most 14 arguments (each takes a register) and offsets < 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(4))]
struct Source {
    arg: u8,
    offset: u8,
    kind: LoadKind,
}

impl Source {
    /// An unused register: passed as zero, reads nothing.
    const UNUSED: Source = Source {
        arg: 0,
        offset: 0,
        kind: LoadKind::Zero,
    };
}

/// How to read a word. Small integers are sign- or zero-extended (clang-built
/// callees rely on it); a struct's last word may be shorter than 8 bytes and
/// is read only as far as the value goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LoadKind {
    Zero,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    W64,
    /// 3, 5, 6 or 7 bytes, zero-extended.
    Bytes(u8),
}

impl LoadKind {
    fn unsigned(width: usize) -> LoadKind {
        match width {
            1 => LoadKind::U8,
            2 => LoadKind::U16,
            4 => LoadKind::U32,
            8 => LoadKind::W64,
            n => LoadKind::Bytes(n as u8),
        }
    }
}

/// How the return registers map to the returned value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Return {
    /// `rax` (also `void`: then nothing is stored).
    Int,
    /// `xmm0`.
    Sse,
    /// Two eightbytes: `(first is SSE, second is SSE)`.
    Pair(bool, bool),
}

/// How the returned words are stored: exactly the value's size, with
/// fixed-width stores for the common sizes (no `memcpy` call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Store {
    Nothing,
    B1,
    B2,
    B4,
    B8,
    B16,
    Bytes(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Integer,
    Sse,
}

/// Calls the target with the plan's registers and stores the result.
type Invoke = unsafe fn(&Plan, *mut c_void, &[*const c_void], *mut u8);

/// A signature classified once for register-only calls.
pub(crate) struct Plan {
    gprs: [Source; GPRS],
    sses: [Source; SSE_REGS],
    invoke: Invoke,
    store: Store,
    #[cfg(test)]
    ret: Return,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("gprs", &self.gprs)
            .field("sses", &self.sses)
            .field("store", &self.store)
            .finish()
    }
}

impl Plan {
    /// The plan for `args -> ret`, or `None` if some value would not travel
    /// in registers (libffi then handles the call).
    pub(crate) fn new(args: &[Type], ret: &Type) -> Option<Plan> {
        let mut gprs = [Source::UNUSED; GPRS];
        let mut sses = [Source::UNUSED; SSE_REGS];
        let (mut gpr, mut sse) = (0usize, 0usize);
        for (index, arg) in args.iter().enumerate() {
            let arg_index = u8::try_from(index).ok()?;
            let words = eightbytes(arg)?;
            let need_gpr = words.iter().filter(|w| w.class == Class::Integer).count();
            let need_sse = words.len() - need_gpr;
            // An aggregate goes whole into registers or whole into memory.
            if gpr + need_gpr > GPRS || sse + need_sse > SSE_REGS {
                return None;
            }
            for word in words {
                let source = Source {
                    arg: arg_index,
                    offset: word.offset,
                    kind: word.kind,
                };
                match word.class {
                    Class::Integer => gprs[post_inc(&mut gpr)] = source,
                    Class::Sse => sses[post_inc(&mut sse)] = source,
                }
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
        let store = match ret.size() {
            0 => Store::Nothing,
            1 => Store::B1,
            2 => Store::B2,
            4 => Store::B4,
            8 => Store::B8,
            16 => Store::B16,
            n => Store::Bytes(n as u8),
        };
        Some(Plan {
            gprs,
            sses,
            invoke: select_invoke(gpr, sse, ret_plan, store),
            store,
            #[cfg(test)]
            ret: ret_plan,
        })
    }

    /// Performs the call.
    ///
    /// # Safety
    /// As for [`crate::Cif::call`] with the signature this plan was made
    /// from; `args.len()` has been checked.
    #[inline(always)]
    pub(crate) unsafe fn call(&self, func: CodePtr, args: &[*const c_void], ret: *mut c_void) {
        // SAFETY: `invoke` was chosen for this plan's register use and
        // return classification; the rest is the caller's contract.
        unsafe { (self.invoke)(self, func.0, args, ret.cast::<u8>()) };
    }
}

/// The `invoke` instance for `ngpr` integer and `nsse` SSE registers and
/// this return classification. SSE counts round up to 1, 2, 4 or 8 (the
/// extra registers are passed as zero) to keep the number of instances down.
fn select_invoke(ngpr: usize, nsse: usize, ret: Return, store: Store) -> Invoke {
    fn by_gprs<const STORE: u8, R: ReturnRegs>(ngpr: usize, nsse: usize) -> Invoke {
        match ngpr {
            0 => by_sses::<0, STORE, R>(nsse),
            1 => by_sses::<1, STORE, R>(nsse),
            2 => by_sses::<2, STORE, R>(nsse),
            3 => by_sses::<3, STORE, R>(nsse),
            4 => by_sses::<4, STORE, R>(nsse),
            5 => by_sses::<5, STORE, R>(nsse),
            _ => by_sses::<6, STORE, R>(nsse),
        }
    }
    fn by_sses<const NGPR: usize, const STORE: u8, R: ReturnRegs>(nsse: usize) -> Invoke {
        match nsse {
            0 => invoke::<NGPR, 0, STORE, R>,
            1 => invoke::<NGPR, 1, STORE, R>,
            2 => invoke::<NGPR, 2, STORE, R>,
            3 | 4 => invoke::<NGPR, 4, STORE, R>,
            _ => invoke::<NGPR, 8, STORE, R>,
        }
    }
    // The commonest returns (void; long, pointers, double) get their store
    // compiled in; the rest dispatch on the plan's store kind.
    match (ret, store) {
        (Return::Int, Store::Nothing) => by_gprs::<STORE_NOTHING, u64>(ngpr, nsse),
        (Return::Int, Store::B8) => by_gprs::<STORE_WORD, u64>(ngpr, nsse),
        (Return::Sse, Store::B8) => by_gprs::<STORE_WORD, f64>(ngpr, nsse),
        (Return::Int, _) => by_gprs::<STORE_BY_PLAN, u64>(ngpr, nsse),
        (Return::Sse, _) => by_gprs::<STORE_BY_PLAN, f64>(ngpr, nsse),
        (Return::Pair(false, false), _) => by_gprs::<STORE_BY_PLAN, Pair<u64, u64>>(ngpr, nsse),
        (Return::Pair(true, true), _) => by_gprs::<STORE_BY_PLAN, Pair<f64, f64>>(ngpr, nsse),
        (Return::Pair(false, true), _) => by_gprs::<STORE_BY_PLAN, Pair<u64, f64>>(ngpr, nsse),
        (Return::Pair(true, false), _) => by_gprs::<STORE_BY_PLAN, Pair<f64, u64>>(ngpr, nsse),
    }
}

/// `invoke`'s `STORE`: how the result is stored.
const STORE_BY_PLAN: u8 = 0;
/// Nothing is returned.
const STORE_NOTHING: u8 = 1;
/// The whole value is the first return register's 8 bytes.
const STORE_WORD: u8 = 2;

/// Calls `f` with the first `NGPR` integer and `NSSE` SSE registers loaded
/// from the plan's sources (the rest zero), returning in `R`'s registers.
///
/// # Safety
/// `plan` must have been made for `f`'s signature, with this instance
/// selected for it by `select_invoke`; `args` must satisfy
/// [`crate::Cif::call`]'s contract for that signature.
unsafe fn invoke<const NGPR: usize, const NSSE: usize, const STORE: u8, R: ReturnRegs>(
    plan: &Plan,
    f: *mut c_void,
    args: &[*const c_void],
    ret: *mut u8,
) {
    // A used register's source names an argument `< args.len()` and a word
    // inside its value (eightbytes() never reads past a value's size),
    // readable by the caller's contract; unused sources read nothing. That is
    // the contract of `load_int` and `load_sse`.
    let g = |i: usize| {
        if i < NGPR {
            // SAFETY: see above.
            unsafe { load_int(args, plan.gprs[i]) }
        } else {
            0
        }
    };
    let x = |i: usize| {
        if i < NSSE {
            // SAFETY: see above.
            unsafe { load_sse(args, plan.sses[i]) }
        } else {
            0.0
        }
    };
    // SAFETY: `f` has the planned signature (caller's contract) and takes
    // every argument in the registers loaded here, so calling it with the
    // argument registers set is the call it expects (module docs). `R`
    // selects the register(s) the value comes back in, matching the plan's
    // classification of the return type. A code address and a function
    // pointer have the same representation. `ret` is valid for the return
    // type's size (caller's contract), which is what `plan.store` writes.
    unsafe {
        let result = if NSSE == 0 {
            let f = std::mem::transmute::<*mut c_void, IntRegs<R>>(f);
            f(g(0), g(1), g(2), g(3), g(4), g(5))
        } else {
            let f = std::mem::transmute::<*mut c_void, AllRegs<R>>(f);
            f(
                g(0),
                g(1),
                g(2),
                g(3),
                g(4),
                g(5),
                x(0),
                x(1),
                x(2),
                x(3),
                x(4),
                x(5),
                x(6),
                x(7),
            )
        };
        match STORE {
            STORE_NOTHING => {}
            STORE_WORD => result.store_word(ret),
            _ => result.store(plan.store, ret),
        }
    }
}

/// Where a source's bytes are.
///
/// # Safety
/// The source must name an argument `< args.len()`.
#[inline(always)]
unsafe fn source_ptr(args: &[*const c_void], source: Source) -> *const u8 {
    // SAFETY: the index is in bounds (caller's contract); the offset stays
    // inside the argument's value, so the pointer arithmetic is in bounds.
    unsafe {
        let arg = *args.get_unchecked(source.arg as usize);
        arg.cast::<u8>().add(source.offset as usize)
    }
}

/// Reads an integer register's value from its source. Integer registers
/// are filled in order, so every one below `NGPR` is used.
///
/// # Safety
/// The source must be used: `args[source.arg]` plus `source.offset` must be
/// readable for the kind's width.
#[inline(always)]
unsafe fn load_int(args: &[*const c_void], source: Source) -> u64 {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        // 8-byte words (long, size_t, pointers) and int are most arguments:
        // a predictable branch each is cheaper than the match's indirect jump.
        match source.kind {
            LoadKind::W64 => source_ptr(args, source).cast::<u64>().read_unaligned(),
            LoadKind::I32 => source_ptr(args, source).cast::<i32>().read_unaligned() as i64 as u64,
            other => read_word(source_ptr(args, source), other),
        }
    }
}

/// Reads an SSE register's value from its source, straight into an SSE
/// register: a detour through an integer register costs cycles each way.
///
/// # Safety
/// Unless the source is unused (an SSE count rounded up), as for
/// [`load_int`].
#[inline(always)]
unsafe fn load_sse(args: &[*const c_void], source: Source) -> f64 {
    use std::arch::x86_64::{_mm_castps_pd, _mm_cvtsd_f64, _mm_set_ss};
    // SAFETY: forwarded from this function's contract.
    unsafe {
        match source.kind {
            LoadKind::W64 => source_ptr(args, source).cast::<f64>().read_unaligned(),
            // A float in the low 32 bits, the rest zero.
            LoadKind::U32 => {
                let float = source_ptr(args, source).cast::<f32>().read_unaligned();
                _mm_cvtsd_f64(_mm_castps_pd(_mm_set_ss(float)))
            }
            LoadKind::Zero => 0.0,
            other => f64::from_bits(read_word(source_ptr(args, source), other)),
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
#[inline(never)]
unsafe fn read_word(src: *const u8, kind: LoadKind) -> u64 {
    // SAFETY: the caller guarantees `src` is readable for the width read;
    // unaligned reads accept any address.
    unsafe {
        match kind {
            LoadKind::Zero => 0,
            LoadKind::I8 => src.cast::<i8>().read() as i64 as u64,
            LoadKind::U8 => src.read() as u64,
            LoadKind::I16 => src.cast::<i16>().read_unaligned() as i64 as u64,
            LoadKind::U16 => src.cast::<u16>().read_unaligned() as u64,
            LoadKind::I32 => src.cast::<i32>().read_unaligned() as i64 as u64,
            LoadKind::U32 => src.cast::<u32>().read_unaligned() as u64,
            LoadKind::W64 => src.cast::<u64>().read_unaligned(),
            LoadKind::Bytes(n) => {
                let mut bytes = [0u8; 8];
                std::ptr::copy_nonoverlapping(src, bytes.as_mut_ptr(), n as usize);
                u64::from_le_bytes(bytes)
            }
        }
    }
}

/// Stores the returned words.
///
/// # Safety
/// `dst` must be writable for the store's width.
#[inline(always)]
unsafe fn store_words(store: Store, lo: u64, hi: u64, dst: *mut u8) {
    // SAFETY: the caller guarantees `dst` is writable for the width written;
    // unaligned writes accept any address. Little-endian: the value's first
    // bytes are the low bytes of `lo`.
    unsafe {
        match store {
            Store::Nothing => {}
            Store::B1 => dst.write(lo as u8),
            Store::B2 => dst.cast::<u16>().write_unaligned(lo as u16),
            Store::B4 => dst.cast::<u32>().write_unaligned(lo as u32),
            Store::B8 => dst.cast::<u64>().write_unaligned(lo),
            // One 16-byte store: a caller reading the struct whole then
            // gets it by store forwarding, which two 8-byte stores defeat.
            Store::B16 => dst
                .cast::<u128>()
                .write_unaligned((hi as u128) << 64 | lo as u128),
            Store::Bytes(n) => {
                let words = [lo.to_le_bytes(), hi.to_le_bytes()];
                std::ptr::copy_nonoverlapping(words.as_ptr().cast::<u8>(), dst, n as usize);
            }
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Pair<A, B>(A, B);

/// A value returned in one or two registers, stored to memory from the
/// registers it arrived in.
trait ReturnRegs: Copy {
    /// # Safety
    /// `dst` must be writable for the store's width.
    unsafe fn store(self, store: Store, dst: *mut u8);

    /// Stores the first register's 8 bytes.
    ///
    /// # Safety
    /// `dst` must be writable for 8 bytes.
    unsafe fn store_word(self, dst: *mut u8);
}

/// One returned eightbyte.
trait ReturnWord: Copy {
    fn bits(self) -> u64;
    /// # Safety
    /// `dst` must be writable for 8 bytes.
    unsafe fn write(self, dst: *mut u8);
}

impl ReturnWord for u64 {
    fn bits(self) -> u64 {
        self
    }
    unsafe fn write(self, dst: *mut u8) {
        // SAFETY: forwarded from this function's contract.
        unsafe { dst.cast::<u64>().write_unaligned(self) }
    }
}

impl ReturnWord for f64 {
    fn bits(self) -> u64 {
        self.to_bits()
    }
    unsafe fn write(self, dst: *mut u8) {
        // SAFETY: forwarded from this function's contract.
        unsafe { dst.cast::<f64>().write_unaligned(self) }
    }
}

impl ReturnRegs for u64 {
    unsafe fn store(self, store: Store, dst: *mut u8) {
        // SAFETY: forwarded from this function's contract.
        unsafe { store_words(store, self, 0, dst) }
    }
    unsafe fn store_word(self, dst: *mut u8) {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.write(dst) }
    }
}

impl ReturnRegs for f64 {
    unsafe fn store(self, store: Store, dst: *mut u8) {
        use std::arch::x86_64::{_mm_castpd_ps, _mm_set_sd, _mm_store_ss};
        // SAFETY: forwarded from this function's contract; `_mm_store_ss`
        // writes the low 32 bits (a float) with no alignment requirement.
        unsafe {
            match store {
                Store::B8 => dst.cast::<f64>().write_unaligned(self),
                Store::B4 => _mm_store_ss(dst.cast::<f32>(), _mm_castpd_ps(_mm_set_sd(self))),
                other => store_words(other, self.to_bits(), 0, dst),
            }
        }
    }
    unsafe fn store_word(self, dst: *mut u8) {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.write(dst) }
    }
}

impl ReturnRegs for Pair<u64, u64> {
    unsafe fn store(self, store: Store, dst: *mut u8) {
        use std::arch::x86_64::{__m128i, _mm_set_epi64x, _mm_storeu_si128};
        // SAFETY: forwarded from this function's contract. One 16-byte store:
        // a caller copying the struct whole (a 16-byte load) then gets it by
        // store forwarding, which two 8-byte stores defeat (~10 cycles).
        unsafe {
            match store {
                Store::B16 => _mm_storeu_si128(
                    dst.cast::<__m128i>(),
                    _mm_set_epi64x(self.1 as i64, self.0 as i64),
                ),
                other => store_words(other, self.0, self.1, dst),
            }
        }
    }
    unsafe fn store_word(self, dst: *mut u8) {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.0.write(dst) }
    }
}

impl<A: ReturnWord, B: ReturnWord> ReturnRegs for Pair<A, B>
where
    Pair<A, B>: MixedPair,
{
    unsafe fn store(self, store: Store, dst: *mut u8) {
        // SAFETY: forwarded from this function's contract; a 16-byte store
        // writes both words, shorter ones only the bytes the value has.
        unsafe {
            match store {
                Store::B16 => {
                    self.0.write(dst);
                    self.1.write(dst.add(8));
                }
                other => store_words(other, self.0.bits(), self.1.bits(), dst),
            }
        }
    }
    unsafe fn store_word(self, dst: *mut u8) {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.0.write(dst) }
    }
}

/// The pairs other than two integers, which have their own store.
trait MixedPair {}
impl MixedPair for Pair<f64, f64> {}
impl MixedPair for Pair<u64, f64> {}
impl MixedPair for Pair<f64, u64> {}

type AllRegs<R> =
    unsafe extern "C" fn(u64, u64, u64, u64, u64, u64, f64, f64, f64, f64, f64, f64, f64, f64) -> R;
type IntRegs<R> = unsafe extern "C" fn(u64, u64, u64, u64, u64, u64) -> R;

/// One eightbyte of a value, classified.
struct Word {
    offset: u8,
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
        Type::I8 => scalar(LoadKind::I8, Class::Integer),
        Type::I16 => scalar(LoadKind::I16, Class::Integer),
        Type::I32 => scalar(LoadKind::I32, Class::Integer),
        Type::U8 => scalar(LoadKind::U8, Class::Integer),
        Type::U16 => scalar(LoadKind::U16, Class::Integer),
        Type::U32 => scalar(LoadKind::U32, Class::Integer),
        Type::U64 | Type::I64 | Type::Pointer => scalar(LoadKind::W64, Class::Integer),
        Type::F32 => scalar(LoadKind::U32, Class::Sse),
        Type::F64 => scalar(LoadKind::W64, Class::Sse),
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
                        offset: offset as u8,
                        kind: LoadKind::unsigned((size - offset).min(8)),
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
        assert_eq!(plan.gprs[0].kind, LoadKind::W64);
        assert_eq!(plan.gprs[1].kind, LoadKind::Zero);
        let plan = Plan::new(&[Type::F64, Type::F64], &Type::F64).unwrap();
        assert_eq!(plan.ret, Return::Sse);
        let dl = st(vec![Type::F64, Type::I64]);
        assert_eq!(Plan::new(&[], &dl).unwrap().ret, Return::Pair(true, false));
        let fff = st(vec![Type::F32, Type::F32, Type::F32]);
        let plan = Plan::new(std::slice::from_ref(&fff), &fff).unwrap();
        assert_eq!(plan.ret, Return::Pair(true, true));
        assert_eq!(plan.sses[1].kind, LoadKind::U32);
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
