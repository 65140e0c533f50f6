//! Differential ABI test: ffi-raw against gcc.
//!
//! Generates C signatures with proptest (see `corpus.rs`), writes a C callee
//! and a C caller for each (`cgen.rs`), compiles them with gcc into shared
//! libraries, and then, in a child process so a crash fails one case rather
//! than the run:
//! - calls each callee through `ffi_raw::Cif` with patterned arguments and
//!   checks what the callee recorded, the returned value, and canary bytes
//!   after the return buffer;
//! - hands an `ffi_raw::Closure` to each caller and checks the arguments the
//!   closure received and the value the C side got back.
//!
//! Knobs (environment): `FFI_RAW_DIFF_CASES` (default 2000),
//! `FFI_RAW_DIFF_SEED` (default fixed), `FFI_RAW_DIFF_REPLAY` (one case in
//! its text form, as a failure prints it). A failure is shrunk to a minimal
//! case and printed as C source plus the ffi-raw signature.

mod cgen;
mod corpus;

use std::ffi::c_void;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use ffi_raw::{ArgRegister, Cif, Closure, Library, OpenFlags, Registers, Type};
use proptest::strategy::{Strategy, ValueTree};

use corpus::{Case, Ty};

const CHILD_ENV: &str = "FFI_RAW_DIFF_CHILD";
const DEFAULT_CASES: usize = 2000;
const DEFAULT_SEED: u64 = 0x00ab_1d1f;
/// Cases per generated shared library; chunks compile in parallel.
const CHUNK: usize = 200;
/// A child that prints nothing for this long is hung and killed.
const HANG_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_SHRINK_STEPS: usize = 300;

fn main() -> ExitCode {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        return child_main(Path::new(&dir));
    }
    let mut args = std::env::args().skip(1);
    // Behave under `cargo test -- --list` (and nextest's listing).
    if args.any(|a| a == "--list") {
        println!("abi_diff: test");
        return ExitCode::SUCCESS;
    }
    match parent_main() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("abi_diff: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parent_main() -> Result<bool, String> {
    let (cases, seed) = match std::env::var("FFI_RAW_DIFF_REPLAY") {
        Ok(line) => (vec![Case::from_line(&line)], None),
        Err(_) => {
            let n = difftest::env_number("FFI_RAW_DIFF_CASES", DEFAULT_CASES as u64)? as usize;
            let seed = difftest::env_number("FFI_RAW_DIFF_SEED", DEFAULT_SEED)?;
            println!("abi_diff: generating {n} cases (FFI_RAW_DIFF_SEED=0x{seed:x})");
            let mut cases: Vec<Case> = corpus::CATALOGUE
                .iter()
                .map(|l| Case::from_line(l))
                .collect();
            generate(n, seed, |tree| cases.push(tree.current()));
            (cases, Some(seed))
        }
    };
    let started = std::time::Instant::now();
    let failures = run_cases(&cases)?;
    let variadic = cases.iter().filter(|c| c.fixed.is_some()).count();
    println!(
        "abi_diff: {} cases ({} catalogued; {} fixed-arity, each also as a closure; {} variadic) in {:.1?}",
        cases.len(),
        if seed.is_some() {
            corpus::CATALOGUE.len()
        } else {
            0
        },
        cases.len() - variadic,
        variadic,
        started.elapsed()
    );
    if let Some((first, message)) = failures.first() {
        for (k, message) in failures.iter().take(10) {
            println!(
                "FAILED case {k}: {message}\n  replay: FFI_RAW_DIFF_REPLAY='{}'",
                cases[*k].to_line()
            );
        }
        let (case, message) = match seed {
            // Generation is deterministic: replay it up to the failing case
            // to get its value tree back (catalogue cases have none).
            Some(seed) if *first >= corpus::CATALOGUE.len() => {
                let mut tree = None;
                generate(*first - corpus::CATALOGUE.len() + 1, seed, |t| {
                    tree = Some(t)
                });
                shrink(tree.expect("generated"), message.clone())?
            }
            _ => (cases[*first].clone(), message.clone()),
        };
        print_reproduction(&case, &message);
    }
    println!(
        "{} passed, {} failed",
        cases.len() - failures.len(),
        failures.len()
    );
    Ok(failures.is_empty())
}

type Tree = Box<dyn ValueTree<Value = Case>>;

