//! The file backend against the classifier store conformance suite.
#![allow(clippy::unwrap_used)]

use atalaya_classify::{store_conformance as conformance, FileClassifiers};

#[tokio::test]
async fn the_file_backend_conforms() {
    let dirs = std::sync::Mutex::new(Vec::new());
    let failures = conformance::run_all(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = FileClassifiers::new(dir.path());
        dirs.lock().unwrap().push(dir);
        async move { store }
    })
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
