//! The conformance suite of [`KnowledgeRecords`] and [`TaskQueue`], generic over the
//! backend: the embedded backend passes it (`tests/conformance.rs`), and every other backend
//! must. Each case gets a fresh, empty backend from `make`; a failed check is an `Err`
//! naming the case and what differed. Documents are embedded by [`Bow`], a deterministic
//! bag-of-words embedder, so the suite needs no model.

use atalaya_conformance::{check, ok, run_cases, Outcome};
use std::{future::Future, sync::Arc};

use crate::{
    chunk::ChunkConfig,
    doc::{DocumentMeta, Format},
    index::{Filter, Lang},
    records::{KnowledgeRecords, NewCollection, TaskQueue},
    service::{Embedder, Mode, SearchParams},
    store::{Collection, ItemStatus},
    tasks::{NewItem, Task, TaskStatus},
    Error,
};

/// Runs every case; returns the failures (empty: the backend conforms).
pub async fn run_all<S, F, Fut>(make: F) -> Vec<String>
where
    S: KnowledgeRecords + TaskQueue,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    run_cases!(make().await =>
        collections_are_created_listed_and_kept_to_their_tenant,
        an_ingest_task_is_worked_into_documents_that_search_finds,
        each_item_outcome_is_recorded_once_and_failures_do_not_stop_the_rest,
        the_same_content_again_changes_nothing,
        a_delete_task_takes_a_document_out_of_search,
        search_filters_by_tag_and_prefers_the_language_asked,
        tasks_are_listed_newest_first_and_kept_to_their_tenant,
        deleting_a_tenant_removes_only_its_collections_and_tasks,
        documents_waiting_behind_large_ones_are_not_failed,
    )
}

/// Hashes lower-cased words (longer than two letters) into 512 buckets: texts sharing words
/// are close.
pub struct Bow;

impl Embedder for Bow {
    fn model(&self) -> &str {
        "bow-512"
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; 512];
                for w in t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.chars().count() > 2)
                {
                    let h = w
                        .to_lowercase()
                        .bytes()
                        .fold(1469598103934665603u64, |h, b| {
                            (h ^ u64::from(b)).wrapping_mul(1099511628211)
                        });
                    if let Some(x) = v.get_mut((h % 512) as usize) {
                        *x += 1.0;
                    }
                }
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                v.iter().map(|x| x / n).collect()
            })
            .collect())
    }

    fn count_tokens(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }

    fn max_tokens(&self) -> usize {
        512
    }
}

fn bow() -> Arc<dyn Embedder> {
    Arc::new(Bow)
}

async fn collection<S: KnowledgeRecords>(
    s: &S,
    tenant: &str,
    name: &str,
) -> Result<Collection, String> {
    let c = ok(
        "create_collection",
        s.create_collection(
            tenant,
            NewCollection {
                name: name.into(),
                language: None,
                chunking: ChunkConfig::default(),
            },
            bow(),
        )
        .await,
    )?;
    Ok(c.collection)
}

/// A Markdown document.
pub fn doc(source: &str, text: &str, language: &str, tags: &[&str]) -> NewItem {
    NewItem {
        source: source.into(),
        format: Some(Format::Markdown),
        meta: DocumentMeta {
            language: Some(language.into()),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            labels: Vec::new(),
        },
        body: Some(text.as_bytes().to_vec()),
        error: None,
    }
}

/// Enqueues documents for ingestion.
async fn enqueue<S: TaskQueue>(s: &S, c: &Collection, items: Vec<NewItem>) -> Result<Task, String> {
    ok("enqueue_ingest", s.enqueue_ingest(c, items).await)
}

/// Collection `help` of `t1` with the refunds and shipping articles enqueued.
async fn two_articles<S: KnowledgeRecords + TaskQueue>(
    s: &S,
) -> Result<(Collection, Task), String> {
    let c = collection(s, "t1", "help").await?;
    let docs = vec![
        doc("refunds.md", REFUNDS, "en", &[]),
        doc("shipping.md", SHIPPING, "en", &[]),
    ];
    let t = enqueue(s, &c, docs).await?;
    Ok((c, t))
}

