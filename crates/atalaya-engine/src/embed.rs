//! Sentence embeddings with micro-batching: requests queued while a forward pass runs (and,
//! with `batch_window_ms`, those arriving within a short window) are packed into the next
//! passes, capped in tokens per pass (attention is quadratic in sequence length, so bigger
//! passes are not faster). Two engines run the passes:
//!
//! - ONNX Runtime (`path` ending in `.onnx`, with a `tokenizer.json`): the default for
//!   all-MiniLM-L6-v2 (`scripts/minilm_to_onnx.py`), the faster one on CPU.
//! - llama.cpp (any other `path`: a GGUF BERT-style model with mean pooling, e.g. from
//!   `scripts/minilm_to_gguf.py`).
//!
//! Output matches sentence-transformers: inputs are truncated to the model's sequence limit
//! ([CLS] + tokens + [SEP]), mean-pooled and L2-normalized.

use std::{
    num::NonZeroU32,
    path::Path,
    sync::{
        mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError},
        Arc,
    },
    time::{Duration, Instant},
};

use atalaya_core::{
    config::LocalModelConfig,
    metrics::{LocalMetrics, ModelSeries},
};
use llama_cpp_2::{
    context::{
        params::{LlamaContextParams, LlamaPoolingType},
        LlamaContext,
    },
    llama_batch::LlamaBatch,
    model::{params::LlamaModelParams, LlamaModel},
    token::LlamaToken,
};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::{
    backend,
    gguf::{human_bytes, GgufInfo, Value as GValue},
    new_context, onnx, spawn_engine, Error,
};

/// Most inputs one forward pass holds.
const MAX_SEQS: usize = 64;

type Vectors = Result<Vec<Vec<f32>>, Error>;

struct Job {
    inputs: Vec<Vec<i32>>,
    reply: oneshot::Sender<Vectors>,
}

enum Tokenize {
    Llama(Arc<LlamaModel>),
    /// The truncating tokenizer, and an untruncated copy for counting.
    Hf(Box<tokenizers::Tokenizer>, Box<tokenizers::Tokenizer>),
}

pub struct EmbedEngine {
    name: String,
    tokenizer: Tokenize,
    jobs: SyncSender<Job>,
    dims: usize,
    max_seq: usize,
    queue_size: usize,
    details: Value,
}

impl std::fmt::Debug for EmbedEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedEngine")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Embeddings of a request, in input order, with the tokens they took.
#[derive(Debug, Clone)]
pub struct EmbedOutput {
    pub vectors: Vec<Vec<f32>>,
    pub tokens: u64,
}

/// Whether ONNX Runtime runs the model at `path` (else llama.cpp does).
pub fn is_onnx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// Loads an `.onnx` embedding model as serving would (runtime library, tokenizer, graph
/// inputs and outputs, one test pass), describes it as `/v1/models` does, and unloads it:
/// `config check` and `models inspect|list`.
pub fn describe_onnx(
    path: &Path,
    tokenizer: Option<&Path>,
    context_length: u32,
    library: &Path,
) -> Result<Value, Error> {
    let file_bytes = file_size(path)?;
    let tokenizer = onnx::tokenizer_path(path, tokenizer);
    let loaded = onnx::load(library, path, &tokenizer, context_length, 1).map_err(|problem| {
        Error::Load {
            model: path.display().to_string(),
            problem,
        }
    })?;
    Ok(onnx_details(path, &tokenizer, file_bytes, &loaded.info))
}

fn file_size(path: &Path) -> Result<u64, Error> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| Error::ModelFile {
            path: path.display().to_string(),
            problem: e.to_string(),
        })
}

fn onnx_details(path: &Path, tokenizer: &Path, file_bytes: u64, info: &onnx::OnnxInfo) -> Value {
    json!({
        "kind": "embedding",
        "engine": "onnxruntime",
        "path": path.display().to_string(),
        "tokenizer": tokenizer.display().to_string(),
        "name": info.name,
        "producer": info.producer,
        "file_bytes": file_bytes,
        "dimensions": info.dims,
        "max_seq_length": info.max_seq,
        "pooling": "mean",
        "normalized": true,
    })
}

