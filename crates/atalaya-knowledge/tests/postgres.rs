//! What only the shared backend promises: workers in different processes (here, separate
//! pools with their own worker names) share the task queue; a worker that dies mid-task
//! leaves its lease to expire and another finishes the task, each item recorded once; a
//! document committed through one is found through another at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use atalaya_knowledge::{
    conformance::{doc, Bow},
    parse::Parser,
    postgres::PgKnowledge,
    records::{KnowledgeRecords, NewCollection, TaskQueue},
    service::{Embedder, Mode, SearchParams},
    store::ItemStatus,
    tasks::TaskStatus,
};

async fn replica(url: &str, lease: Duration) -> PgKnowledge {
    let pool = atalaya_postgres::testing::pool(url).await.unwrap();
    PgKnowledge::open(pool, Parser::InProcess)
        .await
        .unwrap()
        .with_lease(lease)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_task_is_resumed_by_another_and_nothing_is_lost() {
    let cluster = atalaya_postgres::testing::Cluster::start().expect("test Postgres");
    let url = cluster.database().await.unwrap();
    let lease = Duration::from_millis(600);
    let a = replica(&url, lease).await;
    let b = replica(&url, lease).await;
    let bow: Arc<dyn Embedder> = Arc::new(Bow);

    let c = a
        .create_collection(
            "t1",
            NewCollection {
                name: "help".into(),
                ..Default::default()
            },
            bow.clone(),
        )
        .await
        .unwrap()
        .collection;
    // 150 documents: more than one worker step (64 items) takes.
    let items = (0..150)
        .map(|i| {
            doc(
                &format!("doc{i}.md"),
                &format!("# Article {i}\n\nParcel number {i} travels by courier."),
                "en",
                &[],
            )
        })
        .collect();
    let task = a.enqueue_ingest(&c, items).await.unwrap();

    // A takes the task and works one step, then "dies": it never works again.
    assert!(a.work_once(bow.clone()).await.unwrap());
    let after_a = b.task("t1", task.id).await.unwrap();
    assert!(after_a.done > 0 && after_a.done < 150, "{after_a:?}");
    // While A's lease holds, B finds nothing it may take.
    assert!(!b.work_once(bow.clone()).await.unwrap());
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    for _ in 0..20 {
        if !b.work_once(bow.clone()).await.unwrap() {
            break;
        }
    }
    let t = b.task("t1", task.id).await.unwrap();
    assert_eq!(t.status, TaskStatus::Succeeded, "{t:?}");
    assert_eq!((t.total, t.done, t.failed), (150, 150, 0), "{t:?}");
    assert!(t.items.iter().all(|i| i.status == ItemStatus::Indexed));
    let docs = a.documents(&c).await.unwrap();
    assert_eq!(docs.len(), 150);
    assert!(
        docs.iter().all(|d| d.version == 1),
        "each document stored once"
    );
    let stats = a.collection_stats("t1", "help").await.unwrap();
    assert_eq!(stats.chunks, 150);

    // Found through either replica, in every mode.
    for mode in [Mode::Dense, Mode::Bm25, Mode::Hybrid] {
        let hits = a
            .search(
                &c,
                "parcel number 137".into(),
                SearchParams {
                    k: 3,
                    mode,
                    ..Default::default()
                },
                Some(bow.clone()),
            )
            .await
            .unwrap();
        // Dense search is approximate (HNSW): the article is among the first three.
        assert!(
            hits.iter().any(|h| h.chunk.source == "doc137.md"),
            "{mode:?}: {hits:?}"
        );
        if mode != Mode::Dense {
            assert_eq!(hits[0].chunk.source, "doc137.md", "{mode:?}: {hits:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_at_once_record_each_item_once_and_keep_deletes_after_uploads() {
    let cluster = atalaya_postgres::testing::Cluster::start().expect("test Postgres");
    let url = cluster.database().await.unwrap();
    let lease = Duration::from_secs(30);
    let a = replica(&url, lease).await;
    let b = replica(&url, lease).await;
    let bow: Arc<dyn Embedder> = Arc::new(Bow);
    let mut tasks = Vec::new();
    for name in ["one", "two", "three"] {
        let c = a
            .create_collection(
                "t1",
                NewCollection {
                    name: name.into(),
                    ..Default::default()
                },
                bow.clone(),
            )
            .await
            .unwrap()
            .collection;
        let items = (0..80)
            .map(|i| {
                doc(
                    &format!("d{i}.md"),
                    &format!("# Doc {i}\n\nText about item {i} of {name}."),
                    "en",
                    &[],
                )
            })
            .collect();
        let up = a.enqueue_ingest(&c, items).await.unwrap();
        // Enqueued after the upload: it must wait for it, whichever worker takes it.
        let del = a.enqueue_delete(&c, vec!["d3.md".into()]).await.unwrap();
        tasks.push((c, up, del));
    }
    let work = |s: PgKnowledge, e: Arc<dyn Embedder>| async move {
        for _ in 0..200 {
            if !s.work_once(e.clone()).await.unwrap() {
                break;
            }
        }
    };
    tokio::join!(work(a.clone(), bow.clone()), work(b.clone(), bow.clone()));
    for (c, up, del) in tasks {
        let up = a.task("t1", up.id).await.unwrap();
        assert_eq!(
            (up.status, up.done, up.failed),
            (TaskStatus::Succeeded, 80, 0),
            "{up:?}"
        );
        let del = a.task("t1", del.id).await.unwrap();
        assert_eq!(
            (del.status, del.done, del.failed),
            (TaskStatus::Succeeded, 1, 0),
            "{del:?}"
        );
        let docs = a.documents(&c).await.unwrap();
        assert_eq!(
            docs.len(),
            79,
            "{}: the delete ran after the upload",
            c.name
        );
        assert!(docs.iter().all(|d| d.version == 1 && d.source != "d3.md"));
    }
}
