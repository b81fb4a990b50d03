//! The knowledge service: the knowledge base's embedding model (the local embedding engine
//! behind the knowledge crate's `Embedder` trait, chosen from the configuration), its storage
//! backend (the `KnowledgeRecords` and `TaskQueue` traits; the embedded SQLite one, opened on
//! first use, with its worker thread), uploads, retrieval with reranking, and answers.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

use atalaya_config::{Config, LocalModelConfig, LocalModelKind};
use atalaya_core::{domain::RerankRequest, gateway::Gateway, Error as CoreError};
use atalaya_engine::embed::EmbedEngine;
use atalaya_knowledge::{
    chunk::{estimate_tokens, ChunkConfig},
    local::LocalKnowledge,
    records::{KnowledgeRecords, NewCollection, TaskQueue},
    service::{Embedder, Hit, KnowledgeBase, Mode, SearchParams},
    store::{Collection, DocumentInfo},
    tasks::{NewItem, Task, TaskStatus},
    Error as KbError,
};

use atalaya_knowledge::rag::{self, Unsupported};

use crate::context::RequestContext;

/// The language of a question, among those the knowledge base analyses (en, es, pt), when
/// the text tells it: `None` for a text too short or too mixed to say.
pub fn query_language(query: &str) -> Option<atalaya_knowledge::index::Lang> {
    static DETECTOR: std::sync::LazyLock<atalaya_pipeline::lang::LanguageDetector> =
        std::sync::LazyLock::new(|| {
            let langs = ["en", "es", "pt"].map(String::from);
            atalaya_pipeline::lang::LanguageDetector::new(&langs, "")
        });
    let d = DETECTOR.detect(query);
    (d.confidence > 0.0).then(|| atalaya_knowledge::index::Lang::from_code(&d.language))
}

/// The embedding model `make models` prepares, used when the configuration names none.
pub const DEFAULT_EMBEDDING_MODEL: &str = "all-minilm-l6-v2";
const DEFAULT_EMBEDDING_PATH: &str = "models/all-MiniLM-L6-v2/model.onnx";

pub struct EngineEmbedder {
    name: String,
    engine: Arc<EmbedEngine>,
}

impl EngineEmbedder {
    pub fn new(name: &str, engine: Arc<EmbedEngine>) -> EngineEmbedder {
        EngineEmbedder {
            name: name.to_owned(),
            engine,
        }
    }

    /// Loads the embedding model `name` of `[local_models]` (kind = "embedding"); without a
    /// name, the only embedding model configured, else the default one `make models` prepares.
    pub fn load(config: &Config, name: Option<&str>) -> Result<EngineEmbedder, String> {
        let embedding: Vec<(&String, &LocalModelConfig)> = config
            .local_models
            .iter()
            .filter(|(_, m)| m.kind == LocalModelKind::Embedding)
            .collect();
        let (name, cfg) = match name {
            Some(n) => match embedding.iter().find(|(k, _)| k.as_str() == n) {
                Some((k, m)) => ((*k).clone(), (*m).clone()),
                None if n == DEFAULT_EMBEDDING_MODEL => default_model(),
                None => {
                    return Err(format!(
                        "no embedding model '{n}' in [local_models] (configured: {:?})",
                        embedding
                            .iter()
                            .map(|(k, _)| k.as_str())
                            .collect::<Vec<_>>()
                    ))
                }
            },
            None => match embedding.as_slice() {
                [(k, m)] => ((*k).clone(), (*m).clone()),
                [] => default_model(),
                many => {
                    return Err(format!(
                        "several embedding models are configured ({:?}): name one",
                        many.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()
                    ))
                }
            },
        };
        let engine = EmbedEngine::load(&name, &cfg, &config.onnxruntime.library, None)
            .map_err(|e| e.to_string())?;
        Ok(EngineEmbedder::new(&name, Arc::new(engine)))
    }
}

/// The default embedding model (`all-minilm-l6-v2` from `make models`), by name.
pub fn default_model() -> (String, LocalModelConfig) {
    (
        DEFAULT_EMBEDDING_MODEL.to_owned(),
        LocalModelConfig {
            kind: LocalModelKind::Embedding,
            path: PathBuf::from(DEFAULT_EMBEDDING_PATH),
            ..LocalModelConfig::default()
        },
    )
}