impl EmbedEngine {
    /// Loads `[local_models.NAME]` (`kind = "embedding"`): `context_length` is the longest input
    /// (0 = the model's), `batch_size` the token cap of one forward pass. `onnxruntime` is the
    /// ONNX Runtime library, used when the model is an `.onnx` file.
    pub fn load(
        name: &str,
        cfg: &LocalModelConfig,
        onnxruntime: &Path,
        metrics: Option<LocalMetrics>,
    ) -> Result<EmbedEngine, Error> {
        if is_onnx(&cfg.path) {
            Self::load_onnx(name, cfg, onnxruntime, metrics)
        } else {
            Self::load_gguf(name, cfg, metrics)
        }
    }

    fn load_onnx(
        name: &str,
        cfg: &LocalModelConfig,
        library: &Path,
        metrics: Option<LocalMetrics>,
    ) -> Result<EmbedEngine, Error> {
        let threads = crate::model_threads(cfg.threads);
        let tokenizer_path = onnx::tokenizer_path(&cfg.path, cfg.tokenizer.as_deref());
        let file_bytes = file_size(&cfg.path)?;
        tracing::info!(
            model = %name, path = %cfg.path.display(), threads,
            "loading local embedding model on ONNX Runtime: estimated memory {} (weights)",
            human_bytes(file_bytes),
        );
        let loaded = onnx::load(
            library,
            &cfg.path,
            &tokenizer_path,
            cfg.context_length,
            threads as usize,
        )
        .map_err(|problem| Error::Load {
            model: name.to_owned(),
            problem,
        })?;
        let info = loaded.info;
        let details = onnx_details(&cfg.path, &tokenizer_path, file_bytes, &info);
        let mut embedder = loaded.embedder;
        let worker = Worker::new(name, cfg, metrics, info.max_seq, true);
        let (tx, rx) = mpsc::sync_channel::<Job>(cfg.queue_size);
        spawn_engine(format!("embed-{name}"), name, move |ready| {
            ready.ok();
            worker.serve(&mut embedder, &rx);
        })?;
        Ok(EmbedEngine {
            name: name.to_owned(),
            tokenizer: {
                let mut counter = loaded.tokenizer.clone();
                counter.with_truncation(None).map_err(|e| Error::Load {
                    model: name.to_owned(),
                    problem: format!("tokenizer: {e}"),
                })?;
                Tokenize::Hf(Box::new(loaded.tokenizer), Box::new(counter))
            },
            jobs: tx,
            dims: info.dims,
            max_seq: info.max_seq,
            queue_size: cfg.queue_size,
            details,
        })
    }

