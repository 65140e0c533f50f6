//! The Python half of `cargo xtask test`: the wheel `dist` builds, installed
//! into a fresh venv of each supported CPython and tested there; cffi's own
//! tests against it (the conformance run); the sdist built by pip; and what
//! the wheel carries besides code.

use std::path::Path;

use xshell::{Shell, cmd};

use crate::python::{self, Interpreter, PYTEST, Venv};
use crate::{Result, current_step, project_root, step, target_dir};
use crate::{dist, misuse};

const PYTEST_DIR: &str = "crates/ffi-py/tests/python";
const CONFORMANCE: &str = "crates/ffi-py/tests/conformance/run.py";
const CONFORMANCE_REPORT: &str = "docs/conformance.md";

/// Builds the wheel and the sdist, then runs every check on them: a failed
/// check is reported at once and the others still run (a CI run shows all
/// that is wrong); the task fails at the end if any did.
pub fn python_package(sh: &Shell) -> Result {
    step("finding CPython 3.10-3.13");
    let interpreters = python::interpreters(sh)?;
    let tools = python::tools(sh)?;
    let artifacts = dist::build(sh, &tools)?;
    let mut failed = Vec::new();
    let mut check = |result: Result| {
        if let Err(e) = result {
            let step = current_step();
            eprintln!("\nxtask: step `{step}` failed: {e}\n(going on with the other checks)");
            failed.push(format!("{step}: {e}"));
        }
    };
    check(dist::abi3audit(sh, &tools, &artifacts.wheel));
    let mut newest = None;
    for interpreter in &interpreters {
        match wheel_tests(sh, interpreter, &artifacts.wheel) {
            Ok(venv) => newest = Some((interpreter, venv)),
            Err(e) => check(Err(e)),
        }
    }
    match newest {
        Some((interpreter, venv)) => check(conformance(sh, interpreter, &venv)),
        None => println!("conformance: not run, no venv passed its tests"),
    }
    misuse::checks(sh, &interpreters, &artifacts.wheel, &mut check);
    check(sdist_builds(sh, &interpreters[0], &artifacts.sdist));
    check(wheel_contents(sh, &tools, &artifacts.wheel));
    step("Python checks: summary");
    if failed.is_empty() {
        println!("all passed");
        return Ok(());
    }
    Err(format!("{} failed:\n  {}", failed.len(), failed.join("\n  ")).into())
}

/// A fresh venv with the wheel and pytest, and the pytest suite run in it.
fn wheel_tests(sh: &Shell, interpreter: &Interpreter, wheel: &Path) -> Result<Venv> {
    let v = interpreter.version;
    step(&format!(
        "Python {v}: fresh venv, pip install the wheel and pytest"
    ));
    let venv = Venv::fresh(sh, interpreter, &format!("test-{v}"))?;
    venv.pip_install(sh, &[wheel.as_os_str(), PYTEST.as_ref()])?;
    import_check(sh, &venv)?;
    step(&format!("Python {v}: pytest {PYTEST_DIR}"));
    let python = venv.python();
    cmd!(sh, "{python} -m pytest -p no:cacheprovider {PYTEST_DIR}").run()?;
    Ok(venv)
}

/// `import ffi_py` finds the installed package (run from the venv's own
/// directory, so that no source tree can shadow it).
fn import_check(sh: &Shell, venv: &Venv) -> Result {
    const CHECK: &str = "import sys, ffi_py
assert ffi_py.__file__.startswith(sys.prefix), 'imported from ' + ffi_py.__file__
assert isinstance(ffi_py.__version__, str), repr(ffi_py.__version__)
print('import ffi_py:', ffi_py.__version__, 'from', ffi_py.__file__)";
    let _dir = sh.push_dir(&venv.dir);
    let python = venv.python();
    cmd!(sh, "{python} -c {CHECK}").quiet().run()?;
    Ok(())
}

/// cffi's own tests against ffi_py; the runner's exit status decides.
fn conformance(sh: &Shell, interpreter: &Interpreter, venv: &Venv) -> Result {
    step(&format!(
        "conformance: cffi's tests against ffi_py (Python {})",
        interpreter.version
    ));
    if !project_root().join(CONFORMANCE).is_file() {
        println!("skipped: {CONFORMANCE} does not exist yet");
        return Ok(());
    }
    let (python, cache) = (venv.python(), target_dir().join("conformance"));
    cmd!(
        sh,
        "{python} {CONFORMANCE} --cache-dir {cache} --report {CONFORMANCE_REPORT}"
    )
    .run()?;
    Ok(())
}

/// pip builds the sdist in a fresh venv (so the sdist carries every path
/// dependency it needs), and the result imports.
fn sdist_builds(sh: &Shell, interpreter: &Interpreter, sdist: &Path) -> Result {
    step(&format!(
        "sdist: pip install {} in a fresh venv (Python {}), then import",
        sdist.file_name().unwrap_or_default().to_string_lossy(),
        interpreter.version
    ));
    let venv = Venv::fresh(sh, interpreter, "sdist-check")?;
    // pip keeps the wheels it builds from local sdists by path and would
    // install last run's build unseen: no cache for this install. Cargo's
    // target dir is kept instead, so crates.io dependencies compile once
    // (pip builds in a new temporary directory every time).
    let _target = sh.push_env("CARGO_TARGET_DIR", target_dir().join("py/sdist-target"));
    venv.pip_install(sh, &[sdist.as_os_str(), "--no-cache-dir".as_ref()])?;
    import_check(sh, &venv)
}

/// Type stubs, py.typed, the README as the description and the licenses.
fn wheel_contents(sh: &Shell, tools: &Venv, wheel: &Path) -> Result {
    step("wheel contents: stubs, py.typed, README and license metadata");
    let python = tools.python();
    cmd!(sh, "{python} xtask/check_wheel.py {wheel}").run()?;
    Ok(())
}