impl Embedder for EngineEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    /// Blocking: call from a thread that is not an async runtime's (the CLI, or
    /// `spawn_blocking`).
    /// A full engine queue is waited out (up to 30 s, at the engine's suggested pace): the
    /// engine is shared with `/v1/embeddings`, and a burst there must not fail an ingestion
    /// or a query.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match self.engine.embed_blocking(texts) {
                Ok(o) => return Ok(o.vectors),
                Err(atalaya_engine::Error::QueueFull { retry_after, .. })
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(retry_after.clamp(
                        std::time::Duration::from_millis(10),
                        std::time::Duration::from_millis(500),
                    ));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// The model's own tokens, without [CLS] and [SEP], and not truncated.
    fn count_tokens(&self, text: &str) -> usize {
        self.engine
            .count_tokens(text)
            .unwrap_or_else(|_| estimate_tokens(text))
    }

    fn max_tokens(&self) -> usize {
        self.engine.max_input_tokens()
    }
}

// ----- the knowledge service of the HTTP API -----

/// The knowledge base as the API serves it: the store (opened on first write, or at start-up
/// when it exists, so that unfinished tasks resume), the task worker thread, and the embedding
/// model shared with `/v1/embeddings`.
pub struct KnowledgeService {
    data_dir: PathBuf,
    embedder: Option<Arc<EngineEmbedder>>,
    /// Why there is no embedder (for the error message).
    no_embedder: String,
    pub answer_model: Option<String>,
    pub answer_sources: usize,
    pub rerank_model: Option<String>,
    pub rerank_candidates: usize,
    /// Uploads read and parsed at once (each may hold its body a few times over in memory).
    pub uploads: Uploads,
    pub max_upload_bytes: u64,
    opened: Mutex<Option<Opened>>,
    stop: Arc<AtomicBool>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// How uploaded documents are parsed (`knowledge.parse_*`).
    parser: atalaya_knowledge::parse::Parser,
    /// Wakes the shared backend's worker when this process enqueues work (other replicas'
    /// work is found by polling).
    wake: tokio::sync::Notify,
}

/// The document parser `knowledge.parse_*` configure: a sandboxed child process unless
/// `parse_sandbox = false` (or no worker program is registered: libraries and tests).
pub fn parser(config: &atalaya_config::KnowledgeConfig) -> atalaya_knowledge::parse::Parser {
    atalaya_knowledge::parse::Parser::configured(
        config.parse_sandbox,
        atalaya_knowledge::parse::Limits {
            timeout: std::time::Duration::from_millis(config.parse_timeout_ms),
            cpu_seconds: config.parse_cpu_seconds,
            memory_bytes: config.parse_memory_mb.saturating_mul(1024 * 1024),
        },
    )
}

/// The tenant of a request: its key's.
pub fn tenant(ctx: &RequestContext) -> &str {
    &ctx.principal.tenant
}

