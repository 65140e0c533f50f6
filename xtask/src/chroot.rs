//! CPython 3.14 and 3.15, which pyenv does not provide here, from Debian's
//! own packages: a minimal Debian forky system made by debootstrap under
//! `<target>/py/forky-chroot/root`, built once and reused while its stamp
//! (the debootstrap command that made it) matches. The wheel is tested in it
//! as on the host's CPythons: a fresh venv per interpreter with the wheel and
//! the pinned pytest, then the suite in `crates/ffi-py/tests/python`.
//!
//! While the tests run, /proc, /dev and /dev/shm are bind-mounted into the
//! chroot and the checkout read-only at `/repo` (the tests read repository
//! files: `test_guide.py` runs `docs/guide.md`). [`Mounts`] unmounts them
//! when dropped, also when a step fails. A run killed before that (Ctrl-C)
//! leaves them mounted; every run unmounts whatever it finds below the
//! chroot before using it, and nothing here deletes a directory that has
//! anything mounted below it.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use xshell::{Shell, cmd};

use crate::python::Version;
use crate::{Result, step, target_dir};

/// The Debian suite: forky has CPython 3.14 and 3.15 (3.14.8 and 3.15.0
/// when this was written).
pub const SUITE: &str = "forky";
const MIRROR: &str = "http://deb.debian.org/debian";

/// The minor versions tested in the chroot.
pub const MINORS: [u32; 2] = [14, 15];

/// What the chroot holds besides debootstrap's minimal base: both
/// interpreters with their venv module, gcc for the tests' helper library,
/// and the CA list into which the host's local CAs are added.
const PACKAGES: &[&str] = &[
    "python3.14",
    "python3.14-venv",
    "python3.15",
    "python3.15-venv",
    "gcc",
    "libc6-dev",
    "ca-certificates",
];

/// Where the checkout appears inside the chroot.
const REPO: &str = "/repo";

/// The certificates `update-ca-certificates` adds to the system's CA list
/// besides Debian's (a proxy's CA, say): pip in the chroot needs them as
/// pip on the host does.
const LOCAL_CAS: &str = "/usr/local/share/ca-certificates";

/// The whole environment of commands run in the chroot (none of the host's
/// variables: its pip configuration names host paths).
const ENV: &[&str] = &[
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
    // The checkout is mounted read-only: no __pycache__ to write there.
    "PYTHONDONTWRITEBYTECODE=1",
];

/// The chroot, built and up to date, with the host's local CAs installed.
#[derive(Debug)]
pub struct Chroot {
    /// `<target>/py/forky-chroot/root`, canonical (as mount tables show it).
    root: PathBuf,
    /// The `chroot` program (in /usr/sbin, which a user's PATH may lack).
    chroot: PathBuf,
}

/// `<target>/py/forky-chroot`: the chroot in `root/`, with `stamp` and
/// `debootstrap.log` beside it.
fn dir() -> PathBuf {
    target_dir().join("py").join(format!("{SUITE}-chroot"))
}

/// Where the chroot is now, for messages: relative to the project root.
pub fn shown_dir() -> String {
    let dir = dir();
    let root = crate::project_root();
    dir.strip_prefix(&root)
        .unwrap_or(&dir)
        .display()
        .to_string()
}

