//! Migrations against a throwaway server: applied once under concurrency, reported by
//! `status`, and a newer schema refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code

use atalaya_postgres::{connect, migrate, status, testing::Cluster, Migration, Schema, Settings};

const V1: Migration = Migration {
    version: 1,
    name: "widgets",
    sql: "CREATE TABLE widgets (id BIGINT PRIMARY KEY);",
};
const V2: Migration = Migration {
    version: 2,
    name: "widget names",
    // Not idempotent: a second application would fail, so a race would show.
    sql: "ALTER TABLE widgets ADD COLUMN name TEXT NOT NULL DEFAULT '';",
};
static ONE: Schema = Schema {
    component: "widgets",
    migrations: &[V1],
};
static BOTH: Schema = Schema {
    component: "widgets",
    migrations: &[V1, V2],
};

fn settings(url: String) -> Settings {
    Settings {
        url,
        pool_size: 4,
        ..Settings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_under_concurrency_and_refuse_newer_schemas() {
    let cluster = Cluster::start().expect("test Postgres");
    let url = cluster.database().await.unwrap();

    let before = status(&connect(&settings(url.clone())).await.unwrap(), &[&BOTH])
        .await
        .unwrap();
    assert_eq!(before[0].applied, 0);
    assert_eq!(before[0].pending.len(), 2);

    // Six "replicas" start at once, each with its own pool.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let pool = connect(&settings(url)).await.unwrap();
            migrate(&pool, &[&BOTH]).await
        }));
    }
    let mut applied_by = 0;
    for t in tasks {
        let applied = t.await.unwrap().expect("every replica starts");
        if !applied.is_empty() {
            applied_by += 1;
        }
    }
    assert_eq!(applied_by, 1, "exactly one replica applies the migrations");

    let pool = connect(&settings(url.clone())).await.unwrap();
    let after = status(&pool, &[&BOTH]).await.unwrap();
    assert_eq!((after[0].applied, after[0].known), (2, 2));
    assert!(after[0].pending.is_empty());
    let rows: i64 = pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM atalaya_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 2);

    // An older build against this database: refused with a message naming the component.
    let err = migrate(&pool, &[&ONE]).await.unwrap_err().to_string();
    assert!(err.contains("widgets") && err.contains("newer"), "{err}");
}

#[tokio::test]
async fn bad_urls_and_unreachable_servers_are_clear_errors() {
    let err = connect(&settings("not a url at all".into()))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not a valid Postgres URL"),
        "{err}"
    );

    // A closed loopback port: refused quickly, and the message never repeats the password.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = connect(&settings(format!(
        "postgres://u:hunter2@127.0.0.1:{port}/db"
    )))
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("cannot reach Postgres"), "{err}");
    assert_eq!(err.matches("cannot reach").count(), 1, "said once: {err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn sslmode_require_verifies_the_servers_certificate() {
    let cluster = Cluster::start_tls().expect("test Postgres with TLS");
    let url = format!("{}?sslmode=require", cluster.url("postgres"));
    // The CA that signed it: a TLS connection that answers, and the server says it is TLS.
    let pool = connect(&Settings {
        tls_ca_file: Some(cluster.ca_file()),
        ..settings(url.clone())
    })
    .await
    .expect("TLS with the right CA");
    let ssl: bool = pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl, "the session is not encrypted");
    // Without it (the public roots), the self-made certificate is refused.
    let err = connect(&settings(url)).await.unwrap_err().to_string();
    assert!(err.contains("cannot reach Postgres"), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // A server without TLS is refused when TLS is required.
    let plain = Cluster::start().expect("test Postgres");
    let err = connect(&Settings {
        tls_ca_file: Some(cluster.ca_file()),
        ..settings(format!("{}?sslmode=require", plain.url("postgres")))
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("cannot reach Postgres"), "{err}");
}
