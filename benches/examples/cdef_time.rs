//! Times `ffi_typed::Declarations::parse` on the generated declaration set
//! (`benches/data/cdef_gen.rs`) and prints one `key=value` line, which
//! `benches/python/cdef_speed.py` reads; with `--write PATH` it also writes
//! the source there, so cffi is timed on the very same text.
//!
//! ```text
//! cargo run --release -p benches --example cdef_time -- \
//!     [--write PATH] [--iters N] [--decls N]
//! ```
//!
//! Each iteration times `Declarations::new()` plus `parse(src)` (as the
//! script times `FFI()` plus `cdef(src)`); dropping the namespace is not
//! timed. It prints the best and the median of the iterations, and what was
//! declared.

use std::hint::black_box;
use std::time::Instant;

use ffi_typed::Declarations;

#[path = "../data/cdef_gen.rs"]
mod cdef_gen;

fn main() {
    let mut write: Option<String> = None;
    let mut iters = 50usize;
    let mut target = 2500usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&arg));
        match arg.as_str() {
            "--write" => write = Some(value()),
            "--iters" => iters = value().parse().unwrap_or_else(|_| usage("--iters")),
            "--decls" => target = value().parse().unwrap_or_else(|_| usage("--decls")),
            other => usage(other),
        }
    }
    let (src, decls) = cdef_gen::generate(target);
    if let Some(path) = &write {
        std::fs::write(path, &src).unwrap_or_else(|e| {
            eprintln!("cannot write {path}: {e}");
            std::process::exit(1)
        });
    }
    let mut d = Declarations::new();
    if let Err(e) = d.parse(&src) {
        eprintln!("the generated source does not parse:\n{e}");
        std::process::exit(1);
    }
    let mut times_ns: Vec<u128> = Vec::with_capacity(iters);
    for _ in 0..iters.max(1) {
        let start = Instant::now();
        let mut fresh = Declarations::new();
        fresh.parse(black_box(&src)).unwrap();
        let elapsed = start.elapsed();
        black_box(&fresh);
        drop(fresh);
        times_ns.push(elapsed.as_nanos());
    }
    times_ns.sort_unstable();
    let tags = d.tags().count();
    println!(
        "decls={decls} bytes={} iters={} best_ns={} median_ns={} typedefs={} tags={tags} \
         functions={} variables={} constants={}",
        src.len(),
        times_ns.len(),
        times_ns[0],
        times_ns[times_ns.len() / 2],
        d.typedefs().count(),
        d.functions().count(),
        d.variables().count(),
        d.constants().count(),
    );
}

fn usage(arg: &str) -> ! {
    eprintln!(
        "unexpected argument {arg:?}\nusage: cdef_time [--write PATH] [--iters N] [--decls N]"
    );
    std::process::exit(2)
}
