//! The generation engine: one llama.cpp context per model, driven by a dedicated thread that
//! runs a continuous-batching loop.
//!
//! Each model has `parallel` sequence slots sharing one (unified) KV cache. Every step builds a
//! single batch: one token for each generating sequence, then prompt tokens of newly admitted
//! requests up to `batch_size` (a long prompt is prefilled in chunks over several steps, so it
//! never stalls the streams already running). Requests wait in a bounded queue for a free
//! slot; a full queue is refused at once. A slot keeps the tokens of its last request in the KV
//! cache, and a new request reuses the longest common prefix, from its own slot or copied from
//! another (prefix caching: a shared system prompt is computed once).

use std::{
    num::NonZeroU32,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError},
        Arc,
    },
    time::{Duration, Instant},
};

use atalaya_core::{
    config::{FlashAttention, KvCacheType, LocalModelConfig, SamplingConfig},
    metrics::{LocalMetrics, ModelSeries},
};
use llama_cpp_2::{
    context::{
        params::{KvCacheType as LlamaKv, LlamaContextParams},
        LlamaContext,
    },
    llama_batch::LlamaBatch,
    model::{params::LlamaModelParams, LlamaModel},
    sampling::LlamaSampler,
    token::LlamaToken,
};
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::{
    backend,
    gguf::{human_bytes, human_count, GgufInfo},
    new_context, spawn_engine,
    template::{ChatTemplate, CHATML},
    text::{StopMatcher, StopScan, Utf8Stream},
    Error, Ready,
};

/// Sampling of one request. `temperature == 0` means greedy decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: u32,
    pub min_p: f32,
    pub repeat_penalty: f32,
    pub repeat_last_n: u32,
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
}

impl Sampling {
    /// A model's configured defaults (frequency and presence penalties are per request only).
    pub fn from_config(c: &SamplingConfig) -> Sampling {
        Sampling {
            temperature: c.temperature,
            top_p: c.top_p,
            top_k: c.top_k,
            min_p: c.min_p,
            repeat_penalty: c.repeat_penalty,
            repeat_last_n: c.repeat_last_n,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
        }
    }
}

impl Default for Sampling {
    /// The configuration's defaults (one source for both).
    fn default() -> Self {
        Sampling::from_config(&SamplingConfig::default())
    }
}

