#![no_main]
//! Fuzz target `rtp`: see `centrale::fuzzing::rtp`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| centrale::fuzzing::rtp(data));