    fn load_gguf(
        name: &str,
        cfg: &LocalModelConfig,
        metrics: Option<LocalMetrics>,
    ) -> Result<EmbedEngine, Error> {
        let info = GgufInfo::read(&cfg.path)?;
        let load_err = |problem: String| Error::Load {
            model: name.to_owned(),
            problem,
        };
        let pooling = info.arch_u64("pooling_type").unwrap_or(0);
        if pooling != 1 {
            return Err(load_err(format!(
                "{} is not a mean-pooling embedding model (pooling_type {pooling}); convert it with scripts/minilm_to_gguf.py or another sentence-embedding GGUF",
                cfg.path.display()
            )));
        }
        let trained = info.context_length().unwrap_or(512);
        let file_limit = info
            .get("atalaya.embedding.max_seq_length")
            .and_then(GValue::as_u64);
        let max_seq = match cfg.context_length {
            0 => file_limit.unwrap_or(trained),
            n => u64::from(n),
        }
        .min(trained)
        .max(2);
        let max_seq = u32::try_from(max_seq).unwrap_or(512);
        let batch_tokens = cfg.batch_size.max(max_seq);
        let threads = crate::model_threads(cfg.threads);
        let est = info.memory_estimate(0, u64::from(batch_tokens));
        tracing::info!(
            model = %name, path = %cfg.path.display(), max_seq, batch_tokens, threads,
            "loading local embedding model on llama.cpp: estimated memory {} (weights {})",
            human_bytes(est.weights + est.compute), human_bytes(est.weights),
        );
        let backend = backend()?;
        let model = LlamaModel::load_from_file(backend, &cfg.path, &LlamaModelParams::default())
            .map_err(|e| {
                load_err(format!(
                    "llama.cpp could not load {}: {e}",
                    cfg.path.display()
                ))
            })?;
        let dims = usize::try_from(model.n_embd()).unwrap_or(0);
        let details = json!({
            "kind": "embedding",
            "engine": "llama.cpp",
            "path": cfg.path.display().to_string(),
            "architecture": info.architecture(),
            "name": info.name(),
            "parameters": info.parameters(),
            "quantization": info.quantization(),
            "dimensions": dims,
            "max_seq_length": max_seq,
            "pooling": "mean",
            "normalized": true,
        });
        let model = Arc::new(model);
        let (tx, rx) = mpsc::sync_channel::<Job>(cfg.queue_size);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(batch_tokens))
            .with_n_batch(batch_tokens)
            .with_n_ubatch(batch_tokens)
            .with_n_seq_max(MAX_SEQS as u32)
            // One pool for all sequences (otherwise llama.cpp pads n_ctx per sequence).
            .with_kv_unified(true)
            .with_embeddings(true)
            .with_pooling_type(LlamaPoolingType::Mean)
            .with_n_threads(i32::try_from(threads).unwrap_or(1))
            .with_n_threads_batch(i32::try_from(threads).unwrap_or(1));
        let worker = Worker::new(name, cfg, metrics, max_seq as usize, false);
        let thread_model = model.clone();
        spawn_engine(format!("embed-{name}"), name, move |ready| {
            let ctx = match new_context(&thread_model, &worker.name, params) {
                Ok(c) => c,
                Err(e) => return ready.fail(e),
            };
            ready.ok();
            let mut pass = LlamaPass {
                ctx,
                batch: LlamaBatch::new(worker.batch_tokens, 1),
                dims,
            };
            worker.serve(&mut pass, &rx);
        })?;
        Ok(EmbedEngine {
            name: name.to_owned(),
            tokenizer: Tokenize::Llama(model),
            jobs: tx,
            dims,
            max_seq: max_seq as usize,
            queue_size: cfg.queue_size,
            details,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dimensions(&self) -> usize {
        self.dims
    }

    pub fn details(&self) -> &Value {
        &self.details
    }

    /// [CLS] tokens [SEP], truncated like sentence-transformers: the content is cut so that
    /// the whole fits `max_seq_length`, and [SEP] stays last.
    pub fn tokenize(&self, text: &str) -> Result<Vec<i32>, Error> {
        match &self.tokenizer {
            Tokenize::Llama(model) => {
                let mut tokens = model.vocab().tokenize(text.as_bytes(), true, false);
                if tokens.len() > self.max_seq {
                    let sep = tokens[tokens.len() - 1];
                    tokens.truncate(self.max_seq - 1);
                    tokens.push(sep);
                }
                Ok(tokens.into_iter().map(|t| t.0).collect())
            }
            // The tokenizer truncates (its post-processor keeps [CLS] and [SEP]).
            Tokenize::Hf(tok, _) => tok
                .encode(text, true)
                .map_err(|e| e.to_string())
                .and_then(|enc| onnx::to_i32(enc.get_ids()))
                .map_err(|e| Error::InvalidRequest {
                    message: format!("cannot tokenize the input: {e}"),
                    param: Some("input".into()),
                }),
        }
    }

    /// Tokens of `text` without the special tokens and without truncation (chunk budgets).
    pub fn count_tokens(&self, text: &str) -> Result<usize, Error> {
        let n = match &self.tokenizer {
            Tokenize::Llama(model) => model.vocab().tokenize(text.as_bytes(), true, false).len(),
            Tokenize::Hf(_, counter) => counter
                .encode(text, true)
                .map_err(|e| Error::InvalidRequest {
                    message: format!("cannot tokenize the input: {e}"),
                    param: Some("input".into()),
                })?
                .len(),
        };
        Ok(n.saturating_sub(2))
    }

    /// The longest input embedded whole, special tokens excluded.
    pub fn max_input_tokens(&self) -> usize {
        self.max_seq.saturating_sub(2)
    }

    /// Queues the inputs without waiting; the receiver yields the vectors.
    fn submit(&self, texts: &[String]) -> Result<(u64, oneshot::Receiver<Vectors>), Error> {
        let inputs = texts
            .iter()
            .map(|t| self.tokenize(t))
            .collect::<Result<Vec<_>, _>>()?;
        let tokens = inputs.iter().map(|t| t.len() as u64).sum();
        let (reply, rx) = oneshot::channel();
        match self.jobs.try_send(Job { inputs, reply }) {
            Ok(()) => Ok((tokens, rx)),
            Err(TrySendError::Full(_)) => Err(Error::QueueFull {
                model: self.name.clone(),
                waiting: self.queue_size,
                retry_after: Duration::from_secs(1),
            }),
            Err(TrySendError::Disconnected(_)) => Err(Error::Stopped(self.name.clone())),
        }
    }

    /// Embeds `texts` (async callers: the gateway).
    pub async fn embed(&self, texts: &[String]) -> Result<EmbedOutput, Error> {
        let (tokens, rx) = self.submit(texts)?;
        let vectors = rx.await.map_err(|_| Error::Stopped(self.name.clone()))??;
        Ok(EmbedOutput { vectors, tokens })
    }

    /// Embeds `texts` from a thread that is not an async runtime's (CLI, benchmarks).
    pub fn embed_blocking(&self, texts: &[String]) -> Result<EmbedOutput, Error> {
        let (tokens, rx) = self.submit(texts)?;
        let vectors = rx
            .blocking_recv()
            .map_err(|_| Error::Stopped(self.name.clone()))??;
        Ok(EmbedOutput { vectors, tokens })
    }
}

/// One engine's forward pass: pooled (not yet normalized) vectors of `seqs`, in order.
trait Forward {
    fn forward(&mut self, seqs: &[&[i32]]) -> Result<Vec<Vec<f32>>, String>;
}

impl Forward for onnx::OnnxEmbedder {
    fn forward(&mut self, seqs: &[&[i32]]) -> Result<Vec<Vec<f32>>, String> {
        onnx::OnnxEmbedder::forward(self, seqs)
    }
}

struct LlamaPass<'m> {
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'m>,
    dims: usize,
}

impl Forward for LlamaPass<'_> {
    fn forward(&mut self, seqs: &[&[i32]]) -> Result<Vec<Vec<f32>>, String> {
        self.batch.clear();
        for (seq, toks) in seqs.iter().enumerate() {
            let toks: Vec<LlamaToken> = toks.iter().map(|&t| LlamaToken::new(t)).collect();
            self.batch
                .add_sequence(&toks, i32::try_from(seq).unwrap_or(0), true)
                .map_err(|e| format!("batch: {e}"))?;
        }
        self.ctx.clear_kv_cache();
        self.ctx
            .decode(&mut self.batch)
            .map_err(|e| e.to_string())?;
        (0..seqs.len())
            .map(|seq| {
                let v = self
                    .ctx
                    .embeddings_seq_ith(i32::try_from(seq).unwrap_or(0))
                    .map_err(|e| e.to_string())?;
                if v.len() == self.dims {
                    Ok(v.to_vec())
                } else {
                    Err(format!(
                        "expected {} dimensions, got {}",
                        self.dims,
                        v.len()
                    ))
                }
            })
            .collect()
    }
}