/// One generation request, after templating.
#[derive(Debug, Clone)]
pub struct GenerateParams {
    pub sampling: Sampling,
    pub seed: Option<u32>,
    /// `None` = the model's default (`max_tokens` option), bounded by the context.
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End of sequence or a stop string.
    Stop,
    /// `max_tokens` or the context length was reached.
    Length,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finish {
    pub reason: FinishReason,
    pub prompt_tokens: u32,
    /// Prompt tokens whose KV entries came from the prefix cache.
    pub cached_tokens: u32,
    pub completion_tokens: u32,
}

/// What a generation produces, in order: text pieces, then `Done` or `Failed`.
#[derive(Debug)]
pub enum Event {
    Text(String),
    Done(Finish),
    Failed(Error),
}

/// A running generation. Dropping it cancels the request: its slot is freed at the next step.
#[derive(Debug)]
pub struct Generation {
    pub prompt_tokens: u32,
    pub events: UnboundedReceiver<Event>,
}

struct Job {
    tokens: Vec<LlamaToken>,
    sampling: Sampling,
    seed: u32,
    max_tokens: u32,
    stop: Vec<String>,
    events: UnboundedSender<Event>,
}

/// Counters shared by the engine thread and its handle.
#[derive(Default)]
struct Shared {
    queued: AtomicUsize,
    /// Exponentially weighted mean time a request holds a slot, in ms (for `Retry-After`).
    mean_hold_ms: AtomicU64,
}

/// A loaded chat model and its engine thread.
pub struct ChatEngine {
    name: String,
    model: Arc<LlamaModel>,
    template: ChatTemplate,
    /// The texts of the model's control tokens (`<|im_start|>`, `<start_of_turn>`…): client
    /// text containing one is tokenized as plain text, never as the control token.
    controls: Option<aho_corasick::AhoCorasick>,
    jobs: SyncSender<Job>,
    shared: Arc<Shared>,
    queue_size: usize,
    context_length: u32,
    parallel: u32,
    max_tokens: u32,
    default_seed: Option<u32>,
    sampling: Sampling,
    details: Value,
    metrics: Option<ModelSeries>,
}

impl std::fmt::Debug for ChatEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatEngine")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ChatEngine {
    /// Checks the file, prints the memory estimate, loads the model and starts the engine
    /// thread for `[local_models.NAME]`. Never panics on a bad file: the error names the file
    /// and the problem.
    pub fn load(
        name: &str,
        cfg: &LocalModelConfig,
        metrics: Option<LocalMetrics>,
    ) -> Result<ChatEngine, Error> {
        let info = GgufInfo::read(&cfg.path)?;
        let load_err = |problem: String| Error::Load {
            model: name.to_owned(),
            problem,
        };
        let metrics = metrics.map(|m| m.series(name));
        let chat_template = match (&cfg.chat_template, &cfg.chat_template_file) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| Error::Template(format!("cannot read {}: {e}", path.display())))?,
            ),
            (None, None) => None,
        };
        let trained = info.context_length().unwrap_or(2048);
        let context_length = match cfg.context_length {
            0 => u32::try_from(trained.min(8192)).unwrap_or(8192),
            n => n,
        };
        let parallel = cfg.parallel.max(1);
        let kv_cells = match cfg.kv_cache_tokens {
            0 => context_length.saturating_mul(parallel),
            n => n.max(context_length),
        };
        let threads = crate::model_threads(cfg.threads);
        let batch_size = cfg.batch_size.max(parallel).max(16);
        let est = info.memory_estimate(u64::from(kv_cells), u64::from(batch_size));
        tracing::info!(
            model = %name,
            path = %cfg.path.display(),
            architecture = info.architecture().unwrap_or("unknown"),
            parameters = %human_count(info.parameters()),
            quantization = %info.quantization(),
            context_length, parallel, kv_cells, threads,
            "loading local model: estimated memory {} (weights {}, KV cache {}, compute {})",
            human_bytes(est.total()), human_bytes(est.weights), human_bytes(est.kv_cache), human_bytes(est.compute),
        );

        let backend = backend()?;
        let model_params = LlamaModelParams::default().with_n_gpu_layers(cfg.gpu_layers);
        let mut model =
            LlamaModel::load_from_file(backend, &cfg.path, &model_params).map_err(|e| {
                load_err(format!(
                    "llama.cpp could not load {}: {e}",
                    cfg.path.display()
                ))
            })?;
        let mut adapters = Vec::new();
        for l in &cfg.lora {
            let adapter = model
                .lora_adapter_init(&l.path)
                .map_err(|e| load_err(format!("LoRA adapter {}: {e}", l.path.display())))?;
            adapters.push((adapter, l.scale));
        }

        let (bos, eos) = {
            let vocab = model.vocab();
            let piece = |t: LlamaToken| {
                String::from_utf8_lossy(&vocab.token_to_piece(t, true, None)).into_owned()
            };
            (piece(vocab.bos()), piece(vocab.eos()))
        };
        let (template_src, template_origin) = match (&chat_template, info.chat_template()) {
            (Some(t), _) => (t.clone(), "configuration"),
            (None, Some(t)) => (t.to_owned(), "gguf"),
            (None, None) => (CHATML.to_owned(), "default (ChatML)"),
        };
        let template = ChatTemplate::new(&template_src, &bos, &eos)?;
        let details = json!({
            "kind": "chat",
            "engine": "llama.cpp",
            "path": cfg.path.display().to_string(),
            "architecture": info.architecture(),
            "name": info.name(),
            "parameters": info.parameters(),
            "quantization": info.quantization(),
            "file_bytes": info.file_bytes,
            "context_length": context_length,
            "trained_context_length": trained,
            "parallel": parallel,
            "kv_cache_tokens": kv_cells,
            "chat_template": template_origin,
            "lora": cfg.lora.iter().map(|l| json!({"path": l.path.display().to_string(), "scale": l.scale})).collect::<Vec<_>>(),
        });

        let model = Arc::new(model);
        let (tx, rx) = mpsc::sync_channel::<Job>(cfg.queue_size);
        let shared = Arc::new(Shared::default());
        let ctx_params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(kv_cells))
            .with_n_batch(batch_size)
            .with_n_ubatch(batch_size.min(512))
            .with_n_seq_max(parallel)
            .with_kv_unified(true)
            .with_type_k(kv_type(cfg.kv_cache_type))
            .with_type_v(kv_type(cfg.kv_cache_type))
            // llama.h's LLAMA_FLASH_ATTN_TYPE_{AUTO,DISABLED,ENABLED}.
            .with_flash_attention_policy(match cfg.flash_attention {
                FlashAttention::Auto => -1,
                FlashAttention::Off => 0,
                FlashAttention::On => 1,
            })
            .with_n_threads(i32::try_from(threads).unwrap_or(1))
            .with_n_threads_batch(i32::try_from(threads).unwrap_or(1));
        let worker = Worker {
            name: name.to_owned(),
            model: model.clone(),
            shared: shared.clone(),
            metrics: metrics.clone(),
            context_length,
            batch_size,
            parallel,
        };
        spawn_engine(format!("engine-{name}"), name, move |ready| {
            worker.run(ctx_params, adapters, rx, ready);
        })?;
        let controls = control_texts(&model);
        Ok(ChatEngine {
            name: name.to_owned(),
            model,
            template,
            controls,
            jobs: tx,
            shared,
            queue_size: cfg.queue_size,
            context_length,
            parallel,
            max_tokens: cfg.max_tokens.max(1),
            default_seed: cfg.sampling.seed,
            sampling: Sampling::from_config(&cfg.sampling),
            details,
            metrics,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn context_length(&self) -> u32 {
        self.context_length
    }

    /// Sampling for whatever a request leaves out.
    pub fn default_sampling(&self) -> &Sampling {
        &self.sampling
    }

    /// Metadata for `/v1/models`.
    pub fn details(&self) -> &Value {
        &self.details
    }

    /// Renders OpenAI-shaped messages (and tools) into the prompt text.
    pub fn render(&self, messages: &[Value], tools: Option<&[Value]>) -> Result<String, Error> {
        self.template.render(messages, tools)
    }

    /// Tokens of a rendered prompt. Special tokens written by the template are parsed as such;
    /// BOS is added unless the template already wrote it.
    pub fn tokenize(&self, prompt: &str) -> Vec<LlamaToken> {
        let vocab = self.model.vocab();
        let bos = vocab.bos();
        let mut tokens = vocab.tokenize(prompt.as_bytes(), true, true);
        if tokens.len() >= 2 && tokens[0] == bos && tokens[1] == bos {
            tokens.remove(0);
        }
        tokens
    }

    /// The prompt tokens of a conversation. Only the chat template's own markers become
    /// control tokens: a client string (message content, names, tool-call arguments, tool
    /// definitions) that contains a control token's text, say `<|im_start|>system`, is
    /// tokenized as plain text. Conversations without such text are rendered and tokenized as
    /// [`Self::render`] and [`Self::tokenize`] do.
    pub fn prompt_tokens(
        &self,
        messages: &[Value],
        tools: Option<&[Value]>,
    ) -> Result<Vec<LlamaToken>, Error> {
        let Some(controls) = &self.controls else {
            return Ok(self.tokenize(&self.render(messages, tools)?));
        };
        let mut held = Vec::new();
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| hold_controls(m, controls, &mut held, None))
            .collect();
        let tools: Option<Vec<Value>> = tools.map(|ts| {
            ts.iter()
                .map(|t| hold_controls(t, controls, &mut held, None))
                .collect()
        });
        let prompt = self.render(&messages, tools.as_deref())?;
        if held.is_empty() {
            return Ok(self.tokenize(&prompt));
        }
        let vocab = self.model.vocab();
        let mut tokens = Vec::new();
        let mut first = true;
        for (i, part) in prompt.split(HOLD_START).enumerate() {
            // Every part but the first starts with a held string's number and HOLD_END.
            let (text, rest) = match part.split_once(HOLD_END) {
                Some((n, rest)) if i > 0 => {
                    let text = n.parse::<usize>().ok().and_then(|n| held.get(n));
                    (text, rest)
                }
                _ => (None, part),
            };
            if let Some(text) = text {
                tokens.extend(vocab.tokenize(text.as_bytes(), false, false));
            }
            if !rest.is_empty() {
                tokens.extend(vocab.tokenize(rest.as_bytes(), first, true));
            }
            first = false;
        }
        let bos = vocab.bos();
        if tokens.len() >= 2 && tokens[0] == bos && tokens[1] == bos {
            tokens.remove(0);
        }
        Ok(tokens)
    }

    /// The text of `tokens`, control tokens written out (tests, diagnostics).
    pub fn detokenize(&self, tokens: &[LlamaToken]) -> String {
        let vocab = self.model.vocab();
        let bytes: Vec<u8> = tokens
            .iter()
            .flat_map(|&t| vocab.token_to_piece(t, true, None))
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Queues a generation. Fails at once if the prompt does not fit the context or the queue
    /// is full; otherwise events arrive as the engine produces them.
    pub fn generate(&self, prompt: &str, params: GenerateParams) -> Result<Generation, Error> {
        let tokens = self.tokenize(prompt);
        self.generate_tokens(tokens, params)
    }

    pub fn generate_tokens(
        &self,
        tokens: Vec<LlamaToken>,
        params: GenerateParams,
    ) -> Result<Generation, Error> {
        let result = self.enqueue(tokens, params);
        if let (Err(e), Some(m)) = (&result, &self.metrics) {
            match e {
                Error::QueueFull { .. } => m.reject("queue_full"),
                Error::ContextLengthExceeded(_) => m.reject("context_length"),
                _ => {}
            }
        }
        result
    }

    fn enqueue(
        &self,
        tokens: Vec<LlamaToken>,
        params: GenerateParams,
    ) -> Result<Generation, Error> {
        let n_prompt = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        if tokens.is_empty() {
            return Err(Error::InvalidRequest {
                message: "the prompt is empty".into(),
                param: Some("messages".into()),
            });
        }
        let ctx = self.context_length;
        if n_prompt >= ctx {
            return Err(Error::ContextLengthExceeded(format!(
                "This model's maximum context length is {ctx} tokens. However, your messages resulted in {n_prompt} tokens. Please reduce the length of the messages."
            )));
        }
        let max_tokens = match params.max_tokens {
            Some(m) if n_prompt.saturating_add(m) > ctx => {
                return Err(Error::ContextLengthExceeded(format!(
                    "This model's maximum context length is {ctx} tokens. However, you requested {} tokens ({n_prompt} in the messages, {m} in the completion). Please reduce the length of the messages or completion.",
                    n_prompt.saturating_add(m)
                )));
            }
            Some(m) => m.max(1),
            None => self.max_tokens.min(ctx - n_prompt),
        };
        let seed = params
            .seed
            .or(self.default_seed)
            .unwrap_or_else(rand::random::<u32>);
        let (events, rx) = unbounded_channel();
        let job = Job {
            tokens,
            sampling: params.sampling,
            seed,
            max_tokens,
            stop: params.stop,
            events,
        };
        // Count before sending: the engine decrements when it takes the job.
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        match self.jobs.try_send(job) {
            Ok(()) => Ok(Generation {
                prompt_tokens: n_prompt,
                events: rx,
            }),
            Err(TrySendError::Full(_)) => {
                self.shared.queued.fetch_sub(1, Ordering::SeqCst);
                Err(Error::QueueFull {
                    model: self.name.clone(),
                    waiting: self.queue_size,
                    retry_after: self.retry_after(),
                })
            }
            Err(TrySendError::Disconnected(_)) => {
                self.shared.queued.fetch_sub(1, Ordering::SeqCst);
                Err(Error::Stopped(self.name.clone()))
            }
        }
    }

    /// How long a refused client should wait: the queue drains `parallel` requests per mean
    /// slot-holding time. At least one second, at most a minute.
    fn retry_after(&self) -> Duration {
        let hold = self.shared.mean_hold_ms.load(Ordering::Relaxed).max(1);
        let waiting = self.shared.queued.load(Ordering::Relaxed) as u64 + 1;
        let ms = hold.saturating_mul(waiting) / u64::from(self.parallel.max(1));
        Duration::from_millis(ms.clamp(1000, 60_000))
    }

    /// Requests waiting for a slot.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }
}

/// The engine thread's state.
struct Worker {
    name: String,
    model: Arc<LlamaModel>,
    shared: Arc<Shared>,
    metrics: Option<ModelSeries>,
    context_length: u32,
    batch_size: u32,
    parallel: u32,
}

struct Slot {
    seq: i32,
    /// Tokens whose KV entries this sequence holds, at positions 0..len.
    cached: Vec<LlamaToken>,
    last_used: u64,
    active: Option<Active>,
}

struct Active {
    job: Job,
    admitted: u64,
    started: Instant,
    prefill_pos: usize,
    cached_tokens: u32,
    sampler: LlamaSampler,
    utf8: Utf8Stream,
    stop: StopMatcher,
    generated: u32,
    /// The last sampled token, to be fed in the next step.
    next: Option<LlamaToken>,
    /// Index in the current batch whose logits this sequence samples from.
    logits_at: Option<i32>,
}

fn kv_type(t: KvCacheType) -> LlamaKv {
    match t {
        KvCacheType::F16 => LlamaKv::F16,
        KvCacheType::F32 => LlamaKv::F32,
        KvCacheType::Q8_0 => LlamaKv::Q8_0,
        KvCacheType::Q4_0 => LlamaKv::Q4_0,
    }
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn build_sampler(s: &Sampling, seed: u32, n_vocab: i32, prompt: &[LlamaToken]) -> LlamaSampler {
    let mut chain = Vec::new();
    let penalize =
        s.repeat_penalty != 1.0 || s.frequency_penalty != 0.0 || s.presence_penalty != 0.0;
    if penalize {
        chain.push(LlamaSampler::penalties(
            n_vocab,
            i32::try_from(s.repeat_last_n).unwrap_or(64),
            s.repeat_penalty,
            s.frequency_penalty,
            s.presence_penalty,
        ));
    }
    if s.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        if s.top_k > 0 {
            chain.push(LlamaSampler::top_k(
                i32::try_from(s.top_k).unwrap_or(i32::MAX),
            ));
        }
        if s.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(s.top_p, 1));
        }
        if s.min_p > 0.0 {
            chain.push(LlamaSampler::min_p(s.min_p, 1));
        }
        chain.push(LlamaSampler::temp(s.temperature));
        chain.push(LlamaSampler::dist(seed));
    }
    let mut sampler = LlamaSampler::chain_simple(chain);
    if penalize {
        // The penalties look back over the prompt too, as llama.cpp's server does.
        let from = prompt.len().saturating_sub(s.repeat_last_n as usize);
        sampler.accept_many(&prompt[from..]);
    }
    sampler
}

