//! End-to-end: `atalaya kb` with the real binary and the real embedding model (ONNX Runtime,
//! prepared by `make models`): the CLI contract evaluation scripts rely on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_atalaya");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kb(data: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("kb")
        .args(args)
        .args(["--data-dir", data.to_str().unwrap()])
        .current_dir(repo())
        .env_remove("ATALAYA_CONFIG")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn create_ingest_search_and_delete() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    let fixtures = repo().join("crates/atalaya-knowledge/tests/fixtures");
    let fx = fixtures.to_str().unwrap();

    let o = kb(d, &["create", "help", "--language", "en"]);
    assert!(o.status.success(), "{o:?}");
    let o = kb(d, &["create", "help"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));

    // A directory with good and bad files: every file is reported, the good ones land, and the
    // exit status says some failed.
    let o = kb(d, &["ingest", "help", fx, "--json"]);
    assert!(!o.status.success(), "bad fixtures must fail the run: {o:?}");
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let status = |file: &str| {
        lines
            .iter()
            .find(|l| l["file"].as_str().unwrap().ends_with(file))
            .map(|l| l["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status("router-guide.pdf").as_deref(), Some("indexed"));
    assert_eq!(status("devoluciones.docx").as_deref(), Some("indexed"));
    assert_eq!(status("broken.pdf").as_deref(), Some("failed"));
    assert_eq!(status("latin1.txt").as_deref(), Some("failed"));
    let failed = lines
        .iter()
        .find(|l| l["file"].as_str().unwrap().ends_with("latin1.txt"))
        .unwrap();
    assert!(failed["error"].as_str().unwrap().contains("UTF-8"));

    // Again, only the good files (glob filter): all unchanged, success.
    let o = kb(
        d,
        &[
            "ingest", "help", fx, "--glob", "*.md", "--glob", "*.pdf", "--glob", "*.html", "--json",
        ],
    );
    let out = stdout(&o);
    assert!(out.lines().all(|l| !l.contains("\"indexed\"")), "{out}");
    assert!(
        out.contains("reset-password.md") && out.contains("\"unchanged\""),
        "{out}"
    );

    // Search, one query, every mode.
    for mode in ["hybrid", "dense", "bm25"] {
        let o = kb(
            d,
            &[
                "search",
                "help",
                "--query",
                "what to do when the router light blinks red",
                "--k",
                "3",
                "--mode",
                mode,
                "--json",
            ],
        );
        assert!(o.status.success(), "{o:?}");
        let hits: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert!(
            hits[0]["source"]
                .as_str()
                .unwrap()
                .ends_with("router-guide.pdf"),
            "{mode}: {hits}"
        );
        assert_eq!(hits[0]["page"], 1);
    }

    // Batch search: the stable evaluation format.
    let queries = d.join("q.jsonl");
    std::fs::write(
        &queries,
        "{\"id\":\"q1\",\"query\":\"prazo de entrega para Portugal\"}\n{\"id\":7,\"query\":\"forgot password email link\"}\n",
    )
    .unwrap();
    let o = kb(
        d,
        &[
            "search",
            "help",
            "--queries",
            queries.to_str().unwrap(),
            "--k",
            "2",
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let rows: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], "q1");
    assert_eq!(rows[1]["id"], 7);
    assert!(
        rows[0]["results"][0]["doc"]
            .as_str()
            .unwrap()
            .ends_with("envios.html"),
        "{rows:?}"
    );
    assert!(
        rows[1]["results"][0]["doc"]
            .as_str()
            .unwrap()
            .ends_with("reset-password.md"),
        "{rows:?}"
    );
    assert!(rows[1]["results"][0]["chunk"].is_u64() && rows[1]["results"][0]["score"].is_f64());

    // Delete a document, then the collection.
    let pdf = fixtures.join("router-guide.pdf");
    let o = kb(d, &["delete", "help", "--document", pdf.to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");
    let o = kb(
        d,
        &[
            "search",
            "help",
            "--query",
            "reset button router",
            "--mode",
            "bm25",
            "--json",
        ],
    );
    assert!(!stdout(&o).contains("router-guide.pdf"));
    let o = kb(d, &["delete", "help"]);
    assert!(o.status.success());
    let o = kb(d, &["search", "help", "--query", "x"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("collection 'help' not found"));
}

/// On the demo knowledge base and its labelled questions (the evaluation split), hybrid
/// retrieval ranks better than either dense or BM25 alone (MRR@10), and finds at least as
/// many answers in the top 5. docs/BENCHMARKS.md has the full figures (bench/knowledge.sh).
#[test]
fn hybrid_beats_dense_and_bm25_on_the_labelled_demo_set() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    assert!(kb(d, &["create", "demo"]).status.success());
    for lang in ["en", "es", "pt"] {
        let dir = format!("demo/knowledge/{lang}");
        let o = kb(d, &["ingest", "demo", &dir, "--language", lang]);
        assert!(o.status.success(), "{o:?}");
    }
    let questions: Vec<Value> =
        std::fs::read_to_string(repo().join("demo/knowledge/questions.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|q: &Value| q["split"] == "eval")
            .collect();
    assert!(questions.len() >= 100);
    let qfile = d.join("q.jsonl");
    std::fs::write(
        &qfile,
        questions
            .iter()
            .map(|q| serde_json::json!({"id": q["id"], "query": q["query"]}).to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let score = |mode: &str| -> (f64, f64) {
        let o = kb(
            d,
            &[
                "search",
                "demo",
                "--queries",
                qfile.to_str().unwrap(),
                "--k",
                "10",
                "--mode",
                mode,
            ],
        );
        assert!(o.status.success(), "{o:?}");
        let (mut mrr, mut r5) = (0.0, 0.0);
        for (line, q) in stdout(&o).lines().zip(&questions) {
            let r: Value = serde_json::from_str(line).unwrap();
            assert_eq!(r["id"], q["id"]);
            let want = format!("demo/knowledge/{}", q["relevant"][0].as_str().unwrap());
            let mut docs: Vec<&str> = Vec::new();
            for h in r["results"].as_array().unwrap() {
                let doc = h["doc"].as_str().unwrap();
                if !docs.contains(&doc) {
                    docs.push(doc);
                }
            }
            if let Some(rank) = docs.iter().position(|doc| *doc == want) {
                mrr += 1.0 / (rank as f64 + 1.0);
                if rank < 5 {
                    r5 += 1.0;
                }
            }
        }
        let n = questions.len() as f64;
        (mrr / n, r5 / n)
    };
    let (hybrid, dense, bm25) = (score("hybrid"), score("dense"), score("bm25"));
    assert!(
        hybrid.0 > dense.0 && hybrid.0 > bm25.0,
        "MRR@10 hybrid {hybrid:?} dense {dense:?} bm25 {bm25:?}"
    );
    assert!(
        hybrid.1 >= dense.1 && hybrid.1 >= bm25.1,
        "recall@5 {hybrid:?} {dense:?} {bm25:?}"
    );
    assert!(hybrid.1 >= 0.95, "hybrid recall@5 {}", hybrid.1);
}