impl KnowledgeService {
    /// The service for `config`, with the embedding model among `engines`
    /// (`knowledge.embedding_model`, else the only one). Opens the store at once when it
    /// exists, so that tasks a crash interrupted resume now.
    pub fn start(
        config: &Config,
        engines: &HashMap<String, Arc<EmbedEngine>>,
        storage: &crate::storage::Storage,
    ) -> Result<Arc<KnowledgeService>, CoreError> {
        let chosen = match &config.knowledge.embedding_model {
            Some(name) => engines
                .get(name)
                .map(|e| (name.clone(), e.clone()))
                .ok_or_else(|| {
                    CoreError::config(
                        "knowledge.embedding_model",
                        format!("'{name}' is not a loaded embedding model"),
                    )
                })
                .map(Some)?,
            None if engines.len() == 1 => {
                engines.iter().next().map(|(n, e)| (n.clone(), e.clone()))
            }
            None => None,
        };
        let no_embedder = if engines.is_empty() {
            "the knowledge base needs a local embedding model: start with --embedding-model FILE or add one to [local_models] (kind = \"embedding\")".to_owned()
        } else {
            format!(
                "several embedding models are loaded ({}): set knowledge.embedding_model",
                engines.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        let svc = Arc::new(KnowledgeService {
            data_dir: config.server.data_dir.clone(),
            embedder: chosen.map(|(n, e)| Arc::new(EngineEmbedder::new(&n, e))),
            no_embedder,
            answer_model: config.knowledge.answer_model.clone(),
            answer_sources: config.knowledge.answer_sources,
            rerank_model: config.knowledge.rerank_model.clone(),
            rerank_candidates: config.knowledge.rerank_candidates,
            uploads: Uploads::new(MAX_CONCURRENT_UPLOADS),
            max_upload_bytes: config.knowledge.max_upload_bytes,
            opened: Mutex::new(None),
            stop: Arc::new(AtomicBool::new(false)),
            worker: Mutex::new(None),
            parser: parser(&config.knowledge),
            wake: tokio::sync::Notify::new(),
        });
        if let Some(shared) = storage.knowledge(svc.parser.clone()) {
            // Shared by replicas: always open; its worker runs on the async runtime
            // (`run_worker`).
            let shared = Arc::new(shared);
            let o = Opened {
                backend: Backend {
                    records: shared.clone(),
                    tasks: shared,
                },
                local: None,
            };
            if let Ok(mut opened) = svc.opened.lock() {
                *opened = Some(o);
            }
        } else if svc.db_path().exists() {
            svc.kb(true)
                .map_err(|e| CoreError::ConfigSource(e.to_string()))?;
        }
        Ok(svc)
    }

    fn db_path(&self) -> PathBuf {
        self.data_dir.join("knowledge").join("knowledge.db")
    }

    /// The knowledge base; `create` opens (and creates) it when it is not open yet. Without
    /// `create`, a store that does not exist yet is `None`: there is nothing to read.
    pub fn kb(&self, create: bool) -> Result<Option<Arc<KnowledgeBase>>, KbError> {
        Ok(self.open(create)?.and_then(|o| o.local))
    }

    /// The knowledge base's records through their trait (for tenant deletion), without
    /// creating a store that does not exist.
    pub fn records(&self) -> Result<Option<Arc<dyn KnowledgeRecords>>, KbError> {
        Ok(self.open(false)?.map(|o| o.backend.records))
    }

    /// The store and its backend, opened once (see [`KnowledgeService::kb`]).
    fn open(&self, create: bool) -> Result<Option<Opened>, KbError> {
        let mut opened = self
            .opened
            .lock()
            .map_err(|_| KbError::Store("the knowledge base lock was poisoned".into()))?;
        if let Some(o) = opened.as_ref() {
            return Ok(Some(o.clone()));
        }
        if !create && !self.db_path().exists() {
            return Ok(None);
        }
        let mut kb = KnowledgeBase::open(&self.data_dir)?;
        kb.set_parser(self.parser.clone());
        let kb = Arc::new(kb);
        if let Some(e) = &self.embedder {
            let (kb2, e, stop) = (kb.clone(), e.clone(), self.stop.clone());
            let handle = std::thread::Builder::new()
                .name("atalaya-kb-worker".into())
                .spawn(move || kb2.run_worker(e.as_ref(), &stop))
                .map_err(|e| KbError::Store(format!("cannot start the task worker: {e}")))?;
            if let Ok(mut w) = self.worker.lock() {
                *w = Some(handle);
            }
        }
        let o = Opened {
            backend: Backend::local(kb.clone()),
            local: Some(kb),
        };
        *opened = Some(o.clone());
        Ok(Some(o))
    }

    pub fn embedder(&self) -> Result<&Arc<EngineEmbedder>, CoreError> {
        self.embedder
            .as_ref()
            .ok_or_else(|| CoreError::Unavailable(self.no_embedder.clone()))
    }

    /// Stops the worker after its current step; unfinished tasks resume at the next start.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake.notify_waiters();
        if let Some(kb) = self
            .opened
            .lock()
            .ok()
            .and_then(|o| o.clone())
            .and_then(|o| o.local)
        {
            kb.wake();
        }
        let handle = self.worker.lock().ok().and_then(|mut w| w.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
        if let Some(kb) = self
            .opened
            .lock()
            .ok()
            .and_then(|o| o.clone())
            .and_then(|o| o.local)
        {
            if let Err(e) = kb.persist() {
                tracing::warn!(error = %e, "saving the HNSW graphs at shutdown");
            }
        }
    }

    /// Works the shared backend's task queue until `stop` (returns at once with the
    /// embedded backend, whose worker is a thread of its own). Each step finishes before a
    /// stop is honoured; a task left unfinished is resumed by any replica once its lease
    /// expires.
    pub async fn run_worker(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let shared = self
            .opened
            .lock()
            .ok()
            .and_then(|o| o.clone())
            .filter(|o| o.local.is_none())
            .map(|o| o.backend.tasks);
        let (Some(tasks), Some(embedder)) = (shared, self.embedder.clone()) else {
            return;
        };
        let embedder: Arc<dyn Embedder> = embedder;
        while !stop.is_cancelled() {
            let idle = match tasks.work_once(embedder.clone()).await {
                Ok(true) => continue,
                Ok(false) => SHARED_POLL,
                Err(e) => {
                    tracing::error!(error = %e, "knowledge task worker");
                    std::time::Duration::from_secs(2)
                }
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(idle) => {}
                () = self.wake.notified() => {}
            }
        }
    }
}

/// How often the shared backend's worker looks for work enqueued by other replicas.
const SHARED_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs blocking knowledge-base work (SQLite, parsing, the embedding model) off the async
/// threads, mapping its errors.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CoreError> + Send + 'static,
) -> Result<T, CoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CoreError::Internal(format!("knowledge task: {e}")))?
}

