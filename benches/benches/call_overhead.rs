//! Call overhead of `ffi_raw::Cif::call`, against a direct call through a
//! Rust `extern "C"` function pointer and against the `libffi` crate's
//! `middle::Cif::call` (same libffi build: both link `libffi-sys` 4.2).
//!
//! One criterion group per signature, three rows in each:
//!
//! - `direct`: the callee through an `extern "C" fn` pointer hidden behind
//!   `black_box`, so it is a real indirect call and is never inlined;
//! - `ffi_raw`: a prepared `ffi_raw::Cif`, argument pointers built once
//!   outside the loop, the result read back from the return buffer;
//! - `libffi_crate`: a prepared `libffi::middle::Cif`, same arrangement.
//!
//! Every signature here qualifies for ffi-raw's x86-64 register fast path;
//! the setup asserts it, so the numbers are for that path (on other targets
//! the assertion fails rather than silently measuring libffi).
//!
//! Run: `cargo xtask bench` (results and the command go in `docs/benchmarks.md`).

use std::ffi::c_void;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use ffi_raw::{CodePtr, Registers, Returned, StructType, Type};
use libffi::middle as lf;

// ---------------------------------------------------------------------------
// Callees. Cheap bodies, so the numbers are dominated by call overhead.

#[inline(never)]
extern "C" fn add_one(x: i64) -> i64 {
    x.wrapping_add(1)
}

#[inline(never)]
extern "C" fn mul_add_one(a: f64, b: f64) -> f64 {
    a * b + 1.0
}

/// `(ptr, ptr, ptr) -> ptr`, shaped like `memchr`-style helpers: returns
/// the pointer that comes first in memory.
#[inline(never)]
extern "C" fn min_ptr(a: *const c_void, b: *const c_void, c: *const c_void) -> *const c_void {
    a.min(b).min(c)
}

/// `struct { double a; long b; }`: returned in `xmm0` + `rax`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct DoubleLong {
    a: f64,
    b: i64,
}

#[inline(never)]
extern "C" fn split(x: i64) -> DoubleLong {
    DoubleLong {
        a: x as f64 * 0.5,
        b: x >> 1,
    }
}

/// `struct { long quot; long rem; }` (like `ldiv_t`): returned in `rax` + `rdx`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct LongLong {
    quot: i64,
    rem: i64,
}

#[inline(never)]
extern "C" fn divmod7(x: i64) -> LongLong {
    LongLong {
        quot: x / 7,
        rem: x % 7,
    }
}

// ---------------------------------------------------------------------------
// Setup helpers.

fn raw_cif(args: impl IntoIterator<Item = Type>, ret: Type, name: &str) -> ffi_raw::Cif {
    let cif = ffi_raw::Cif::new(args, ret).expect("ffi_raw::Cif::new");
    assert!(
        cif.uses_fast_path(),
        "{name}: ffi-raw does not take its register fast path for this signature \
         ({cif:?}); this benchmark measures the fast path only"
    );
    cif
}

fn raw_code(f: *const ()) -> CodePtr {
    CodePtr::from_fn(black_box(f))
}

fn lf_code(f: *const ()) -> lf::CodePtr {
    lf::CodePtr::from_ptr(black_box(f).cast())
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

/// The `ffi_raw` row: one call checked against `want`, then timed calls that
/// read the result back from the return buffer.
///
/// # Safety
/// `code` has `cif`'s signature, `args` point to values of its argument
/// types that outlive the group, and `R` has the return type's layout.
unsafe fn ffi_raw_row<R: Copy + PartialEq + std::fmt::Debug>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    cif: &ffi_raw::Cif,
    code: CodePtr,
    args: &[*const c_void],
    zero: R,
    want: R,
) {
    let mut r = zero;
    // SAFETY: forwarded from this function's contract.
    unsafe { cif.call(code, args, (&raw mut r).cast()).unwrap() };
    assert_eq!(r, want);
    g.bench_function("ffi_raw", |b| {
        b.iter(|| {
            // SAFETY: as above; `r` lives through the benchmark.
            unsafe {
                cif.call(code, black_box(args), black_box((&raw mut r).cast()))
                    .unwrap()
            };
            black_box(r)
        })
    });
}

