//! `cargo xtask dist`: the abi3 wheel and the sdist of `crates/ffi-py` in
//! `<target>/dist`, built with the tool venv's maturin and zig, and audited.

use std::path::{Path, PathBuf};

use xshell::{Shell, cmd};

use crate::python::{self, Venv};
use crate::{Result, ensure_c_toolchain, project_root, shell, step, target_dir};

const MANIFEST: &str = "crates/ffi-py/Cargo.toml";

/// The glibc floor: zig links against glibc 2.28's symbol versions, and
/// maturin's auditwheel check proves the result stays inside that policy.
const MANYLINUX: &str = "manylinux_2_28";

/// What `dist` builds.
#[derive(Debug)]
pub struct Artifacts {
    pub wheel: PathBuf,
    pub sdist: PathBuf,
}

/// `<target>/dist`.
pub fn out_dir() -> PathBuf {
    target_dir().join("dist")
}

/// The task: build both, audit the wheel, say what was built.
pub fn dist() -> Result {
    let sh = shell()?;
    ensure_c_toolchain(&sh)?;
    let tools = python::tools(&sh)?;
    let artifacts = build(&sh, &tools)?;
    abi3audit(&sh, &tools, &artifacts.wheel)?;
    describe(&artifacts)
}

/// The wheel and the sdist, replacing any older ones in [`out_dir`].
pub fn build(sh: &Shell, tools: &Venv) -> Result<Artifacts> {
    Ok(Artifacts {
        wheel: build_wheel(sh, tools)?,
        sdist: build_sdist(sh, tools)?,
    })
}

/// The abi3 wheel: a build in the `dist` profile (pyproject.toml) with zig as the C compiler and linker
/// for glibc 2.28 (libffi's C included), checked by maturin's auditwheel.
pub fn build_wheel(sh: &Shell, tools: &Venv) -> Result<PathBuf> {
    step(&format!(
        "wheel: maturin build --zig --compatibility {MANYLINUX} (auditwheel check)"
    ));
    let out = out_dir();
    remove_built(&out, ".whl")?;
    let (maturin, python) = (tools.bin("maturin"), tools.python());
    cmd!(
        sh,
        "{maturin} build --zig --compatibility {MANYLINUX} --auditwheel check
            --manifest-path {MANIFEST} --interpreter {python} --out {out}"
    )
    // maturin runs zig as `python3 -m ziglang`: the tool venv's python3.
    .env("PATH", tools.path_var()?)
    // libffi's configure asks whether the compiler supports
    // visibility("hidden") by compiling with `-Werror -S`; zig cc adds a
    // `-c` that is then unused, the warning becomes an error and the probe
    // says no, so libffi's internal symbols would lose their hidden
    // visibility. Zig (clang) supports the attribute: give configure the
    // answer through its cache variable, as gcc's build finds it.
    .env("libffi_cv_hidden_visibility_attribute", "yes")
    .run()?;
    the_built(&out, ".whl")
}

/// The sdist: the crate with its workspace path dependencies, ready for
/// `pip install` on a machine with Rust and a C toolchain.
pub fn build_sdist(sh: &Shell, tools: &Venv) -> Result<PathBuf> {
    step("sdist: maturin sdist");
    let out = out_dir();
    remove_built(&out, ".tar.gz")?;
    let maturin = tools.bin("maturin");
    cmd!(sh, "{maturin} sdist --manifest-path {MANIFEST} --out {out}").run()?;
    the_built(&out, ".tar.gz")
}

/// abi3audit: the extension uses only the stable ABI of its abi3 tag.
pub fn abi3audit(sh: &Shell, tools: &Venv, wheel: &Path) -> Result {
    step("abi3audit: stable-ABI symbols only");
    let abi3audit = tools.bin("abi3audit");
    cmd!(sh, "{abi3audit} --strict --summary {wheel}").run()?;
    Ok(())
}

fn built_files(out: &Path, suffix: &str) -> Result<Vec<PathBuf>> {
    if !out.exists() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(out)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("ffi_py-") && name.ends_with(suffix) {
            files.push(path);
        }
    }
    Ok(files)
}

fn remove_built(out: &Path, suffix: &str) -> Result {
    for file in built_files(out, suffix)? {
        std::fs::remove_file(file)?;
    }
    Ok(())
}

fn the_built(out: &Path, suffix: &str) -> Result<PathBuf> {
    match built_files(out, suffix)?.as_slice() {
        [one] => Ok(one.clone()),
        many => Err(format!(
            "expected one ffi_py-*{suffix} in {}, found {many:?}",
            out.display()
        )
        .into()),
    }
}

/// `cp310-abi3-manylinux_2_28_x86_64` from a wheel's file name.
pub fn wheel_tag(wheel: &Path) -> String {
    let stem = wheel.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    stem.splitn(3, '-').nth(2).unwrap_or("?").to_string()
}

fn describe(artifacts: &Artifacts) -> Result {
    let shown = |path: &Path| -> String {
        let relative = path.strip_prefix(project_root()).unwrap_or(path);
        relative.display().to_string()
    };
    let size = |path: &Path| -> Result<String> {
        Ok(format!(
            "{:.0} KiB",
            std::fs::metadata(path)?.len() as f64 / 1024.0
        ))
    };
    let (wheel, sdist) = (&artifacts.wheel, &artifacts.sdist);
    println!("\nbuilt:");
    println!(
        "  {}  {}  tags {} (CPython >= 3.10, one wheel for all; glibc >= 2.28, x86-64)",
        shown(wheel),
        size(wheel)?,
        wheel_tag(wheel),
    );
    println!(
        "  {}  {}  sdist (pip builds it with Rust >= 1.88, make and a C compiler)",
        shown(sdist),
        size(sdist)?,
    );
    println!("\ninstall:\n  pip install {}", wheel.display());
    Ok(())
}
