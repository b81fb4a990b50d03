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

/// The Postgres backend against the same suite: a throwaway server, a fresh database per case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_backend_conforms() {
    let cluster = atalaya_postgres::testing::Cluster::start().expect("test Postgres");
    let failures = conformance::run_all(|| async {
        atalaya_classify::PgClassifiers::open(cluster.pool().await.unwrap())
            .await
            .unwrap()
    })
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
