//! The Python half of `cargo xtask test`: the wheel `dist` builds, installed
//! into a fresh venv of each supported CPython and tested there (3.10-3.13
//! from pyenv, 3.14 and 3.15 in a Debian forky chroot); cffi's own tests
//! against it (the conformance run); the sdist built by pip; and what the
//! wheel carries besides code.

use std::path::Path;

use xshell::{Shell, cmd};

use crate::chroot::{self, Chroot};
use crate::python::{self, Interpreter, PYTEST, Venv};
use crate::{Result, current_step, project_root, step, target_dir};
use crate::{dist, misuse};

const PYTEST_DIR: &str = "crates/ffi-py/tests/python";
const CONFORMANCE: &str = "crates/ffi-py/tests/conformance/run.py";
const CONFORMANCE_REPORT: &str = "docs/conformance.md";

/// pytest's JUnit XML report, written into each test venv: the summary's
/// counts come from it.
const JUNIT_XML: &str = "pytest-junit.xml";

/// Builds the wheel and the sdist, then runs every check on them: a failed
/// check is reported at once and the others still run (a CI run shows all
/// that is wrong); the task fails at the end if any did.
pub fn python_package(sh: &Shell) -> Result {
    step("finding CPython 3.10-3.13");
    let interpreters = python::interpreters(sh)?;
    let mut skipped: Vec<String> = python::MINORS
        .filter(|minor| !interpreters.iter().any(|i| i.version.1 == *minor))
        .map(|minor| format!("Python 3.{minor}: skipped, none in ~/.pyenv/versions"))
        .collect();
    let tools = python::tools(sh)?;
    let artifacts = dist::build(sh, &tools)?;
    let wheel = &artifacts.wheel;
    let mut failed = Vec::new();
    let mut check = |result: Result| {
        if let Err(e) = result {
            let step = current_step();
            eprintln!("\nxtask: step `{step}` failed: {e}\n(going on with the other checks)");
            failed.push(format!("{step}: {e}"));
        }
    };
    check(dist::abi3audit(sh, &tools, &artifacts.wheel));
    // One line per interpreter for the summary: what pytest counted.
    let mut results = Vec::new();
    let mut newest = None;
    for interpreter in &interpreters {
        let v = interpreter.version;
        let venv_dir = target_dir().join("py").join(format!("test-{v}"));
        let outcome = wheel_tests(sh, interpreter, &artifacts.wheel);
        results.push(format!("Python {v}: {}", pytest_counts(&venv_dir)));
        match outcome {
            Ok(venv) => newest = Some((interpreter, venv)),
            Err(e) => check(Err(e)),
        }
    }
    let not_run = |why: &str| format!("Python {}: not run, {why}", chroot_minors());
    match chroot::prepare(sh) {
        Ok(Ok(chroot)) => match chroot.mount(&project_root()) {
            Ok(mounts) => {
                for minor in chroot::MINORS {
                    match chroot.interpreter(sh, minor) {
                        Ok((python, v)) => {
                            let label = format!("Python {v} ({} chroot)", chroot::SUITE);
                            let outcome =
                                chroot_wheel_tests(sh, &chroot, &python, &label, minor, wheel);
                            let venv = chroot.inside(&chroot_venv(minor));
                            results.push(format!("{label}: {}", pytest_counts(&venv)));
                            check(outcome);
                        }
                        Err(e) => {
                            results.push(format!("Python 3.{minor}: not found in the chroot"));
                            check(Err(e));
                        }
                    }
                }
                drop(mounts);
            }
            Err(e) => {
                results.push(not_run("mounting into the chroot failed"));
                check(Err(e));
            }
        },
        Ok(Err(reason)) => skipped.push(format!(
            "Python {}: skipped, the {} chroot could not be built: {reason}",
            chroot_minors(),
            chroot::SUITE
        )),
        Err(e) => {
            results.push(not_run("the chroot step failed"));
            check(Err(e));
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
    for line in results.iter().chain(&skipped) {
        println!("  {line}");
    }
    if failed.is_empty() {
        println!("all passed");
        return Ok(());
    }
    Err(format!("{} failed:\n  {}", failed.len(), failed.join("\n  ")).into())
}

/// `3.14, 3.15`.
fn chroot_minors() -> String {
    let minors: Vec<String> = chroot::MINORS.iter().map(|m| format!("3.{m}")).collect();
    minors.join(", ")
}

/// `632 passed`, `631 passed, 1 failed`, `631 passed, 1 xfailed`: from the JUnit
/// XML pytest wrote in `venv_dir`, or why there is none.
fn pytest_counts(venv_dir: &Path) -> String {
    let Ok(xml) = std::fs::read_to_string(venv_dir.join(JUNIT_XML)) else {
        return "no pytest run (see the step that failed)".into();
    };
    let Some(suite) = xml.split("<testsuite ").nth(1) else {
        return format!("no <testsuite> in {JUNIT_XML}");
    };
    let suite = suite.split('>').next().unwrap_or("");
    let attr = |name: &str| -> u64 {
        suite
            .split(&format!(" {name}=\""))
            .nth(1)
            .or_else(|| suite.strip_prefix(&format!("{name}=\"")))
            .and_then(|rest| rest.split('"').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let (tests, failures, errors, skips) = (
        attr("tests"),
        attr("failures"),
        attr("errors"),
        attr("skipped"),
    );
    // pytest reports an xfail as skipped, with this type.
    let xfailed = xml.matches("type=\"pytest.xfail\"").count() as u64;
    let passed = tests.saturating_sub(failures + errors + skips);
    let mut parts = vec![format!("{passed} passed")];
    for (n, what) in [
        (failures, "failed"),
        (errors, "errors"),
        (skips.saturating_sub(xfailed), "skipped"),
        (xfailed, "xfailed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    parts.join(", ")
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
    let (python, xml) = (venv.python(), venv.dir.join(JUNIT_XML));
    cmd!(
        sh,
        "{python} -m pytest -p no:cacheprovider --junit-xml={xml} {PYTEST_DIR}"
    )
    .run()?;
    Ok(venv)
}

/// `/root/venvs/test-3.<minor>` in the chroot.
fn chroot_venv(minor: u32) -> String {
    format!("/root/venvs/test-3.{minor}")
}

/// The same as [`wheel_tests`], in the chroot: a fresh venv of its
/// `python` (CPython 3.<minor>) with the wheel and pytest, the import check,
/// then the suite, run from the checkout mounted inside.
fn chroot_wheel_tests(
    sh: &Shell,
    chroot: &Chroot,
    python: &str,
    label: &str,
    minor: u32,
    wheel: &Path,
) -> Result {
    step(&format!(
        "{label}: fresh venv, pip install the wheel and pytest"
    ));
    let venv = chroot_venv(minor);
    let venv_on_host = chroot.inside(&venv);
    chroot::remove_tree(&venv_on_host)?;
    cmd_in(sh, chroot, "/", &[python, "-m", "venv", &venv])?;
    // The wheel goes in beside the venvs (the target dir may be outside the
    // mounted checkout).
    let wheel_name = wheel
        .file_name()
        .ok_or("the wheel has no file name")?
        .to_string_lossy()
        .into_owned();
    let wheels = "/root/wheels";
    chroot::remove_tree(&chroot.inside(wheels))?;
    std::fs::create_dir_all(chroot.inside(wheels))?;
    std::fs::copy(wheel, chroot.inside(wheels).join(&wheel_name))?;
    let venv_python = format!("{venv}/bin/python");
    let wheel_inside = format!("{wheels}/{wheel_name}");
    cmd_in(
        sh,
        chroot,
        "/",
        &[
            &venv_python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &wheel_inside,
            PYTEST,
        ],
    )?;
    chroot
        .cmd(
            sh,
            &venv,
            &[venv_python.as_ref(), "-c".as_ref(), IMPORT_CHECK.as_ref()],
        )
        .quiet()
        .run()?;
    step(&format!("{label}: pytest {PYTEST_DIR}"));
    let xml = format!("{venv}/{JUNIT_XML}");
    cmd_in(
        sh,
        chroot,
        chroot.repo(),
        &[
            &venv_python,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            &format!("--junit-xml={xml}"),
            PYTEST_DIR,
        ],
    )?;
    Ok(())
}

fn cmd_in(sh: &Shell, chroot: &Chroot, cwd: &str, args: &[&str]) -> Result {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    chroot.cmd(sh, cwd, &args).run()?;
    Ok(())
}

const IMPORT_CHECK: &str = "import sys, ffi_py
assert ffi_py.__file__.startswith(sys.prefix), 'imported from ' + ffi_py.__file__
assert isinstance(ffi_py.__version__, str), repr(ffi_py.__version__)
print('import ffi_py:', ffi_py.__version__, 'from', ffi_py.__file__)";

/// `import ffi_py` finds the installed package (run from the venv's own
/// directory, so that no source tree can shadow it).
fn import_check(sh: &Shell, venv: &Venv) -> Result {
    let _dir = sh.push_dir(&venv.dir);
    let python = venv.python();
    cmd!(sh, "{python} -c {IMPORT_CHECK}").quiet().run()?;
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
