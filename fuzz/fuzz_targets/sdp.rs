#![no_main]
//! Fuzz target `sdp`: see `centrale::fuzzing::sdp`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| centrale::fuzzing::sdp(data));
