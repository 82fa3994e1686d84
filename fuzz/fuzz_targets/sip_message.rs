#![no_main]
//! Fuzz target `sip_message`: see `centrale::fuzzing::sip_message`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| centrale::fuzzing::sip_message(data));
