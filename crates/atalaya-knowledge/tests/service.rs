//! The knowledge service end to end (parse → chunk → embed → store → index → search) with a
//! deterministic bag-of-words embedder standing in for the model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use atalaya_knowledge::{
    chunk::ChunkConfig,
    conformance::Bow,
    doc::Format,
    index::{Filter, Lang},
    service::{DocumentMeta, Embedder, Ingested, KnowledgeBase, Mode, SearchParams},
    Error,
};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

fn meta(lang: &str, tags: &[&str], labels: &[&str]) -> DocumentMeta {
    DocumentMeta {
        language: Some(lang.into()),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        labels: labels.iter().map(|s| s.to_string()).collect(),
    }
}

fn params(mode: Mode, k: usize) -> SearchParams {
    SearchParams {
        k,
        mode,
        ..SearchParams::default()
    }
}

#[test]
fn ingest_search_update_delete() {
    let kb = KnowledgeBase::in_memory().unwrap();
    let c = kb
        .create_collection(
            "acme",
            "help",
            &Bow,
            None,
            ChunkConfig {
                max_tokens: 60,
                overlap_tokens: 8,
            },
        )
        .unwrap();
    let docs = [
        ("reset-password.md", Format::Markdown, "en"),
        ("envios.html", Format::Html, "pt"),
        ("devoluciones.docx", Format::Docx, "es"),
        ("router-guide.pdf", Format::Pdf, "en"),
        ("faq.csv", Format::Csv, "es"),
    ];
    for (name, format, lang) in docs {
        let out = kb
            .ingest(
                &c,
                &Bow,
                name,
                format,
                &fixture(name),
                &meta(lang, &[], &[]),
            )
            .unwrap();
        assert!(
            matches!(out, Ingested::Indexed { chunks, .. } if chunks > 0),
            "{name}: {out:?}"
        );
    }
    // Every mode finds the right source, with positions back into it.
    for mode in [Mode::Hybrid, Mode::Dense, Mode::Bm25] {
        let hits = kb
            .search(
                &c,
                Some(&Bow),
                "hold the reset button ten seconds",
                &params(mode, 3),
            )
            .unwrap();
        assert_eq!(
            hits[0].chunk.source, "router-guide.pdf",
            "{mode:?}: {hits:?}"
        );
        assert_eq!(hits[0].chunk.page, Some(1));
        let hits = kb
            .search(
                &c,
                Some(&Bow),
                "código de rastreamento correios",
                &params(mode, 3),
            )
            .unwrap();
        assert_eq!(hits[0].chunk.source, "envios.html", "{mode:?}: {hits:?}");
        assert_eq!(
            hits[0].chunk.heading_path,
            ["Envios e entregas", "Rastreamento"]
        );
    }
    // Re-ingesting unchanged bytes is a no-op.
    let again = kb
        .ingest(
            &c,
            &Bow,
            "faq.csv",
            Format::Csv,
            &fixture("faq.csv"),
            &meta("es", &[], &[]),
        )
        .unwrap();
    assert!(matches!(again, Ingested::Unchanged { .. }), "{again:?}");
    // A changed document replaces its chunks everywhere.
    let new_faq = "question,answer\n¿Aceptan Bitcoin?,No aceptamos criptomonedas.\n";
    let out = kb
        .ingest(
            &c,
            &Bow,
            "faq.csv",
            Format::Csv,
            new_faq.as_bytes(),
            &meta("es", &[], &[]),
        )
        .unwrap();
    assert!(
        matches!(
            out,
            Ingested::Indexed {
                version: 2,
                chunks: 1,
                ..
            }
        ),
        "{out:?}"
    );
    for mode in [Mode::Dense, Mode::Bm25] {
        let hits = kb
            .search(
                &c,
                Some(&Bow),
                "Mastercard American Express",
                &params(mode, 10),
            )
            .unwrap();
        assert!(
            hits.iter().all(|h| !h.chunk.text.contains("Mastercard")),
            "{mode:?}: {hits:?}"
        );
    }
    let hits = kb
        .search(
            &c,
            Some(&Bow),
            "criptomonedas bitcoin",
            &params(Mode::Bm25, 1),
        )
        .unwrap();
    assert_eq!(hits[0].chunk.source, "faq.csv");
    // Deleting removes it from every index.
    kb.delete_document(&c, "faq.csv").unwrap();
    for mode in [Mode::Hybrid, Mode::Dense, Mode::Bm25] {
        let hits = kb
            .search(&c, Some(&Bow), "criptomonedas bitcoin", &params(mode, 20))
            .unwrap();
        assert!(hits.iter().all(|h| h.chunk.source != "faq.csv"), "{mode:?}");
    }
    assert!(matches!(
        kb.delete_document(&c, "faq.csv"),
        Err(Error::NotFound(_))
    ));
    // A bad file is reported with its reason and changes nothing.
    let n = kb.store().documents(c.id).unwrap().len();
    let e = kb.ingest(
        &c,
        &Bow,
        "broken.pdf",
        Format::Pdf,
        &fixture("broken.pdf"),
        &DocumentMeta::default(),
    );
    assert!(matches!(e, Err(Error::Parse { .. })), "{e:?}");
    assert_eq!(kb.store().documents(c.id).unwrap().len(), n);
}