/// Works the queue until it is empty (at most 50 steps); the task `id` of `tenant` after.
async fn drain<S: KnowledgeRecords + TaskQueue>(
    s: &S,
    tenant: &str,
    id: i64,
) -> Result<Task, String> {
    for _ in 0..50 {
        if !ok("work_once", s.work_once(bow()).await)? {
            break;
        }
    }
    ok("task", s.task(tenant, id).await)
}

fn params(mode: Mode) -> SearchParams {
    SearchParams {
        k: 5,
        mode,
        ..SearchParams::default()
    }
}

async fn sources<S: KnowledgeRecords>(
    s: &S,
    c: &Collection,
    query: &str,
    p: SearchParams,
) -> Result<Vec<String>, String> {
    let hits = ok("search", s.search(c, query.into(), p, Some(bow())).await)?;
    Ok(hits.into_iter().map(|h| h.chunk.source).collect())
}

const REFUNDS: &str = "# Refunds\n\nA refund reaches your card within five working days after the parcel is back in the warehouse.";
const SHIPPING: &str =
    "# Shipping\n\nParcels leave the warehouse within two days and travel with a tracked courier.";

async fn collections_are_created_listed_and_kept_to_their_tenant<
    S: KnowledgeRecords + TaskQueue,
>(
    s: &S,
) -> Outcome {
    let c = collection(s, "t1", "help").await?;
    check!(c.tenant == "t1" && c.name == "help", "created {c:?}");
    check!(
        c.embedding_model == "bow-512",
        "the embedder's model is recorded: {c:?}"
    );
    let got = ok("collection", s.collection("t1", "help").await)?;
    check!(got.id == c.id, "collection() gives another: {got:?}");
    check!(
        matches!(s.collection("t2", "help").await, Err(Error::NotFound(_))),
        "another tenant sees the collection"
    );
    let again = s
        .create_collection(
            "t1",
            NewCollection {
                name: "help".into(),
                ..NewCollection::default()
            },
            bow(),
        )
        .await;
    check!(
        matches!(again, Err(Error::Conflict(_))),
        "a taken name: {again:?}"
    );
    let bad = s
        .create_collection(
            "t1",
            NewCollection {
                name: "../x".into(),
                ..NewCollection::default()
            },
            bow(),
        )
        .await;
    check!(matches!(bad, Err(Error::Invalid(_))), "a bad name: {bad:?}");
    collection(s, "t2", "help").await?;
    collection(s, "t1", "billing").await?;
    let mine = ok("collections", s.collections("t1").await)?;
    let names: Vec<&str> = mine.iter().map(|c| c.collection.name.as_str()).collect();
    check!(
        names == ["billing", "help"],
        "t1's collections by name: {names:?}"
    );
    check!(
        mine.iter().all(|c| c.documents == 0 && c.chunks == 0),
        "new collections are empty: {mine:?}"
    );
    ok("delete_collection", s.delete_collection("t1", "help").await)?;
    check!(
        matches!(s.collection("t1", "help").await, Err(Error::NotFound(_))),
        "a deleted collection is gone"
    );
    check!(
        ok("collection", s.collection("t2", "help").await).is_ok(),
        "deleting t1's collection took t2's"
    );
    check!(
        matches!(
            s.delete_collection("t1", "help").await,
            Err(Error::NotFound(_))
        ),
        "deleting a missing collection is not found"
    );
    Ok(())
}

async fn an_ingest_task_is_worked_into_documents_that_search_finds<
    S: KnowledgeRecords + TaskQueue,