struct Worker {
    name: String,
    metrics: Option<ModelSeries>,
    /// Token cap of one pass.
    batch_tokens: usize,
    /// Padded engines pay for `inputs × longest` tokens in a pass.
    padded: bool,
    window: Duration,
}

impl Worker {
    fn new(
        name: &str,
        cfg: &LocalModelConfig,
        metrics: Option<LocalMetrics>,
        max_seq: usize,
        padded: bool,
    ) -> Worker {
        Worker {
            name: name.to_owned(),
            metrics: metrics.map(|m| m.series(name)),
            batch_tokens: (cfg.batch_size as usize).max(max_seq),
            padded,
            window: Duration::from_millis(cfg.batch_window_ms),
        }
    }

    fn serve(&self, engine: &mut impl Forward, rx: &Receiver<Job>) {
        while let Ok(first) = rx.recv() {
            // Take what is queued (and what arrives within the window), up to a batch's worth
            // of tokens.
            let mut jobs = vec![first];
            let mut tokens: usize = jobs[0].inputs.iter().map(Vec::len).sum();
            let deadline = Instant::now() + self.window;
            while tokens < self.batch_tokens {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(job) => {
                        tokens += job.inputs.iter().map(Vec::len).sum::<usize>();
                        jobs.push(job);
                    }
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            self.process(engine, jobs);
        }
    }

    /// Runs every input of `jobs` through as few forward passes as the token cap allows and
    /// answers each job.
    fn process(&self, engine: &mut impl Forward, jobs: Vec<Job>) {
        let items: Vec<(usize, usize)> = jobs
            .iter()
            .enumerate()
            .flat_map(|(j, job)| (0..job.inputs.len()).map(move |i| (j, i)))
            .collect();
        let lengths: Vec<usize> = items
            .iter()
            .map(|&(j, i)| jobs[j].inputs[i].len())
            .collect();
        let mut results: Vec<Vec<Option<Vec<f32>>>> =
            jobs.iter().map(|j| vec![None; j.inputs.len()]).collect();
        // A failed pass fails the requests with inputs in it, not the others of the batch.
        let mut failed: Vec<Option<String>> = vec![None; jobs.len()];
        for pass in plan_passes(&lengths, self.batch_tokens, self.padded) {
            if pass.iter().all(|&k| failed[items[k].0].is_some()) {
                continue;
            }
            let seqs: Vec<&[i32]> = pass
                .iter()
                .map(|&k| jobs[items[k].0].inputs[items[k].1].as_slice())
                .collect();
            if let Some(m) = &self.metrics {
                let used: usize = seqs.iter().map(|s| s.len()).sum();
                m.batch_tokens.observe(used as f64);
                m.batch_sequences.observe(seqs.len() as f64);
                m.prompt_tokens.inc_by(used as u64);
            }
            let outcome = match engine.forward(&seqs) {
                Ok(vectors) if vectors.len() == pass.len() => Ok(vectors),
                Ok(vectors) => Err(format!(
                    "{} inputs gave {} vectors",
                    pass.len(),
                    vectors.len()
                )),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(vectors) => {
                    for (&k, v) in pass.iter().zip(vectors) {
                        let (j, i) = items[k];
                        results[j][i] = Some(normalize(&v));
                    }
                }
                Err(problem) => {
                    tracing::warn!(model = %self.name, inputs = pass.len(), %problem, "embedding pass failed");
                    for &k in &pass {
                        failed[items[k].0].get_or_insert_with(|| problem.clone());
                    }
                }
            }
        }
        for ((job, res), failure) in jobs.into_iter().zip(results).zip(failed) {
            let outcome = match (failure, res.into_iter().collect::<Option<Vec<_>>>()) {
                (None, Some(v)) => Ok(v),
                (Some(problem), _) => Err(Error::Decode {
                    model: self.name.clone(),
                    problem,
                }),
                (None, None) => Err(Error::Decode {
                    model: self.name.clone(),
                    problem: "an input produced no embedding".into(),
                }),
            };
            let _ = job.reply.send(outcome);
        }
    }
}

/// Splits inputs (by their token counts) into forward passes, longest first so that inputs of
/// similar length share a pass: a pass holds at most [`MAX_SEQS`] inputs and `cap` tokens,
/// counted as `inputs × longest` for engines that pad. An input longer than `cap` gets a pass
/// of its own. Returns indices into `lengths`.
fn plan_passes(lengths: &[usize], cap: usize, padded: bool) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]));
    let mut passes = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut sum = 0usize;
    for k in order {
        let len = lengths[k];
        let longest = current.first().map_or(len, |&f| lengths[f]);
        let cost = if padded {
            longest * (current.len() + 1)
        } else {
            sum + len
        };
        if !current.is_empty() && (cost > cap || current.len() >= MAX_SEQS) {
            passes.push(std::mem::take(&mut current));
            sum = 0;
        }
        current.push(k);
        sum += len;
    }
    if !current.is_empty() {
        passes.push(current);
    }
    passes
}