// ----- service functions (the handlers call these) -----

pub use atalaya_knowledge::records::CollectionStats;

/// The opened backend, made once.
#[derive(Clone)]
struct Opened {
    backend: Backend,
    /// The embedded store under it (`None` for the shared backend).
    local: Option<Arc<KnowledgeBase>>,
}

/// The storage backend of a knowledge service: the embedded one or the shared one (Postgres),
/// through the same traits.
#[derive(Clone)]
struct Backend {
    records: Arc<dyn KnowledgeRecords>,
    tasks: Arc<dyn TaskQueue>,
}

impl Backend {
    fn local(kb: Arc<KnowledgeBase>) -> Backend {
        let local = Arc::new(LocalKnowledge::new(kb));
        Backend {
            records: local.clone(),
            tasks: local,
        }
    }
}

fn not_found(name: &str) -> CoreError {
    CoreError::NotFound(format!("collection '{name}'"))
}

/// What an answer request asks for.
pub struct AnswerInput {
    pub query: String,
    pub model: Option<String>,
    pub extractive: bool,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub params: SearchParams,
    pub rerank: bool,
}

/// A grounded answer.
pub struct Answer {
    pub text: String,
    pub model: Option<String>,
    /// Source numbers (1-based) in order of first citation, valid ones only.
    pub cited: Vec<usize>,
    pub unsupported: Vec<(String, Unsupported)>,
    pub grounded: bool,
    pub hits: Vec<Hit>,
    pub usage: Option<serde_json::Value>,
    /// The guard's decisions on the generation (`None`: unguarded, or nothing generated).
    pub guard: Option<crate::guard::GuardSummary>,
}

/// Uploads read and parsed at once; more wait their turn.
const MAX_CONCURRENT_UPLOADS: usize = 4;

