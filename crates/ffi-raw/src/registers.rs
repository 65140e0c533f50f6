//! Register calls: the cheapest way to call a function whose arguments are
//! all scalars passed in registers.
//!
//! [`Cif::call`] takes a pointer to each argument, which suits callers that
//! hold values in memory. A caller that converts each argument itself (a
//! language binding) can instead write it straight into its argument
//! register's slot in a [`Registers`] and call [`Cif::call_registers`]: no
//! argument pointers, no per-argument dispatch on type, and the return
//! registers come back as plain values.

use crate::cif::Cif;
use crate::library::CodePtr;
use crate::types::Type;

/// The register an argument travels in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgRegister {
    /// The n-th integer argument register (`rdi`, `rsi`, ... on x86-64):
    /// integers and pointers, extended to 64 bits (sign-extended for signed
    /// types, zero-extended for unsigned ones and `bool`).
    Int(u8),
    /// The n-th SSE argument register (`xmm0`...): a `double`, or a `float`
    /// in the low 32 bits ([`Registers::float_bits`]).
    Sse(u8),
}

/// Argument register values for [`Cif::call_registers`]. Unused registers
/// may hold anything.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
pub struct Registers {
    /// The integer argument registers.
    pub int: [u64; 6],
    /// The SSE argument registers.
    pub sse: [f64; 8],
}

impl Registers {
    /// A `float` as an SSE register holds it: its bits in the low half.
    pub fn float_bits(value: f32) -> f64 {
        f64::from_bits(u64::from(value.to_bits()))
    }
}

/// The return registers after [`Cif::call_registers`]: read the one the
/// return type uses. An integer narrower than 64 bits is in the low bits of
/// `int` (the rest is unspecified: narrow it); a `float` is in the low 32
/// bits of `sse` ([`Returned::float`]).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Returned {
    /// `rax` on x86-64.
    pub int: u64,
    /// `xmm0` on x86-64.
    pub sse: f64,
}

impl Returned {
    /// A `float` return value.
    pub fn float(&self) -> f32 {
        f32::from_bits(self.sse.to_bits() as u32)
    }
}

/// Which register each argument of a signature uses; see
/// [`Cif::register_layout`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterLayout {
    args: Box<[ArgRegister]>,
    uses_sse: bool,
}

impl RegisterLayout {
    /// The layout of `args -> ret` if register calls can make it: on
    /// x86-64 System V, every argument a scalar (not `long double`) that
    /// gets a register of its class, and the return `void` or such a scalar.
    pub(crate) fn new(args: &[Type], ret: &Type) -> Option<RegisterLayout> {
        if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
            return None;
        }
        let scalar_class = |ty: &Type| match ty {
            Type::F32 | Type::F64 => Some(true),
            Type::LongDouble | Type::Void | Type::Struct(_) | Type::Array(_) => None,
            _ => Some(false),
        };
        if !matches!(ret, Type::Void) {
            scalar_class(ret)?;
        }
        let (mut ints, mut sses) = (0u8, 0u8);
        let mut layout = Vec::with_capacity(args.len());
        for arg in args {
            let register = if scalar_class(arg)? {
                sses += 1;
                ArgRegister::Sse(sses - 1)
            } else {
                ints += 1;
                ArgRegister::Int(ints - 1)
            };
            if ints > 6 || sses > 8 {
                return None;
            }
            layout.push(register);
        }
        Some(RegisterLayout {
            args: layout.into(),
            uses_sse: sses > 0,
        })
    }

    /// The register of each argument, in order.
    pub fn args(&self) -> &[ArgRegister] {
        &self.args
    }
}

impl Cif {
    /// If calls of this signature can be made with [`Cif::call_registers`],
    /// which register each argument goes in. `None` for variadic signatures
    /// and for any argument or return that is not a scalar in a register
    /// (structs, `long double`, stack arguments), and on targets other than
    /// x86-64 Linux.
    ///
    /// ```
    /// use ffi_raw::{ArgRegister, Cif, Library, Registers, Type};
    ///
    /// let cif = Cif::new([Type::F64, Type::I32], Type::F64).unwrap();
    /// let layout = cif.register_layout().unwrap();
    /// assert_eq!(layout.args(), [ArgRegister::Sse(0), ArgRegister::Int(0)]);
    ///
    /// let ldexp = Library::this().symbol("ldexp").unwrap();
    /// let mut regs = Registers::default();
    /// regs.sse[0] = 3.0;
    /// regs.int[0] = 4;
    /// // SAFETY: ldexp is `double ldexp(double, int)`; the registers are
    /// // filled as the layout says.
    /// let out = unsafe { cif.call_registers(ldexp.code_ptr(), &regs) };
    /// assert_eq!(out.sse, 48.0);
    /// ```
    pub fn register_layout(&self) -> Option<&RegisterLayout> {
        self.registers.as_ref()
    }

    /// Calls `func` with the argument registers set from `regs`.
    ///
    /// # Safety
    /// - [`Cif::register_layout`] is `Some`, and each argument's value is in
    ///   the register it names, extended as [`ArgRegister`] describes.
    /// - `func` has this signature, and whatever it requires of its
    ///   arguments holds.
    #[inline]
    pub unsafe fn call_registers(&self, func: CodePtr, regs: &Registers) -> Returned {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            let uses_sse = self.registers.as_ref().is_some_and(|l| l.uses_sse);
            // SAFETY: forwarded from this function's contract: the callee
            // reads exactly the registers its signature uses, which hold
            // its arguments; unused registers are caller-saved scratch
            // (see the `fast` module). `Returned` is returned in `rax` and
            // `xmm0` (an INTEGER and an SSE eightbyte), which is where any
            // scalar return value is.
            unsafe {
                let [a, b, c, d, e, f] = regs.int;
                if uses_sse {
                    let [x0, x1, x2, x3, x4, x5, x6, x7] = regs.sse;
                    let call = std::mem::transmute::<*mut std::ffi::c_void, AllRegisters>(func.0);
                    call(a, b, c, d, e, f, x0, x1, x2, x3, x4, x5, x6, x7)
                } else {
                    let call = std::mem::transmute::<*mut std::ffi::c_void, IntRegisters>(func.0);
                    call(a, b, c, d, e, f)
                }
            }
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        {
            let _ = (func, regs);
            unreachable!("register_layout() is None on this target, so this is never called")
        }
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
type IntRegisters = unsafe extern "C" fn(u64, u64, u64, u64, u64, u64) -> Returned;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
type AllRegisters = unsafe extern "C" fn(
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
) -> Returned;