>(
    s: &S,
) -> Outcome {
    let (c, t) = two_articles(s).await?;
    check!(t.total == 2, "total {}", t.total);
    check!(
        matches!(
            t.status,
            TaskStatus::Enqueued | TaskStatus::Processing | TaskStatus::Succeeded
        ),
        "a new task is {:?}",
        t.status
    );
    let t = drain(s, "t1", t.id).await?;
    check!(
        t.status == TaskStatus::Succeeded,
        "worked task {:?} ({:?})",
        t.status,
        t.error
    );
    check!(
        t.done == 2 && t.failed == 0 && t.chunks >= 2,
        "counts {t:?}"
    );
    let docs = ok("documents", s.documents(&c).await)?;
    check!(docs.len() == 2, "{} documents", docs.len());
    let stats = ok("collection_stats", s.collection_stats("t1", "help").await)?;
    check!(
        stats.documents == 2 && stats.chunks == t.chunks,
        "stats {stats:?} vs task {t:?}"
    );
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
        let found = sources(s, &c, "when does my refund reach the card", params(mode)).await?;
        check!(
            found.first().map(String::as_str) == Some("refunds.md"),
            "{mode:?} search ranks {found:?}"
        );
    }
    let none = ok(
        "search",
        s.search(&c, "refund".into(), params(Mode::Bm25), None)
            .await,
    )?;
    check!(!none.is_empty(), "BM25 needs no embedder");
    Ok(())
}

async fn each_item_outcome_is_recorded_once_and_failures_do_not_stop_the_rest<
    S: KnowledgeRecords + TaskQueue,
>(
    s: &S,
) -> Outcome {
    let c = collection(s, "t1", "help").await?;
    let rejected = NewItem {
        source: "virus.exe".into(),
        error: Some("unsupported file type .exe".into()),
        ..NewItem::default()
    };
    let empty = NewItem {
        source: "empty.md".into(),
        format: Some(Format::Markdown),
        body: Some(Vec::new()),
        ..NewItem::default()
    };
    let t = enqueue(
        s,
        &c,
        vec![rejected, doc("refunds.md", REFUNDS, "en", &[]), empty],
    )
    .await?;
    let t = drain(s, "t1", t.id).await?;
    check!(t.is_finished(), "not finished: {t:?}");
    check!(t.items.len() == 3, "{} items", t.items.len());
    let status = |src: &str| t.items.iter().find(|i| i.source == src).map(|i| i.status);
    check!(
        status("virus.exe") == Some(ItemStatus::Failed),
        "rejected item: {:?}",
        t.items
    );
    check!(
        status("empty.md") == Some(ItemStatus::Failed),
        "empty item: {:?}",
        t.items
    );
    check!(
        status("refunds.md") == Some(ItemStatus::Indexed),
        "good item: {:?}",
        t.items
    );
    check!(
        t.items
            .iter()
            .filter(|i| i.status == ItemStatus::Failed)
            .all(|i| i.error.is_some()),
        "a failed item says why: {:?}",
        t.items
    );
    check!(t.done == 3 && t.failed == 2, "counts {t:?}");
    let docs = ok("documents", s.documents(&c).await)?;
    check!(docs.len() == 1, "{} documents", docs.len());
    Ok(())
}

async fn the_same_content_again_changes_nothing<S: KnowledgeRecords + TaskQueue>(s: &S) -> Outcome {
    let c = collection(s, "t1", "help").await?;
    let t = enqueue(s, &c, vec![doc("refunds.md", REFUNDS, "en", &[])]).await?;
    drain(s, "t1", t.id).await?;
    let t = enqueue(s, &c, vec![doc("refunds.md", REFUNDS, "en", &[])]).await?;
    let t = drain(s, "t1", t.id).await?;
    check!(
        t.items.first().map(|i| i.status) == Some(ItemStatus::Unchanged),
        "the same bytes again: {:?}",
        t.items
    );
    let changed = format!("{REFUNDS}\n\nStore credit is immediate.");
    let t = enqueue(s, &c, vec![doc("refunds.md", &changed, "en", &[])]).await?;
    drain(s, "t1", t.id).await?;
    let docs = ok("documents", s.documents(&c).await)?;
    check!(docs.len() == 1, "{} documents", docs.len());
    check!(
        docs.first().map(|d| d.version) == Some(2),
        "a new version: {docs:?}"
    );
    let found = sources(s, &c, "store credit immediate", params(Mode::Bm25)).await?;
    check!(
        found.len() == 1,
        "the old version's chunks are gone: {found:?}"
    );
    Ok(())
}