/// The `ffi_raw_registers` row: the same call through
/// `Cif::call_registers`, the argument registers filled from `regs` (as a
/// binding converting each argument itself would), checked once with
/// `check`, then timed.
///
/// # Safety
/// `code` has `cif`'s signature and `regs` holds its arguments as
/// `cif.register_layout()` says.
unsafe fn ffi_raw_registers_row(
    g: &mut BenchmarkGroup<'_, WallTime>,
    cif: &ffi_raw::Cif,
    code: CodePtr,
    regs: &Registers,
    check: impl Fn(Returned),
) {
    assert!(cif.register_layout().is_some());
    // SAFETY: forwarded from this function's contract.
    check(unsafe { cif.call_registers(code, regs) });
    g.bench_function("ffi_raw_registers", |b| {
        // SAFETY: as above.
        b.iter(|| unsafe { cif.call_registers(code, black_box(regs)) })
    });
}

/// The `libffi_crate` row: one call checked against `want`, then timed
/// `middle::Cif::call`s returning by value.
///
/// # Safety
/// The function at `lcode` has the signature `lcif` describes, `largs`
/// point to values that outlive the group, and `R` is its return type.
unsafe fn libffi_row<R: PartialEq + std::fmt::Debug>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    lcif: &lf::Cif,
    lcode: lf::CodePtr,
    largs: &[lf::Arg],
    want: R,
) {
    // SAFETY: forwarded from this function's contract.
    assert_eq!(unsafe { lcif.call::<R>(lcode, largs) }, want);
    g.bench_function("libffi_crate", |b| {
        // SAFETY: as above.
        b.iter(|| unsafe { lcif.call::<R>(lcode, black_box(largs)) })
    });
}

// ---------------------------------------------------------------------------
// Benchmarks.

fn i64_to_i64(c: &mut Criterion) {
    let mut g = c.benchmark_group("i64_to_i64");
    let x: i64 = 41;

    let direct: extern "C" fn(i64) -> i64 = black_box(add_one as extern "C" fn(i64) -> i64);
    assert_eq!(direct(x), 42);
    g.bench_function("direct", |b| b.iter(|| direct(black_box(x))));

    let cif = raw_cif([Type::I64], Type::I64, "i64_to_i64");
    let code = raw_code(add_one as *const ());
    let args: [*const c_void; 1] = [(&raw const x).cast()];
    // SAFETY: the callee has `cif`'s signature; `args` point to values that
    // outlive the group; `i64` is the return type's layout.
    unsafe { ffi_raw_row(&mut g, &cif, code, &args, 0i64, 42i64) };
    let regs = Registers {
        int: [x as u64, 0, 0, 0, 0, 0],
        ..Registers::default()
    };
    // SAFETY: the callee has `cif`'s signature; its argument is in the
    // first integer register.
    unsafe { ffi_raw_registers_row(&mut g, &cif, code, &regs, |r| assert_eq!(r.int, 42)) };

    let lcif = lf::Cif::new([lf::Type::i64()], lf::Type::i64());
    let lcode = lf_code(add_one as *const ());
    let largs = [lf::arg(&x)];
    // SAFETY: the callee has the signature `lcif` describes; `largs` point
    // to values that outlive the group.
    unsafe { libffi_row::<i64>(&mut g, &lcif, lcode, &largs, 42i64) };
    g.finish();
}

