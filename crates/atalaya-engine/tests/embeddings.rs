//! The embedding engine against reference vectors computed once with sentence-transformers
//! (scripts/embedding_reference.py) and committed in tests/data/minilm_reference.json.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{path::PathBuf, sync::Arc};

use atalaya_core::config::{LocalModelConfig, LocalModelKind};
use atalaya_engine::embed::EmbedEngine;
use serde_json::Value;

fn model() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2.gguf");
    assert!(
        p.is_file(),
        "{} is missing: run `make models` (scripts/models.sh) first",
        p.display()
    );
    p
}

struct Reference {
    text: String,
    tokens: u64,
    vector: Vec<f32>,
}

fn reference() -> Vec<Reference> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/minilm_reference.json");
    let data: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    data["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| Reference {
            text: i["text"].as_str().unwrap().to_owned(),
            tokens: i["tokens"].as_u64().unwrap(),
            vector: i["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn embedding_config(path: PathBuf) -> LocalModelConfig {
    LocalModelConfig {
        kind: LocalModelKind::Embedding,
        path,
        threads: 2,
        ..LocalModelConfig::default()
    }
}

fn engine() -> EmbedEngine {
    EmbedEngine::load("minilm", &embedding_config(model()), None).unwrap()
}

#[tokio::test]
async fn matches_sentence_transformers() {
    let e = engine();
    assert_eq!(e.dimensions(), 384);
    let refs = reference();
    let texts: Vec<String> = refs.iter().map(|r| r.text.clone()).collect();
    let out = e.embed(&texts).await.unwrap();
    assert_eq!(out.vectors.len(), refs.len());
    let mut worst = 1.0f64;
    for (r, v) in refs.iter().zip(&out.vectors) {
        let c = cosine(&r.vector, v);
        worst = worst.min(c);
        assert!(c >= 0.9999, "cosine {c:.7} for {:?}", r.text);
        assert_eq!(
            e.tokenize(&r.text).len() as u64,
            r.tokens,
            "token count of {:?}",
            r.text
        );
        let norm: f64 = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "not normalized: {norm}");
    }
    assert_eq!(out.tokens, refs.iter().map(|r| r.tokens).sum::<u64>());
    eprintln!("worst cosine vs sentence-transformers: {worst:.7}");
}

/// Concurrent requests are coalesced into shared batches; each still gets exactly its own
/// vectors, in its own order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_get_their_own_vectors() {
    let e = Arc::new(engine());
    let refs = Arc::new(reference());
    let tasks: Vec<_> = (0..8)
        .map(|k| {
            let e = e.clone();
            let refs = refs.clone();
            // Each request: a different rotation of a few reference texts.
            let idx: Vec<usize> = (0..3).map(|j| (k * 3 + j) % refs.len()).collect();
            async move {
                let texts: Vec<String> = idx.iter().map(|&i| refs[i].text.clone()).collect();
                let out = e.embed(&texts).await.unwrap();
                for (v, &i) in out.vectors.iter().zip(&idx) {
                    let c = cosine(&refs[i].vector, v);
                    assert!(
                        c >= 0.9999,
                        "request {k}: cosine {c} for {:?}",
                        refs[i].text
                    );
                }
            }
        })
        .collect();
    futures::future::join_all(tasks).await;
}

#[test]
fn blocking_callers_get_the_same_vectors() {
    let e = engine();
    let out = e
        .embed_blocking(&["How do I reset my password?".to_owned()])
        .unwrap();
    let r = &reference()[0];
    assert!(cosine(&r.vector, &out.vectors[0]) >= 0.9999);
}

#[test]
fn a_chat_model_is_refused_as_an_embedding_model() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/fixtures/tiny-llama-q8_0.gguf");
    let e = EmbedEngine::load("tiny", &embedding_config(p), None).unwrap_err();
    assert!(
        e.to_string().contains("not a mean-pooling embedding model"),
        "{e}"
    );
}