fn normalize(v: &[f32]) -> Vec<f32> {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 {
        return v.to_vec();
    }
    v.iter().map(|x| (f64::from(*x) / norm) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(passes: &[Vec<usize>]) -> Vec<usize> {
        let mut all: Vec<usize> = passes.iter().flatten().copied().collect();
        all.sort_unstable();
        all
    }

    #[test]
    fn passes_cover_every_input_once_within_the_cap() {
        let lengths = [10, 200, 15, 180, 12, 256, 9, 30];
        for padded in [false, true] {
            let passes = plan_passes(&lengths, 512, padded);
            assert_eq!(flat(&passes), (0..lengths.len()).collect::<Vec<_>>());
            for p in &passes {
                let cost = if padded {
                    p.iter().map(|&k| lengths[k]).max().unwrap_or(0) * p.len()
                } else {
                    p.iter().map(|&k| lengths[k]).sum()
                };
                assert!(cost <= 512 || p.len() == 1, "{p:?} costs {cost}");
            }
        }
        // Padded: the long inputs pair up, the short ones share one pass.
        let passes = plan_passes(&lengths, 512, true);
        assert_eq!(passes, vec![vec![5, 1], vec![3, 7], vec![2, 4, 0, 6]]);
    }

    /// Fails any pass holding token 9; otherwise returns [length, 1].
    struct FailOnNine;

    impl Forward for FailOnNine {
        fn forward(&mut self, seqs: &[&[i32]]) -> Result<Vec<Vec<f32>>, String> {
            if seqs.iter().any(|s| s.contains(&9)) {
                return Err("boom".into());
            }
            Ok(seqs.iter().map(|s| vec![s.len() as f32, 0.0]).collect())
        }
    }

    #[test]
    fn a_failed_pass_fails_only_the_requests_in_it() {
        let worker = Worker {
            name: "m".into(),
            metrics: None,
            batch_tokens: 8,
            padded: true,
            window: Duration::ZERO,
        };
        let mut replies = Vec::new();
        let jobs: Vec<Job> = [
            vec![vec![1, 2, 3, 4, 5, 6]],
            vec![vec![1, 2]],
            // The longest input runs first, alone, and fails: only its request fails.
            vec![vec![9; 7]],
            // One bad input fails its whole request.
            vec![vec![1, 1, 1], vec![9, 9, 9, 9, 9]],
        ]
        .into_iter()
        .map(|inputs| {
            let (reply, rx) = oneshot::channel();
            replies.push(rx);
            Job { inputs, reply }
        })
        .collect();
        worker.process(&mut FailOnNine, jobs);
        let out: Vec<Vectors> = replies
            .into_iter()
            .map(|mut rx| rx.try_recv().unwrap())
            .collect();
        assert_eq!(out[0].as_ref().unwrap()[0], vec![1.0, 0.0]);
        assert_eq!(out[1].as_ref().unwrap().len(), 1);
        for failed in [&out[2], &out[3]] {
            let e = failed.as_ref().unwrap_err().to_string();
            assert!(e.contains("boom"), "{e}");
        }
    }

    #[test]
    fn an_input_longer_than_the_cap_runs_alone_and_passes_hold_at_most_max_seqs() {
        assert_eq!(plan_passes(&[900, 5], 512, true), vec![vec![0], vec![1]]);
        let many = vec![1usize; 150];
        let passes = plan_passes(&many, 100_000, false);
        assert_eq!(
            passes.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![64, 64, 22]
        );
        assert!(plan_passes(&[], 512, true).is_empty());
    }
}
