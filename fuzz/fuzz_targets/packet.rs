//! Fuzz target: see `socketlab::fuzzing::packet` for the property it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| socketlab::fuzzing::packet(data));
