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

/// The Postgres backend against the same suite: a throwaway server, a fresh database per case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_backend_conforms() {
    let cluster = atalaya_postgres::testing::Cluster::start().expect("test Postgres");
    let failures = atalaya_knowledge::conformance::run_all(|| async {
        atalaya_knowledge::postgres::PgKnowledge::open(
            cluster.pool().await.unwrap(),
            atalaya_knowledge::parse::Parser::InProcess,
        )
        .await
        .unwrap()
    })
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
