//! Speed of `ffi_typed`'s declaration parser.
//!
//! - `cdef_parse/full`: a full parse of the generated declaration set
//!   (`benches/data/cdef_gen.rs`, 2,500 top-level declarations) into a
//!   fresh `Declarations` (creating and dropping it is not timed);
//! - `parse_type/cached/<name>`: `Declarations::parse_type` of a common type
//!   name that was parsed before (what `ffi.new("int[16]")` costs the
//!   second time);
//! - `parse_type/uncached/<name>`: the same name parsed for the first time
//!   in its namespace.
//!
//! Run: `cargo bench -p benches --bench cdef_parse`. The comparison with
//! cffi is `benches/python/cdef_speed.py`; results go in
//! `docs/benchmarks.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ffi_typed::Declarations;

#[path = "../data/cdef_gen.rs"]
mod cdef_gen;

/// The size of the generated declaration set.
const DECLARATIONS: usize = 2500;

/// Type names as the Python layer will see them.
const TYPE_NAMES: &[&str] = &[
    "int",
    "int[16]",
    "const char *",
    "struct gx_rec_1 *",
    "gx_cb_0_t",
    "int(*)(int, void *)",
    "unsigned long long[4][4]",
];

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

fn full_parse(c: &mut Criterion) {
    let (src, decls) = cdef_gen::generate(DECLARATIONS);
    // Fail loudly rather than time an error path.
    Declarations::new()
        .parse(&src)
        .unwrap_or_else(|e| panic!("the generated source does not parse:\n{e}"));
    let mut g = c.benchmark_group("cdef_parse");
    g.throughput(Throughput::Bytes(src.len() as u64));
    g.bench_function(format!("full/{decls}_decls"), |b| {
        b.iter_batched(
            Declarations::new,
            |mut d| {
                d.parse(black_box(&src)).unwrap();
                d
            },
            // Each namespace is dropped before the next parse, as in real
            // use; batching many would parse into cold memory.
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn parse_type(c: &mut Criterion) {
    let small = || {
        let mut d = Declarations::new();
        d.parse("struct gx_rec_1; typedef int (*gx_cb_0_t)(void);")
            .unwrap();
        d
    };
    let warm = small();
    let mut g = c.benchmark_group("parse_type");
    for &name in TYPE_NAMES {
        warm.parse_type(name).unwrap();
        g.bench_with_input(BenchmarkId::new("cached", name), name, |b, name| {
            b.iter(|| warm.parse_type(black_box(name)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("uncached", name), name, |b, name| {
            b.iter_batched_ref(
                small,
                |d| d.parse_type(black_box(name)).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = cdef_parse;
    config = config();
    targets = full_parse, parse_type
}
criterion_main!(cdef_parse);