fn f64_f64_to_f64(c: &mut Criterion) {
    let mut g = c.benchmark_group("f64_f64_to_f64");
    let (x, y): (f64, f64) = (1.5, 2.0);

    let direct: extern "C" fn(f64, f64) -> f64 =
        black_box(mul_add_one as extern "C" fn(f64, f64) -> f64);
    assert_eq!(direct(x, y), 4.0);
    g.bench_function("direct", |b| b.iter(|| direct(black_box(x), black_box(y))));

    let cif = raw_cif([Type::F64, Type::F64], Type::F64, "f64_f64_to_f64");
    let code = raw_code(mul_add_one as *const ());
    let args: [*const c_void; 2] = [(&raw const x).cast(), (&raw const y).cast()];
    // SAFETY: the callee has `cif`'s signature; `args` point to values that
    // outlive the group; `f64` is the return type's layout.
    unsafe { ffi_raw_row(&mut g, &cif, code, &args, 0.0f64, 4.0f64) };
    let regs = Registers {
        sse: [x, y, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ..Registers::default()
    };
    // SAFETY: the callee has `cif`'s signature; its arguments are in the
    // first two SSE registers.
    unsafe { ffi_raw_registers_row(&mut g, &cif, code, &regs, |r| assert_eq!(r.sse, 4.0)) };

    let lcif = lf::Cif::new([lf::Type::f64(), lf::Type::f64()], lf::Type::f64());
    let lcode = lf_code(mul_add_one as *const ());
    let largs = [lf::arg(&x), lf::arg(&y)];
    // SAFETY: the callee has the signature `lcif` describes; `largs` point
    // to values that outlive the group.
    unsafe { libffi_row::<f64>(&mut g, &lcif, lcode, &largs, 4.0f64) };
    g.finish();
}

fn ptr3_to_ptr(c: &mut Criterion) {
    type Ptr3 = extern "C" fn(*const c_void, *const c_void, *const c_void) -> *const c_void;
    let mut g = c.benchmark_group("ptr_ptr_ptr_to_ptr");
    let buf = [0u8; 64];
    let base: *const c_void = buf.as_ptr().cast();
    // Never dereferenced: only compared.
    let (p, q, s) = (
        base.wrapping_add(32),
        base.wrapping_add(8),
        base.wrapping_add(48),
    );

    let direct: Ptr3 = black_box(min_ptr as Ptr3);
    assert_eq!(direct(p, q, s), q);
    g.bench_function("direct", |b| {
        b.iter(|| direct(black_box(p), black_box(q), black_box(s)))
    });

    let ptr = || Type::Pointer;
    let cif = raw_cif([ptr(), ptr(), ptr()], ptr(), "ptr_ptr_ptr_to_ptr");
    let code = raw_code(min_ptr as *const ());
    let args: [*const c_void; 3] = [
        (&raw const p).cast(),
        (&raw const q).cast(),
        (&raw const s).cast(),
    ];
    // SAFETY: the callee has `cif`'s signature; `args` point to values that
    // outlive the group; `*const c_void` is the return type's layout.
    unsafe { ffi_raw_row(&mut g, &cif, code, &args, std::ptr::null::<c_void>(), q) };
    let regs = Registers {
        int: [p as u64, q as u64, s as u64, 0, 0, 0],
        ..Registers::default()
    };
    // SAFETY: the callee has `cif`'s signature; its arguments are in the
    // first three integer registers.
    unsafe { ffi_raw_registers_row(&mut g, &cif, code, &regs, |r| assert_eq!(r.int, q as u64)) };

    let lptr = lf::Type::pointer;
    let lcif = lf::Cif::new([lptr(), lptr(), lptr()], lptr());
    let lcode = lf_code(min_ptr as *const ());
    let largs = [lf::arg(&p), lf::arg(&q), lf::arg(&s)];
    // SAFETY: the callee has the signature `lcif` describes; `largs` point
    // to values that outlive the group.
    unsafe { libffi_row::<*const c_void>(&mut g, &lcif, lcode, &largs, q) };
    g.finish();
}

fn i64_to_struct_f64_i64(c: &mut Criterion) {
    let mut g = c.benchmark_group("i64_to_struct_f64_i64");
    let x: i64 = 41;
    let want = DoubleLong { a: 20.5, b: 20 };

    let direct: extern "C" fn(i64) -> DoubleLong =
        black_box(split as extern "C" fn(i64) -> DoubleLong);
    assert_eq!(direct(x), want);
    g.bench_function("direct", |b| b.iter(|| direct(black_box(x))));

    let ret = Type::Struct(StructType::new([Type::F64, Type::I64]).unwrap());
    let cif = raw_cif([Type::I64], ret, "i64_to_struct_f64_i64");
    let code = raw_code(split as *const ());
    let args: [*const c_void; 1] = [(&raw const x).cast()];
    // SAFETY: the callee has `cif`'s signature; `args` point to values that
    // outlive the group; `DoubleLong` is the return type's layout.
    unsafe { ffi_raw_row(&mut g, &cif, code, &args, DoubleLong { a: 0.0, b: 0 }, want) };

    let lcif = lf::Cif::new(
        [lf::Type::i64()],
        lf::Type::structure([lf::Type::f64(), lf::Type::i64()]),
    );
    let lcode = lf_code(split as *const ());
    let largs = [lf::arg(&x)];
    // SAFETY: the callee has the signature `lcif` describes; `largs` point
    // to values that outlive the group.
    unsafe { libffi_row::<DoubleLong>(&mut g, &lcif, lcode, &largs, want) };
    g.finish();
}

fn i64_to_struct_i64_i64(c: &mut Criterion) {
    let mut g = c.benchmark_group("i64_to_struct_i64_i64");
    let x: i64 = 45;
    let want = LongLong { quot: 6, rem: 3 };

    let direct: extern "C" fn(i64) -> LongLong =
        black_box(divmod7 as extern "C" fn(i64) -> LongLong);
    assert_eq!(direct(x), want);
    g.bench_function("direct", |b| b.iter(|| direct(black_box(x))));

    let ret = Type::Struct(StructType::new([Type::I64, Type::I64]).unwrap());
    let cif = raw_cif([Type::I64], ret, "i64_to_struct_i64_i64");
    let code = raw_code(divmod7 as *const ());
    let args: [*const c_void; 1] = [(&raw const x).cast()];
    // SAFETY: the callee has `cif`'s signature; `args` point to values that
    // outlive the group; `LongLong` is the return type's layout.
    unsafe {
        ffi_raw_row(
            &mut g,
            &cif,
            code,
            &args,
            LongLong { quot: 0, rem: 0 },
            want,
        )
    };

    let lcif = lf::Cif::new(
        [lf::Type::i64()],
        lf::Type::structure([lf::Type::i64(), lf::Type::i64()]),
    );
    let lcode = lf_code(divmod7 as *const ());
    let largs = [lf::arg(&x)];
    // SAFETY: the callee has the signature `lcif` describes; `largs` point
    // to values that outlive the group.
    unsafe { libffi_row::<LongLong>(&mut g, &lcif, lcode, &largs, want) };
    g.finish();
}

// ---------------------------------------------------------------------------
// Signatures that do not take the fast path: libffi does the call for both
// ffi-raw and the libffi crate, so these rows measure ffi-raw's own wrapping.

#[inline(never)]
extern "C" fn sum7(a: i64, b: i64, c: i64, d: i64, e: i64, f: i64, g: i64) -> i64 {
    a + b + c + d + e + f + g
}

/// 24 bytes: returned in memory through a hidden pointer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Triple {
    a: i64,
    b: i64,
    c: i64,
}

