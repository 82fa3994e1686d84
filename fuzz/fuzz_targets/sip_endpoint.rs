#![no_main]
//! Fuzz target `sip_endpoint`: see `centrale::fuzzing::sip_endpoint`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| centrale::fuzzing::sip_endpoint(data));
