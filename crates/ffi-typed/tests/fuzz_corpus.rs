//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! same entry points the cargo-fuzz targets use, plus a fixed-seed sample of
//! pseudo-random inputs, so every test run exercises them without a fuzzer.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            (path, data)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the corpus for {target} is empty");
    files
}

/// A small xorshift generator: deterministic inputs without a dependency.
fn pseudo_random_inputs(count: usize, max_len: usize) -> impl Iterator<Item = Vec<u8>> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count).map(move |_| {
        let len = (next() as usize) % max_len;
        (0..len).map(|_| next() as u8).collect()
    })
}

#[test]
fn marshal_roundtrip_corpus() {
    for (path, data) in corpus("marshal_roundtrip") {
        let outcome = std::panic::catch_unwind(|| ffi_typed::fuzzing::marshal_roundtrip(&data));
        assert!(outcome.is_ok(), "{} panicked", path.display());
    }
}

#[test]
fn marshal_roundtrip_pseudo_random() {
    let total = 20_000;
    let exercised = pseudo_random_inputs(total, 128)
        .filter(|data| ffi_typed::fuzzing::marshal_roundtrip(data))
        .count();
    // Random values are often out of range (rejected, by design), but a
    // generator that never yields a valid value would test nothing.
    assert!(
        exercised * 10 >= total,
        "only {exercised} of {total} inputs made a full round trip"
    );
}

#[test]
fn parse_cdef_corpus() {
    let mut parsed = 0;
    for (path, data) in corpus("parse_cdef") {
        match std::panic::catch_unwind(|| ffi_typed::fuzzing::parse_cdef(&data)) {
            Ok(ok) => parsed += usize::from(ok),
            Err(_) => panic!("{} panicked", path.display()),
        }
    }
    assert!(
        parsed > 0,
        "no corpus input parsed: the corpus tests only error paths"
    );
}

#[test]
fn parse_cdef_pseudo_random() {
    // Random bytes, and random soups of C tokens (which get further).
    const TOKENS: &[&str] = &[
        "int", "char", "unsigned", "long", "struct", "union", "enum", "typedef", "const", "*", "(",
        ")", "[", "]", "{", "}", ";", ",", ":", "=", "...", "x", "y", "3", "0x10", "-", "<<",
        "#define", "\n", "void",
    ];
    // cffi's `extern "Python"` and `typedef float... T;`.
    const CFFI_TOKENS: &[&str] = &["extern", "\"Python\"", "\"Python+C\"", "float"];
    let tokens: Vec<&str> = TOKENS.iter().chain(CFFI_TOKENS).copied().collect();
    for data in pseudo_random_inputs(5_000, 96) {
        ffi_typed::fuzzing::parse_cdef(&data);
        let soup: Vec<&str> = data
            .iter()
            .map(|b| tokens[*b as usize % tokens.len()])
            .collect();
        ffi_typed::fuzzing::parse_cdef(soup.join(" ").as_bytes());
    }
}
