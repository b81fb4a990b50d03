//! Fuzz targets: each takes arbitrary bytes, must never panic, and checks the properties of
//! its code under test. The coverage-guided fuzzers in `fuzz/` (cargo-fuzz, libFuzzer) call
//! them; `tests/corpus.rs` replays every committed corpus input through them on stable Rust,
//! so CI checks the corpus without a fuzzer.
//!
//! PDF and DOCX (`binary_document`) are fuzzed in-process too. Their third-party parsers can
//! still overflow the stack (the XObject-cycle fixture does, in an unoptimised build), which is
//! why the server parses them in a worker process (`atalaya parse-worker`) and why that
//! fixture is tested through the worker (the hostile-document tests), not replayed here.

use std::{io::Write, path::PathBuf, sync::OnceLock};

use atalaya_guard::{
    pseudo::{redact, Vault},
    Guard, Policy, Source,
};
use atalaya_knowledge::{
    chunk::{chunk, estimate_tokens, ChunkConfig},
    doc::Format,
};

/// A fuzz target.
pub type Target = fn(&[u8]);

/// The targets by name, for the fuzzers and the corpus replay.
pub const TARGETS: &[(&str, Target)] = &[
    ("document", document),
    ("guard", guard),
    ("sse", sse),
    ("pipeline_spec", pipeline_spec),
    ("template", template),
    ("config", config),
    ("gguf", gguf),
    ("classifier", classifier),
    ("ann", ann),
    ("request", request),
    ("binary_document", binary_document),
];

/// A document parsed as `format`, its blocks checked to lie inside its text; `None` when the
/// parser refused it.
fn parsed(format: Format, bytes: &[u8]) -> Option<atalaya_knowledge::doc::ParsedDocument> {
    let doc = atalaya_knowledge::parse::parse(format, bytes).ok()?;
    let chars = doc.text.chars().count();
    for b in &doc.blocks {
        assert!(
            b.start <= b.end && b.end <= chars,
            "block {b:?} outside {chars} chars"
        );
    }
    Some(doc)
}

/// The text formats, parsed and chunked: chunk ranges lie inside the text, on characters.
pub fn document(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let format = match which % 5 {
        0 => Format::Text,
        1 => Format::Markdown,
        2 => Format::Html,
        3 => Format::Csv,
        _ => Format::Jsonl,
    };
    let Some(doc) = parsed(format, bytes) else {
        return;
    };
    let chars = doc.text.chars().count();
    let cfg = ChunkConfig {
        max_tokens: 16 + usize::from(which % 64),
        overlap_tokens: usize::from(which % 8),
    };
    for c in chunk(&doc, &cfg, &estimate_tokens) {
        assert!(
            c.start <= c.end && c.end <= chars,
            "chunk {}..{} of {chars}",
            c.start,
            c.end
        );
    }
}

fn shared_guard() -> Option<&'static Guard> {
    static GUARD: OnceLock<Option<Guard>> = OnceLock::new();
    GUARD.get_or_init(|| Guard::new().ok()).as_ref()
}

/// PII and injection scans: findings in bounds and on character boundaries, scores in 0..=1,
/// and pseudonymization restored gives the text back.
pub fn guard(data: &[u8]) {
    let Some(g) = shared_guard() else {
        return;
    };
    let text = String::from_utf8_lossy(data);
    let findings = g.pii.scan(&text);
    let mut last = 0;
    for f in &findings {
        assert!(
            f.start < f.end && f.end <= text.len(),
            "{f:?} in {} bytes",
            text.len()
        );
        assert!(
            text.is_char_boundary(f.start) && text.is_char_boundary(f.end),
            "{f:?}"
        );
        assert!(
            f.start >= last,
            "findings overlap or are out of order: {findings:?}"
        );
        last = f.end;
    }
    let policy = Policy::default();
    let mut vault = Vault::new();
    if let Ok((redacted, _)) = redact(&text, &findings, &policy, &mut vault, &[&text]) {
        assert_eq!(
            vault.restore(&redacted),
            text,
            "restore(pseudonymize(x)) != x"
        );
    }
    for source in [Source::User, Source::Document] {
        let r = g.injection.scan(&text, source, 0.5);
        assert!((0.0..=1.0).contains(&r.score), "score {}", r.score);
    }
}

/// The upstream SSE reader, fed in two pieces split where the first byte says.
pub fn sse(data: &[u8]) {
    let Some((&at, bytes)) = data.split_first() else {
        return;
    };
    let cut = usize::from(at).min(bytes.len());
    let mut p = atalaya_providers::sse::SseParser::new();
    let _ = p.push(&bytes[..cut]);
    let _ = p.push(&bytes[cut..]);
    let _ = p.finish();
}

/// Pipeline files (TOML, or YAML when the first byte is odd): loaded and validated.
pub fn pipeline_spec(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(bytes);
    let _ = atalaya_pipeline::spec::Pipeline::parse(&text, which % 2 == 1, "fuzz");
}

