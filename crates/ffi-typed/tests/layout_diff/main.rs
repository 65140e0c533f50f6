//! Differential layout test: ffi-typed's struct, union, bitfield and enum
//! layouts against gcc's.
//!
//! Generates definitions with proptest (`corpus.rs`): structs and unions
//! nested up to four levels, members of every C scalar, pointers, enums,
//! arrays (of arrays and of records), named and anonymous record members,
//! bitfields (named, unnamed, zero-width, of every integer and enum type),
//! flexible array members, enums with explicit and implicit values from
//! `LONG_MIN` to `ULONG_MAX`, and per record natural layout,
//! `#pragma pack(N)` or `__attribute__((packed))`. For each batch it writes
//! one C program (`cgen.rs`) that prints gcc's `sizeof`, `_Alignof`,
//! `offsetof` of every member and the bits every bitfield occupies (set to
//! -1 in a zeroed object and read back), compiles and runs it, and compares
//! each answer with ffi-typed's layout (`check.rs`).
//!
//! Knobs (environment): `FFI_TYPED_LAYOUT_CASES` (default 2000),
//! `FFI_TYPED_LAYOUT_SEED` (default fixed), `FFI_TYPED_LAYOUT_REPLAY` (one
//! case in its text form, as a failure prints it), `FFI_TYPED_LAYOUT_JOBS`
//! (parallel gcc batches, default 2). The first failure is shrunk to a
//! minimal case and printed as a C program plus ffi-typed's layout.

mod cgen;
mod check;
mod corpus;
mod model;

use std::collections::HashMap;
use std::process::{Command, ExitCode};
use std::sync::{Mutex, mpsc};
use std::time::Instant;

use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::TestRunner;

use model::Case;

const DEFAULT_CASES: u64 = 2000;
const DEFAULT_SEED: u64 = 0x1a_7001;
const DEFAULT_JOBS: u64 = 2;
/// Cases per generated C program.
const BATCH: usize = 250;
const MAX_SHRINK_STEPS: usize = 500;

