//! Change notifications: a NOTIFY on the channel reaches the listener at once, and one
//! after the listener's connection was cut still does once it has reconnected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code

use std::{sync::Arc, time::Duration};

use atalaya_postgres::{connect, listen, testing::Cluster, Settings};

fn settings(url: String) -> Settings {
    Settings {
        url,
        ..Settings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_wake_the_listener_and_survive_a_lost_connection() {
    let cluster = Cluster::start().expect("test Postgres (run scripts/postgres.sh)");
    let url = cluster.database().await.unwrap();
    let s = settings(url);
    let pool = connect(&s).await.unwrap();
    let signal = Arc::new(tokio::sync::Notify::new());
    listen(&s, "test_changes", signal.clone()).unwrap();
    // The first permit: the listener is connected (and looks for what it may have missed).
    tokio::time::timeout(Duration::from_secs(5), signal.notified())
        .await
        .expect("the listener never connected");
    let c = pool.get().await.unwrap();
    c.batch_execute("NOTIFY test_changes").await.unwrap();
    tokio::time::timeout(Duration::from_secs(1), signal.notified())
        .await
        .expect("a NOTIFY did not wake the listener within a second");
    // Its connection is cut: it reconnects by itself and hears the next one.
    c.batch_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN test_changes'",
    )
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(10), signal.notified())
        .await
        .expect("the listener did not reconnect");
    c.batch_execute("NOTIFY test_changes").await.unwrap();
    tokio::time::timeout(Duration::from_secs(1), signal.notified())
        .await
        .expect("no notification after reconnecting");
}
