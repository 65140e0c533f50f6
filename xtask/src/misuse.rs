//! The misuse checks too slow for every CPython (docs/testing.md, "Misuse
//! never crashes"), run once by `cargo xtask test` on one CPython: the
//! misuse suite's cases marked `valgrind` under valgrind, and the atheris
//! fuzz target of the Python API for a time box.

use std::ops::RangeInclusive;
use std::path::Path;

use xshell::{Shell, cmd};

use crate::python::{Interpreter, PYTEST, Venv};
use crate::{Result, step, target_dir};

/// atheris, pinned: 3.1.0 has manylinux wheels for CPython 3.12 and 3.13,
/// so nothing is built from source (which would need clang and libFuzzer).
const ATHERIS: &str = "atheris==3.1.0";
const ATHERIS_MINORS: RangeInclusive<u32> = 12..=13;

const SUITE: &str = "crates/ffi-py/tests/python/test_misuse_suite.py";
/// Tests of fixed memory errors that do their work in the test process.
const IN_PROCESS: &str = "crates/ffi-py/tests/python/test_misuse_memory.py";
const FUZZ_TARGET: &str = "crates/ffi-py/tests/fuzz/fuzz_api.py";
/// Seconds the fuzz target runs; 0 skips it.
const FUZZ_SECS_VAR: &str = "FFI_PY_FUZZ_SECS";
const DEFAULT_FUZZ_SECS: u64 = 60;
/// Seconds one fuzz input may take before it counts as a hang.
const FUZZ_INPUT_TIMEOUT: u64 = 30;

/// Runs both checks, each reported through `check` (as the other Python
/// checks are: a failure is shown at once and the run goes on).
pub fn checks(
    sh: &Shell,
    interpreters: &[Interpreter],
    wheel: &Path,
    check: &mut dyn FnMut(Result),
) {
    match venv(sh, interpreters, wheel) {
        Ok(venv) => {
            check(valgrind(sh, &venv));
            check(fuzz(sh, &venv));
        }
        Err(e) => check(Err(e)),
    }
}

/// The venv `<target>/py/misuse` on the newest CPython atheris has wheels
/// for, with pytest, atheris and the new wheel.
fn venv(sh: &Shell, interpreters: &[Interpreter], wheel: &Path) -> Result<Venv> {
    step(&format!(
        "misuse checks: venv with pytest, {ATHERIS} and the new wheel"
    ));
    let interpreter = interpreters
        .iter()
        .filter(|i| ATHERIS_MINORS.contains(&i.version.1))
        .max_by_key(|i| i.version)
        .ok_or("the misuse checks need CPython 3.12 or 3.13 (atheris's wheels)")?;
    let venv = Venv::reuse(sh, "misuse", || Ok(interpreter.clone()))?;
    venv.require(sh, &[PYTEST, ATHERIS])?;
    venv.install_wheel(sh, wheel)?;
    Ok(venv)
}

/// The misuse suite's cases marked `valgrind`, each under valgrind
/// (`--error-exitcode`, leaks not counted): any memory error fails its case.
fn valgrind(sh: &Shell, venv: &Venv) -> Result {
    if !on_path("valgrind") {
        step("installing valgrind with apt-get");
        cmd!(sh, "apt-get update -qq").run()?;
        cmd!(sh, "apt-get install -y -qq valgrind").run()?;
    }
    step("misuse suite: the cases marked `valgrind`, under valgrind");
    let python = venv.python();
    let _valgrind = sh.push_env("FFI_PY_MISUSE_VALGRIND", "1");
    cmd!(
        sh,
        "{python} -m pytest -p no:cacheprovider -q -rfE -m valgrind {SUITE}"
    )
    .run()?;
    // The tests of fixed memory errors that run in the test process: the
    // whole pytest process under valgrind, any error failing the step.
    step("memory-error tests run in-process, under valgrind");
    let _malloc = sh.push_env("PYTHONMALLOC", "malloc");
    cmd!(
        sh,
        "valgrind --quiet --error-exitcode=97 --errors-for-leak-kinds=none
            {python} -m pytest -p no:cacheprovider -q -rfE -m valgrind {IN_PROCESS}"
    )
    .run()?;
    Ok(())
}

/// The atheris fuzz target for FFI_PY_FUZZ_SECS seconds; a crash, a hang,
/// a panic or an unexpected exception fails the step, and the input that
/// caused it is left in `<target>/fuzz-py/`. The corpus it grows is kept
/// there for the next run.
fn fuzz(sh: &Shell, venv: &Venv) -> Result {
    let secs = match std::env::var(FUZZ_SECS_VAR) {
        Ok(text) => text
            .parse::<u64>()
            .map_err(|e| format!("{FUZZ_SECS_VAR}={text:?}: {e}"))?,
        Err(_) => DEFAULT_FUZZ_SECS,
    };
    step(&format!("fuzz the Python API for {secs} s ({FUZZ_TARGET})"));
    if secs == 0 {
        println!("skipped: {FUZZ_SECS_VAR}=0");
        return Ok(());
    }
    let dir = target_dir().join("fuzz-py");
    let corpus = dir.join("corpus");
    std::fs::create_dir_all(&corpus)?;
    let python = venv.python();
    let flags = [
        format!("-max_total_time={secs}"),
        format!("-timeout={FUZZ_INPUT_TIMEOUT}"),
        format!("-artifact_prefix={}/", dir.display()),
    ];
    // libFuzzer reports every input that adds coverage: show only its
    // summary, or the end of its report if it found something.
    let output = cmd!(sh, "{python} {FUZZ_TARGET} {flags...} {corpus}")
        .ignore_status()
        .quiet()
        .output()?;
    let log = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = log.lines().collect();
    if !output.status.success() {
        for line in &lines[lines.len().saturating_sub(80)..] {
            println!("{line}");
        }
        return Err(format!(
            "the fuzz target found a problem ({}); its input is in {}",
            output.status,
            dir.display()
        )
        .into());
    }
    let summary = lines
        .iter()
        .filter(|line| line.contains("DONE") || line.starts_with("Done "));
    for line in summary {
        println!("{line}");
    }
    Ok(())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}
