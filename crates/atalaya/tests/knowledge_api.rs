//! End-to-end: the knowledge API of the real binary (real embeddings, a fake upstream for
//! generation): collections, uploads as tasks, search, grounded and extractive answers, RAG
//! on chat completions, and ingestion that survives `kill -9`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)] // test code

mod common;

use std::{path::Path, time::Duration};

use atalaya_testkit::{FakeUpstream, Reply};
use common::{demo_documents, minilm_config, Api};
use serde_json::{json, Value};

const KEY: &str = "sk-kb";

fn config(data_dir: &Path, upstream: &str) -> String {
    format!(
        r#"
[server]
data_dir = "{data}"
[auth]
api_keys = ["env:KEY"]
[log]
level = "warn"

[upstreams.fake]
base_url = "{upstream}"

{minilm}

[models.chat]
targets = [{{ upstream = "fake" }}]
retry = {{ attempts = 1 }}

[models.reranker]
targets = [{{ upstream = "fake" }}]
retry = {{ attempts = 1 }}

[knowledge]
answer_model = "chat"
rerank_model = "reranker"
rerank_candidates = 12
"#,
        data = data_dir.display(),
        minilm = minilm_config(),
    )
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_api_ingests_searches_and_answers_with_citations() {
    let fake = FakeUpstream::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let (_child, base, _dir) = common::serve(&config(data.path(), &fake.base_url()), KEY).await;
    let api = Api::with_key(&base, KEY);

    // Collections.
    let (s, c) = api
        .post(
            "/v1/knowledge",
            json!({"name": "nimbo", "chunking": {"max_tokens": 160}}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["embedding_model"], "minilm");
    assert_eq!(c["chunking"]["max_tokens"], 160);
    let (s, e) = api.post("/v1/knowledge", json!({"name": "nimbo"})).await;
    assert_eq!(s, 409);
    assert_error(&e, "conflict");
    let (s, e) = api.post("/v1/knowledge", json!({"name": "../etc"})).await;
    assert_eq!(s, 400);
    assert_error(&e, "invalid_request");
    let (s, e) = api
        .post("/v1/knowledge", json!({"name": "x", "shards": 3}))
        .await;
    assert_eq!(s, 400, "{e}");
    let (s, e) = api
        .post("/v1/knowledge/missing/query", json!({"query": "x"}))
        .await;
    assert_eq!(s, 404);
    assert_error(&e, "not_found");

    // A JSON upload is a task: 202 at once, then progress, then per-item results.
    let docs = demo_documents();
    let n = docs.len() as i64;
    let r = api
        .http
        .post(format!("{base}/v1/knowledge/nimbo/documents"))
        .bearer_auth(KEY)
        .json(&json!({"documents": docs}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let t: Value = r.json().await.unwrap();
    assert_eq!(location, format!("/v1/tasks/{}", t["id"]));
    assert!(
        t["status"] == "enqueued" || t["status"] == "processing",
        "{t}"
    );
    let t = api.wait(t["id"].as_i64().unwrap()).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    assert_eq!(t["progress"]["done"], n);
    assert_eq!(t["progress"]["failed"], 0);
    assert!(t["progress"]["chunks"].as_i64().unwrap() >= n);
    assert!(t["progress"]["documents_per_second"].as_f64().unwrap() > 0.0);
    assert!(t["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["status"] == "indexed" && i["document_id"].is_i64()));

    // Multipart: a good HTML file and an unsupported one, reported per file.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                b"<html><body><nav>Menu</nav><article><h1>Gift cards</h1><p>Nimbo gift cards never expire and can pay any bill.</p></article></body></html>".to_vec(),
            )
            .file_name("gift-cards.html")
            .mime_str("text/html")
            .unwrap(),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"PK\x03\x04junk".to_vec()).file_name("deck.pptx"),
        )
        .text("tags", "en, promo");
    let (s, t) = api
        .send(
            api.http
                .post(format!("{base}/v1/knowledge/nimbo/documents"))
                .multipart(form),
        )
        .await;
    assert_eq!(s, 202, "{t}");
    let t = api.wait(t["id"].as_i64().unwrap()).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    assert_eq!(t["items"][0]["status"], "indexed", "{t}");
    assert_eq!(t["items"][1]["status"], "failed");
    assert!(t["items"][1]["error"]
        .as_str()
        .unwrap()
        .contains("unsupported"));

    // A raw upload names its source; an unknown type is refused at once.
    let (s, t) = api
        .send(
            api.http
                .post(format!(
                    "{base}/v1/knowledge/nimbo/documents?source=notes.txt&tags=en"
                ))
                .header("content-type", "text/plain")
                .body("Support hours are 8:00 to 20:00 on weekdays."),
        )
        .await;
    assert_eq!(s, 202, "{t}");
    assert_eq!(
        api.wait(t["id"].as_i64().unwrap()).await["status"],
        "succeeded"
    );
    let (s, e) = api
        .send(
            api.http
                .post(format!(
                    "{base}/v1/knowledge/nimbo/documents?source=blob.bin"
                ))
                .header("content-type", "application/octet-stream")
                .body(vec![0u8, 1, 2]),
        )
        .await;
    assert_eq!(s, 415);
    assert_error(&e, "unsupported_media_type");
    let (s, e) = api
        .post(
            "/v1/knowledge/nimbo/documents",
            json!({"documents": [{"source": "a.md"}]}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "documents[0]");

    let (_, list) = api.get("/v1/knowledge/nimbo/documents").await;
    assert_eq!(list["data"].as_array().unwrap().len() as i64, n + 2);
    let (_, c) = api.get("/v1/knowledge/nimbo").await;
    assert_eq!(c["documents"].as_i64().unwrap(), n + 2);

    // Search: ranked chunks with positions; filters hold.
    let (s, q) = api
        .post(
            "/v1/knowledge/nimbo/query",
            json!({"query": "How do I reset my password?", "k": 3}),
        )
        .await;
    assert_eq!(s, 200, "{q}");
    let top = &q["data"][0];
    assert_eq!(top["source"], "en/password-reset.md", "{q}");
    assert!(top["end"].as_i64() > top["start"].as_i64());
    assert!(top["heading_path"]
        .as_array()
        .is_some_and(|p| !p.is_empty()));
    let (_, q) = api
        .post(
            "/v1/knowledge/nimbo/query",
            json!({"query": "restablecer la contraseña", "mode": "bm25", "filter": {"languages": ["es"]}}),
        )
        .await;
    let data = q["data"].as_array().unwrap();
    assert!(!data.is_empty());
    assert!(
        data.iter()
            .all(|h| h["source"].as_str().unwrap().starts_with("es/")),
        "{q}"
    );
    let (s, e) = api
        .post(
            "/v1/knowledge/nimbo/query",
            json!({"query": "x", "mode": "fuzzy"}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "mode");

    // Reranking: 12 candidates go to the reranker route; its scores order the results.
    let (s, q) = api
        .post(
            "/v1/knowledge/nimbo/query",
            json!({"query": "reset link valid hours", "k": 3, "rerank": true, "filter": {"languages": ["en"]}}),
        )
        .await;
    assert_eq!(s, 200, "{q}");
    assert_eq!(q["reranked"], true);
    let sent = fake.requests().last().unwrap().clone();
    assert_eq!(sent.path, "/v1/rerank");
    assert_eq!(sent.body["query"], "reset link valid hours");
    assert_eq!(sent.body["documents"].as_array().unwrap().len(), 12);
    let data = q["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    // The fake scores the share of query words a document holds: 4 of 4 for the reset steps.
    assert_eq!(data[0]["score"], 1.0, "{q}");
    assert!(data[0]["text"].as_str().unwrap().contains("24 hours"));
    assert!(data
        .windows(2)
        .all(|w| w[0]["score"].as_f64() >= w[1]["score"].as_f64()));
    fake.push(Reply::status(503));
    let (s, e) = api
        .post(
            "/v1/knowledge/nimbo/query",
            json!({"query": "x", "rerank": true}),
        )
        .await;
    assert_eq!(s, 502, "{e}");
    assert_error(&e, "upstream_error");

    // A generative answer: the prompt carries the numbered sources; the answer's citations
    // point at chunks; the invented claim is flagged.
    let ask =
        json!({"query": "How do I reset my password?", "k": 3, "filter": {"languages": ["en"]}});
    let (_, ranked) = api.post("/v1/knowledge/nimbo/query", ask.clone()).await;
    let steps = ranked["data"]
        .as_array()
        .unwrap()
        .iter()
        .position(|h| h["text"].as_str().unwrap().contains("24 hours"))
        .expect("the reset steps are among the top 3")
        + 1;
    fake.push(Reply::chat(&format!(
        "On the sign-in screen, choose Forgot password and we send a reset link valid for 24 hours [{steps}]. \
         Nimbo also delivers free pizza to every customer on Fridays [{steps}]."
    )));
    let (s, a) = api.post("/v1/knowledge/nimbo/answer", ask).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["mode"], "generative");
    assert_eq!(a["model"], "chat");
    let sent = fake.requests().last().unwrap().body.clone();
    let system = sent["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("[1]") && system.contains("[3]"), "{system}");
    assert!(system.contains(a["sources"][0]["text"].as_str().unwrap().trim()));
    assert_eq!(
        sent["messages"][1]["content"],
        "How do I reset my password?"
    );
    assert_eq!(a["citations"][0]["index"], steps);
    assert_eq!(
        a["citations"][0]["chunk_id"],
        a["sources"][steps - 1]["chunk_id"]
    );
    assert_eq!(a["citations"][0]["source"], "en/password-reset.md", "{a}");
    assert_eq!(a["grounded"], false);
    let claims = a["unsupported_claims"].as_array().unwrap();
    assert_eq!(claims.len(), 1, "{a}");
    assert!(claims[0]["text"].as_str().unwrap().contains("pizza"));
    assert_eq!(claims[0]["reason"], "not_in_sources");

    // The extractive fallback quotes the sources, cited, and invents nothing.
    let requests = fake.request_count();
    let (s, a) = api
        .post(
            "/v1/knowledge/nimbo/answer",
            json!({"query": "How long is the password reset link valid?", "extractive": true}),
        )
        .await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(
        fake.request_count(),
        requests,
        "extractive answers call no model"
    );
    assert_eq!(a["mode"], "extractive");
    assert_eq!(a["grounded"], true);
    let answer = a["answer"].as_str().unwrap();
    assert!(answer.contains("24 hours"), "{answer}");
    for line in answer.lines() {
        let (sentence, n) = line.rsplit_once(" [").unwrap();
        let n: usize = n.trim_end_matches(']').parse().unwrap();
        let source = a["sources"][n - 1]["text"].as_str().unwrap();
        assert!(
            source.contains(sentence),
            "{sentence:?} is not in source {n}"
        );
    }
    assert!(!a["citations"].as_array().unwrap().is_empty());

    // RAG on chat completions through the `atalaya` extension.
    fake.push(Reply::chat(
        "Choose Forgot password on the sign-in screen [1].",
    ));
    let (s, r) = api
        .post(
            "/v1/chat/completions",
            json!({
                "model": "chat",
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "I forgot my password"}],
                "atalaya": {"knowledge": {"collection": "nimbo", "k": 2}},
            }),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["atalaya"]["citations"][0]["index"], 1);
    assert_eq!(r["atalaya"]["sources"].as_array().unwrap().len(), 2);
    let sent = fake.requests().last().unwrap().body.clone();
    assert!(
        sent.get("atalaya").is_none(),
        "the extension is not sent upstream"
    );
    assert_eq!(sent["messages"][0]["content"], "Be brief.");
    assert!(sent["messages"][1]["content"]
        .as_str()
        .unwrap()
        .contains("Sources:"));
    fake.push(Reply::stream(&["Choose ", "Forgot password [1]."]));
    let r = api
        .http
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(&json!({
            "model": "chat",
            "stream": true,
            "messages": [{"role": "user", "content": "I forgot my password"}],
            "atalaya": {"knowledge": {"collection": "nimbo", "k": 2}},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body = r.text().await.unwrap();
    let first: Value =
        serde_json::from_str(body.lines().next().unwrap().strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(
        first["atalaya"]["sources"].as_array().unwrap().len(),
        2,
        "{body}"
    );
    assert!(body.contains("Forgot password") && body.trim_end().ends_with("data: [DONE]"));
    let (s, e) = api
        .post(
            "/v1/chat/completions",
            json!({"model": "chat", "messages": [{"role": "user", "content": "x"}], "atalaya": {"knowledge": {"collection": "nope"}}}),
        )
        .await;
    assert_eq!(s, 404);
    assert_error(&e, "not_found");

    // Deletion is a task too; the document leaves every index.
    let (_, list) = api.get("/v1/knowledge/nimbo/documents").await;
    let doc = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["source"] == "en/password-reset.md")
        .unwrap()
        .clone();
    let (s, t) = api
        .delete(&format!("/v1/knowledge/nimbo/documents/{}", doc["id"]))
        .await;
    assert_eq!(s, 202, "{t}");
    let t = api.wait(t["id"].as_i64().unwrap()).await;
    assert_eq!(t["items"][0]["status"], "deleted", "{t}");
    let (_, q) = api
        .post(
            "/v1/knowledge/nimbo/query",
            json!({"query": "reset my password forgot password link", "k": 50, "filter": {"languages": ["en"]}}),
        )
        .await;
    assert!(q["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["source"] != "en/password-reset.md"));
    let (s, _) = api.delete("/v1/knowledge/nimbo/documents/999999").await;
    assert_eq!(s, 404);

    let (s, tasks) = api.get("/v1/tasks?status=succeeded&limit=50").await;
    assert_eq!(s, 200);
    assert!(tasks["data"].as_array().unwrap().len() >= 4, "{tasks}");
    let (s, e) = api.get("/v1/tasks?status=done").await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["param"], "status");

    let (s, _) = api.delete("/v1/knowledge/nimbo").await;
    assert_eq!(s, 200);
    let (s, _) = api.get("/v1/knowledge/nimbo").await;
    assert_eq!(s, 404);
}

/// Kills the server with SIGKILL while it ingests, restarts it, and checks that the task
/// resumes, nothing acknowledged is lost, nothing is doubled, and the indexes hold exactly
/// the stored chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingestion_resumes_after_kill_9_and_loses_nothing() {
    let fake = FakeUpstream::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("atalaya.toml");
    std::fs::write(&cfg, config(data.path(), &fake.base_url())).unwrap();
    let (mut child, base) = common::serve_file(&cfg, KEY).await;
    let api = Api::with_key(&base, KEY);
    let (s, _) = api.post("/v1/knowledge", json!({"name": "big"})).await;
    assert_eq!(s, 201);
    const N: usize = 400;
    let docs: Vec<Value> = (0..N)
        .map(|i| {
            json!({
                "source": format!("kb/article-{i:04}.md"),
                "content": format!(
                    "# Article {i}\n\nThis article explains feature number {i} of the product and how support agents handle it.\n\n\
                     ## Steps\n\nOpen the settings page, choose option {i}, and confirm. The change applies within {} minutes.\n\n\
                     ## Notes\n\nCustomers on the legacy plan see a different menu; ask them for their plan name first.",
                    i % 60
                ),
            })
        })
        .collect();
    let (s, t) = api
        .post("/v1/knowledge/big/documents", json!({"documents": docs}))
        .await;
    assert_eq!(s, 202, "{t}");
    let id = t["id"].as_i64().unwrap();
    // Wait until the worker is part-way through, then kill -9.
    let mut killed_at = 0;
    for _ in 0..6000 {
        let (_, t) = api.get(&format!("/v1/tasks/{id}")).await;
        let done = t["progress"]["done"].as_i64().unwrap();
        assert!(
            t["status"] != "succeeded",
            "the task finished before the kill; make it longer"
        );
        if done > 0 {
            killed_at = done;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(killed_at > 0, "the worker never started");
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();

    let (mut child, base) = common::serve_file(&cfg, KEY).await;
    let api = Api::with_key(&base, KEY);
    let t = api.wait(id).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    assert_eq!(t["progress"]["done"], N as i64);
    assert_eq!(t["progress"]["failed"], 0, "{t}");
    let (_, list) = api.get("/v1/knowledge/big/documents").await;
    let list = list["data"].as_array().unwrap();
    assert_eq!(list.len(), N, "every acknowledged document is stored, once");
    assert!(list
        .iter()
        .all(|d| d["version"] == 1 && d["chunks"].as_i64() > Some(0)));
    let (_, q) = api
        .post(
            "/v1/knowledge/big/query",
            json!({"query": "choose option 377", "k": 1, "mode": "bm25"}),
        )
        .await;
    assert_eq!(q["data"][0]["source"], "kb/article-0377.md", "{q}");
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    // With the server gone, the store and both indexes agree chunk for chunk.
    let kb = atalaya_knowledge::service::KnowledgeBase::open(data.path()).unwrap();
    let c = kb.collection("default", "big").unwrap();
    assert!(kb.verify(&c).unwrap(), "indexes differ from the store");
    eprintln!("killed after {killed_at} of {N} documents");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_never_sees_or_touches_another_tenants_knowledge() {
    let fake = FakeUpstream::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let acme_key = common::tenant_key(data.path(), "acme", &[]);
    let globex_key = common::tenant_key(data.path(), "globex", &[]);
    // Initech may call the embedding model only: not the answer model.
    let initech_key = common::tenant_key(data.path(), "initech", &["--models", "minilm"]);
    let (mut child, base, _dir) = common::serve(&config(data.path(), &fake.base_url()), KEY).await;
    let acme = Api::with_key(&base, &acme_key);
    let globex = Api::with_key(&base, &globex_key);

    let (s, v) = acme.post("/v1/knowledge", json!({"name": "docs"})).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = acme
        .post(
            "/v1/knowledge/docs/documents",
            json!({"documents": [{"source": "refunds.md", "content": "# Refunds\n\nRefunds are paid within 14 days of the return."}]}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let task = acme.wait(v["id"].as_i64().unwrap()).await;
    assert_eq!(task["status"], "succeeded", "{task}");

    // Globex sees nothing of acme's: not in listings, not by name, not its task.
    let (_, list) = globex.get("/v1/knowledge").await;
    assert!(list["data"].as_array().unwrap().is_empty(), "{list}");
    for path in ["/v1/knowledge/docs", "/v1/knowledge/docs/documents"] {
        let (s, v) = globex.get(path).await;
        assert_eq!(s, 404, "{path}: {v}");
    }
    let (s, _) = globex
        .post("/v1/knowledge/docs/query", json!({"query": "refunds"}))
        .await;
    assert_eq!(s, 404);
    let (s, _) = globex.get(&format!("/v1/tasks/{}", task["id"])).await;
    assert_eq!(s, 404);
    let (s, _) = globex.delete("/v1/knowledge/docs").await;
    assert_eq!(s, 404);
    // The same name in another tenant is another collection.
    let (s, v) = globex.post("/v1/knowledge", json!({"name": "docs"})).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = globex
        .post("/v1/knowledge/docs/query", json!({"query": "refunds"}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["data"].as_array().unwrap().is_empty(), "{v}");
    // Acme's collection is untouched.
    let (s, v) = acme
        .post("/v1/knowledge/docs/query", json!({"query": "refunds"}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["source"], "refunds.md", "{v}");

    // A generated answer calls the answer model: refused for a tenant without it; an
    // extractive one calls no model.
    let initech = Api::with_key(&base, &initech_key);
    let (s, _) = initech.post("/v1/knowledge", json!({"name": "docs"})).await;
    assert_eq!(s, 201);
    let (s, v) = initech
        .post("/v1/knowledge/docs/answer", json!({"query": "refunds"}))
        .await;
    assert_eq!(s, 404, "{v}");
    assert_error(&v, "model_not_found");
    let (s, v) = initech
        .post(
            "/v1/knowledge/docs/answer",
            json!({"query": "refunds", "extractive": true}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    child.kill().await.unwrap();
}

/// One upload of hostile documents: each fails alone with its reason (the PDF whose form
/// draws itself overflowed the parser's stack and aborted the whole server before documents
/// were parsed in a worker process), the good document in the same upload is indexed, and
/// the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_fail_alone_and_the_server_survives() {
    let fake = FakeUpstream::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let cfg = format!(
        "{}parse_timeout_ms = 20000\nparse_memory_mb = 512\n",
        config(data.path(), &fake.base_url())
    );
    let (mut child, base, _cfg) = common::serve(&cfg, KEY).await;
    let api = Api::with_key(&base, KEY);
    let (s, _) = api.post("/v1/knowledge", json!({"name": "kb"})).await;
    assert_eq!(s, 201);
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../atalaya-knowledge/tests/fixtures/hostile");
    let hostile = [
        ("xobject-cycle.pdf", "nests too deeply"),
        ("bomb.docx", "ratio 200:1"),
        ("lying-size.docx", "declares 4294967280 bytes"),
        ("truncated.docx", "ZIP"),
        ("garbage.pdf", "pdf"),
        ("invalid-utf8.md", "not UTF-8"),
    ];
    let mut form = reqwest::multipart::Form::new();
    for (name, _) in hostile {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(std::fs::read(dir.join(name)).unwrap()).file_name(name),
        );
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(b"# Refunds\n\nRefunds reach the card in 5 days.".to_vec())
            .file_name("refunds.md"),
    );
    let (s, t) = api
        .send(
            api.http
                .post(format!("{base}/v1/knowledge/kb/documents"))
                .multipart(form),
        )
        .await;
    assert_eq!(s, 202, "{t}");
    let t = api.wait(t["id"].as_i64().unwrap()).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    let items = t["items"].as_array().unwrap();
    for (i, (name, says)) in hostile.iter().enumerate() {
        assert_eq!(items[i]["source"], *name, "{t}");
        assert_eq!(items[i]["status"], "failed", "{name}: {t}");
        let error = items[i]["error"].as_str().unwrap();
        assert!(error.contains(says), "{name}: {error}");
    }
    assert_eq!(items[hostile.len()]["status"], "indexed", "{t}");
    let (s, q) = api
        .post(
            "/v1/knowledge/kb/query",
            json!({"query": "when do refunds reach the card", "k": 1}),
        )
        .await;
    assert_eq!(s, 200, "{q}");
    assert_eq!(q["data"][0]["source"], "refunds.md", "{q}");
    assert!(child.try_wait().unwrap().is_none(), "the server exited");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

/// Files under `dir` (recursively) whose bytes contain `marker`.
fn files_containing(dir: &Path, marker: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                    found.push(p);
                }
            }
        }
    }
    found
}

/// Deleting a document, erasing a data subject (tickets tagged with `x-atalaya-subject`)
/// and deleting a tenant leave no byte of the text behind: every file under the data
/// directory is searched for a marker (database files, write-ahead logs, index segments).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_and_tenant_deletion_leave_nothing_behind() {
    let fake = FakeUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = format!(
        "{}{}",
        config(&data, &fake.base_url()),
        common::pipelines_section(dir.path(), "triage", common::TRIAGE_PIPELINE, true)
    );
    let cfg_path = dir.path().join("atalaya.toml");
    std::fs::write(&cfg_path, &cfg).unwrap();
    let key = common::tenant_key(&data, "acme", &[]);
    let (mut child, base) = common::serve_file(&cfg_path, KEY).await;
    let api = Api::with_key(&base, &key);

    // A ticket for data subject "subj-77" (its customer_id is another id).
    let (s, t) = api
        .send(
            api.http
                .post(format!("{base}/v1/tickets"))
                .header("x-atalaya-subject", "subj-77")
                .json(&json!({"customer_id": "cust-1", "body": "My parcel MARKERTICKET93 never came, hola"})),
        )
        .await;
    assert_eq!(s, 201, "{t}");

    // Two documents; one is deleted.
    let (s, _) = api.post("/v1/knowledge", json!({"name": "kb"})).await;
    assert_eq!(s, 201);
    let (s, t) = api
        .post(
            "/v1/knowledge/kb/documents",
            json!({"documents": [
                {"source": "keep.md", "content": "# Keep\n\nThe MARKERDOC41 plan covers roaming in Europe."},
                {"source": "gone.md", "content": "# Gone\n\nThe MARKERDEL58 plan was withdrawn last year."},
            ]}),
        )
        .await;
    assert_eq!(s, 202, "{t}");
    assert_eq!(
        api.wait(t["id"].as_i64().unwrap()).await["status"],
        "succeeded"
    );
    let (_, list) = api.get("/v1/knowledge/kb/documents").await;
    let gone = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["source"] == "gone.md")
        .unwrap()["id"]
        .clone();
    let (s, t) = api
        .delete(&format!("/v1/knowledge/kb/documents/{gone}"))
        .await;
    assert!(s == 200 || s == 202, "{s} {t}");
    if s == 202 {
        api.wait(t["id"].as_i64().unwrap()).await;
    }
    assert!(
        !files_containing(&data, "MARKERDOC41").is_empty(),
        "the kept document is stored"
    );
    let left = files_containing(&data, "MARKERDEL58");
    assert!(left.is_empty(), "the deleted document survives in {left:?}");

    // The data subject's erasure finds the ticket through its tag.
    let cfg_s = cfg_path.to_str().unwrap();
    let v = common::cli_json(
        &["subjects", "erase", "subj-77", "--config", cfg_s],
        &[("KEY", KEY)],
    )
    .await;
    assert_eq!(v["deleted"]["tickets"], 1, "{v}");
    let left = files_containing(&data, "MARKERTICKET93");
    assert!(left.is_empty(), "the erased ticket survives in {left:?}");

    // Deleting the tenant removes its knowledge (documents, chunks, index files).
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let v = common::cli_json(
        &["tenants", "delete", "acme", "--config", cfg_s],
        &[("KEY", KEY)],
    )
    .await;
    assert_eq!(v["purged"]["collections"], 1, "{v}");
    let left = files_containing(&data, "MARKERDOC41");
    assert!(
        left.is_empty(),
        "the deleted tenant's document survives in {left:?}"
    );
}
