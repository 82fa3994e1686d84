#![no_main]
//! Fuzz target `sip_stream`: see `centrale::fuzzing::sip_stream`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| centrale::fuzzing::sip_stream(data));