/// The chroot ready for tests: reused if its stamp matches, else built
/// (installing debootstrap with apt-get if it is missing).
///
/// `Ok(Err(reason))` when it cannot be built here (not root, no
/// debootstrap, no network): the caller skips the interpreters it would
/// provide and says why. `Err` is a failure: the chroot exists (or was
/// just built) but cannot be made ready.
pub fn prepare(sh: &Shell) -> Result<std::result::Result<Chroot, String>> {
    step(&format!(
        "{SUITE} chroot: CPython {} from Debian's packages ({})",
        minors_text(),
        shown_dir()
    ));
    if !is_root(sh) {
        return Ok(Err("needs root (debootstrap, chroot and mount)".into()));
    }
    let dir = dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let root = dir.join("root");
    // A killed earlier run may have left its mounts.
    unmount_below(&root)?;
    let stamp_path = dir.join("stamp");
    let wanted = stamp();
    let had = std::fs::read_to_string(&stamp_path).ok();
    let complete = root.join("usr/bin/python3.15").is_file();
    if had.as_deref() == Some(wanted.as_str()) && complete {
        println!("reusing {} (its stamp matches)", root.display());
    } else {
        match had {
            None => println!("no chroot yet: building it (about 2 minutes)"),
            Some(_) if !complete => println!("the chroot is incomplete: building it again"),
            Some(had) => println!(
                "the chroot was made by\n  {}\nnot\n  {}\nbuilding it again",
                had.trim(),
                wanted.trim()
            ),
        }
        // No stamp while the chroot is being replaced: an interrupted build
        // is never taken for a complete one. The new one has no local CAs.
        for record in [&stamp_path, &dir.join("local-cas")] {
            match std::fs::remove_file(record) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(format!("removing {}: {e}", record.display()).into());
                }
                _ => {}
            }
        }
        if let Err(reason) = build(sh, &dir, &root)? {
            return Ok(Err(reason));
        }
        std::fs::write(&stamp_path, &wanted)
            .map_err(|e| format!("writing {}: {e}", stamp_path.display()))?;
    }
    let chroot = Chroot {
        root,
        chroot: find_program("chroot").ok_or("no chroot program (coreutils)")?,
    };
    chroot.install_local_cas(sh, &dir)?;
    Ok(Ok(chroot))
}

fn minors_text() -> String {
    let names: Vec<String> = MINORS.iter().map(|m| format!("3.{m}")).collect();
    names.join(" and ")
}

/// The stamp: what made the chroot. A change to the suite, the mirror or
/// the package list makes the next run build it again.
fn stamp() -> String {
    format!(
        "debootstrap --variant=minbase --include={} {SUITE} <root> {MIRROR}\n",
        PACKAGES.join(",")
    )
}

fn is_root(sh: &Shell) -> bool {
    cmd!(sh, "id -u")
        .quiet()
        .read()
        .is_ok_and(|uid| uid.trim() == "0")
}

/// `program` on PATH or in the sbin directories (root's tools).
fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// debootstrap, installed with apt-get if it is missing.
fn debootstrap(sh: &Shell) -> std::result::Result<PathBuf, String> {
    if let Some(found) = find_program("debootstrap") {
        return Ok(found);
    }
    println!("installing debootstrap with apt-get");
    let installed = cmd!(sh, "apt-get update -qq")
        .run()
        .and_then(|()| cmd!(sh, "apt-get install -y -qq debootstrap").run());
    if let Err(e) = installed {
        return Err(format!(
            "no debootstrap, and apt-get could not install it: {e}"
        ));
    }
    find_program("debootstrap")
        .ok_or_else(|| "apt-get installed debootstrap, but it is not on PATH".to_string())
}

/// debootstrap into `root.new`, which then replaces `root`. Its output goes
/// to `debootstrap.log`. `Ok(Err(reason))` when debootstrap is missing or
/// fails (quoting the end of its log); `Err` for anything else.
fn build(sh: &Shell, dir: &Path, root: &Path) -> Result<std::result::Result<(), String>> {
    let debootstrap = match debootstrap(sh) {
        Ok(found) => found,
        Err(reason) => return Ok(Err(reason)),
    };
    let new = dir.join("root.new");
    remove_tree(&new)?;
    // Older debootstraps (bookworm's) have no script named forky; sid's is
    // the same (both are debian-common).
    let scripts = Path::new("/usr/share/debootstrap/scripts");
    let Some(script) = [SUITE, "sid"]
        .iter()
        .map(|name| scripts.join(name))
        .find(|p| p.exists())
    else {
        return Ok(Err(format!("debootstrap has no script for {SUITE} or sid")));
    };
    let log_path = dir.join("debootstrap.log");
    let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log_err = log.try_clone()?;
    println!(
        "debootstrap --variant=minbase --include={} {SUITE} {} {MIRROR} (output in {})",
        PACKAGES.join(","),
        new.display(),
        log_path.display()
    );
    let status = Command::new(&debootstrap)
        .arg("--variant=minbase")
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg(SUITE)
        .arg(&new)
        .arg(MIRROR)
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .status()
        .map_err(|e| format!("running {}: {e}", debootstrap.display()))?;
    // debootstrap mounts /proc and /sys in the new system while it works,
    // and may leave them after a failure.
    unmount_below(&new)?;
    if !status.success() {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(8)..].join("\n    ");
        return Ok(Err(format!(
            "debootstrap failed ({status}); the end of {}:\n    {tail}",
            log_path.display()
        )));
    }
    remove_tree(root)?;
    std::fs::rename(&new, root)
        .map_err(|e| format!("renaming {} to {}: {e}", new.display(), root.display()))?;
    Ok(Ok(()))
}

