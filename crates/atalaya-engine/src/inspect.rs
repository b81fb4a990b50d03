//! `atalaya models list|inspect`: what a GGUF file is, read from its header only (no weights
//! are loaded, so inspecting a 70B file is instant). ONNX embedding models are described by
//! loading them ([`crate::embed::describe_onnx`]).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{
    gguf::{human_bytes, human_count, GgufInfo, MemoryEstimate, Value},
    Error,
};

#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    pub path: String,
    /// `chat` or `embedding` (a pooling type in the metadata marks an embedding model).
    pub kind: &'static str,
    pub architecture: Option<String>,
    pub name: Option<String>,
    pub parameters: u64,
    pub quantization: String,
    pub file_bytes: u64,
    pub context_length: Option<u64>,
    pub embedding_length: Option<u64>,
    pub layers: Option<u64>,
    pub heads: Option<u64>,
    pub heads_kv: Option<u64>,
    pub vocab_size: Option<u64>,
    pub tokenizer: Option<String>,
    /// The chat template's source, when the file has one.
    pub chat_template: Option<String>,
    pub kv_bytes_per_token: Option<u64>,
    pub gguf_version: u32,
    pub tensors: usize,
}

pub fn summarize(path: &Path) -> Result<ModelSummary, Error> {
    let info = GgufInfo::read(path)?;
    let s = |k: &str| info.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(ModelSummary {
        path: path.display().to_string(),
        kind: if info.arch_u64("pooling_type").is_some_and(|p| p > 0) {
            "embedding"
        } else {
            "chat"
        },
        architecture: info.architecture().map(str::to_owned),
        name: info.name().map(str::to_owned),
        parameters: info.parameters(),
        quantization: info.quantization(),
        file_bytes: info.file_bytes,
        context_length: info.context_length(),
        embedding_length: info.arch_u64("embedding_length"),
        layers: info.arch_u64("block_count"),
        heads: info.arch_u64("attention.head_count"),
        heads_kv: info.arch_u64("attention.head_count_kv"),
        vocab_size: info.vocab_size(),
        tokenizer: s("tokenizer.ggml.model"),
        chat_template: info.chat_template().map(str::to_owned),
        kv_bytes_per_token: info.kv_bytes_per_token(),
        gguf_version: info.version,
        tensors: info.tensors.len(),
    })
}

/// The memory a model needs when served with `kv_tokens` KV cells and batches of `batch`.
pub fn estimate(path: &Path, kv_tokens: u64, batch: u64) -> Result<MemoryEstimate, Error> {
    Ok(GgufInfo::read(path)?.memory_estimate(kv_tokens, batch))
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// A human-readable description, with a memory estimate for `context` tokens × `parallel`.
pub fn render_text(m: &ModelSummary, est: &MemoryEstimate, context: u64, parallel: u64) -> String {
    let template = match &m.chat_template {
        None => "none (ChatML is used unless configured)".to_owned(),
        Some(t) => {
            let first: String = t.chars().take(72).collect::<String>().replace('\n', "\\n");
            format!(
                "{} chars: {first}{}",
                t.len(),
                if t.chars().count() > 72 { "…" } else { "" }
            )
        }
    };
    format!(
        "path:           {}\nkind:           {}\narchitecture:   {}\nname:           {}\nparameters:     {} ({})\nquantization:   {}\nfile size:      {}\ncontext length: {}\nembedding:      {}\nlayers:         {}\nheads (kv):     {} ({})\nvocabulary:     {} ({})\nchat template:  {}\nmemory:         ~{} for {context} tokens × {parallel} sequences (weights {}, KV cache {}, compute {})\n",
        m.path,
        m.kind,
        m.architecture.as_deref().unwrap_or("-"),
        m.name.as_deref().unwrap_or("-"),
        human_count(m.parameters),
        m.parameters,
        m.quantization,
        human_bytes(m.file_bytes),
        opt(m.context_length),
        opt(m.embedding_length),
        opt(m.layers),
        opt(m.heads),
        opt(m.heads_kv.or(m.heads)),
        opt(m.vocab_size),
        m.tokenizer.as_deref().unwrap_or("-"),
        template,
        human_bytes(est.total()),
        human_bytes(est.weights),
        human_bytes(est.kv_cache),
        human_bytes(est.compute),
    )
}

/// Model files (GGUF, and ONNX embedding models) under `dir` (recursively), sorted.
pub fn find_models(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("gguf") || x.eq_ignore_ascii_case("onnx"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