#[test]
fn filters_labels_and_tenants_isolate() {
    let kb = KnowledgeBase::in_memory().unwrap();
    let cfg = ChunkConfig::default();
    let acme = kb.create_collection("acme", "kb", &Bow, None, cfg).unwrap();
    let other = kb
        .create_collection("globex", "kb", &Bow, None, cfg)
        .unwrap();
    let text = |s: &str| s.as_bytes().to_vec();
    kb.ingest(
        &acme,
        &Bow,
        "public.txt",
        Format::Text,
        &text("Refunds take five days."),
        &meta("en", &["billing"], &[]),
    )
    .unwrap();
    kb.ingest(
        &acme,
        &Bow,
        "internal.txt",
        Format::Text,
        &text("Refunds above 500 need a manager."),
        &meta("en", &["billing"], &["staff"]),
    )
    .unwrap();
    kb.ingest(
        &acme,
        &Bow,
        "envio.txt",
        Format::Text,
        &text("Os reembolsos levam cinco dias."),
        &meta("pt", &["shipping"], &[]),
    )
    .unwrap();
    kb.ingest(
        &other,
        &Bow,
        "secret.txt",
        Format::Text,
        &text("Refunds are never given."),
        &meta("en", &[], &[]),
    )
    .unwrap();
    let sources = |f: Filter, mode: Mode| -> Vec<String> {
        let p = SearchParams {
            k: 10,
            mode,
            filter: f,
            ..SearchParams::default()
        };
        let mut s: Vec<String> = kb
            .search(&acme, Some(&Bow), "refunds manager", &p)
            .unwrap()
            .into_iter()
            .map(|h| h.chunk.source)
            .collect();
        s.sort();
        s
    };
    for mode in [Mode::Hybrid, Mode::Dense, Mode::Bm25] {
        let anyone = sources(Filter::default(), mode);
        assert!(
            !anyone.contains(&"internal.txt".to_owned()),
            "{mode:?}: {anyone:?}"
        );
        assert!(
            !anyone.contains(&"secret.txt".to_owned()),
            "{mode:?}: {anyone:?}"
        );
        let staff = sources(
            Filter {
                labels: vec!["staff".into()],
                ..Filter::default()
            },
            mode,
        );
        assert!(
            staff.contains(&"internal.txt".to_owned()),
            "{mode:?}: {staff:?}"
        );
        let pt = sources(
            Filter {
                languages: vec![Lang::Pt],
                ..Filter::default()
            },
            mode,
        );
        assert!(pt.iter().all(|s| s == "envio.txt"), "{mode:?}: {pt:?}");
        let billing = sources(
            Filter {
                tags: vec!["billing".into()],
                ..Filter::default()
            },
            mode,
        );
        assert!(
            billing.iter().all(|s| s == "public.txt"),
            "{mode:?}: {billing:?}"
        );
    }
    // Restricting a document later takes effect at once, in every mode.
    kb.ingest(
        &acme,
        &Bow,
        "public.txt",
        Format::Text,
        &text("Refunds take five days."),
        &meta("en", &["billing"], &["staff"]),
    )
    .unwrap();
    for mode in [Mode::Hybrid, Mode::Dense, Mode::Bm25] {
        let anyone = sources(Filter::default(), mode);
        assert!(
            !anyone.contains(&"public.txt".to_owned()),
            "{mode:?}: {anyone:?}"
        );
    }
    // Another tenant's collection of the same name is a different collection.
    assert!(matches!(
        kb.collection("initech", "kb"),
        Err(Error::NotFound(_))
    ));
    assert_ne!(acme.id, other.id);
}

