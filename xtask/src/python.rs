//! Python interpreters and virtual environments: which CPythons the project
//! supports and finds on this machine, venvs under `<target>/py/`, and the
//! tool venv (maturin, zig, abi3audit) that builds and audits the wheel.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use xshell::{Shell, cmd};

use crate::{Result, step, target_dir};

/// The tool venv's packages, pinned: the wheel is built (maturin with zig
/// for the manylinux glibc floor) and audited (abi3audit) with exactly these.
pub const TOOLS: &[&str] = &["maturin==1.16.0", "ziglang==0.15.2", "abi3audit==0.0.26"];

/// pytest for the wheel's test suite, pinned like the tools.
pub const PYTEST: &str = "pytest==9.2.0";

/// The minor versions looked for under `~/.pyenv/versions`: CPython 3.10
/// (the abi3 floor) to 3.13. Later ones come from a Debian chroot
/// (`chroot.rs`).
pub const MINORS: std::ops::RangeInclusive<u32> = 10..=13;

/// The abi3 floor: the oldest CPython the wheel supports.
const FLOOR: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// `"3.12.1"`; anything else (`3.13.0t`, `3.14-dev`, `pypy3.10`) is None.
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Some(a)), Some(Some(b)), Some(Some(c)), None) => Some(Version(a, b, c)),
            _ => None,
        }
    }

    /// 3.10 or later (the wheel's floor; there is no later limit).
    fn supported(self) -> bool {
        self.0 == 3 && self.1 >= FLOOR
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// A CPython found on this machine.
#[derive(Debug, Clone)]
pub struct Interpreter {
    pub path: PathBuf,
    pub version: Version,
}

/// The supported CPythons on this machine, oldest first: the newest patch
/// release of each 3.10–3.13 under `~/.pyenv/versions` (`$PYENV_ROOT`), each
/// missing minor reported; with none there, `python3` on PATH if it is
/// 3.10 or newer.
pub fn interpreters(sh: &Shell) -> Result<Vec<Interpreter>> {
    let mut found = Vec::new();
    let pyenv = pyenv_interpreters();
    for minor in MINORS {
        match pyenv
            .iter()
            .filter(|i| i.version.1 == minor)
            .max_by_key(|i| i.version)
        {
            Some(interpreter) => found.push(interpreter.clone()),
            None => println!("Python 3.{minor}: none in ~/.pyenv/versions, skipped"),
        }
    }
    if found.is_empty() {
        match path_python3(sh) {
            Some(python) if python.version.supported() => {
                println!("using python3 on PATH: Python {}", python.version);
                found.push(python);
            }
            Some(python) => println!("python3 on PATH is {}, older than 3.10", python.version),
            None => println!("no python3 on PATH"),
        }
    }
    if found.is_empty() {
        return Err("no CPython 3.10-3.13: install one (pyenv install 3.12, or Debian's python3 and python3-venv)".into());
    }
    for interpreter in &found {
        println!(
            "found Python {} at {}",
            interpreter.version,
            interpreter.path.display()
        );
    }
    Ok(found)
}

/// The newest supported CPython: the one every single-interpreter venv uses.
pub fn newest(sh: &Shell) -> Result<Interpreter> {
    Ok(interpreters(sh)?
        .pop()
        .expect("interpreters() is never empty"))
}

/// `$PYENV_ROOT/versions/3.1[0-3].N/bin/python3` (plain CPython releases
/// only: no free-threaded `t` builds, which cannot load abi3 wheels).
fn pyenv_interpreters() -> Vec<Interpreter> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".pyenv")));
    let Some(Ok(entries)) = root.map(|root| std::fs::read_dir(root.join("versions"))) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = Version::parse(entry.file_name().to_str()?)?;
            let path = entry.path().join("bin/python3");
            (version.supported() && path.is_file()).then_some(Interpreter { path, version })
        })
        .collect()
}

