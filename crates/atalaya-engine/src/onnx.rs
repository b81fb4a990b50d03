//! Sentence-embedding models on ONNX Runtime (CPU): a graph taking `input_ids` and
//! `attention_mask` (int64, `[batch, seq]`) and returning mean-pooled `sentence_embedding`
//! (`[batch, dims]`), with a Hugging Face `tokenizer.json` beside it. `scripts/minilm_to_onnx.py`
//! builds such a graph for all-MiniLM-L6-v2 with ONNX Runtime's fused BERT operators.
//!
//! ONNX Runtime is not linked: its shared library (from the PyPI wheel, installed by
//! `scripts/models.sh`) is loaded once per process from `[onnxruntime] library`.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

use ort::{
    environment::Environment,
    session::{builder::GraphOptimizationLevel, Session},
    value::Tensor,
};
use tokenizers::{Tokenizer, TruncationParams};

/// The process-wide ONNX Runtime environment, once a library has loaded: later models must
/// name the same library. Failures are not cached, so a corrected path can be retried.
static ENVIRONMENT: Mutex<Option<(PathBuf, Environment)>> = Mutex::new(None);

fn environment(library: &Path) -> Result<Environment, String> {
    let key = "onnxruntime.library";
    // `ort` would resolve a relative path against the executable's directory first; resolve it
    // against the working directory, where it was checked.
    let resolved = library.canonicalize().map_err(|e| {
        format!(
            "{key}: the ONNX Runtime library {} cannot be opened ({e}); run `make models`, or set {key} (ATALAYA__ONNXRUNTIME__LIBRARY)",
            library.display()
        )
    })?;
    let mut current = ENVIRONMENT
        .lock()
        .map_err(|_| "ONNX Runtime initialisation panicked earlier".to_owned())?;
    if let Some((path, env)) = current.as_ref() {
        return if *path == resolved {
            Ok(env.clone())
        } else {
            Err(format!(
                "{key}: ONNX Runtime is already loaded from {}; one library per process",
                path.display()
            ))
        };
    }
    let env = ort::init_from(&resolved)
        .map_err(|e| format!("{key}: cannot load ONNX Runtime: {e}"))?
        .with_name("atalaya")
        .build()
        .map_err(|e| format!("{key}: cannot start ONNX Runtime: {e}"))?;
    *current = Some((resolved, env.clone()));
    Ok(env)
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
    let mut tok = Tokenizer::from_file(tokenizer).map_err(|e| {
        format!(
            "cannot read the tokenizer {} ({e}); set the model's `tokenizer` key to its tokenizer.json",
            tokenizer.display()
        )
    })?;
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
    let (file_limit, positions, meta_dims, name, producer) = match session.metadata() {
        Ok(m) => {
            let num = |k: &str| m.custom(k).and_then(|v| v.parse::<usize>().ok());
            (
                num("atalaya.embedding.max_seq_length"),
                num("atalaya.embedding.max_position_embeddings"),
                num("atalaya.embedding.dimensions"),
                m.custom("atalaya.embedding.name").or_else(|| m.name()),
                m.producer(),
            )
        }
        Err(_) => (None, None, None, None, None),
    };
    let max_seq = match context_length {
        0 => file_limit.unwrap_or(512),
        n => n as usize,
    }
    .max(2);
    if let Some(p) = positions.filter(|&p| max_seq > p) {
        return Err(format!(
            "context_length {max_seq} is more than the {p} positions {} was trained for; set context_length to at most {p} (0 = the model's {})",
            model.display(),
            file_limit.map_or_else(|| p.to_string(), |l| l.to_string())
        ));
    }
    tok.with_truncation(Some(TruncationParams {
        max_length: max_seq,
        ..TruncationParams::default()
    }))
    .map_err(|e| format!("tokenizer truncation: {e}"))?;
    tok.with_padding(None);
    let mut embedder = OnnxEmbedder { session, dims: 0 };
    // Probe passes learn the width and prove, before serving, that the tokenizer adds its
    // special tokens and that the graph runs an input of the longest allowed length.
    let ids = |text: &str| -> Result<Vec<i32>, String> {
        let enc = tok
            .encode(text, true)
            .map_err(|e| format!("the tokenizer failed on a test input: {e}"))?;
        to_i32(enc.get_ids())
    };
    if ids("")?.is_empty() {
        return Err(format!(
            "the tokenizer {} adds no special tokens: an empty input would have no tokens to pool",
            tokenizer.display()
        ));
    }
    let short = ids("probe")?;
    let mut longest = short.clone();
    if let (Some(&last), Some(&filler)) = (short.last(), short.get(short.len().saturating_sub(2))) {
        longest.truncate(short.len() - 1);
        longest.resize(max_seq - 1, filler);
        longest.push(last);
    }
    let probe = embedder
        .forward(&[&short])
        .map_err(|e| format!("a test pass through {} failed: {e}", model.display()))?;
    embedder.forward(&[&longest]).map_err(|e| {
        format!(
            "{} cannot embed a {max_seq}-token input ({e}); lower context_length",
            model.display()
        )
    })?;
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

/// Token ids as the engine's `i32`s; an id beyond `i32` is a broken tokenizer, not a token.
pub(crate) fn to_i32(ids: &[u32]) -> Result<Vec<i32>, String> {
    ids.iter()
        .map(|&t| i32::try_from(t).map_err(|_| format!("token id {t} is out of range")))
        .collect()
}

impl OnnxEmbedder {
    /// Pooled (not normalized) vectors of `seqs`, right-padded to the longest.
    pub(crate) fn forward(&mut self, seqs: &[&[i32]]) -> Result<Vec<Vec<f32>>, String> {
        let rows = seqs.len();
        let width = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        if seqs.iter().any(|s| s.is_empty()) {
            return Err("an input has no tokens".into());
        }
        if rows == 0 {
            return Ok(Vec::new());
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