#[test]
fn indexes_survive_restarts_and_are_rebuilt_when_out_of_step() {
    let dir = tempfile::tempdir().unwrap();
    {
        let kb = KnowledgeBase::open(dir.path()).unwrap();
        let c = kb
            .create_collection("t", "kb", &Bow, Some("en"), ChunkConfig::default())
            .unwrap();
        kb.ingest(
            &c,
            &Bow,
            "hours.txt",
            Format::Text,
            &fixture("hours.txt"),
            &DocumentMeta::default(),
        )
        .unwrap();
    }
    let query = "public holidays chat closed";
    {
        let kb = KnowledgeBase::open(dir.path()).unwrap();
        let c = kb.collection("t", "kb").unwrap();
        let hits = kb
            .search(&c, Some(&Bow), query, &params(Mode::Bm25, 1))
            .unwrap();
        assert_eq!(hits[0].chunk.source, "hours.txt");
    }
    // Lose the keyword index (as if the process died before its commit): it is rebuilt.
    std::fs::remove_dir_all(dir.path().join("knowledge/index")).unwrap();
    let kb = KnowledgeBase::open(dir.path()).unwrap();
    let c = kb.collection("t", "kb").unwrap();
    assert!(kb.verify(&c).unwrap());
    let hits = kb
        .search(&c, Some(&Bow), query, &params(Mode::Bm25, 1))
        .unwrap();
    assert_eq!(hits[0].chunk.source, "hours.txt");
    let hits = kb
        .search(&c, Some(&Bow), query, &params(Mode::Dense, 1))
        .unwrap();
    assert_eq!(hits[0].chunk.source, "hours.txt");
}

#[test]
fn names_models_and_modes_are_checked() {
    let kb = KnowledgeBase::in_memory().unwrap();
    assert!(matches!(
        kb.create_collection("t", "../etc", &Bow, None, ChunkConfig::default()),
        Err(Error::Invalid(_))
    ));
    let c = kb
        .create_collection("t", "kb", &Bow, None, ChunkConfig::default())
        .unwrap();
    assert!(matches!(
        kb.create_collection("t", "kb", &Bow, None, ChunkConfig::default()),
        Err(Error::Conflict(_))
    ));
    struct Other;
    impl Embedder for Other {
        fn model(&self) -> &str {
            "other"
        }
        fn embed(&self, _: &[String]) -> Result<Vec<Vec<f32>>, String> {
            Err("down".into())
        }
        fn count_tokens(&self, t: &str) -> usize {
            t.len()
        }
        fn max_tokens(&self) -> usize {
            256
        }
    }
    let e = kb.ingest(
        &c,
        &Other,
        "a.txt",
        Format::Text,
        b"hello",
        &DocumentMeta::default(),
    );
    assert!(matches!(e, Err(Error::Invalid(_))), "{e:?}");
    // Dense search without an embedder is refused; BM25 needs none.
    assert!(kb.search(&c, None, "x", &params(Mode::Dense, 3)).is_err());
    assert!(kb
        .search(&c, None, "x", &params(Mode::Bm25, 3))
        .unwrap()
        .is_empty());
}