/// Templates with hostile context values: rendered as text and as URLs, evaluated as
/// conditions. The input is `template \0 context-json`.
pub fn template(data: &[u8]) {
    static T: OnceLock<atalaya_pipeline::expr::Templates> = OnceLock::new();
    let t = T.get_or_init(atalaya_pipeline::expr::Templates::new);
    let text = String::from_utf8_lossy(data);
    let (src, ctx) = text.split_once('\0').unwrap_or((&text, "{}"));
    let ctx: serde_json::Value = serde_json::from_str(ctx)
        .unwrap_or_else(|_| serde_json::json!({"input": {"text": ctx}, "vars": {"x": ctx}}));
    let Some(map) = ctx.as_object() else {
        return;
    };
    let _ = t.render(src, &ctx);
    let _ = t.render_url(src, map);
    let _ = t.truthy(src, &ctx);
    let _ = t.eval(src, &ctx);
}

/// A scratch file of this process for targets that read files.
fn scratch(name: &str, data: &[u8]) -> Option<PathBuf> {
    let p = std::env::temp_dir().join(format!("atalaya-fuzz-{}-{name}", std::process::id()));
    let mut f = std::fs::File::create(&p).ok()?;
    f.write_all(data).ok()?;
    Some(p)
}

/// Configuration files: loaded and validated.
pub fn config(data: &[u8]) {
    let Some(p) = scratch("config.toml", data) else {
        return;
    };
    let _ = atalaya_config::Config::load(Some(&p), &[], &atalaya_config::CliOverrides::default());
}

/// GGUF model files (untrusted input too): the header reader.
pub fn gguf(data: &[u8]) {
    let Some(p) = scratch("model.gguf", data) else {
        return;
    };
    let _ = atalaya_engine::gguf::GgufInfo::read(&p);
}

/// Classifier files: loaded (every size in the header checked against the file), and a loaded
/// classifier predicts on a text (with an embedding of its width when it needs one).
pub fn classifier(data: &[u8]) {
    let Some(p) = scratch("model.atc", data) else {
        return;
    };
    let Ok(c) = atalaya_classify::Classifier::load(&p) else {
        return;
    };
    let width = c.embedding_dims();
    let embedding = vec![0.1f32; width];
    let e = (width > 0).then_some(embedding.as_slice());
    if let Ok(pred) = c.predict("hola, where is my order? obrigado", e) {
        assert!(
            (0.0..=1.0).contains(&pred.confidence),
            "confidence {}",
            pred.confidence
        );
    }
}

/// Dimensions of the vectors in the HNSW graphs the `ann` target loads (the seeds are built
/// with it).
pub const ANN_DIMS: usize = 8;

/// HNSW graph files, as saved beside a collection's index: a file that is corrupt, truncated
/// or built with other parameters is refused (the caller rebuilds from the store); one that
/// loads answers searches with keys it holds.
pub fn ann(data: &[u8]) {
    use atalaya_knowledge::ann::{Ann, AnnParams};
    let Some(p) = scratch("graph.hnsw", data) else {
        return;
    };
    let Some((graph, keys)) = Ann::load(&p, ANN_DIMS, AnnParams::default()) else {
        return;
    };
    let query = [0.5f32, -0.5, 0.5, -0.5, 0.0, 0.0, 0.0, 0.0];
    if let Ok(hits) = graph.search(&query, 5, None) {
        for (k, _) in hits {
            assert!(keys.contains(&k), "a key the file did not list: {k}");
        }
    }
}

/// Wire-to-domain request validation, as a request body reaches the API: JSON into the wire
/// types (chat completions and embeddings), then into the domain request. A request that
/// passes goes back to the wire (what a provider sends upstream) with the same messages, and
/// serializes.
pub fn request(data: &[u8]) {
    use atalaya_core::domain::{ChatRequest, EmbeddingRequest};
    if let Ok(wire) = serde_json::from_slice::<atalaya_api::ChatCompletionRequest>(data) {
        if let Ok(req) = ChatRequest::try_from(wire) {
            let back = req.to_wire("upstream-model", false);
            assert_eq!(back.messages.len(), req.messages.len());
            assert_eq!(back.model, "upstream-model");
            assert!(serde_json::to_vec(&back).is_ok());
        }
    }
    if let Ok(wire) = serde_json::from_slice::<atalaya_api::EmbeddingRequest>(data) {
        if let Ok(req) = EmbeddingRequest::try_from(wire) {
            assert!(serde_json::to_vec(&req.to_wire("upstream-model")).is_ok());
        }
    }
}

/// PDF and DOCX, parsed in this process (the server parses them in a worker process, which
/// contains what this target finds): the text's blocks lie inside it.
pub fn binary_document(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let format = if which % 2 == 0 {
        Format::Pdf
    } else {
        Format::Docx
    };
    let _ = parsed(format, bytes);
}
