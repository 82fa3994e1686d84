#![no_main]
//! Fuzz target `dialplan`: see `centrale::fuzzing::dialplan`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| centrale::fuzzing::dialplan(data));