/// Concurrent ingests (new documents and replacements of the same one) and searches all
/// succeed and leave the indexes holding exactly the store's chunks. (A smoke test: the race
/// the per-collection writer lock closes has too narrow a window to be hit reliably here.)
#[test]
fn concurrent_ingests_keep_indexes_and_store_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let kb = KnowledgeBase::open(dir.path()).unwrap();
    let c = kb
        .create_collection("t", "kb", &Bow, Some("en"), ChunkConfig::default())
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (kb, c) = (&kb, &c);
            s.spawn(move || {
                for round in 0..5 {
                    let own = format!("Thread {t} document round {round} about routers.");
                    kb.ingest(
                        c,
                        &Bow,
                        &format!("t{t}.txt"),
                        Format::Text,
                        own.as_bytes(),
                        &DocumentMeta::default(),
                    )
                    .unwrap();
                    let shared = format!("Shared notes, version {t}-{round}.");
                    kb.ingest(
                        c,
                        &Bow,
                        "shared.txt",
                        Format::Text,
                        shared.as_bytes(),
                        &DocumentMeta::default(),
                    )
                    .unwrap();
                    kb.search(c, Some(&Bow), "routers", &params(Mode::Hybrid, 5))
                        .unwrap();
                }
            });
        }
    });
    let docs = kb.store().documents(c.id).unwrap();
    assert_eq!(docs.len(), 5);
    assert!(docs.iter().all(|d| d.chunks == 1), "{docs:?}");
    // Every mode sees one chunk per document: no stale chunk of a replaced version remains.
    for mode in [Mode::Dense, Mode::Bm25] {
        let hits = kb
            .search(
                &c,
                Some(&Bow),
                "shared notes version thread document round routers",
                &params(mode, 50),
            )
            .unwrap();
        let mut sources: Vec<String> = hits.iter().map(|h| h.chunk.source.clone()).collect();
        sources.sort();
        sources.dedup();
        assert_eq!(
            hits.len(),
            sources.len(),
            "{mode:?}: duplicate or stale chunks {hits:?}"
        );
    }
    // And a fresh process agrees: the on-disk keyword index matches the store.
    drop(kb);
    let kb = KnowledgeBase::open(dir.path()).unwrap();
    let c = kb.collection("t", "kb").unwrap();
    let hits = kb
        .search(&c, Some(&Bow), "shared notes", &params(Mode::Bm25, 50))
        .unwrap();
    assert_eq!(
        hits.iter()
            .filter(|h| h.chunk.source == "shared.txt")
            .count(),
        1
    );
}

/// [`Bow`], counting its calls and refusing texts that contain "POISON".
struct Counting {
    calls: std::sync::atomic::AtomicUsize,
}

impl Embedder for Counting {
    fn model(&self) -> &str {
        "bow-512"
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if texts.iter().any(|t| t.contains("POISON")) {
            return Err("the model refused the input".into());
        }
        Bow.embed(texts)
    }
    fn count_tokens(&self, text: &str) -> usize {
        Bow.count_tokens(text)
    }
    fn max_tokens(&self) -> usize {
        Bow.max_tokens()
    }
}

fn drain(kb: &KnowledgeBase, e: &dyn Embedder) -> usize {
    let mut steps = 0;
    while kb.work_once(e).unwrap() {
        steps += 1;
        assert!(steps < 1000, "the queue never drains");
    }
    steps
}

