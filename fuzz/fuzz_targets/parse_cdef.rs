//! The cdef parser on arbitrary input: no panic, no hang, and whatever it
//! declares has a computable or cleanly refused layout.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ffi_typed::fuzzing::parse_cdef(data);
});