impl Worker {
    fn run(
        self,
        params: LlamaContextParams,
        mut adapters: Vec<(llama_cpp_2::model::LlamaLoraAdapter, f32)>,
        rx: Receiver<Job>,
        ready: Ready,
    ) {
        let model = self.model.clone();
        let mut ctx = match new_context(&model, &self.name, params) {
            Ok(c) => c,
            Err(e) => return ready.fail(e),
        };
        for (adapter, scale) in &mut adapters {
            if let Err(e) = ctx.lora_adapter_set(adapter, *scale) {
                return ready.fail(Error::Load {
                    model: self.name.clone(),
                    problem: format!("cannot apply the LoRA adapter: {e}"),
                });
            }
        }
        ready.ok();
        self.serve(&mut ctx, &rx);
        tracing::debug!(model = %self.name, "engine thread stopped");
    }

    fn serve(&self, ctx: &mut LlamaContext<'_>, rx: &Receiver<Job>) {
        let parallel = self.parallel as usize;
        let mut slots: Vec<Slot> = (0..parallel)
            .map(|i| Slot {
                seq: i32::try_from(i).unwrap_or(0),
                cached: Vec::new(),
                last_used: 0,
                active: None,
            })
            .collect();
        let mut batch = LlamaBatch::new(self.batch_size as usize, 1);
        let mut tick: u64 = 0;
        let n_vocab = self.model.n_vocab();
        let mut closed = false;
        loop {
            tick += 1;
            // Cancelled requests (the client went away) give their slot back at once.
            for slot in &mut slots {
                if slot
                    .active
                    .as_ref()
                    .is_some_and(|a| a.job.events.is_closed())
                {
                    self.release(slot, tick);
                }
            }
            let busy = slots.iter().filter(|s| s.active.is_some()).count();
            if busy == 0 {
                if closed {
                    return;
                }
                if let Some(m) = &self.metrics {
                    m.active_sequences.set(0);
                    m.queue_depth.set(0);
                }
                match rx.recv() {
                    Ok(job) => self.admit(ctx, &mut slots, job, tick, n_vocab),
                    Err(_) => return,
                }
            }
            while !closed && slots.iter().any(|s| s.active.is_none()) {
                match rx.try_recv() {
                    Ok(job) => self.admit(ctx, &mut slots, job, tick, n_vocab),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => closed = true,
                }
            }
            if let Some(m) = &self.metrics {
                let active = slots.iter().filter(|s| s.active.is_some()).count();
                m.active_sequences.set(active as i64);
                m.queue_depth
                    .set(self.shared.queued.load(Ordering::Relaxed) as i64);
            }

            // One batch: a token per generating sequence, then prompt chunks, oldest first.
            batch.clear();
            let mut n: i32 = 0;
            let budget = i32::try_from(self.batch_size).unwrap_or(512);
            let mut in_batch: Vec<usize> = Vec::new();
            for (i, slot) in slots.iter_mut().enumerate() {
                let Some(a) = slot.active.as_mut() else {
                    continue;
                };
                let Some(tok) = a.next.take() else { continue };
                let pos = i32::try_from(slot.cached.len()).unwrap_or(i32::MAX);
                if batch.add(tok, pos, &[slot.seq], true).is_err() {
                    a.next = Some(tok);
                    continue;
                }
                slot.cached.push(tok);
                a.logits_at = Some(n);
                n += 1;
                in_batch.push(i);
            }
            let mut prefilling: Vec<usize> = slots
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    s.active
                        .as_ref()
                        .is_some_and(|a| a.prefill_pos < a.job.tokens.len())
                })
                .map(|(i, _)| i)
                .collect();
            prefilling.sort_by_key(|&i| slots[i].active.as_ref().map_or(0, |a| a.admitted));
            for i in prefilling {
                if n >= budget {
                    break;
                }
                let slot = &mut slots[i];
                let Some(a) = slot.active.as_mut() else {
                    continue;
                };
                let total = a.job.tokens.len();
                let take = (total - a.prefill_pos).min(usize::try_from(budget - n).unwrap_or(0));
                let start = a.prefill_pos;
                for k in start..start + take {
                    let last = k + 1 == total;
                    let pos = i32::try_from(slot.cached.len()).unwrap_or(i32::MAX);
                    if batch.add(a.job.tokens[k], pos, &[slot.seq], last).is_err() {
                        break;
                    }
                    slot.cached.push(a.job.tokens[k]);
                    a.prefill_pos = k + 1;
                    if last {
                        a.logits_at = Some(n);
                    }
                    n += 1;
                }
                if a.prefill_pos > start {
                    in_batch.push(i);
                }
            }
            if n == 0 {
                continue;
            }
            if let Some(m) = &self.metrics {
                m.batch_tokens.observe(f64::from(n));
                m.batch_sequences.observe(in_batch.len() as f64);
            }
            let mut result = ctx.decode(&mut batch);
            if result.is_err() {
                // The usual cause is a full KV cache (kv_cache_tokens below context × parallel):
                // drop the prefix caches of idle slots and try once more.
                let mut freed = false;
                for slot in slots
                    .iter_mut()
                    .filter(|s| s.active.is_none() && !s.cached.is_empty())
                {
                    let _ = ctx.clear_kv_cache_seq(u32::try_from(slot.seq).ok(), None, None);
                    slot.cached.clear();
                    freed = true;
                }
                if freed {
                    result = ctx.decode(&mut batch);
                }
            }
            if let Err(e) = result {
                tracing::error!(model = %self.name, error = %e, tokens = n, "decode failed");
                for &i in &in_batch {
                    let slot = &mut slots[i];
                    let _ = ctx.clear_kv_cache_seq(u32::try_from(slot.seq).ok(), None, None);
                    slot.cached.clear();
                    if let Some(a) = slot.active.take() {
                        let _ = a.job.events.send(Event::Failed(Error::Decode {
                            model: self.name.clone(),
                            problem: e.to_string(),
                        }));
                    }
                }
                continue;
            }
            for i in in_batch {
                let slot = &mut slots[i];
                let Some(a) = slot.active.as_mut() else {
                    continue;
                };
                let Some(at) = a.logits_at.take() else {
                    continue;
                };
                let token = a.sampler.sample(ctx, at);
                self.on_token(slot, token, tick);
            }
        }
    }

    /// Takes a job into a free slot, reusing cached prefixes.
    fn admit(
        &self,
        ctx: &mut LlamaContext<'_>,
        slots: &mut [Slot],
        job: Job,
        tick: u64,
        n_vocab: i32,
    ) {
        self.shared.queued.fetch_sub(1, Ordering::SeqCst);
        if job.events.is_closed() {
            return; // the client left while waiting
        }
        let prompt = &job.tokens;
        let Some(dst) = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.active.is_none())
            .max_by(|(_, a), (_, b)| {
                common_prefix(&a.cached, prompt)
                    .cmp(&common_prefix(&b.cached, prompt))
                    .then(b.last_used.cmp(&a.last_used))
            })
            .map(|(i, _)| i)
        else {
            return;
        };
        let own = common_prefix(&slots[dst].cached, prompt);
        let donor = slots
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != dst)
            .map(|(i, s)| (i, common_prefix(&s.cached, prompt)))
            .max_by_key(|&(_, l)| l);
        let mut keep = own;
        let dst_seq = slots[dst].seq;
        if let Some((src, shared)) = donor {
            // Worth a copy only if it saves a real chunk of prefill.
            if shared > own + 8 {
                let src_seq = slots[src].seq;
                let _ = ctx.clear_kv_cache_seq(u32::try_from(dst_seq).ok(), None, None);
                let copied = ctx
                    .copy_kv_cache_seq(src_seq, dst_seq, Some(0), u32::try_from(shared).ok())
                    .is_ok();
                if copied {
                    slots[dst].cached = prompt[..shared].to_vec();
                    keep = shared;
                } else {
                    slots[dst].cached.clear();
                    keep = 0;
                }
            }
        }
        // The last prompt token is always evaluated: its logits give the first new token.
        keep = keep.min(prompt.len() - 1);
        let slot = &mut slots[dst];
        if keep < slot.cached.len() {
            let removed = ctx
                .clear_kv_cache_seq(u32::try_from(dst_seq).ok(), u32::try_from(keep).ok(), None)
                .unwrap_or(false);
            if removed {
                slot.cached.truncate(keep);
            } else {
                let _ = ctx.clear_kv_cache_seq(u32::try_from(dst_seq).ok(), None, None);
                slot.cached.clear();
                keep = 0;
            }
        }
        if let Some(m) = &self.metrics {
            m.prompt_tokens.inc_by(prompt.len() as u64);
            m.cached_prompt_tokens.inc_by(keep as u64);
        }
        let sampler = build_sampler(&job.sampling, job.seed, n_vocab, prompt);
        let stop = StopMatcher::new(&job.stop);
        slot.last_used = tick;
        slot.active = Some(Active {
            admitted: tick,
            started: Instant::now(),
            prefill_pos: keep,
            cached_tokens: u32::try_from(keep).unwrap_or(0),
            sampler,
            utf8: Utf8Stream::default(),
            stop,
            generated: 0,
            next: None,
            logits_at: None,
            job,
        });
    }

    fn on_token(&self, slot: &mut Slot, token: LlamaToken, tick: u64) {
        let vocab = self.model.vocab();
        let Some(a) = slot.active.as_mut() else {
            return;
        };
        a.generated += 1;
        if let Some(m) = &self.metrics {
            m.generated_tokens.inc();
        }
        if vocab.is_eog(token) {
            self.finish(slot, FinishReason::Stop, tick);
            return;
        }
        let piece = vocab.token_to_piece(token, false, None);
        let text = a.utf8.push(&piece);
        match a.stop.push(&text) {
            StopScan::Continue(t) => {
                if !t.is_empty() {
                    let _ = a.job.events.send(Event::Text(t));
                }
            }
            StopScan::Stopped(t) => {
                if !t.is_empty() {
                    let _ = a.job.events.send(Event::Text(t));
                }
                // Nothing held back may leak after a stop string.
                a.utf8 = Utf8Stream::default();
                a.stop = StopMatcher::new(&[]);
                self.finish(slot, FinishReason::Stop, tick);
                return;
            }
        }
        let full = slot.cached.len() + 1 >= self.context_length as usize;
        if a.generated >= a.job.max_tokens || full {
            self.finish(slot, FinishReason::Length, tick);
        } else {
            a.next = Some(token);
        }
    }

    fn finish(&self, slot: &mut Slot, reason: FinishReason, tick: u64) {
        let Some(mut a) = slot.active.take() else {
            return;
        };
        let mut tail = a.utf8.finish();
        if !tail.is_empty() {
            let (StopScan::Continue(t) | StopScan::Stopped(t)) = a.stop.push(&tail);
            tail = t;
        }
        tail.push_str(&a.stop.finish());
        if !tail.is_empty() {
            let _ = a.job.events.send(Event::Text(tail));
        }
        let _ = a.job.events.send(Event::Done(Finish {
            reason,
            prompt_tokens: u32::try_from(a.job.tokens.len()).unwrap_or(u32::MAX),
            cached_tokens: a.cached_tokens,
            completion_tokens: a.generated,
        }));
        self.note_hold(a.started.elapsed());
        slot.last_used = tick;
    }

    /// A cancelled request: the slot is free, its KV entries stay as a prefix cache.
    fn release(&self, slot: &mut Slot, tick: u64) {
        if let Some(a) = slot.active.take() {
            self.note_hold(a.started.elapsed());
            // Prompt tokens not yet prefilled were never added to `cached`; nothing to undo.
        }
        slot.last_used = tick;
    }

    fn note_hold(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let old = self.shared.mean_hold_ms.load(Ordering::Relaxed);
        let new = if old == 0 { ms } else { (old * 7 + ms) / 8 };
        self.shared.mean_hold_ms.store(new, Ordering::Relaxed);
    }
}