impl Chroot {
    /// Copies the host's local CAs into the chroot (the same folder) and
    /// runs `update-ca-certificates` there, unless the chroot already has
    /// exactly these installed (recorded in `local-cas` beside it after a
    /// successful update): a proxy's CA can change between runs.
    fn install_local_cas(&self, sh: &Shell, dir: &Path) -> Result {
        let host = Path::new(LOCAL_CAS);
        let inside = self.inside(LOCAL_CAS);
        let wanted = crt_files(host)?;
        let record: Vec<u8> = wanted
            .iter()
            .flat_map(|(path, contents)| {
                let name = format!("{}\n", path.display());
                [name.into_bytes(), contents.clone()].concat()
            })
            .collect();
        let record_path = dir.join("local-cas");
        if std::fs::read(&record_path).is_ok_and(|had| had == record) {
            println!(
                "local CAs: the chroot has the host's {} installed",
                wanted.len()
            );
            return Ok(());
        }
        // No record while the chroot's list is being changed.
        if record_path.exists() {
            std::fs::remove_file(&record_path)?;
        }
        if inside.exists() {
            std::fs::remove_dir_all(&inside)?;
        }
        std::fs::create_dir_all(&inside)?;
        for (relative, contents) in &wanted {
            let to = inside.join(relative);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(to, contents)?;
        }
        println!(
            "local CAs: {} from {LOCAL_CAS} copied in; update-ca-certificates",
            wanted.len()
        );
        let (chroot, root) = (&self.chroot, &self.root);
        cmd!(
            sh,
            "{chroot} {root} /usr/bin/env -i {ENV...} update-ca-certificates --fresh"
        )
        .ignore_stdout()
        .run()?;
        std::fs::write(&record_path, record)?;
        Ok(())
    }

    /// A path inside the chroot, as the host sees it.
    pub fn inside(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// Mounts what the tests need: /proc, /dev, /dev/shm, and the checkout
    /// read-only at [`REPO`]. Unmounted when the guard is dropped.
    pub fn mount(&self, project_root: &Path) -> Result<Mounts> {
        let mut mounts = Mounts { points: Vec::new() };
        for (from, to) in [
            ("/proc", "/proc"),
            ("/dev", "/dev"),
            ("/dev/shm", "/dev/shm"),
        ] {
            mounts.bind(Path::new(from), &self.inside(to), false)?;
        }
        mounts.bind(project_root, &self.inside(REPO), true)?;
        Ok(mounts)
    }

    /// The interpreter `/usr/bin/python3.<minor>` and its version.
    pub fn interpreter(&self, sh: &Shell, minor: u32) -> Result<(String, Version)> {
        let python = format!("/usr/bin/python3.{minor}");
        let text = self
            .cmd(
                sh,
                "/",
                &[
                    python.as_ref(),
                    "-c".as_ref(),
                    "import sys; print('%d.%d.%d' % sys.version_info[:3])".as_ref(),
                ],
            )
            .quiet()
            .read()?;
        let version = Version::parse(&text)
            .ok_or_else(|| format!("{python} says its version is {text:?}"))?;
        Ok((python, version))
    }

    /// `program args...` run in the chroot, in `cwd` (a path inside it),
    /// with [`ENV`] as its whole environment.
    pub fn cmd<'a>(&self, sh: &'a Shell, cwd: &str, args: &[&OsStr]) -> xshell::Cmd<'a> {
        let (chroot, root) = (&self.chroot, &self.root);
        cmd!(
            sh,
            "{chroot} {root} /usr/bin/env -i --chdir={cwd} {ENV...} {args...}"
        )
    }

    /// Where the checkout is inside the chroot.
    pub fn repo(&self) -> &'static str {
        REPO
    }
}

