//! Fuzz target: see `socketlab::fuzzing::ws_session` for the property it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| socketlab::fuzzing::ws_session(data));
