//! Sentence embeddings on llama.cpp (BERT-style models with mean pooling, e.g.
//! all-MiniLM-L6-v2 converted by `scripts/minilm_to_gguf.py`), with micro-batching: requests
//! arriving within a short window are packed into shared forward passes, capped in total tokens
//! (attention in one pass is quadratic in its token count, so bigger is not faster).
//!
//! Output matches sentence-transformers: inputs are truncated to the model's sequence limit
//! ([CLS] + tokens + [SEP]), mean-pooled and L2-normalized.

use std::{
    num::NonZeroU32,
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
    new_context, spawn_engine, Error, Ready,
};

/// Most inputs one forward pass holds.
const MAX_SEQS: u32 = 64;

type Vectors = Result<Vec<Vec<f32>>, Error>;

struct Job {
    inputs: Vec<Vec<LlamaToken>>,
    reply: oneshot::Sender<Vectors>,
}

pub struct EmbedEngine {
    name: String,
    model: Arc<LlamaModel>,
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

impl EmbedEngine {
    /// Loads `[local_models.NAME]` (`kind = "embedding"`): `context_length` is the longest input
    /// (0 = the model's), `batch_size` the token cap of one forward pass.
    pub fn load(
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
        let threads = match cfg.threads {
            0 => crate::available_threads(),
            n => n,
        };
        let est = info.memory_estimate(0, u64::from(batch_tokens));
        tracing::info!(
            model = %name, path = %cfg.path.display(), max_seq, batch_tokens, threads,
            "loading local embedding model: estimated memory {} (weights {})",
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
            .with_n_seq_max(MAX_SEQS)
            // One pool for all sequences (otherwise llama.cpp pads n_ctx per sequence).
            .with_kv_unified(true)
            .with_embeddings(true)
            .with_pooling_type(LlamaPoolingType::Mean)
            .with_n_threads(i32::try_from(threads).unwrap_or(1))
            .with_n_threads_batch(i32::try_from(threads).unwrap_or(1));
        let worker = Worker {
            name: name.to_owned(),
            model: model.clone(),
            metrics: metrics.map(|m| m.series(name)),
            batch_tokens: batch_tokens as usize,
            window: Duration::from_millis(cfg.batch_window_ms),
            dims,
        };
        spawn_engine(format!("embed-{name}"), name, move |ready| {
            worker.run(params, rx, ready);
        })?;
        Ok(EmbedEngine {
            name: name.to_owned(),
            model,
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
    pub fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        let vocab = self.model.vocab();
        let mut tokens = vocab.tokenize(text.as_bytes(), true, false);
        if tokens.len() > self.max_seq {
            let sep = tokens[tokens.len() - 1];
            tokens.truncate(self.max_seq - 1);
            tokens.push(sep);
        }
        tokens
    }

    /// Queues the inputs without waiting; the receiver yields the vectors.
    fn submit(&self, texts: &[String]) -> Result<(u64, oneshot::Receiver<Vectors>), Error> {
        let inputs: Vec<Vec<LlamaToken>> = texts.iter().map(|t| self.tokenize(t)).collect();
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

struct Worker {
    name: String,
    model: Arc<LlamaModel>,
    metrics: Option<ModelSeries>,
    batch_tokens: usize,
    window: Duration,
    dims: usize,
}

impl Worker {
    fn run(self, params: LlamaContextParams, rx: Receiver<Job>, ready: Ready) {
        let model = self.model.clone();
        let mut ctx = match new_context(&model, &self.name, params) {
            Ok(c) => c,
            Err(e) => return ready.fail(e),
        };
        ready.ok();
        let mut batch = LlamaBatch::new(self.batch_tokens, 1);
        while let Ok(first) = rx.recv() {
            // Gather what arrives within the window, up to a batch's worth of tokens.
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
            self.process(&mut ctx, &mut batch, jobs);
        }
    }

    /// Runs every input of `jobs` through as few forward passes as the token cap allows and
    /// answers each job.
    fn process(&self, ctx: &mut LlamaContext<'_>, batch: &mut LlamaBatch<'_>, jobs: Vec<Job>) {
        let mut results: Vec<Vec<Option<Vec<f32>>>> =
            jobs.iter().map(|j| vec![None; j.inputs.len()]).collect();
        let mut failed: Option<String> = None;
        // (job, input) pairs in arrival order, packed greedily.
        let items: Vec<(usize, usize)> = jobs
            .iter()
            .enumerate()
            .flat_map(|(j, job)| (0..job.inputs.len()).map(move |i| (j, i)))
            .collect();
        let mut start = 0;
        while start < items.len() && failed.is_none() {
            batch.clear();
            let mut used = 0usize;
            let mut members: Vec<(usize, usize)> = Vec::new();
            for &(j, i) in &items[start..] {
                let toks = &jobs[j].inputs[i];
                if !members.is_empty()
                    && (used + toks.len() > self.batch_tokens || members.len() >= MAX_SEQS as usize)
                {
                    break;
                }
                let seq = i32::try_from(members.len()).unwrap_or(0);
                if let Err(e) = batch.add_sequence(toks, seq, true) {
                    failed = Some(format!("batch: {e}"));
                    break;
                }
                used += toks.len();
                members.push((j, i));
            }
            if failed.is_some() {
                break;
            }
            start += members.len();
            if let Some(m) = &self.metrics {
                m.batch_tokens.observe(used as f64);
                m.batch_sequences.observe(members.len() as f64);
                m.prompt_tokens.inc_by(used as u64);
            }
            ctx.clear_kv_cache();
            if let Err(e) = ctx.decode(batch) {
                failed = Some(e.to_string());
                break;
            }
            for (seq, &(j, i)) in members.iter().enumerate() {
                match ctx.embeddings_seq_ith(i32::try_from(seq).unwrap_or(0)) {
                    Ok(v) if v.len() == self.dims => results[j][i] = Some(normalize(v)),
                    Ok(v) => {
                        failed = Some(format!(
                            "expected {} dimensions, got {}",
                            self.dims,
                            v.len()
                        ));
                    }
                    Err(e) => failed = Some(e.to_string()),
                }
            }
        }
        for (job, res) in jobs.into_iter().zip(results) {
            let outcome = match (&failed, res.into_iter().collect::<Option<Vec<_>>>()) {
                (_, Some(v)) => Ok(v),
                (Some(problem), None) => Err(Error::Decode {
                    model: self.name.clone(),
                    problem: problem.clone(),
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
