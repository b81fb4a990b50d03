//! Sentence-embedding models on ONNX Runtime (CPU): a graph taking `input_ids` and
//! `attention_mask` (int64, `[batch, seq]`) and returning mean-pooled `sentence_embedding`
//! (`[batch, dims]`), with a Hugging Face `tokenizer.json` beside it. `scripts/minilm_to_onnx.py`
//! builds such a graph for all-MiniLM-L6-v2 with ONNX Runtime's fused BERT operators.
//!
//! ONNX Runtime is not linked: its shared library (from the PyPI wheel, installed by
//! `scripts/models.sh`) is loaded once per process from `[onnxruntime] library`.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use ort::{
    environment::Environment,
    session::{builder::GraphOptimizationLevel, Session},
    value::Tensor,
};
use tokenizers::{Tokenizer, TruncationParams};

/// The process-wide ONNX Runtime environment: the first library path wins.
static ENVIRONMENT: OnceLock<Result<(PathBuf, Environment), String>> = OnceLock::new();

fn environment(library: &Path) -> Result<Environment, String> {
    let env = ENVIRONMENT.get_or_init(|| {
        if !library.is_file() {
            return Err(format!(
                "the ONNX Runtime library {} does not exist (run `make models`, or set [onnxruntime] library)",
                library.display()
            ));
        }
        ort::init_from(library)
            .map_err(|e| format!("cannot load ONNX Runtime: {e}"))?
            .with_name("atalaya")
            .build()
            .map(|env| (library.to_path_buf(), env))
            .map_err(|e| format!("cannot start ONNX Runtime: {e}"))
    });
    match env {
        Ok((path, env)) if path == library => Ok(env.clone()),
        Ok((path, _)) => Err(format!(
            "ONNX Runtime is already loaded from {}; one library per process",
            path.display()
        )),
        Err(e) => Err(e.clone()),
    }
}

/// What the loader learned about the model.
#[derive(Debug, Clone)]
pub(crate) struct OnnxInfo {
    pub dims: usize,
    pub max_seq: usize,
    pub name: Option<String>,
    pub producer: Option<String>,
}

/// A loaded embedding session. Not shared: the engine thread owns it.
pub(crate) struct OnnxEmbedder {
    session: Session,
    dims: usize,
}

/// Tokenizer plus session, before the engine thread takes the session.
pub(crate) struct Loaded {
    pub tokenizer: Tokenizer,
    pub embedder: OnnxEmbedder,
    pub info: OnnxInfo,
}

/// `tokenizer.json` beside the model unless configured.
pub(crate) fn tokenizer_path(model: &Path, configured: Option<&Path>) -> PathBuf {
    match configured {
        Some(p) => p.to_path_buf(),
        None => model.with_file_name("tokenizer.json"),
    }
}