fn main() -> ExitCode {
    // Behave under `cargo test -- --list` (and nextest's listing).
    if std::env::args().skip(1).any(|a| a == "--list") {
        println!("layout_diff: test");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("layout_diff: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A failing case: its index and every disagreement.
type Failure = (usize, Vec<String>);

#[derive(Default)]
struct Tally {
    cases: usize,
    records: usize,
    enums: usize,
    probes: usize,
    failures: Vec<Failure>,
    /// Cases gcc could not compile (a generator bug, not a layout bug).
    errors: Vec<String>,
}

fn run() -> Result<bool, String> {
    let jobs = difftest::env_number("FFI_TYPED_LAYOUT_JOBS", DEFAULT_JOBS)?.max(1) as usize;
    if let Ok(line) = std::env::var("FFI_TYPED_LAYOUT_REPLAY") {
        let case = Case::from_line(&line)?;
        let normal = corpus::normalize(case.clone()).to_line();
        if normal != case.to_line() {
            println!("layout_diff: note: the generator would write this case as {normal}");
        }
        let tally = run_batch(&[(0, case.clone())])?;
        println!(
            "layout_diff: replayed 1 case ({} records, {} probes)",
            tally.records, tally.probes
        );
        if let Some((_, messages)) = tally.failures.first() {
            print_reproduction(&case, messages);
        }
        println!(
            "{} passed, {} failed",
            1 - tally.failures.len(),
            tally.failures.len()
        );
        return Ok(tally.failures.is_empty());
    }

    let n = difftest::env_number("FFI_TYPED_LAYOUT_CASES", DEFAULT_CASES)? as usize;
    let seed = difftest::env_number("FFI_TYPED_LAYOUT_SEED", DEFAULT_SEED)?;
    println!(
        "layout_diff: {} catalogued + {n} generated definitions (FFI_TYPED_LAYOUT_SEED=0x{seed:x}), {jobs} gcc jobs",
        corpus::CATALOGUE.len()
    );
    let started = Instant::now();
    let catalogue: Vec<(usize, Case)> = corpus::CATALOGUE
        .iter()
        .enumerate()
        .map(|(k, l)| Case::from_line(l).map(|c| (k, c)))
        .collect::<Result<_, _>>()?;
    for (_, case) in &catalogue {
        let normal = corpus::normalize(case.clone()).to_line();
        if normal != case.to_line() {
            return Err(format!(
                "catalogue entry {} is not valid as written; it would be {normal}",
                case.to_line()
            ));
        }
    }
    let first_generated = catalogue.len();

    let mut generator = Generator::new(seed);
    let mut next_index = first_generated;
    let mut pending = Some(catalogue);
    let progress_every = if n >= 20_000 { n / 10 } else { usize::MAX };
    let batches = std::iter::from_fn(|| {
        if let Some(c) = pending.take() {
            return Some(c);
        }
        let end = (first_generated + n).min(next_index + BATCH);
        if next_index >= end {
            return None;
        }
        let batch: Vec<(usize, Case)> = (next_index..end)
            .map(|k| (k, generator.next_tree().current()))
            .collect();
        let done = end - first_generated;
        if done / progress_every != (next_index - first_generated) / progress_every {
            println!(
                "layout_diff: generated {done} of {n} ({:.1?})",
                started.elapsed()
            );
        }
        next_index = end;
        Some(batch)
    });
    let mut tally = run_parallel(batches, jobs);
    if let Some(e) = tally.errors.first() {
        return Err(format!(
            "{} batch(es) did not compile or run (a generator bug); the first:\n{e}",
            tally.errors.len()
        ));
    }
    tally.failures.sort_by_key(|f| f.0);
    println!(
        "layout_diff: {} definitions ({} catalogued, {} generated): {} records, {} enums, {} probes, in {:.1?}",
        tally.cases,
        first_generated,
        tally.cases - first_generated,
        tally.records,
        tally.enums,
        tally.probes,
        started.elapsed()
    );
    if !tally.failures.is_empty() {
        report_failures(&tally.failures, first_generated, seed)?;
    }
    println!(
        "{} passed, {} failed",
        tally.cases - tally.failures.len(),
        tally.failures.len()
    );
    Ok(tally.failures.is_empty())
}

/// Lists the first failures; prints the first failing catalogue entry as it
/// is (it is small already) and the first failing generated case shrunk.
fn report_failures(failures: &[Failure], first_generated: usize, seed: u64) -> Result<(), String> {
    for (k, messages) in failures.iter().take(10) {
        let more = match messages.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        println!("FAILED case {k}: {}{more}", messages[0]);
        if *k < first_generated {
            println!(
                "  replay: FFI_TYPED_LAYOUT_REPLAY='{}'",
                corpus::CATALOGUE[*k]
            );
        }
    }
    if let Some((k, messages)) = failures.iter().find(|f| f.0 < first_generated) {
        println!("\nfirst failing catalogue entry, case {k}:");
        print_reproduction(&Case::from_line(corpus::CATALOGUE[*k])?, messages);
    }
    if let Some((k, messages)) = failures.iter().find(|f| f.0 >= first_generated) {
        // Generation is deterministic: replay it up to the failing case to
        // get its value tree back, then shrink.
        let mut generator = Generator::new(seed);
        let mut tree = generator.next_tree();
        for _ in first_generated..*k {
            tree = generator.next_tree();
        }
        println!(
            "\nfirst failing generated case, {k}: FFI_TYPED_LAYOUT_REPLAY='{}'",
            tree.current().to_line()
        );
        let (case, messages) = shrink(tree, messages.clone());
        print_reproduction(&case, &messages);
    }
    Ok(())
}

type Tree = Box<dyn ValueTree<Value = Case>>;

/// Generates value trees from a seed, deterministically.
struct Generator {
    runner: TestRunner,
    strategy: BoxedStrategy<Case>,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        Generator {
            runner: difftest::seeded_runner(seed),
            strategy: corpus::case(),
        }
    }

    fn next_tree(&mut self) -> Tree {
        Box::new(
            self.strategy
                .new_tree(&mut self.runner)
                .expect("the strategy generates"),
        )
    }
}

/// Runs batches on `jobs` threads as they are generated.
fn run_parallel(batches: impl Iterator<Item = Vec<(usize, Case)>>, jobs: usize) -> Tally {
    let (tx, rx) = mpsc::sync_channel::<Vec<(usize, Case)>>(jobs);
    let rx = Mutex::new(rx);
    let total = Mutex::new(Tally::default());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let Ok(batch) = rx.lock().unwrap().recv() else {
                        break;
                    };
                    let result = run_batch(&batch);
                    let mut total = total.lock().unwrap();
                    match result {
                        Ok(t) => {
                            total.cases += t.cases;
                            total.records += t.records;
                            total.enums += t.enums;
                            total.probes += t.probes;
                            total.failures.extend(t.failures);
                        }
                        Err(e) => total.errors.push(e),
                    }
                }
            });
        }
        for batch in batches {
            if tx.send(batch).is_err() {
                break;
            }
        }
        drop(tx);
    });
    total.into_inner().unwrap()
}