fn path_python3(sh: &Shell) -> Option<Interpreter> {
    let version = cmd!(
        sh,
        "python3 -c 'import sys; print(\"%d.%d.%d\" % sys.version_info[:3])'"
    )
    .quiet()
    .ignore_stderr()
    .read()
    .ok()?;
    Some(Interpreter {
        path: "python3".into(),
        version: Version::parse(&version)?,
    })
}

/// A virtual environment under `<target>/py/`.
#[derive(Debug)]
pub struct Venv {
    pub dir: PathBuf,
}

impl Venv {
    /// A new, empty venv `name` (any old one of that name is removed first).
    pub fn fresh(sh: &Shell, base: &Interpreter, name: &str) -> Result<Venv> {
        let venv = Venv {
            dir: target_dir().join("py").join(name),
        };
        if venv.dir.exists() {
            std::fs::remove_dir_all(&venv.dir)?;
        }
        venv.create(sh, base)?;
        Ok(venv)
    }

    /// Venv `name` as a previous run left it, made with `base()` if it is
    /// missing or its interpreter no longer runs.
    pub fn reuse(
        sh: &Shell,
        name: &str,
        base: impl FnOnce() -> Result<Interpreter>,
    ) -> Result<Venv> {
        let venv = Venv {
            dir: target_dir().join("py").join(name),
        };
        let python = venv.python();
        let works = cmd!(sh, "{python} -c ''")
            .quiet()
            .ignore_stderr()
            .run()
            .is_ok();
        if !works {
            if venv.dir.exists() {
                std::fs::remove_dir_all(&venv.dir)?;
            }
            venv.create(sh, &base()?)?;
        }
        Ok(venv)
    }

    fn create(&self, sh: &Shell, base: &Interpreter) -> Result {
        let (python, dir) = (&base.path, &self.dir);
        println!("creating {} with Python {}", dir.display(), base.version);
        cmd!(sh, "{python} -m venv {dir}").run()?;
        Ok(())
    }

    pub fn python(&self) -> PathBuf {
        self.bin("python")
    }

    pub fn bin(&self, program: &str) -> PathBuf {
        self.dir.join("bin").join(program)
    }

    /// PATH with this venv's `bin/` first, for programs that look up
    /// `python3` (maturin finds zig as `python3 -m ziglang`).
    pub fn path_var(&self) -> Result<OsString> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(self.dir.join("bin")).chain(std::env::split_paths(&path));
        Ok(std::env::join_paths(dirs)?)
    }

    /// `pip install ARGS` (downloads come from, and go to, pip's own cache).
    pub fn pip_install<S: AsRef<std::ffi::OsStr>>(&self, sh: &Shell, args: &[S]) -> Result {
        let python = self.python();
        cmd!(
            sh,
            "{python} -m pip install --quiet --disable-pip-version-check {args...}"
        )
        .run()?;
        Ok(())
    }

    /// Installs the freshly built `wheel` over whatever ffi_py this venv
    /// had (same version, new build), leaving its dependencies alone.
    pub fn install_wheel(&self, sh: &Shell, wheel: &Path) -> Result {
        self.pip_install(
            sh,
            &[
                "--force-reinstall".as_ref(),
                "--no-deps".as_ref(),
                wheel.as_os_str(),
            ],
        )
    }

    /// Installs `requirements` unless this venv already has exactly this
    /// list (recorded in the venv after a successful install).
    pub fn require(&self, sh: &Shell, requirements: &[&str]) -> Result {
        let stamp = self.dir.join("xtask-requirements.txt");
        let wanted = requirements.join("\n");
        if std::fs::read_to_string(&stamp).is_ok_and(|had| had == wanted) {
            return Ok(());
        }
        println!("pip install {}", requirements.join(" "));
        self.pip_install(sh, requirements)?;
        std::fs::write(stamp, wanted)?;
        Ok(())
    }
}

/// The tool venv `<target>/py/tools` with [`TOOLS`], made on first use.
pub fn tools(sh: &Shell) -> Result<Venv> {
    step("Python tool venv (maturin, zig, abi3audit)");
    let venv = Venv::reuse(sh, "tools", || newest(sh))?;
    venv.require(sh, TOOLS)?;
    Ok(venv)
}
