//! Fuzz target: see `socketlab::fuzzing::uppercase` for the property it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| socketlab::fuzzing::uppercase(data));
