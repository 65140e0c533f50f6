//! Value marshalling round trips over generated C types: never a panic, and
//! a written value reads back and writes back to the same bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ffi_typed::fuzzing::marshal_roundtrip(data);
});