/// Upload slots, shared fairly: one tenant holds at most half of them, so another tenant's
/// upload never waits behind one tenant's many (or slow) ones.
pub struct Uploads {
    all: Arc<tokio::sync::Semaphore>,
    per_tenant: usize,
    tenants: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

/// A held upload slot (released when dropped).
pub struct UploadSlot {
    _tenant: tokio::sync::OwnedSemaphorePermit,
    _all: tokio::sync::OwnedSemaphorePermit,
}

impl Uploads {
    pub fn new(slots: usize) -> Self {
        Uploads {
            all: Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
            per_tenant: (slots / 2).max(1),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a slot of `tenant`'s share, then for a slot of all.
    pub async fn slot(&self, tenant: &str) -> Result<UploadSlot, CoreError> {
        let share = {
            let mut t = self
                .tenants
                .lock()
                .map_err(|_| CoreError::Internal("the upload slots were poisoned".into()))?;
            // Forget tenants holding nothing (the table stays as small as the active set).
            if t.len() > 1024 {
                let cap = self.per_tenant;
                t.retain(|_, s| s.available_permits() < cap);
            }
            t.entry(tenant.to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.per_tenant)))
                .clone()
        };
        let tenant = share
            .acquire_owned()
            .await
            .map_err(|_| CoreError::ShuttingDown)?;
        let all = self
            .all
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| CoreError::ShuttingDown)?;
        Ok(UploadSlot {
            _tenant: tenant,
            _all: all,
        })
    }
}

/// What an extractive answer says when no sentence of the sources is relevant enough.
pub const NO_ANSWER: &str = "No passage of the knowledge base answers this question.";
/// Extractive answers: how many sentences, and how similar to the query each must be.
const EXTRACTIVE_SENTENCES: usize = 3;
const EXTRACTIVE_MIN_COSINE: f32 = 0.3;

impl KnowledgeService {
    /// The storage backend, opened (and created) on first use when `create`; without
    /// `create`, `None` while the store does not exist: there is nothing to read.
    async fn backend(self: &Arc<Self>, create: bool) -> Result<Option<Backend>, CoreError> {
        let svc = self.clone();
        let opened = match self.opened.lock().ok().and_then(|o| o.clone()) {
            Some(o) => Some(o),
            // Opening reads the store and its index files: off the async threads.
            None => blocking(move || svc.open(create).map_err(atalaya_core::Error::from)).await?,
        };
        Ok(opened.map(|o| o.backend))
    }

    async fn existing(self: &Arc<Self>) -> Result<Option<Backend>, CoreError> {
        self.backend(false).await
    }

    async fn created(self: &Arc<Self>) -> Result<Backend, CoreError> {
        self.backend(true)
            .await?
            .ok_or_else(|| CoreError::Internal("the knowledge base did not open".into()))
    }

    pub async fn create_collection(
        self: &Arc<Self>,
        tenant: &str,
        name: String,
        language: Option<String>,
        chunking: ChunkConfig,
    ) -> Result<CollectionStats, CoreError> {
        let e: Arc<dyn Embedder> = self.embedder()?.clone();
        let new = NewCollection {
            name,
            language,
            chunking,
        };
        self.created()
            .await?
            .records
            .create_collection(tenant, new, e)
            .await
            .map_err(atalaya_core::Error::from)
    }

    pub async fn collections(
        self: &Arc<Self>,
        tenant: &str,
    ) -> Result<Vec<CollectionStats>, CoreError> {
        let Some(b) = self.existing().await? else {
            return Ok(Vec::new());
        };
        b.records
            .collections(tenant)
            .await
            .map_err(atalaya_core::Error::from)
    }

    async fn lookup(
        self: &Arc<Self>,
        tenant: &str,
        name: &str,
    ) -> Result<(Backend, Collection), CoreError> {
        let b = self.existing().await?.ok_or_else(|| not_found(name))?;
        let c = b.records.collection(tenant, name).await?;
        Ok((b, c))
    }

    pub async fn collection(
        self: &Arc<Self>,
        tenant: &str,
        name: &str,
    ) -> Result<CollectionStats, CoreError> {
        let b = self.existing().await?.ok_or_else(|| not_found(name))?;
        b.records
            .collection_stats(tenant, name)
            .await
            .map_err(atalaya_core::Error::from)
    }

    pub async fn delete_collection(
        self: &Arc<Self>,
        tenant: &str,
        name: &str,
    ) -> Result<(), CoreError> {
        let b = self.existing().await?.ok_or_else(|| not_found(name))?;
        b.records
            .delete_collection(tenant, name)
            .await
            .map_err(atalaya_core::Error::from)
    }