#[test]
fn task_queue_batches_reports_per_item_and_resumes_after_a_restart() {
    use atalaya_knowledge::tasks::{ItemStatus, NewItem, TaskStatus};
    let dir = tempfile::tempdir().unwrap();
    let e = Counting {
        calls: Default::default(),
    };
    let mut items: Vec<NewItem> = (0..100)
        .map(|i| NewItem {
            source: format!("doc-{i}.md"),
            format: Some(Format::Markdown),
            meta: meta("en", &[], &[]),
            body: Some(
                format!("# Topic {i}\n\nArticle number {i} explains widget{i} setup.").into_bytes(),
            ),
            error: None,
        })
        .collect();
    items.push(NewItem {
        source: "broken.pdf".into(),
        format: Some(Format::Pdf),
        body: Some(b"this is not a pdf".to_vec()),
        ..NewItem::default()
    });
    items.push(NewItem {
        source: "poison.md".into(),
        format: Some(Format::Markdown),
        body: Some(b"POISON pill".to_vec()),
        ..NewItem::default()
    });
    items.push(NewItem {
        source: "slides.pptx".into(),
        error: Some("unsupported file type .pptx".into()),
        ..NewItem::default()
    });
    let task_id;
    {
        let kb = KnowledgeBase::open(dir.path()).unwrap();
        let c = kb
            .create_collection("t1", "kb", &e, None, ChunkConfig::default())
            .unwrap();
        let t = kb.enqueue_ingest(&c, &items).unwrap();
        task_id = t.id;
        assert_eq!(
            (t.status, t.total, t.done, t.failed),
            (TaskStatus::Enqueued, 103, 1, 1)
        );
        // Another tenant cannot see the task.
        assert!(matches!(kb.task("t2", t.id), Err(Error::NotFound(_))));
        // One step (one group), then the process "dies".
        assert!(kb.work_once(&e).unwrap());
        let t = kb.task("t1", t.id).unwrap();
        assert_eq!(t.status, TaskStatus::Processing);
        assert!(t.done > 1 && t.done < 103, "{t:?}");
    }
    let kb = KnowledgeBase::open(dir.path()).unwrap();
    let calls_before = e.calls.load(std::sync::atomic::Ordering::Relaxed);
    drain(&kb, &e);
    let t = kb.task("t1", task_id).unwrap();
    assert_eq!(t.status, TaskStatus::Succeeded, "{t:?}");
    assert_eq!((t.done, t.failed), (103, 3), "{t:?}");
    let by = |s: &str| t.items.iter().find(|i| i.source == s).unwrap();
    assert_eq!(by("slides.pptx").status, ItemStatus::Failed);
    assert!(by("broken.pdf").error.as_deref().unwrap().contains("pdf"));
    assert!(by("poison.md")
        .error
        .as_deref()
        .unwrap()
        .contains("refused"));
    assert_eq!(by("doc-99.md").status, ItemStatus::Indexed);
    assert_eq!(
        t.items
            .iter()
            .filter(|i| i.status == ItemStatus::Indexed)
            .count(),
        100
    );
    // Small documents share embedding calls: far fewer calls than documents (the poisoned
    // group retries per document).
    let calls = e.calls.load(std::sync::atomic::Ordering::Relaxed) - calls_before;
    assert!(calls < 60, "{calls} embedding calls");
    let c = kb.collection("t1", "kb").unwrap();
    assert!(kb.verify(&c).unwrap());
    assert_eq!(kb.store().documents(c.id).unwrap().len(), 100);
    let hits = kb
        .search(&c, Some(&e), "widget77 setup", &params(Mode::Hybrid, 3))
        .unwrap();
    assert_eq!(hits[0].chunk.source, "doc-77.md");

    // The same documents again: every one unchanged, nothing embedded.
    let calls_before = e.calls.load(std::sync::atomic::Ordering::Relaxed);
    let again = kb.enqueue_ingest(&c, &items[..100]).unwrap();
    drain(&kb, &e);
    let again = kb.task("t1", again.id).unwrap();
    assert!(again
        .items
        .iter()
        .all(|i| i.status == ItemStatus::Unchanged));
    assert_eq!(
        e.calls.load(std::sync::atomic::Ordering::Relaxed),
        calls_before
    );

    // Deletions are tasks too, reported per item.
    let del = kb
        .enqueue_delete(&c, &["doc-3.md".into(), "missing.md".into()])
        .unwrap();
    drain(&kb, &e);
    let del = kb.task("t1", del.id).unwrap();
    assert_eq!(del.status, TaskStatus::Succeeded);
    assert_eq!(del.items[0].status, ItemStatus::Deleted);
    assert_eq!(del.items[1].status, ItemStatus::Failed);
    assert_eq!(kb.store().documents(c.id).unwrap().len(), 99);
    assert!(kb.verify(&c).unwrap());

    // A task whose collection is deleted before it runs fails, naming why.
    let orphan = kb.enqueue_ingest(&c, &items[..2]).unwrap();
    kb.delete_collection("t1", "kb").unwrap();
    drain(&kb, &e);
    let orphan = kb.task("t1", orphan.id).unwrap();
    assert_eq!(orphan.status, TaskStatus::Failed);
    assert!(orphan.error.unwrap().contains("deleted"));
}