#[inline(never)]
extern "C" fn triple(x: i64) -> Triple {
    Triple {
        a: x,
        b: x + 1,
        c: x + 2,
    }
}

fn libffi_path_cif(args: impl IntoIterator<Item = Type>, ret: Type, name: &str) -> ffi_raw::Cif {
    let cif = ffi_raw::Cif::new(args, ret).expect("ffi_raw::Cif::new");
    assert!(
        !cif.uses_fast_path(),
        "{name}: this row measures the libffi path, but the signature took the fast path"
    );
    cif
}

fn i64x7_to_i64(c: &mut Criterion) {
    let mut g = c.benchmark_group("i64x7_to_i64_libffi_path");
    let xs: [i64; 7] = [1, 2, 3, 4, 5, 6, 7];
    let direct: extern "C" fn(i64, i64, i64, i64, i64, i64, i64) -> i64 = black_box(sum7);
    g.bench_function("direct", |b| {
        b.iter(|| {
            let x = black_box(&xs);
            direct(x[0], x[1], x[2], x[3], x[4], x[5], x[6])
        })
    });

    let cif = libffi_path_cif(vec![Type::I64; 7], Type::I64, "i64x7_to_i64");
    let code = raw_code(sum7 as *const ());
    let args: Vec<*const c_void> = xs.iter().map(|x| (x as *const i64).cast()).collect();
    // SAFETY: the callee has `cif`'s signature; `args` point to values that
    // outlive the group; `i64` is the return type's layout.
    unsafe { ffi_raw_row(&mut g, &cif, code, &args, 0i64, 28i64) };

    let lcif = lf::Cif::new(vec![lf::Type::i64(); 7], lf::Type::i64());
    let lcode = lf_code(sum7 as *const ());
    let largs: Vec<lf::Arg> = xs.iter().map(lf::arg).collect();
    // SAFETY: the callee has the signature `lcif` describes; `largs` point
    // to values that outlive the group.
    unsafe { libffi_row::<i64>(&mut g, &lcif, lcode, &largs, 28i64) };
    g.finish();
}