    /// Enqueues documents; returns the task once it is durably stored.
    pub async fn enqueue(
        self: &Arc<Self>,
        tenant: &str,
        name: &str,
        items: Vec<NewItem>,
    ) -> Result<Task, CoreError> {
        self.embedder()?;
        let (b, c) = self.lookup(tenant, name).await?;
        let task = b.tasks.enqueue_ingest(&c, items).await?;
        self.wake.notify_waiters();
        Ok(task)
    }

    pub async fn documents(
        self: &Arc<Self>,
        tenant: &str,
        name: &str,
    ) -> Result<Vec<DocumentInfo>, CoreError> {
        let (b, c) = self.lookup(tenant, name).await?;
        b.records
            .documents(&c)
            .await
            .map_err(atalaya_core::Error::from)
    }

    /// Enqueues the deletion of document `id` (after every ingestion enqueued before it).
    pub async fn delete_document(
        self: &Arc<Self>,
        tenant: &str,
        name: &str,
        id: i64,
    ) -> Result<Task, CoreError> {
        let (b, c) = self.lookup(tenant, name).await?;
        let docs = b.records.documents(&c).await?;
        let doc = docs
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| CoreError::NotFound(format!("document {id} in collection '{name}'")))?;
        let task = b.tasks.enqueue_delete(&c, vec![doc.source]).await?;
        self.wake.notify_waiters();
        Ok(task)
    }

    pub async fn task(self: &Arc<Self>, tenant: &str, id: i64) -> Result<Task, CoreError> {
        let b = self
            .existing()
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("task {id}")))?;
        b.tasks
            .task(tenant, id)
            .await
            .map_err(atalaya_core::Error::from)
    }

    pub async fn tasks(
        self: &Arc<Self>,
        tenant: &str,
        status: Option<TaskStatus>,
        limit: usize,
    ) -> Result<Vec<Task>, CoreError> {
        let Some(b) = self.existing().await? else {
            return Ok(Vec::new());
        };
        b.tasks
            .tasks(tenant, status, limit)
            .await
            .map_err(atalaya_core::Error::from)
    }

    pub async fn search(
        self: &Arc<Self>,
        tenant: &str,
        name: &str,
        query: String,
        params: SearchParams,
    ) -> Result<Vec<Hit>, CoreError> {
        if query.trim().is_empty() {
            return Err(CoreError::invalid(
                "'query' must not be empty",
                Some("query"),
            ));
        }
        let (b, c) = self.lookup(tenant, name).await?;
        let e = self.embedder.clone();
        if params.mode != Mode::Bm25 && e.is_none() {
            return Err(CoreError::Unavailable(format!(
                "{}; mode \"bm25\" works without one",
                self.no_embedder
            )));
        }
        let e = e.map(|e| e as Arc<dyn Embedder>);
        b.records
            .search(&c, query, params, e)
            .await
            .map_err(atalaya_core::Error::from)
    }

    /// [`KnowledgeService::search`], then, with `rerank`, the candidates re-ordered by the
    /// `knowledge.rerank_model` route; the hits' scores are then the reranker's.
    pub async fn retrieve(
        self: &Arc<Self>,
        gateway: &Gateway,
        ctx: &RequestContext,
        name: &str,
        query: String,
        params: SearchParams,
        rerank: bool,
    ) -> Result<Vec<Hit>, CoreError> {
        if !rerank {
            return self.search(tenant(ctx), name, query, params).await;
        }
        let model = self.rerank_model.clone().ok_or_else(|| {
            CoreError::invalid(
                "reranking needs a reranker: set knowledge.rerank_model to a route serving /rerank",
                Some("rerank"),
            )
        })?;
        let k = params.k;
        let wide = SearchParams {
            k: k.max(self.rerank_candidates),
            ..params
        };
        let hits = self.search(tenant(ctx), name, query.clone(), wide).await?;
        if hits.is_empty() {
            return Ok(hits);
        }
        let req = RerankRequest {
            model,
            query,
            documents: hits.iter().map(|h| h.chunk.text.clone()).collect(),
        };
        let ranked = gateway.rerank(ctx, &req).await?.value;
        let mut slots: Vec<Option<Hit>> = hits.into_iter().map(Some).collect();
        Ok(ranked
            .scores
            .into_iter()
            .filter_map(|(i, score)| {
                slots.get_mut(i).and_then(Option::take).map(|mut h| {
                    h.score = score;
                    h
                })
            })
            .take(k)
            .collect())
    }

    /// Retrieves, then answers: with a model, from a prompt of numbered sources, checking each
    /// claim against the sources it cites; without one, by quoting the most relevant
    /// sentences.
    ///
    /// With a guard policy (the tenant's, else the answer model's route's), the generation is
    /// guarded as a chat request on that route: sources that carry instructions are dropped,
    /// personal data in the question and the sources is pseudonymized before it leaves, and
    /// the answer passes the output checks.
    pub async fn answer(
        self: &Arc<Self>,
        gateway: &Gateway,
        ctx: &RequestContext,
        name: &str,
        input: AnswerInput,
        guard: Option<(&crate::guard::GuardService, Arc<crate::guard::RoutePolicy>)>,
    ) -> Result<Answer, CoreError> {
        let mut hits = self
            .retrieve(
                gateway,
                ctx,
                name,
                input.query.clone(),
                input.params.clone(),
                input.rerank,
            )
            .await?;
        let model = if input.extractive {
            None
        } else {
            input.model.clone().or_else(|| self.answer_model.clone())
        };
        let empty = |hits: Vec<Hit>, model: Option<String>| Answer {
            text: NO_ANSWER.to_owned(),
            model,
            cited: Vec::new(),
            unsupported: Vec::new(),
            grounded: false,
            hits,
            usage: None,
            guard: None,
        };
        if hits.is_empty() {
            // Nothing was asked of any model.
            return Ok(empty(hits, None));
        }
        let embedder = self.embedder()?.clone();
        let Some(model) = model else {
            let query = input.query.clone();
            return blocking(move || {
                let (text, cited, _) = extractive_answer(embedder.as_ref(), &query, &hits)?;
                if text.is_empty() {
                    return Ok(empty(hits, None));
                }
                Ok(Answer {
                    text,
                    model: None,
                    cited,
                    unsupported: Vec::new(),
                    grounded: true,
                    hits,
                    usage: None,
                    guard: None,
                })
            })
            .await;
        };
        // Indirect injection: a retrieved chunk that carries instructions never reaches the
        // model (as on retrieval-augmented chat).
        let guarded = guard.map(|(service, policy)| {
            let dropped = service.drop_flagged(&policy.policy, &mut hits);
            crate::guard::GuardedCall {
                service,
                policy,
                dropped,
                sources_at: Some(0),
            }
        });
        if hits.is_empty() {
            return Ok(empty(hits, Some(model)));
        }
        let mut body = serde_json::json!({
            "model": model,
            "messages": [
                {"role": "system", "content": rag::sources_prompt(&hits)},
                {"role": "user", "content": input.query},
            ],
        });
        if let Some(m) = input.max_tokens {
            body["max_tokens"] = m.into();
        }
        if let Some(t) = input.temperature {
            body["temperature"] = t.into();
        }
        let done = crate::guard::complete(gateway, ctx, body, guarded).await?;
        let (text, usage, report) = (done.text, done.usage, done.guard);
        blocking(move || {
            let checked = check_answer(embedder.as_ref(), &text, &hits)?;
            Ok(Answer {
                grounded: checked.unsupported.is_empty() && checked.claims > 0,
                text,
                model: Some(model),
                cited: checked.cited,
                unsupported: checked.unsupported,
                hits,
                usage,
                guard: report,
            })
        })
        .await
    }
}