/// Generates `n` cases from `seed`, handing each value tree to `each`.
fn generate(n: usize, seed: u64, mut each: impl FnMut(Tree)) {
    let mut runner = difftest::seeded_runner(seed);
    let strategy = corpus::case();
    for _ in 0..n {
        each(Box::new(
            strategy.new_tree(&mut runner).expect("strategy generates"),
        ));
    }
}

/// Shrinks a failing case with proptest's value tree, re-running each
/// candidate on its own; returns the smallest failing case found.
fn shrink(mut tree: Tree, mut message: String) -> Result<(Case, String), String> {
    let mut best = tree.current();
    println!("abi_diff: shrinking case {}", best.to_line());
    if !tree.simplify() {
        return Ok((best, message));
    }
    for _ in 0..MAX_SHRINK_STEPS {
        let candidate = tree.current();
        let failures = run_cases(std::slice::from_ref(&candidate))?;
        let progressed = match failures.into_iter().next() {
            Some((_, m)) => {
                best = candidate;
                message = m;
                tree.simplify()
            }
            None => tree.complicate(),
        };
        if !progressed {
            break;
        }
    }
    Ok((best, message))
}

fn print_reproduction(case: &Case, message: &str) {
    let raw_args: Vec<String> = case.args.iter().map(|a| a.raw().to_string()).collect();
    let raw_ret = case.ret.as_ref().map_or(Type::Void, Ty::raw);
    println!("\n==== minimal reproduction ====");
    println!("error: {message}");
    println!("replay: FFI_RAW_DIFF_REPLAY='{}'", case.to_line());
    match case.fixed {
        None => println!("ffi-raw: Cif::new([{}], {raw_ret})", raw_args.join(", ")),
        Some(n) => println!(
            "ffi-raw: Cif::new_variadic([{}], [{}], {raw_ret})",
            raw_args[..n].join(", "),
            raw_args[n..].join(", ")
        ),
    }
    println!("argument k is its pattern cgen::pattern(k): byte b = 0x(k)(b), floats sanitised");
    println!(
        "---- C (gcc -O1 -shared -fPIC) ----\n{}{}",
        cgen::PRELUDE,
        cgen::case_source(0, case)
    );
}

/// Compiles and runs the cases; returns `(case index, message)` per failure.
fn run_cases(cases: &[Case]) -> Result<Vec<(usize, String)>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let lines: Vec<String> = cases.iter().map(Case::to_line).collect();
    std::fs::write(dir.path().join("cases.txt"), lines.join("\n"))
        .map_err(|e| format!("writing cases: {e}"))?;
    compile_chunks(cases, dir.path())?;

    let mut failures = Vec::new();
    let mut start = 0;
    while start < cases.len() {
        match run_child(dir.path(), start, &mut failures)? {
            ChildEnd::Done => break,
            ChildEnd::Died { case, why } => {
                failures.push((case, why));
                start = case + 1;
            }
        }
    }
    failures.sort_by_key(|f| f.0);
    Ok(failures)
}

fn chunk_library(dir: &Path, chunk: usize) -> PathBuf {
    dir.join(format!("chunk{chunk}.so"))
}

