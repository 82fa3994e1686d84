#![no_main]
//! Fuzz target `desk_message`: see `centrale::fuzzing::desk_message`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| centrale::fuzzing::desk_message(data));