/// Vectors from the knowledge base's embedding model, its failure as the gateway's error.
pub(crate) fn embed(e: &dyn Embedder, texts: &[String]) -> Result<Vec<Vec<f32>>, CoreError> {
    e.embed(texts).map_err(|detail| CoreError::Upstream {
        target: "embedding model".into(),
        detail,
    })
}

pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Sentences of the hits rated by their embedding's cosine with the query's.
///
/// Also returns the best cosine similarity of a quoted sentence to the query (0 when nothing
/// is quoted): a quote is grounded by construction, so how well it answers is this relevance.
pub(crate) fn extractive_answer(
    e: &dyn Embedder,
    query: &str,
    hits: &[Hit],
) -> Result<(String, Vec<usize>, f32), CoreError> {
    let mut sentences: Vec<(usize, String)> = Vec::new();
    for (i, h) in hits.iter().enumerate() {
        for (s, end) in atalaya_knowledge::sentences::split(&h.chunk.text) {
            sentences.push((i, h.chunk.text[s..end].trim().to_owned()));
        }
    }
    let mut texts = vec![query.to_owned()];
    texts.extend(sentences.iter().map(|(_, s)| s.clone()));
    let vectors = embed(e, &texts)?;
    let q = vectors.first().cloned().unwrap_or_default();
    let scores: HashMap<(usize, &str), f32> = sentences
        .iter()
        .zip(vectors.iter().skip(1))
        .map(|((i, s), v)| ((*i, s.as_str()), cosine(&q, v)))
        .collect();
    let (text, used) = rag::extractive(
        hits,
        EXTRACTIVE_SENTENCES,
        EXTRACTIVE_MIN_COSINE,
        &|i, s| scores.get(&(i, s)).copied().unwrap_or(0.0),
    );
    let best = if text.is_empty() {
        0.0
    } else {
        scores.values().copied().fold(0.0, f32::max)
    };
    Ok((text, used, best))
}