fn i64_to_struct_24_bytes(c: &mut Criterion) {
    let mut g = c.benchmark_group("i64_to_struct_24_bytes_libffi_path");
    let x: i64 = 40;
    let want = Triple {
        a: 40,
        b: 41,
        c: 42,
    };
    let direct: extern "C" fn(i64) -> Triple = black_box(triple);
    g.bench_function("direct", |b| b.iter(|| direct(black_box(x))));

    let ret = Type::Struct(StructType::new([Type::I64, Type::I64, Type::I64]).unwrap());
    let cif = libffi_path_cif([Type::I64], ret, "i64_to_struct_24_bytes");
    let code = raw_code(triple as *const ());
    let args: [*const c_void; 1] = [(&raw const x).cast()];
    let mut r = Triple { a: 0, b: 0, c: 0 };
    // SAFETY: `triple` is `extern "C" fn(i64) -> Triple`, described by the
    // struct type given; `args[0]` points to an i64.
    unsafe { cif.call(code, &args, (&raw mut r).cast()).unwrap() };
    assert_eq!(r, want);
    g.bench_function("ffi_raw", |b| {
        b.iter(|| {
            // SAFETY: as above; `x` and `r` outlive the benchmark.
            unsafe {
                cif.call(code, black_box(&args), black_box((&raw mut r).cast()))
                    .unwrap()
            };
            // The value stays in the caller's buffer (no copy out, unlike
            // the libffi crate's by-value return). Copying 24 freshly
            // written bytes here would measure a store-forwarding stall
            // (see the `direct` row), not the call.
            black_box(&r);
        })
    });

    let lcif = lf::Cif::new(
        [lf::Type::i64()],
        lf::Type::structure([lf::Type::i64(), lf::Type::i64(), lf::Type::i64()]),
    );
    let lcode = lf_code(triple as *const ());
    let largs = [lf::arg(&x)];
    // SAFETY: the callee has the signature `lcif` describes; `largs` point
    // to values that outlive the group.
    unsafe { libffi_row::<Triple>(&mut g, &lcif, lcode, &largs, want) };
    g.finish();
}

criterion_group! {
    name = call_overhead;
    config = config();
    targets = i64_to_i64, f64_f64_to_f64, ptr3_to_ptr, i64_to_struct_f64_i64, i64_to_struct_i64_i64,
        i64x7_to_i64, i64_to_struct_24_bytes
}
criterion_main!(call_overhead);
