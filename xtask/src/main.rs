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
        "criterion benchmarks of the call path (results go to docs/benchmarks.md by hand)",
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("bench") => bench(&args[1..]),
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
    step("criterion: call overhead");
    cmd!(
        sh,
        "cargo bench -p benches --bench call_overhead -- {extra...}"
    )
    .run()?;
    Ok(())
}
