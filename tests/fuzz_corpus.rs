//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same properties the
//! fuzz targets check, on the stable toolchain, so every input the fuzzer once found
//! interesting stays a regression test.

use std::path::PathBuf;

fn replay(target: &str, property: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display())) {
        let path = entry.expect("a corpus entry").path();
        let bytes = std::fs::read(&path).expect("a readable corpus file");
        property(&bytes);
        count += 1;
    }
    assert!(count >= 3, "the corpus of {target} has only {count} inputs");
}

#[test]
fn ws_session_corpus_holds() {
    replay("ws_session", socketlab::fuzzing::ws_session);
}

#[test]
fn packet_corpus_holds() {
    replay("packet", socketlab::fuzzing::packet);
}

#[test]
fn uppercase_corpus_holds() {
    replay("uppercase", socketlab::fuzzing::uppercase);
}