/// Marks around the number of a held client string in a rendered prompt (Unicode private-use
/// characters: a client string that contains one is held too, so none reaches the template).
const HOLD_START: char = '\u{E000}';
const HOLD_END: char = '\u{E001}';

/// The texts of the model's control tokens, as a matcher; `None` when it has none.
fn control_texts(model: &LlamaModel) -> Option<aho_corasick::AhoCorasick> {
    let vocab = model.vocab();
    let texts: Vec<String> = vocab
        .tokens()
        .filter(|&t| vocab.is_control(t))
        .filter_map(|t| {
            vocab
                .text(t)
                .and_then(|c| c.to_str().ok())
                .map(str::to_owned)
        })
        .filter(|t| t.len() >= 2)
        .chain([HOLD_START.to_string(), HOLD_END.to_string()])
        .collect();
    aho_corasick::AhoCorasick::new(&texts).ok()
}

/// `v` with every string that contains a control token's text replaced by a held-string mark
/// (the string goes to `held`). Roles and part types are the template's vocabulary, not text,
/// and stay.
fn hold_controls(
    v: &Value,
    controls: &aho_corasick::AhoCorasick,
    held: &mut Vec<String>,
    key: Option<&str>,
) -> Value {
    match v {
        Value::String(s) if !matches!(key, Some("role" | "type")) && controls.is_match(s) => {
            held.push(s.clone());
            Value::String(format!("{HOLD_START}{}{HOLD_END}", held.len() - 1))
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|x| hold_controls(x, controls, held, None))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, x)| (k.clone(), hold_controls(x, controls, held, Some(k))))
                .collect(),
        ),
        other => other.clone(),
    }
}
