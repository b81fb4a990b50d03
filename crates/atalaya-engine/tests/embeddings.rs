//! The embedding engine, on both backends (ONNX Runtime and llama.cpp), against reference
//! vectors computed once with sentence-transformers (scripts/embedding_reference.py) and
//! committed in tests/data/minilm_reference.json.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{path::PathBuf, sync::Arc};

use atalaya_core::config::{LocalModelConfig, LocalModelKind};
use atalaya_engine::embed::EmbedEngine;
use serde_json::Value;

fn prepared(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing: run `make models` (scripts/models.sh) first",
        p.display()
    );
    p
}

fn onnxruntime() -> PathBuf {
    prepared("models/onnxruntime/libonnxruntime.so")
}

/// The same model for each backend.
const BACKENDS: [(&str, &str); 2] = [
    ("onnxruntime", "models/all-MiniLM-L6-v2/model.onnx"),
    ("llama.cpp", "models/all-MiniLM-L6-v2.gguf"),
];

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

fn engine(backend: usize) -> EmbedEngine {
    let (_, path) = BACKENDS[backend];
    EmbedEngine::load(
        "minilm",
        &embedding_config(prepared(path)),
        &onnxruntime(),
        None,
    )
    .unwrap()
}

#[tokio::test]
async fn both_backends_match_sentence_transformers() {
    let refs = reference();
    let texts: Vec<String> = refs.iter().map(|r| r.text.clone()).collect();
    for (b, (backend, _)) in BACKENDS.iter().enumerate() {
        let e = engine(b);
        assert_eq!(e.dimensions(), 384);
        assert_eq!(e.details()["engine"], *backend);
        let out = e.embed(&texts).await.unwrap();
        assert_eq!(out.vectors.len(), refs.len());
        let mut worst = 1.0f64;
        for (r, v) in refs.iter().zip(&out.vectors) {
            let c = cosine(&r.vector, v);
            worst = worst.min(c);
            assert!(c >= 0.9999, "{backend}: cosine {c:.7} for {:?}", r.text);
            assert_eq!(
                e.tokenize(&r.text).unwrap().len() as u64,
                r.tokens,
                "{backend}: token count of {:?}",
                r.text
            );
            let norm: f64 = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            assert!(
                (norm - 1.0).abs() < 1e-4,
                "{backend}: not normalized: {norm}"
            );
        }
        assert_eq!(out.tokens, refs.iter().map(|r| r.tokens).sum::<u64>());
        eprintln!("{backend}: worst cosine vs sentence-transformers: {worst:.7}");
    }
}

/// Inputs alone and inputs batched with others (padded to a longer neighbour on ONNX Runtime)
/// give the same vectors.
#[test]
fn a_vector_does_not_depend_on_its_batch() {
    let refs = reference();
    let texts: Vec<String> = refs.iter().map(|r| r.text.clone()).collect();
    for (b, (backend, _)) in BACKENDS.iter().enumerate() {
        let e = engine(b);
        let together = e.embed_blocking(&texts).unwrap().vectors;
        for (t, v) in texts.iter().zip(&together).take(4) {
            let alone = e.embed_blocking(std::slice::from_ref(t)).unwrap().vectors;
            let c = cosine(&alone[0], v);
            assert!(c >= 0.99999, "{backend}: {c} for {t:?}");
        }
    }
}

/// Concurrent requests are coalesced into shared batches; each still gets exactly its own
/// vectors, in its own order (both backends).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_get_their_own_vectors() {
    let refs = Arc::new(reference());
    for (b, (backend, _)) in BACKENDS.iter().enumerate() {
        let e = Arc::new(engine(b));
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
                            "{backend}: request {k}: cosine {c} for {:?}",
                            refs[i].text
                        );
                    }
                }
            })
            .collect();
        futures::future::join_all(tasks).await;
    }
}

/// A context_length beyond the graph's positions is refused at load, with the limit.
#[test]
fn an_onnx_context_length_beyond_the_model_is_refused() {
    let cfg = LocalModelConfig {
        context_length: 1024,
        ..embedding_config(prepared(BACKENDS[0].1))
    };
    let e = EmbedEngine::load("m", &cfg, &onnxruntime(), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("context_length") && e.contains("512"), "{e}");
    let cfg = LocalModelConfig {
        context_length: 512,
        ..embedding_config(prepared(BACKENDS[0].1))
    };
    let e = EmbedEngine::load("m", &cfg, &onnxruntime(), None).unwrap();
    let long = "refund ".repeat(600);
    assert_eq!(e.tokenize(&long).unwrap().len(), 512);
    assert_eq!(e.embed_blocking(&[long]).unwrap().vectors[0].len(), 384);
}

#[test]
fn blocking_callers_get_the_same_vectors() {
    let e = engine(0);
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
    let e = EmbedEngine::load("tiny", &embedding_config(p), &onnxruntime(), None).unwrap_err();
    assert!(
        e.to_string().contains("not a mean-pooling embedding model"),
        "{e}"
    );
}

#[test]
fn onnx_models_with_a_bad_file_tokenizer_or_library_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(LocalModelConfig, PathBuf, &str)> = vec![
        // Not an ONNX graph.
        (
            {
                let p = dir.path().join("model.onnx");
                std::fs::write(&p, b"not a protobuf").unwrap();
                std::fs::copy(
                    prepared("models/all-MiniLM-L6-v2/tokenizer.json"),
                    dir.path().join("tokenizer.json"),
                )
                .unwrap();
                embedding_config(p)
            },
            onnxruntime(),
            "ONNX Runtime could not load",
        ),
        // No tokenizer beside the model.
        (
            LocalModelConfig {
                tokenizer: Some(dir.path().join("missing.json")),
                ..embedding_config(prepared("models/all-MiniLM-L6-v2/model.onnx"))
            },
            onnxruntime(),
            "cannot read the tokenizer",
        ),
    ];
    for (cfg, lib, want) in cases {
        let e = EmbedEngine::load("m", &cfg, &lib, None).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
        assert!(e.to_string().contains("cannot load model 'm'"), "{e}");
    }
}