/// The `*.crt` files below `dir` (as update-ca-certificates finds them),
/// by relative path, with their contents; none if `dir` does not exist.
fn crt_files(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(base, &path, out)?;
            } else if path.extension() == Some(OsStr::new("crt")) {
                let relative = path.strip_prefix(base).unwrap_or(&path).to_path_buf();
                out.push((relative, std::fs::read(&path)?));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    if dir.is_dir() {
        walk(dir, dir, &mut files).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    }
    files.sort();
    Ok(files)
}

/// Bind mounts made for one session in the chroot, unmounted (last first)
/// when dropped.
#[derive(Debug)]
pub struct Mounts {
    points: Vec<PathBuf>,
}

impl Mounts {
    fn bind(&mut self, from: &Path, to: &Path, read_only: bool) -> Result {
        std::fs::create_dir_all(to).map_err(|e| format!("creating {}: {e}", to.display()))?;
        let mut mount = Command::new("mount");
        mount.arg("--bind");
        if read_only {
            mount.args(["-o", "ro"]);
        }
        let status = mount
            .arg(from)
            .arg(to)
            .status()
            .map_err(|e| format!("running mount: {e}"))?;
        if !status.success() {
            return Err(format!(
                "mount --bind {} {} failed ({status})",
                from.display(),
                to.display()
            )
            .into());
        }
        self.points.push(to.to_path_buf());
        Ok(())
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        for point in self.points.drain(..).rev() {
            if let Err(e) = unmount(&point) {
                eprintln!("xtask: {e}");
            }
        }
    }
}

/// `umount`, then a lazy one (detached now, gone when no longer busy).
fn unmount(point: &Path) -> Result {
    let quiet_umount = |lazy: bool| {
        let mut umount = Command::new("umount");
        if lazy {
            umount.arg("--lazy");
        }
        umount
            .arg(point)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if quiet_umount(false) || quiet_umount(true) {
        Ok(())
    } else {
        Err(format!("could not unmount {}", point.display()).into())
    }
}

/// The mount points at or below `dir` (canonical), deepest first, from
/// `/proc/self/mountinfo`.
fn mounts_below(dir: &Path) -> Result<Vec<PathBuf>> {
    let table = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
    let mut points: Vec<PathBuf> = table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_mount_field(field)))
        .filter(|point| point.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    Ok(points)
}

/// Mount tables write space, tab, newline and backslash as `\040`-style
/// octal escapes.
fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            d.iter()
                .all(|b| (b'0'..=b'7').contains(b))
                .then(|| d.iter().fold(0u32, |n, b| n * 8 + u32::from(b - b'0')))
        });
        match (bytes[i], octal) {
            (b'\\', Some(n)) if n <= 0xff => {
                out.push(n as u8);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts everything at or below `dir` (left by a killed run), and
/// fails if anything is still mounted there.
fn unmount_below(dir: &Path) -> Result {
    for point in mounts_below(dir)? {
        println!("unmounting {} (left by an earlier run)", point.display());
        unmount(&point)?;
    }
    match mounts_below(dir)?.as_slice() {
        [] => Ok(()),
        left => Err(format!("still mounted below {}: {left:?}", dir.display()).into()),
    }
}

/// Removes `dir` if it exists, after making sure nothing is mounted below
/// it (so that a bind-mounted /dev or checkout is never deleted through it).
pub fn remove_tree(dir: &Path) -> Result {
    if !dir.exists() {
        return Ok(());
    }
    unmount_below(dir)?;
    std::fs::remove_dir_all(dir).map_err(|e| format!("removing {}: {e}", dir.display()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_fields_are_unescaped() {
        assert_eq!(unescape_mount_field(r"/a\040b/c\134d"), r"/a b/c\d");
        assert_eq!(unescape_mount_field(r"/plain\x"), r"/plain\x");
        assert_eq!(unescape_mount_field(r"/end\04"), r"/end\04");
    }
}
