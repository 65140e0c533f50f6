//! `cargo xtask <task>`: the project's automation, in Rust so that a fresh
//! machine needs nothing but cargo. Run with no task to list the tasks.

mod chroot;
mod dist;
mod misuse;
mod pycheck;
mod python;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use xshell::{Shell, cmd};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const TASKS: &[(&str, &str)] = &[
    (
        "dist",
        "the Python package: an abi3 manylinux_2_28 wheel and an sdist in target/dist",
    ),
    (
        "test [--python]",
        "everything CI runs: fmt, clippy, all cargo tests, then the wheel on each CPython 3.10-3.13 \
         (pyenv) and 3.14, 3.15 (a Debian forky chroot), \
         cffi's tests, the sdist (--python: only the Python part)",
    ),
    (
        "bench [-- criterion args]",
        "criterion benches, then the Python side by side with ctypes and cffi (writes docs/benchmarks.md)",
    ),
    (
        "fuzz [--secs N]",
        "run every cargo-fuzz target for N seconds each (default 60), growing fuzz/corpus",
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dist") => dist::dist(),
        Some("test") => test(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("fuzz") => fuzz(&args[1..]),
        Some(other) => {
            Err(format!("unknown task {other:?}; run `cargo xtask` for the list").into())
        }
        None => {
            list_tasks();
            Ok(())
        }
    };
    let last_step = print_step_times();
    match (result, last_step) {
        (Ok(()), _) => ExitCode::SUCCESS,
        (Err(e), Some(step)) => {
            eprintln!("xtask: step `{step}` failed: {e}");
            ExitCode::FAILURE
        }
        (Err(e), None) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn list_tasks() {
    println!("usage: cargo xtask <task>\n\ntasks:");
    for (name, what) in TASKS {
        println!("  {name:<28} {what}");
    }
}

fn shell() -> Result<Shell> {
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    Ok(sh)
}

fn project_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` if set, else `target/`.
/// Everything xtask makes (dist, venvs, caches) goes under it.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::env::current_dir().unwrap_or_default().join(dir),
        None => project_root().join("target"),
    }
}

/// The steps run so far and when each started.
static STEPS: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());

/// Starts a step: named on screen, and in the error if the task fails
/// before the next one starts.
fn step(name: &str) {
    let mut steps = STEPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    steps.push((name.to_string(), Instant::now()));
    println!("\n==> {name}");
}

/// The step running now (the last one started).
fn current_step() -> String {
    let steps = STEPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    steps
        .last()
        .map_or_else(String::new, |(name, _)| name.clone())
}

/// Prints how long each step took; returns the name of the last one.
fn print_step_times() -> Option<String> {
    let steps = STEPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (first, last) = (steps.first()?, steps.last()?);
    let end = Instant::now();
    println!("\nstep times:");
    for (i, (name, start)) in steps.iter().enumerate() {
        let until = steps.get(i + 1).map_or(end, |next| next.1);
        println!("  {:>7.1} s  {name}", (until - *start).as_secs_f64());
    }
    println!("  {:>7.1} s  in all", (end - first.1).as_secs_f64());
    Some(last.0.clone())
}

/// Makes sure the C toolchain that libffi's build and the differential test
/// need is present, installing it with apt-get on a bare Debian machine.
fn ensure_c_toolchain(sh: &Shell) -> Result {
    let on_path = |tool: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
    };
    let missing: Vec<&str> = ["gcc", "make"]
        .into_iter()
        .filter(|t| !on_path(t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    step(&format!("installing {} with apt-get", missing.join(", ")));
    cmd!(sh, "apt-get update -qq").run()?;
    cmd!(sh, "apt-get install -y -qq {missing...}").run()?;
    Ok(())
}

fn test(args: &[String]) -> Result {
    let python_only = match args {
        [] => false,
        [flag] if flag == "--python" => true,
        _ => return Err("usage: cargo xtask test [--python]".into()),
    };
    let sh = shell()?;
    ensure_c_toolchain(&sh)?;
    if python_only {
        return pycheck::python_package(&sh);
    }
    step("cargo fmt --check");
    cmd!(sh, "cargo fmt --all -- --check").run()?;
    step("cargo clippy --all-targets -- -D warnings");
    cmd!(
        sh,
        "cargo clippy --workspace --all-targets --quiet -- -D warnings"
    )
    .run()?;
    step("cargo test (release: the differential test compiles and runs thousands of cases)");
    cmd!(sh, "cargo test --workspace --release").run()?;
    pycheck::python_package(&sh)
}

fn bench(extra: &[String]) -> Result {
    let sh = shell()?;
    ensure_c_toolchain(&sh)?;
    step("criterion: every bench in benches/ (call overhead, cdef parsing)");
    cmd!(sh, "cargo bench -p benches -- {extra...}").run()?;
    let venv = bench_venv(&sh)?;
    let python = venv.python();
    step("side by side with cffi: cdef parsing");
    cmd!(sh, "{python} benches/python/cdef_speed.py").run()?;
    step("side by side with ctypes and cffi: call overhead (benches/python/compare.py)");
    cmd!(
        sh,
        "{python} benches/python/compare.py
            --markdown docs/benchmarks.md --plot docs/img/python-compare.png"
    )
    .run()?;
    step("the same rows in instructions, under callgrind (benches/python/instructions.py)");
    cmd!(
        sh,
        "{python} benches/python/instructions.py --markdown docs/benchmarks.md"
    )
    .run()?;
    Ok(())
}

/// The bench venv `<target>/py/bench`: cffi (setuptools for its API mode's
/// compiler), matplotlib for the plot, and a freshly built ffi_py wheel.
fn bench_venv(sh: &Shell) -> Result<python::Venv> {
    let tools = python::tools(sh)?;
    let wheel = dist::build_wheel(sh, &tools)?;
    step("bench venv: cffi, matplotlib and the new wheel");
    let venv = python::Venv::reuse(sh, "bench", || python::newest(sh))?;
    venv.require(sh, &["cffi", "setuptools", "matplotlib"])?;
    venv.install_wheel(sh, &wheel)?;
    Ok(venv)
}

/// The cargo-fuzz targets: the `[[bin]]` names in `fuzz/Cargo.toml`.
fn fuzz_targets() -> Result<Vec<String>> {
    let manifest = std::fs::read_to_string(project_root().join("fuzz/Cargo.toml"))?;
    let mut targets = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(name) = line.strip_prefix("name = ") {
            targets.push(name.trim_matches('"').to_string());
        }
    }
    Ok(targets)
}

fn fuzz(args: &[String]) -> Result {
    let secs = match args {
        [] => 60,
        [flag, n] if flag == "--secs" => n.parse().map_err(|e| format!("--secs {n:?}: {e}"))?,
        _ => return Err("usage: cargo xtask fuzz [--secs N]".into()),
    };
    let sh = shell()?;
    if cmd!(sh, "cargo fuzz --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_err()
    {
        step("installing cargo-fuzz");
        cmd!(sh, "cargo install cargo-fuzz --locked").run()?;
    }
    // libFuzzer's instrumentation wants nightly; without it, run on stable
    // with no sanitizer.
    let nightly = cmd!(sh, "rustup run nightly rustc --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok();
    let (toolchain, sanitizer): (&[&str], &[&str]) = if nightly {
        (&["+nightly"], &[])
    } else {
        (&[], &["-s", "none"])
    };
    let max_time = format!("-max_total_time={secs}");
    for target in fuzz_targets()? {
        step(&format!("fuzz {target} for {secs} s"));
        let corpus = format!("fuzz/corpus/{target}");
        cmd!(
            sh,
            "cargo {toolchain...} fuzz run {sanitizer...} {target} {corpus} -- {max_time}"
        )
        .run()?;
    }
    Ok(())
}
