//! The SQLite store against the platform store conformance suite.

#[tokio::test]
async fn sqlite_store_conforms() {
    let dirs = std::sync::Mutex::new(Vec::new());
    let failures = atalaya_store::conformance::run_all(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = atalaya_store::SqliteStore::open_dir(dir.path()).unwrap();
        dirs.lock().unwrap().push(dir);
        async move { store }
    })
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The Postgres store against the same suite: a throwaway server, one fresh database per case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    let cluster = atalaya_postgres::testing::Cluster::start().expect("test Postgres");
    let failures = atalaya_store::conformance::run_all(|| async {
        atalaya_store::PostgresStore::open(cluster.pool().await.unwrap())
            .await
            .unwrap()
    })
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
