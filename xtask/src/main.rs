//! `cargo xtask <task>`: the project's automation, in Rust so that a fresh
//! machine needs nothing but cargo. Run with no task to list the tasks.

use std::process::ExitCode;

use xshell::{Shell, cmd};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const TASKS: &[(&str, &str)] = &[
    (
        "test",
        "everything CI checks: fmt, clippy -D warnings, every cargo test (incl. the gcc differential ABI test)",
    ),
    (
        "bench [-- criterion args]",
        "criterion benches and the cffi side-by-side script (record results in docs/benchmarks.md)",
    ),
    (
        "fuzz [--secs N]",
        "run every cargo-fuzz target for N seconds each (default 60), growing fuzz/corpus",
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
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
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
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

fn project_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

fn step(name: &str) {
    println!("\n==> {name}");
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

fn test() -> Result {
    let sh = shell()?;
    ensure_c_toolchain(&sh)?;
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
    Ok(())
}

fn bench(extra: &[String]) -> Result {
    let sh = shell()?;
    ensure_c_toolchain(&sh)?;
    step("criterion: every bench in benches/ (call overhead, cdef parsing)");
    cmd!(sh, "cargo bench -p benches -- {extra...}").run()?;
    step("side by side with cffi: cdef parsing");
    let python = python_venv(&sh, &["cffi"])?;
    cmd!(sh, "{python} benches/python/cdef_speed.py").run()?;
    Ok(())
}

/// The project's `.venv` (made on first use with the system `python3`),
/// with `packages` installed; returns its interpreter.
fn python_venv(sh: &Shell, packages: &[&str]) -> Result<String> {
    let python = project_root()
        .join(".venv/bin/python")
        .display()
        .to_string();
    if !std::path::Path::new(&python).exists() {
        step("creating .venv");
        cmd!(sh, "python3 -m venv .venv").run()?;
    }
    cmd!(
        sh,
        "{python} -m pip install --quiet --disable-pip-version-check {packages...}"
    )
    .run()?;
    Ok(python)
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