/// Embeds the number after "item" as a point on a smooth curve: nearby numbers are nearby
/// vectors, as similar texts are for a real model (BoW vectors of unrelated documents are all
/// equidistant, which no graph can navigate).
struct Curve;

impl Embedder for Curve {
    fn model(&self) -> &str {
        "curve-64"
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        Ok(texts
            .iter()
            .map(|t| {
                let n: f32 = t
                    .split("item")
                    .nth(1)
                    .map(|r| {
                        r.chars()
                            .take_while(char::is_ascii_digit)
                            .collect::<String>()
                    })
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0.0);
                let v: Vec<f32> = (0..64)
                    .map(|j| (n * (0.013 * (j + 1) as f32) + j as f32).sin())
                    .collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter().map(|x| x / norm).collect()
            })
            .collect())
    }
    fn count_tokens(&self, text: &str) -> usize {
        Bow.count_tokens(text)
    }
    fn max_tokens(&self) -> usize {
        512
    }
}

/// Above the threshold, dense search goes through the HNSW graph; the graph is saved and
/// reloaded on the next open, and brought up to date with writes made after the save.
#[test]
fn hnsw_graphs_are_saved_reloaded_and_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let docs = |range: std::ops::Range<usize>| -> Vec<(String, Vec<u8>)> {
        range
            .map(|i| {
                (
                    format!("doc-{i}.md"),
                    format!("About item{i}.").into_bytes(),
                )
            })
            .collect()
    };
    let open = || {
        let mut kb = KnowledgeBase::open(dir.path()).unwrap();
        kb.set_ann_threshold(100);
        kb
    };
    {
        let kb = open();
        let c = kb
            .create_collection("t", "kb", &Curve, Some("en"), ChunkConfig::default())
            .unwrap();
        for (src, body) in docs(0..150) {
            kb.ingest(
                &c,
                &Curve,
                &src,
                Format::Text,
                &body,
                &DocumentMeta::default(),
            )
            .unwrap();
        }
        assert!(kb.is_approximate(&c).unwrap());
        kb.persist().unwrap();
        // Written after the save: the saved graph lacks these.
        for (src, body) in docs(150..170) {
            kb.ingest(
                &c,
                &Curve,
                &src,
                Format::Text,
                &body,
                &DocumentMeta::default(),
            )
            .unwrap();
        }
        kb.delete_document(&c, "doc-3.md").unwrap();
    }
    let kb = open();
    let c = kb.collection("t", "kb").unwrap();
    assert!(kb.is_approximate(&c).unwrap());
    assert!(
        kb.verify(&c).unwrap(),
        "graph and store differ after the reload"
    );
    let hit = |q: &str| {
        kb.search(&c, Some(&Curve), q, &params(Mode::Dense, 1))
            .unwrap()[0]
            .chunk
            .source
            .clone()
    };
    assert_eq!(hit("item160"), "doc-160.md");
    assert_eq!(hit("item42"), "doc-42.md");
    assert_ne!(hit("item3"), "doc-3.md");
    assert!(dir
        .path()
        .join("knowledge/index")
        .read_dir()
        .unwrap()
        .any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".vectors.ann")));
}

