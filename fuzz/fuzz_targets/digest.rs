#![no_main]
//! Fuzz target `digest`: see `centrale::fuzzing::digest`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| centrale::fuzzing::digest(data));