async fn a_delete_task_takes_a_document_out_of_search<S: KnowledgeRecords + TaskQueue>(
    s: &S,
) -> Outcome {
    let (c, t) = two_articles(s).await?;
    drain(s, "t1", t.id).await?;
    let d = ok(
        "enqueue_delete",
        s.enqueue_delete(&c, vec!["refunds.md".into()]).await,
    )?;
    let d = drain(s, "t1", d.id).await?;
    check!(
        d.items.first().map(|i| i.status) == Some(ItemStatus::Deleted),
        "delete item: {:?}",
        d.items
    );
    let docs = ok("documents", s.documents(&c).await)?;
    check!(
        docs.len() == 1 && docs[0].source == "shipping.md",
        "left: {docs:?}"
    );
    for mode in [Mode::Bm25, Mode::Hybrid] {
        let found = sources(s, &c, "refund card working days", params(mode)).await?;
        check!(
            !found.iter().any(|f| f == "refunds.md"),
            "{mode:?} still finds the deleted document: {found:?}"
        );
    }
    Ok(())
}

async fn search_filters_by_tag_and_prefers_the_language_asked<S: KnowledgeRecords + TaskQueue>(
    s: &S,
) -> Outcome {
    let c = collection(s, "t1", "help").await?;
    const SPANISH: &str = "# Reembolsos\n\nEl refund llega a tu tarjeta en cinco días hábiles después de que el paquete vuelve al warehouse.";
    let docs = vec![
        doc("refunds-en.md", REFUNDS, "en", &["billing"]),
        doc("refunds-es.md", SPANISH, "es", &["billing"]),
        doc("shipping.md", SHIPPING, "en", &["logistics"]),
    ];
    let t = enqueue(s, &c, docs).await?;
    drain(s, "t1", t.id).await?;
    let tagged = SearchParams {
        filter: Filter {
            tags: vec!["logistics".into()],
            ..Filter::default()
        },
        ..params(Mode::Hybrid)
    };
    let found = sources(s, &c, "refund warehouse", tagged).await?;
    check!(found == ["shipping.md"], "tag filter: {found:?}");
    let spanish = SearchParams {
        prefer_language: Some(Lang::Es),
        relevance_floor: 0.0,
        ..params(Mode::Hybrid)
    };
    let found = sources(s, &c, "refund card warehouse", spanish).await?;
    check!(
        found.first().map(String::as_str) == Some("refunds-es.md"),
        "the preferred language first: {found:?}"
    );
    let only_en = SearchParams {
        filter: Filter {
            languages: vec![Lang::En],
            ..Filter::default()
        },
        ..params(Mode::Bm25)
    };
    let found = sources(s, &c, "refund", only_en).await?;
    check!(
        !found.is_empty() && found.iter().all(|f| f != "refunds-es.md"),
        "language filter: {found:?}"
    );
    Ok(())
}