/// Compiles and runs one C program for the batch; compares every case.
fn run_batch(batch: &[(usize, Case)]) -> Result<Tally, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let src = dir.path().join("layout.c");
    let exe = dir.path().join("layout");
    std::fs::write(&src, cgen::program(batch.iter().map(|(k, c)| (*k, c))))
        .map_err(|e| format!("writing {}: {e}", src.display()))?;
    difftest::gcc(&["-std=gnu11", "-O0", "-w"], &src, &exe)?;
    let output = Command::new(&exe)
        .output()
        .map_err(|e| format!("running {}: {e}", exe.display()))?;
    if !output.status.success() {
        return Err(format!(
            "the probe program failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let mut answers: HashMap<usize, Vec<Vec<i128>>> = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let mut words = line.split(' ');
        let mut number = || -> Result<i128, String> {
            words
                .next()
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| format!("bad output line {line:?}"))
        };
        let (k, n) = (number()? as usize, number()? as usize);
        let values: Vec<i128> = line
            .split(' ')
            .skip(2)
            .map(|w| w.parse().map_err(|_| format!("bad output line {line:?}")))
            .collect::<Result<_, _>>()?;
        let case = answers.entry(k).or_default();
        if case.len() != n {
            return Err(format!("probe {n} of case {k} printed out of order"));
        }
        case.push(values);
    }
    let mut tally = Tally::default();
    for (k, case) in batch {
        tally.cases += 1;
        tally.records += case.top.count_records();
        tally.enums += case.enums.len();
        let gcc = answers.remove(k).unwrap_or_default();
        tally.probes += gcc.len();
        let mismatches = check::compare(*k, case, &gcc);
        if !mismatches.is_empty() {
            tally.failures.push((*k, mismatches));
        }
    }
    Ok(tally)
}

/// Shrinks a failing case with proptest's value tree, re-running each
/// candidate on its own; returns the smallest failing case found.
fn shrink(mut tree: Tree, mut messages: Vec<String>) -> (Case, Vec<String>) {
    let mut best = tree.current();
    if !tree.simplify() {
        return (best, messages);
    }
    let mut steps = 0;
    for _ in 0..MAX_SHRINK_STEPS {
        steps += 1;
        let candidate = tree.current();
        // A candidate gcc cannot compile does not reproduce the failure.
        let failed = run_batch(&[(0, candidate.clone())])
            .ok()
            .and_then(|t| t.failures.into_iter().next());
        let progressed = match failed {
            Some((_, m)) => {
                best = candidate;
                messages = m;
                tree.simplify()
            }
            None => tree.complicate(),
        };
        if !progressed {
            break;
        }
    }
    println!("layout_diff: shrunk in {steps} steps");
    (best, messages)
}

fn print_reproduction(case: &Case, messages: &[String]) {
    println!("\n==== minimal reproduction ====");
    println!("replay: FFI_TYPED_LAYOUT_REPLAY='{}'", case.to_line());
    println!("gcc and ffi-typed disagree on:");
    for m in messages {
        println!("  {m}");
    }
    println!("---- ffi-typed's layout ----\n{}", check::describe(0, case));
    println!(
        "---- C (gcc -std=gnu11; prints `case probe value...`) ----\n{}",
        cgen::program([(0, case)])
    );
}