pub(crate) fn load(
    library: &Path,
    model: &Path,
    tokenizer: &Path,
    context_length: u32,
    threads: usize,
) -> Result<Loaded, String> {
    let mut tok = Tokenizer::from_file(tokenizer)
        .map_err(|e| format!("cannot read the tokenizer {}: {e}", tokenizer.display()))?;
    let env = environment(library)?;
    let options = |e: ort::Error<ort::session::builder::SessionBuilder>| {
        format!("ONNX Runtime session options: {e}")
    };
    let session = Session::builder(&env)
        .map_err(|e| format!("ONNX Runtime session: {e}"))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(options)?
        .with_intra_threads(threads)
        .map_err(options)?
        .with_inter_threads(1)
        .map_err(options)?
        .commit_from_file(model)
        .map_err(|e| format!("ONNX Runtime could not load {}: {e}", model.display()))?;
    let input_names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    for want in ["input_ids", "attention_mask"] {
        if !input_names.contains(&want) {
            return Err(format!(
                "{} has no `{want}` input (inputs: {input_names:?}); expected a sentence-embedding graph like scripts/minilm_to_onnx.py writes",
                model.display()
            ));
        }
    }
    if let Some(extra) = input_names
        .iter()
        .find(|n| !["input_ids", "attention_mask"].contains(n))
    {
        return Err(format!(
            "{} needs an input `{extra}` that Atalaya does not provide (only input_ids and attention_mask)",
            model.display()
        ));
    }
    if !session
        .outputs()
        .iter()
        .any(|o| o.name() == "sentence_embedding")
    {
        return Err(format!(
            "{} has no `sentence_embedding` output (a pooled [batch, dims] tensor)",
            model.display()
        ));
    }
    let (file_limit, meta_dims, name, producer) = match session.metadata() {
        Ok(m) => {
            let num = |k: &str| m.custom(k).and_then(|v| v.parse::<usize>().ok());
            (
                num("atalaya.embedding.max_seq_length"),
                num("atalaya.embedding.dimensions"),
                m.custom("atalaya.embedding.name").or_else(|| m.name()),
                m.producer(),
            )
        }
        Err(_) => (None, None, None, None),
    };
    let max_seq = match context_length {
        0 => file_limit.unwrap_or(512),
        n => n as usize,
    }
    .max(2);
    tok.with_truncation(Some(TruncationParams {
        max_length: max_seq,
        ..TruncationParams::default()
    }))
    .map_err(|e| format!("tokenizer truncation: {e}"))?;
    tok.with_padding(None);
    let mut embedder = OnnxEmbedder { session, dims: 0 };
    // One probe pass learns the width (and proves the graph runs) before serving.
    let probe: Vec<i32> = tok
        .encode("probe", true)
        .map_err(|e| format!("the tokenizer failed on a test input: {e}"))?
        .get_ids()
        .iter()
        .map(|&t| i32::try_from(t).unwrap_or(0))
        .collect();
    let probe = embedder
        .forward(&[&probe])
        .map_err(|e| format!("a test pass through {} failed: {e}", model.display()))?;
    let width = probe.first().map(Vec::len).unwrap_or(0);
    if width == 0 || meta_dims.is_some_and(|d| d != width) {
        return Err(format!(
            "{} produced {width}-dimensional vectors, its metadata says {meta_dims:?}",
            model.display()
        ));
    }
    embedder.dims = width;
    Ok(Loaded {
        tokenizer: tok,
        embedder,
        info: OnnxInfo {
            dims: width,
            max_seq,
            name,
            producer,
        },
    })
}

impl OnnxEmbedder {
    /// Pooled (not normalized) vectors of `seqs`, right-padded to the longest.
    pub(crate) fn forward(&mut self, seqs: &[&[i32]]) -> Result<Vec<Vec<f32>>, String> {
        let rows = seqs.len();
        let width = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        if rows == 0 || width == 0 {
            return Ok(vec![Vec::new(); rows]);
        }
        let mut ids = vec![0i64; rows * width];
        let mut mask = vec![0i64; rows * width];
        for (r, seq) in seqs.iter().enumerate() {
            for (c, &t) in seq.iter().enumerate() {
                ids[r * width + c] = i64::from(t);
                mask[r * width + c] = 1;
            }
        }
        let shape = [rows, width];
        let ids = Tensor::from_array((shape, ids)).map_err(|e| e.to_string())?;
        let mask = Tensor::from_array((shape, mask)).map_err(|e| e.to_string())?;
        let outputs = self
            .session
            .run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])
            .map_err(|e| e.to_string())?;
        let out = outputs
            .get("sentence_embedding")
            .ok_or("no sentence_embedding output")?;
        let (shape, data) = out.try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
        let dims = match &shape[..] {
            [r, d] if usize::try_from(*r).ok() == Some(rows) => usize::try_from(*d).unwrap_or(0),
            other => return Err(format!("unexpected output shape {other:?}")),
        };
        if self.dims != 0 && dims != self.dims {
            return Err(format!("expected {} dimensions, got {dims}", self.dims));
        }
        Ok(data.chunks(dims.max(1)).map(<[f32]>::to_vec).collect())
    }
}