async fn tasks_are_listed_newest_first_and_kept_to_their_tenant<S: KnowledgeRecords + TaskQueue>(
    s: &S,
) -> Outcome {
    let c = collection(s, "t1", "help").await?;
    let other = collection(s, "t2", "help").await?;
    let a = enqueue(s, &c, vec![doc("a.md", REFUNDS, "en", &[])]).await?;
    let b = enqueue(s, &c, vec![doc("b.md", SHIPPING, "en", &[])]).await?;
    let x = enqueue(s, &other, vec![doc("x.md", SHIPPING, "en", &[])]).await?;
    let listed: Vec<i64> = ok("tasks", s.tasks("t1", None, 10).await)?
        .iter()
        .map(|t| t.id)
        .collect();
    check!(
        listed == [b.id, a.id],
        "t1's tasks newest first: {listed:?}"
    );
    check!(
        matches!(s.task("t1", x.id).await, Err(Error::NotFound(_))),
        "t1 sees t2's task"
    );
    check!(
        ok("tasks", s.tasks("t1", None, 1).await)?.len() == 1,
        "the limit is kept"
    );
    drain(s, "t1", a.id).await?;
    let done = ok(
        "tasks",
        s.tasks("t1", Some(TaskStatus::Succeeded), 10).await,
    )?;
    check!(done.len() == 2, "succeeded: {done:?}");
    let waiting = ok("tasks", s.tasks("t1", Some(TaskStatus::Enqueued), 10).await)?;
    check!(waiting.is_empty(), "still enqueued: {waiting:?}");
    check!(
        ok("task", s.task("t2", x.id).await)?.status == TaskStatus::Succeeded,
        "t2's task was worked too"
    );
    Ok(())
}

async fn deleting_a_tenant_removes_only_its_collections_and_tasks<
    S: KnowledgeRecords + TaskQueue,
>(
    s: &S,
) -> Outcome {
    let c = collection(s, "t1", "help").await?;
    collection(s, "t1", "billing").await?;
    let other = collection(s, "t2", "help").await?;
    let t = enqueue(s, &c, vec![doc("a.md", REFUNDS, "en", &[])]).await?;
    let x = enqueue(s, &other, vec![doc("x.md", REFUNDS, "en", &[])]).await?;
    drain(s, "t1", t.id).await?;
    let n = ok("delete_tenant", s.delete_tenant("t1").await)?;
    check!(n == 2, "{n} collections deleted");
    check!(
        ok("collections", s.collections("t1").await)?.is_empty(),
        "t1 has collections left"
    );
    check!(
        ok("tasks", s.tasks("t1", None, 10).await)?.is_empty(),
        "t1 has tasks left"
    );
    let theirs = ok("collections", s.collections("t2").await)?;
    check!(
        theirs.len() == 1 && theirs[0].documents == 1,
        "t2's: {theirs:?}"
    );
    check!(
        ok("task", s.task("t2", x.id).await).is_ok(),
        "t2's task is gone"
    );
    let found = sources(s, &other, "refund", params(Mode::Bm25)).await?;
    check!(found == ["x.md"], "t2's search: {found:?}");
    Ok(())
}

/// Documents of many chunks each fill a worker step on their own: the ones queued behind them
/// wait several steps, and waiting must not count as an interrupted attempt (after three of
/// those, a document is failed for good).
async fn documents_waiting_behind_large_ones_are_not_failed<S: KnowledgeRecords + TaskQueue>(
    s: &S,
) -> Outcome {
    let c = ok(
        "create_collection",
        s.create_collection(
            "t1",
            NewCollection {
                name: "big".into(),
                language: None,
                chunking: ChunkConfig {
                    max_tokens: 16,
                    overlap_tokens: 0,
                },
            },
            bow(),
        )
        .await,
    )?
    .collection;
    // Six documents of about 300 chunks each: more than a step's chunk budget.
    let docs = (0..6)
        .map(|d| {
            let text: String = (0..300)
                .map(|p| {
                    format!(
                        "Paragraph {p} of manual {d} explains the warranty terms in detail.\n\n"
                    )
                })
                .collect();
            doc(&format!("manual{d}.md"), &text, "en", &[])
        })
        .collect();
    let t = enqueue(s, &c, docs).await?;
    let t = drain(s, "t1", t.id).await?;
    check!(
        t.status == TaskStatus::Succeeded && t.done == 6 && t.failed == 0,
        "a queued document was failed: {:?}",
        t.items
            .iter()
            .map(|i| (&i.source, i.status, &i.error))
            .collect::<Vec<_>>()
    );
    Ok(())
}
