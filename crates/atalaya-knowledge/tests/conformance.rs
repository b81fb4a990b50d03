//! The embedded backend (SQLite and in-process indexes) against the knowledge conformance
//! suite.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use atalaya_knowledge::{local::LocalKnowledge, service::KnowledgeBase};

#[tokio::test]
async fn the_embedded_backend_conforms() {
    let dirs = std::sync::Mutex::new(Vec::new());
    let failures = atalaya_knowledge::conformance::run_all(|| {
        let dir = tempfile::tempdir().unwrap();
        let kb = KnowledgeBase::open(dir.path()).unwrap();
        dirs.lock().unwrap().push(dir);
        async move { LocalKnowledge::new(Arc::new(kb)) }
    })
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