/// Issue 18: a question in one language is answered from passages in that language when the
/// collection has relevant ones, and from other languages only when it has none.
#[test]
fn the_askers_language_comes_first_and_falls_back_when_nothing_in_it_is_relevant() {
    let kb = KnowledgeBase::in_memory().unwrap();
    let c = kb
        .create_collection("acme", "kb", &Bow, None, ChunkConfig::default())
        .unwrap();
    let docs = [
        ("es/baja.md", "es", "Para dar de baja el contrato de fibra llama al servicio de bajas; el router se devuelve en la tienda."),
        ("pt/cancelamento.md", "pt", "Para cancelar o contrato de fibra e dar de baja o router, ligue para o serviço de cancelamentos."),
        ("en/cancel.md", "en", "To cancel the fibre contract call the cancellations team and return the router."),
        ("pt/roaming.md", "pt", "Roaming na Europa: os dados do plano valem em todos os países da UE sem custo extra."),
    ];
    for (name, lang, text) in docs {
        kb.ingest(
            &c,
            &Bow,
            name,
            Format::Text,
            text.as_bytes(),
            &meta(lang, &[], &[]),
        )
        .unwrap();
    }
    let langs = |query: &str, lang: Option<Lang>, floor: f32| -> Vec<String> {
        let p = SearchParams {
            k: 3,
            prefer_language: lang,
            relevance_floor: floor,
            ..SearchParams::default()
        };
        kb.search(&c, Some(&Bow), query, &p)
            .unwrap()
            .into_iter()
            .map(|h| h.chunk.source)
            .collect()
    };
    let q = "dar de baja el contrato de fibra y el router";
    // Without a preference the Portuguese article, which shares the words, competes.
    let any = langs(q, None, 0.3);
    assert!(any.iter().any(|s| s.starts_with("pt/")), "{any:?}");
    // With one, only Spanish passages: the collection has a relevant one.
    let es = langs(q, Some(Lang::Es), 0.3);
    assert!(
        !es.is_empty() && es.iter().all(|s| s.starts_with("es/")),
        "{es:?}"
    );
    // Nothing in the asker's language is relevant (the floor above every Spanish passage),
    // while another language has a passage above it: the search goes across languages.
    let roaming = "roaming dados plano europa países";
    let across = langs(roaming, Some(Lang::Es), 0.5);
    assert_eq!(
        across.first().map(String::as_str),
        Some("pt/roaming.md"),
        "{across:?}"
    );
    // No document in the asker's language at all: across languages.
    let de = langs(q, Some(Lang::Other), 0.3);
    assert!(!de.is_empty(), "{de:?}");
    // A language filter wins over the preference.
    let p = SearchParams {
        k: 3,
        prefer_language: Some(Lang::Es),
        filter: Filter {
            languages: vec![Lang::Pt],
            ..Filter::default()
        },
        ..SearchParams::default()
    };
    let pt: Vec<String> = kb
        .search(&c, Some(&Bow), q, &p)
        .unwrap()
        .into_iter()
        .map(|h| h.chunk.source)
        .collect();
    assert!(pt.iter().all(|s| s.starts_with("pt/")), "{pt:?}");
}

