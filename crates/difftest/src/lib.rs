//! What the differential tests against gcc (`ffi-raw`'s `abi_diff`,
//! `ffi-typed`'s `layout_diff`) have in common: their environment knobs, a
//! seeded generator, and running gcc. Test-only; not part of any layer.

use std::path::Path;
use std::process::Command;

use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// A numeric knob from the environment (decimal or `0x` hex), or `default`.
pub fn env_number(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.map_err(|e| format!("{name}={v:?}: {e}"))
        }
        Err(_) => Ok(default),
    }
}

/// A proptest runner generating the same values for the same seed, in any
/// process. One runner generates a whole run, so filter rejections add up
/// across it: only a filter that never passes should stop the run.
pub fn seeded_runner(seed: u64) -> TestRunner {
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let config = Config {
        max_local_rejects: u32::MAX,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, rng)
}

/// Compiles `src` into `out` with gcc and these flags; the error carries
/// gcc's first diagnostics.
pub fn gcc(flags: &[&str], src: &Path, out: &Path) -> Result<(), String> {
    let output = Command::new("gcc")
        .args(flags)
        .arg("-o")
        .arg(out)
        .arg(src)
        .output()
        .map_err(|e| format!("cannot run gcc (the differential tests need it): {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let excerpt: Vec<&str> = stderr.lines().take(30).collect();
        return Err(format!(
            "gcc failed on {}:\n{}",
            src.display(),
            excerpt.join("\n")
        ));
    }
    Ok(())
}
