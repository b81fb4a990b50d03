//! Replays every committed corpus input (`fuzz/corpus/<target>/`, seeds and what the
//! coverage-guided runs kept, crashes fixed included) through its target on stable Rust.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

#[test]
fn every_corpus_input_passes_its_target() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut total = 0;
    for (name, target) in atalaya_fuzz::TARGETS {
        let dir = root.join(name);
        let entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .collect();
        assert!(!entries.is_empty(), "no corpus for {name}");
        for e in entries {
            let data = std::fs::read(e.path()).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} fails", e.path().display());
            total += 1;
        }
    }
    assert!(total > 0);
}