fn compile_chunks(cases: &[Case], dir: &Path) -> Result<(), String> {
    let chunks: Vec<(usize, &[Case])> = cases.chunks(CHUNK).enumerate().collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((chunk, chunk_cases)) = chunks.get(i) else {
                        break;
                    };
                    let mut src = cgen::PRELUDE.to_string();
                    for (j, case) in chunk_cases.iter().enumerate() {
                        src.push_str(&cgen::case_source(chunk * CHUNK + j, case));
                    }
                    let c_path = dir.join(format!("chunk{chunk}.c"));
                    let result = std::fs::write(&c_path, src)
                        .map_err(|e| e.to_string())
                        .and_then(|()| {
                            difftest::gcc(
                                &["-O1", "-shared", "-fPIC", "-w"],
                                &c_path,
                                &chunk_library(dir, *chunk),
                            )
                        });
                    if let Err(e) = result {
                        errors.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    match errors.into_inner().unwrap().into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

enum ChildEnd {
    Done,
    Died { case: usize, why: String },
}

/// Runs cases from `start` in a child process, collecting failures, until
/// the child finishes or dies.
fn run_child(
    dir: &Path,
    start: usize,
    failures: &mut Vec<(usize, String)>,
) -> Result<ChildEnd, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .env(CHILD_ENV, dir)
        .env("FFI_RAW_DIFF_START", start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the child: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut running: Option<usize> = None;
    let mut hung = false;
    loop {
        match rx.recv_timeout(HANG_TIMEOUT) {
            Ok(line) => {
                let mut parts = line.splitn(3, ' ');
                let (tag, k) = (
                    parts.next(),
                    parts.next().and_then(|k| k.parse::<usize>().ok()),
                );
                match (tag, k) {
                    (Some("@start"), Some(k)) => running = Some(k),
                    (Some("@ok"), Some(_)) => running = None,
                    (Some("@fail"), Some(k)) => {
                        failures.push((k, parts.next().unwrap_or("").to_string()));
                        running = None;
                    }
                    _ => {}
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                hung = true;
                let _ = child.kill();
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    match running {
        None if status.success() => Ok(ChildEnd::Done),
        None => Err(format!(
            "the child failed outside any case ({status}): {stderr}"
        )),
        Some(case) => {
            let why = if hung {
                format!("hung for {HANG_TIMEOUT:?}")
            } else {
                format!("crashed ({status}); stderr: {}", stderr.trim())
            };
            Ok(ChildEnd::Died { case, why })
        }
    }
}

// ---- the child: performs the calls ----

fn child_main(dir: &Path) -> ExitCode {
    let text = std::fs::read_to_string(dir.join("cases.txt")).expect("cases.txt");
    let cases: Vec<Case> = text.lines().map(Case::from_line).collect();
    let start: usize = std::env::var("FFI_RAW_DIFF_START")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut out = std::io::stdout().lock();
    let mut library: Option<(usize, Library)> = None;
    for (k, case) in cases.iter().enumerate().skip(start) {
        let chunk = k / CHUNK;
        if library.as_ref().is_none_or(|(c, _)| *c != chunk) {
            let lib = Library::open(chunk_library(dir, chunk), OpenFlags::default())
                .unwrap_or_else(|e| panic!("{e}"));
            library = Some((chunk, lib));
        }
        let lib = &library.as_ref().expect("loaded").1;
        writeln!(out, "@start {k}").unwrap();
        out.flush().unwrap();
        match check_case(lib, k, case) {
            Ok(()) => writeln!(out, "@ok {k}").unwrap(),
            Err(e) => writeln!(out, "@fail {k} {}", e.replace('\n', " | ")).unwrap(),
        }
    }
    out.flush().unwrap();
    ExitCode::SUCCESS
}

/// How many x87 registers are in use. The ABI requires the x87 stack to be
/// empty at every call and return boundary; a value left behind (a `long
/// double` return nobody popped) makes later x87 loads produce NaN.
#[cfg(target_arch = "x86_64")]
fn x87_stack_depth() -> usize {
    let mut env = [0u8; 28];
    // SAFETY: fnstenv stores the 28-byte x87 environment into `env` (and
    // masks x87 exceptions); fldenv restores it unchanged.
    unsafe {
        std::arch::asm!("fnstenv [{0}]", "fldenv [{0}]", in(reg) env.as_mut_ptr(), options(nostack));
    }
    let tags = u16::from_le_bytes([env[8], env[9]]);
    (0..8).filter(|i| (tags >> (2 * i)) & 3 != 3).count()
}

#[cfg(not(target_arch = "x86_64"))]
fn x87_stack_depth() -> usize {
    0
}

fn x87_stack_empty(after: &str) -> Result<(), String> {
    match x87_stack_depth() {
        0 => Ok(()),
        n => {
            // Clear it so that later cases are not blamed for this one.
            #[cfg(target_arch = "x86_64")]
            // SAFETY: re-initialises the x87 unit; nothing live is on it.
            unsafe {
                std::arch::asm!("fninit", options(nostack, nomem))
            };
            Err(format!(
                "{after} left {n} value(s) on the x87 register stack"
            ))
        }
    }
}

/// A 16-aligned byte buffer.
struct Aligned(Vec<u128>, usize);

impl Aligned {
    fn new(bytes: &[u8]) -> Aligned {
        let mut v = vec![0u128; bytes.len().div_ceil(16).max(1)];
        // SAFETY: `v` has at least `bytes.len()` bytes of storage.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), v.as_mut_ptr().cast::<u8>(), bytes.len())
        };
        Aligned(v, bytes.len())
    }
    fn bytes(&self) -> &[u8] {
        // SAFETY: the vector holds at least `self.1` initialised bytes.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast::<u8>(), self.1) }
    }
    fn as_ptr(&self) -> *const c_void {
        self.0.as_ptr().cast()
    }
    fn as_mut_ptr(&mut self) -> *mut c_void {
        self.0.as_mut_ptr().cast()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Compares the value leaves of `ty` in `got` with `pattern`.
fn compare_leaves(what: &str, ty: &Ty, pattern: &[u8], got: &[u8]) -> Result<(), String> {
    for leaf in ty.leaves() {
        let range = leaf.offset..leaf.offset + leaf.value_size();
        if got[range.clone()] != pattern[range.clone()] {
            return Err(format!(
                "{what}{} ({} at offset {}): expected {}, got {}",
                leaf.path,
                leaf.scalar.c_name(),
                leaf.offset,
                hex(&pattern[range.clone()]),
                hex(&got[range])
            ));
        }
    }
    Ok(())
}

const CANARY: u8 = 0xA5;
const CANARY_LEN: usize = 16;

fn check_case(lib: &Library, k: usize, case: &Case) -> Result<(), String> {
    let args: Vec<Type> = case.args.iter().map(Ty::raw).collect();
    let ret = case.ret.as_ref().map_or(Type::Void, Ty::raw);
    let patterns: Vec<Vec<u8>> = case
        .args
        .iter()
        .enumerate()
        .map(|(i, a)| cgen::pattern(a, i))
        .collect();
    let ret_pattern = case.ret.as_ref().map(|r| cgen::pattern(r, cgen::RET_TAG));
    let nfixed = case.fixed.unwrap_or(args.len());

    // Rust calls C.
    let cif = match case.fixed {
        None => Cif::new(args.clone(), ret.clone()),
        Some(n) => Cif::new_variadic(args[..n].to_vec(), args[n..].to_vec(), ret.clone()),
    }
    .map_err(|e| format!("preparing the call interface: {e}"))?;
    let func = lib.symbol(&cgen::callee(k)).map_err(|e| e.to_string())?;
    let record = lib.symbol(&cgen::record(k)).map_err(|e| e.to_string())?;
    let expected: Vec<Vec<u8>> = case
        .args
        .iter()
        .zip(&patterns)
        .enumerate()
        .map(|(i, (a, p))| cgen::expected_record(a, p, i >= nfixed))
        .collect();
    let record_len: usize = expected.iter().map(Vec::len).sum();
    let arg_bufs: Vec<Aligned> = patterns.iter().map(|p| Aligned::new(p)).collect();
    let arg_ptrs: Vec<*const c_void> = arg_bufs.iter().map(Aligned::as_ptr).collect();
    let mut ret_buf = Aligned::new(&vec![CANARY; ret.size() + CANARY_LEN]);
    // SAFETY: `record` is the callee's `unsigned char[record_len.max(1)]`.
    unsafe { std::ptr::write_bytes(record.addr().cast::<u8>(), 0, record_len) };
    // SAFETY: the callee was compiled from this very signature; each argument
    // pointer refers to an aligned buffer holding a value of its type; the
    // return buffer has room for the return type (plus the canary).
    unsafe { cif.call(func.code_ptr(), &arg_ptrs, ret_buf.as_mut_ptr()) }
        .map_err(|e| e.to_string())?;
    // SAFETY: as above; the callee has finished writing it.
    let recorded = unsafe { std::slice::from_raw_parts(record.addr().cast::<u8>(), record_len) };
    let mut pos = 0;
    for (i, exp) in expected.iter().enumerate() {
        let got = &recorded[pos..pos + exp.len()];
        if got != exp.as_slice() {
            return Err(format!(
                "C callee received argument {i} ({}{}) as {}, expected {}",
                args[i],
                if i >= nfixed { ", variadic" } else { "" },
                hex(got),
                hex(exp)
            ));
        }
        pos += exp.len();
    }
    let returned = ret_buf.bytes();
    if let (Some(ty), Some(p)) = (&case.ret, &ret_pattern) {
        compare_leaves("return value", ty, p, returned)?;
    }
    if returned[ret.size()..].iter().any(|b| *b != CANARY) {
        return Err(format!(
            "the call wrote past the {}-byte return buffer: {}",
            ret.size(),
            hex(&returned[ret.size()..])
        ));
    }
    x87_stack_empty("the call")?;

    // Rust calls C again, through the argument registers directly.
    if let Some(layout) = cif.register_layout() {
        // SAFETY: as above.
        unsafe { std::ptr::write_bytes(record.addr().cast::<u8>(), 0, record_len) };
        let mut regs = Registers::default();
        for ((ty, pattern), register) in args.iter().zip(&patterns).zip(layout.args()) {
            let mut word = [0u8; 8];
            word[..ty.size()].copy_from_slice(&pattern[..ty.size()]);
            let bits = u64::from_le_bytes(word);
            match *register {
                ArgRegister::Int(r) => {
                    let shift = 64 - 8 * ty.size() as u32;
                    regs.int[usize::from(r)] = if ty.is_signed_integer() {
                        (((bits << shift) as i64) >> shift) as u64
                    } else {
                        bits
                    };
                }
                ArgRegister::Sse(r) => regs.sse[usize::from(r)] = f64::from_bits(bits),
            }
        }
        // SAFETY: the callee has this signature; the registers hold its
        // arguments as the layout says.
        let out = unsafe { cif.call_registers(func.code_ptr(), &regs) };
        // SAFETY: as above.
        let recorded =
            unsafe { std::slice::from_raw_parts(record.addr().cast::<u8>(), record_len) };
        let mut pos = 0;
        for (i, exp) in expected.iter().enumerate() {
            let got = &recorded[pos..pos + exp.len()];
            if got != exp.as_slice() {
                return Err(format!(
                    "register call: C callee received argument {i} ({}) as {}, expected {}",
                    args[i],
                    hex(got),
                    hex(exp)
                ));
            }
            pos += exp.len();
        }
        if let (Some(ty), Some(p)) = (&case.ret, &ret_pattern) {
            let word = match ret {
                Type::F32 | Type::F64 => out.sse.to_bits(),
                _ => out.int,
            };
            compare_leaves("register call: return value", ty, p, &word.to_le_bytes())?;
        }
        x87_stack_empty("the register call")?;
    }

    // C calls Rust (fixed arity only).
    if case.fixed.is_none() {
        let problems = Arc::new(Mutex::new(Vec::<String>::new()));
        let calls = Arc::new(AtomicUsize::new(0));
        let closure = {
            let (problems, calls) = (problems.clone(), calls.clone());
            let (tys, patterns, ret_pattern) =
                (case.args.clone(), patterns.clone(), ret_pattern.clone());
            Closure::new(args.clone(), ret.clone(), move |received, out| {
                calls.fetch_add(1, Ordering::SeqCst);
                for (i, ty) in tys.iter().enumerate() {
                    if let Err(e) = compare_leaves(
                        &format!("closure argument {i}"),
                        ty,
                        &patterns[i],
                        received.bytes(i),
                    ) {
                        problems.lock().unwrap().push(e);
                    }
                }
                if let Some(p) = &ret_pattern {
                    out.copy_from_slice(p);
                }
            })
            .map_err(|e| format!("creating the closure: {e}"))?
        };
        let caller = lib.symbol(&cgen::caller(k)).map_err(|e| e.to_string())?;
        // SAFETY: the caller is `int caller(fp)`, taking a function pointer
        // of exactly the closure's signature.
        let rc = unsafe {
            let f = std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut c_void) -> i32>(
                caller.addr(),
            );
            f(closure.code_ptr().as_ptr())
        };
        if let Some(p) = problems.lock().unwrap().first() {
            return Err(p.clone());
        }
        if calls.load(Ordering::SeqCst) != 1 {
            return Err(format!(
                "the closure ran {} times, not once",
                calls.load(Ordering::SeqCst)
            ));
        }
        if rc != 0 {
            let leaf = case
                .ret
                .as_ref()
                .map(|r| r.leaves()[rc as usize - 1].path.clone());
            return Err(format!(
                "the C caller got a wrong return value from the closure at leaf {rc} ({leaf:?})"
            ));
        }
        x87_stack_empty("the C caller of the closure")?;
    }
    Ok(())
}