/// A generated answer checked against the hits it was given.
pub(crate) struct CheckedAnswer {
    /// Source numbers (1-based) in order of first citation, valid ones only.
    pub cited: Vec<usize>,
    /// Claims the sources they cite do not back, with why.
    pub unsupported: Vec<(String, Unsupported)>,
    /// Claims (sentences) in the answer.
    pub claims: usize,
}

/// Parses an answer's citations and checks each claim against the sources it cites
/// (blocking: embeds the claims and hits). `/answer` and pipeline `generate` steps share it.
pub(crate) fn check_answer(
    e: &dyn Embedder,
    text: &str,
    hits: &[Hit],
) -> Result<CheckedAnswer, CoreError> {
    let claims = rag::claims(text);
    let similarity = claim_similarity(e, &claims, hits)?;
    let unsupported = claims
        .iter()
        .enumerate()
        .filter_map(|(ci, c)| {
            rag::check(c, hits, &|hi| {
                similarity.get(ci).and_then(|row| row.get(hi)).copied()
            })
            .map(|why| (c.text.clone(), why))
        })
        .collect();
    let cited = rag::cited(text)
        .into_iter()
        .filter(|&n| n >= 1 && n <= hits.len())
        .collect();
    Ok(CheckedAnswer {
        cited,
        unsupported,
        claims: claims.len(),
    })
}

/// Cosines between each claim and each hit.
pub(crate) fn claim_similarity(
    e: &dyn Embedder,
    claims: &[rag::Claim],
    hits: &[Hit],
) -> Result<Vec<Vec<f32>>, CoreError> {
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let mut texts: Vec<String> = claims.iter().map(|c| c.text.clone()).collect();
    texts.extend(hits.iter().map(|h| h.chunk.text.clone()));
    let v = embed(e, &texts)?;
    let (cv, hv) = v.split_at(claims.len().min(v.len()));
    Ok(cv
        .iter()
        .map(|c| hv.iter().map(|h| cosine(c, h)).collect())
        .collect())
}

#[cfg(test)]
mod upload_tests {
    use std::time::Duration;

    use super::Uploads;

    #[tokio::test]
    async fn one_tenant_cannot_take_every_upload_slot() {
        let u = Uploads::new(4);
        let a1 = u.slot("a").await;
        let a2 = u.slot("a").await;
        assert!(a1.is_ok() && a2.is_ok());
        // A third of tenant a waits; tenant b is served at once.
        assert!(tokio::time::timeout(Duration::from_millis(50), u.slot("a"))
            .await
            .is_err());
        let b = tokio::time::timeout(Duration::from_millis(50), u.slot("b")).await;
        assert!(matches!(b, Ok(Ok(_))));
        drop(a1);
        let a3 = tokio::time::timeout(Duration::from_millis(50), u.slot("a")).await;
        assert!(matches!(a3, Ok(Ok(_))));
    }
}