#[test]
fn rankings_fuse_by_reciprocal_rank() {
    use atalaya_knowledge::service::fuse;
    let kb = KnowledgeBase::in_memory().unwrap();
    let c = kb
        .create_collection("acme", "kb", &Bow, None, ChunkConfig::default())
        .unwrap();
    for (name, text) in [
        ("a.md", "router lights blinking white"),
        ("b.md", "cancel the contract and return the router"),
        ("c.md", "cancel the contract by phone"),
    ] {
        kb.ingest(
            &c,
            &Bow,
            name,
            Format::Text,
            text.as_bytes(),
            &meta("en", &[], &[]),
        )
        .unwrap();
    }
    let p = SearchParams {
        k: 3,
        mode: Mode::Dense,
        ..SearchParams::default()
    };
    let one = kb.search(&c, Some(&Bow), "router lights", &p).unwrap();
    let two = kb
        .search(&c, Some(&Bow), "cancel contract router", &p)
        .unwrap();
    let fused = fuse(vec![one, two], 2);
    assert_eq!(fused.len(), 2);
    // b.md is high in both rankings.
    assert_eq!(fused[0].chunk.source, "b.md", "{fused:?}");
    assert!(fused[0].score > fused[1].score);
    assert!(fused.iter().all(|h| h.similarity.is_some()));
}

/// The worker takes turns between tenants (one tenant's long upload does not hold up
/// another's), and an item whose processing took the process down three times (simulated:
/// taken, never finished) fails instead of crashing it at every restart.
#[test]
fn tenants_take_turns_and_an_item_that_never_finishes_is_not_retried_for_ever() {
    use atalaya_knowledge::tasks::{ItemStatus, NewItem, TaskStatus};
    let dir = tempfile::tempdir().unwrap();
    let e = Bow;
    let doc = |i: usize| NewItem {
        source: format!("doc-{i}.md"),
        format: Some(Format::Markdown),
        meta: meta("en", &[], &[]),
        body: Some(format!("# Topic {i}\n\nArticle {i} about widget{i}.").into_bytes()),
        error: None,
    };
    let kb = KnowledgeBase::open(dir.path()).unwrap();
    let big = kb
        .create_collection("t1", "kb", &e, None, ChunkConfig::default())
        .unwrap();
    let small = kb
        .create_collection("t2", "kb", &e, None, ChunkConfig::default())
        .unwrap();
    let long = kb
        .enqueue_ingest(&big, &(0..300).map(doc).collect::<Vec<_>>())
        .unwrap();
    let short = kb
        .enqueue_ingest(&small, &(0..2).map(doc).collect::<Vec<_>>())
        .unwrap();
    assert!(kb.work_once(&e).unwrap()); // t1's first group
    assert!(kb.work_once(&e).unwrap()); // then t2's, before t1's second
    let t2 = kb.task("t2", short.id).unwrap();
    assert_eq!(t2.done, 2, "{t2:?}");
    let t1 = kb.task("t1", long.id).unwrap();
    assert!(t1.done < 300, "{t1:?}");
    drain(&kb, &e);
    assert_eq!(
        kb.task("t1", long.id).unwrap().status,
        TaskStatus::Succeeded
    );

    let stuck = kb.enqueue_ingest(&small, &[doc(7), doc(8)]).unwrap();
    for _ in 0..3 {
        // Taken (the attempt is counted and committed), then the process "dies".
        assert_eq!(kb.store().pending_items(stuck.id, 1).unwrap().len(), 1);
    }
    drain(&kb, &e);
    let t = kb.task("t2", stuck.id).unwrap();
    assert_eq!(t.status, TaskStatus::Succeeded, "{t:?}");
    assert_eq!(t.items[0].status, ItemStatus::Failed, "{t:?}");
    assert!(
        t.items[0]
            .error
            .as_deref()
            .unwrap()
            .contains("interrupted 3 times"),
        "{t:?}"
    );
    assert_eq!(t.items[1].status, ItemStatus::Indexed, "{t:?}");
}
