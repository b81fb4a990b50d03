//! The knowledge base's service functions, shared by the HTTP API and the CLI: collections,
//! ingestion of one document (parse → chunk → embed → store → index), deletion and search.
//!
//! The store is the record of truth. Each collection's indexes are built from it when first
//! used and kept in step with every write; the keyword index lives on disk next to the
//! database and is rebuilt whenever its contents differ from the store's (e.g. after a crash
//! between the database commit and the index commit).

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Condvar, Mutex,
    },
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::doc::DocumentMeta;
use crate::{
    ann::{Ann, AnnParams},
    chunk::{chunk, Chunk, ChunkConfig},
    doc::{Format, ParsedDocument},
    index::{
        rrf, ChunkMeta, DenseIndex, Filter, IndexedChunk, KeywordIndex, Lang, VectorIndex,
        ANN_THRESHOLD,
    },
    parse::Parser,
    store::{index_text, ChunkView, Collection, NewChunk, NewDocument, PutOutcome, Store},
    tasks::{ItemRef, ItemStatus, NewItem, PendingItem, Task, TaskKind, TaskStatus},
    Error,
};

/// Turns texts into unit-length vectors, and counts tokens the way the model does. The
/// gateway implements it over its local embedding engine.
pub trait Embedder: Send + Sync {
    /// The model's name, recorded with each collection.
    fn model(&self) -> &str;
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String>;
    /// Tokens counted as [`Embedder::count_tokens`] does, of the whole text (no truncation).
    fn count_tokens(&self, text: &str) -> usize;
    /// The longest input the model embeds whole, in those tokens.
    fn max_tokens(&self) -> usize;
}

/// Search mode; hybrid fuses both rankings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Hybrid,
    Dense,
    Bm25,
}

impl Mode {
    /// Every mode, in the order the messages list them.
    pub const ALL: [Mode; 3] = [Mode::Hybrid, Mode::Dense, Mode::Bm25];

    /// The name requests, pipeline files and responses use.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Hybrid => "hybrid",
            Mode::Dense => "dense",
            Mode::Bm25 => "bm25",
        }
    }

    /// The mode of a name, or a message listing the valid ones.
    pub fn parse(name: &str) -> Result<Mode, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == name)
            .ok_or_else(|| format!("must be \"hybrid\", \"dense\" or \"bm25\", not \"{name}\""))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchParams {
    pub k: usize,
    pub mode: Mode,
    /// Weights of the dense and keyword rankings in hybrid fusion.
    pub dense_weight: f32,
    pub bm25_weight: f32,
    pub filter: Filter,
    /// The asker's language: passages in it are searched first, and other languages only
    /// when none in it is relevant (see [`KnowledgeBase::search`]). Ignored when the filter
    /// already names languages.
    pub prefer_language: Option<Lang>,
    /// With `prefer_language`: a best cosine similarity below this in the asker's language,
    /// with one at or above it in another, means nothing in the asker's language is relevant.
    pub relevance_floor: f32,
}

/// The default [`SearchParams::relevance_floor`]: all-MiniLM-L6-v2 similarities of a
/// question to an unrelated passage of the demo knowledge base stay under it.
pub const RELEVANCE_FLOOR: f32 = 0.3;

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams {
            k: 10,
            mode: Mode::Hybrid,
            dense_weight: 1.0,
            bm25_weight: 1.0,
            filter: Filter::default(),
            prefer_language: None,
            relevance_floor: RELEVANCE_FLOOR,
        }
    }
}

/// Several searches' hits as one ranking (reciprocal rank fusion, k0 = 60): a chunk found by
/// more of them, higher up, comes first; each keeps its best cosine similarity. The scores
/// are the fused ones.
pub fn fuse(lists: Vec<Vec<Hit>>, k: usize) -> Vec<Hit> {
    let mut by_id: HashMap<i64, (f32, Hit)> = HashMap::new();
    for list in lists {
        for (rank, h) in list.into_iter().enumerate() {
            let add = 1.0 / (60.0 + rank as f32 + 1.0);
            match by_id.get_mut(&h.chunk.id) {
                Some((score, kept)) => {
                    *score += add;
                    kept.similarity = match (kept.similarity, h.similarity) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
                }
                None => {
                    by_id.insert(h.chunk.id, (add, h));
                }
            }
        }
    }
    let mut out: Vec<Hit> = by_id
        .into_values()
        .map(|(score, mut h)| {
            h.score = score;
            h
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.chunk.id.cmp(&b.chunk.id))
    });
    out.truncate(k);
    out
}

/// Which of two searches answers a query asked in one language: the one in that language
/// (`own`) unless it found nothing, or nothing relevant while the search across languages
/// (`all`, run only then) did. Hits without a similarity (BM25 only) count as relevant.
pub(crate) fn prefer_own(own: &[Hit], floor: f32) -> bool {
    let mut sims = own.iter().filter_map(|h| h.similarity).peekable();
    !own.is_empty() && (sims.peek().is_none() || sims.any(|s| s >= floor))
}

/// The filter of the asker's language, when the search prefers it (and its filter names no
/// language): that search goes first ([`KnowledgeBase::search`]; every backend follows it).
pub(crate) fn own_language_filter(params: &SearchParams) -> Option<Filter> {
    let lang = params
        .prefer_language
        .filter(|_| params.filter.languages.is_empty())?;
    Some(Filter {
        languages: vec![lang],
        ..params.filter.clone()
    })
}

/// Between the asker's language's hits (not enough on their own: [`prefer_own`] said no) and
/// the hits across languages: the latter when the former are empty or the latter relevant.
pub(crate) fn pick_language(own: Vec<Hit>, all: Vec<Hit>, floor: f32) -> Vec<Hit> {
    if own.is_empty() || prefer_own(&all, floor) {
        all
    } else {
        own
    }
}

/// A ranked chunk with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub score: f32,
    /// The cosine similarity of the chunk's vector to the query's, when the dense ranking
    /// found it (dense and hybrid search): unlike a fused score, comparable across queries.
    #[serde(default, skip_serializing)]
    pub similarity: Option<f32>,
    #[serde(flatten)]
    pub chunk: ChunkView,
}

/// The result of ingesting one document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Ingested {
    /// Same content as stored: nothing was done.
    Unchanged { document_id: i64 },
    Indexed {
        document_id: i64,
        version: i64,
        chunks: usize,
    },
}

struct Indexes {
    keyword: KeywordIndex,
    vectors: Box<dyn DenseIndex>,
}

pub struct KnowledgeBase {
    store: Store,
    dir: Option<PathBuf>,
    open: Mutex<HashMap<i64, Arc<Indexes>>>,
    /// One writer per collection at a time: a document's store write and its index updates
    /// happen together, so concurrent ingests cannot leave stale chunks in an index.
    writers: Mutex<HashMap<i64, Arc<Mutex<()>>>>,
    /// One index build per collection at a time, without blocking other collections.
    builds: Mutex<HashMap<i64, Arc<Mutex<()>>>>,
    /// Bumped and signalled when work is enqueued.
    wake: (Mutex<u64>, Condvar),
    /// Collections with at least this many chunks search an HNSW graph.
    ann_threshold: usize,
    /// How documents are parsed (a sandboxed child process in the server).
    parser: Parser,
    /// The tenant of the last group of items the worker took, and its task (failed if the
    /// worker panics on it).
    last: Mutex<(Option<String>, Option<i64>)>,
}

/// Attempts after which an item that never finished (its processing took the process down,
/// or the process was stopped each time) fails instead of being taken again.
pub(crate) const MAX_ATTEMPTS: u32 = 3;

/// Room left in the model's input for the title and heading path added to each chunk.
const PREFIX_ROOM: usize = 24;

const EMBED_BATCH: usize = 256;
/// Items a worker step takes, and the chunks it gathers before embedding them together.
pub(crate) const GROUP_ITEMS: usize = 64;
pub(crate) const GROUP_CHUNKS: usize = 256;

/// A document parsed and chunked, waiting for its vectors.
pub(crate) struct Ready {
    pub(crate) source: String,
    pub(crate) format: Format,
    pub(crate) content_hash: String,
    pub(crate) doc: ParsedDocument,
    pub(crate) chunks: Vec<Chunk>,
    /// What is embedded and keyword-indexed per chunk (title and headings lead).
    pub(crate) texts: Vec<String>,
    pub(crate) language: Option<Lang>,
    pub(crate) meta: DocumentMeta,
}

enum Prepared {
    Unchanged { document_id: i64 },
    Ready(Box<Ready>),
}

/// What a new collection must satisfy, whatever stores it: a valid name, and chunks that fit
/// the embedding model's input.
pub(crate) fn check_collection(
    name: &str,
    embedder: &dyn Embedder,
    chunking: &ChunkConfig,
) -> Result<(), Error> {
    validate_name(name)?;
    let limit = embedder.max_tokens().saturating_sub(PREFIX_ROOM);
    if chunking.max_tokens < 16 || chunking.max_tokens > limit {
        return Err(Error::Invalid(format!(
            "chunk size {} tokens: must be between 16 and {limit} for '{}' (its input limit minus room for headings)",
            chunking.max_tokens,
            embedder.model()
        )));
    }
    if chunking.overlap_tokens * 2 > chunking.max_tokens {
        return Err(Error::Invalid(format!(
            "chunk overlap {} tokens: must be at most half the chunk size ({})",
            chunking.overlap_tokens, chunking.max_tokens
        )));
    }
    Ok(())
}

/// A collection is only ever embedded by the model it was created with.
pub(crate) fn check_model(c: &Collection, embedder: &dyn Embedder) -> Result<(), Error> {
    if embedder.model() != c.embedding_model {
        return Err(Error::Invalid(format!(
            "collection '{}' is embedded with '{}', not '{}'",
            c.name,
            c.embedding_model,
            embedder.model()
        )));
    }
    Ok(())
}

/// The hash that decides whether a document changed: its bytes and the metadata filters see.
pub(crate) fn content_hash(bytes: &[u8], meta: &DocumentMeta) -> String {
    let hash = hex::encode(Sha256::digest(bytes));
    let meta_json =
        serde_json::to_string(&(&meta.tags, &meta.labels, &meta.language)).unwrap_or_default();
    hex::encode(Sha256::digest(format!("{hash}{meta_json}").as_bytes()))
}

/// Parses and chunks a document for collection `c` (no store involved).
#[allow(clippy::too_many_arguments)]
pub(crate) fn prepare_parsed(
    parser: &Parser,
    c: &Collection,
    embedder: &dyn Embedder,
    source: &str,
    format: Format,
    bytes: &[u8],
    meta: &DocumentMeta,
    content_hash: String,
) -> Result<Ready, Error> {
    let doc = parser.parse(format, bytes)?;
    let counter = |t: &str| embedder.count_tokens(t);
    let chunks = chunk(&doc, &c.chunking, &counter);
    let language = meta
        .language
        .as_deref()
        .or(c.language.as_deref())
        .map(Lang::from_code);
    let texts: Vec<String> = chunks
        .iter()
        .map(|ch| index_text(doc.title.as_deref(), &ch.heading_path, &ch.text))
        .collect();
    Ok(Ready {
        source: source.to_owned(),
        format,
        content_hash,
        doc,
        chunks,
        texts,
        language,
        meta: meta.clone(),
    })
}

/// Vectors for `texts`, in calls of at most [`EMBED_BATCH`] texts.
pub(crate) fn embed_all(embedder: &dyn Embedder, texts: &[String]) -> Result<Vec<Vec<f32>>, Error> {
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(texts.len());
    for batch in texts.chunks(EMBED_BATCH) {
        let v = embedder.embed(batch).map_err(Error::Embedding)?;
        if v.len() != batch.len() {
            return Err(Error::Embedding(format!(
                "{} texts gave {} vectors",
                batch.len(),
                v.len()
            )));
        }
        vectors.extend(v);
    }
    Ok(vectors)
}

impl KnowledgeBase {
    /// Opens the knowledge base under `data_dir` (`knowledge.db` and `index/`).
    pub fn open(data_dir: &Path) -> Result<KnowledgeBase, Error> {
        let dir = data_dir.join("knowledge");
        Ok(KnowledgeBase {
            store: Store::open(&dir.join("knowledge.db"))?,
            dir: Some(dir),
            open: Mutex::new(HashMap::new()),
            writers: Mutex::new(HashMap::new()),
            builds: Mutex::new(HashMap::new()),
            wake: (Mutex::new(0), Condvar::new()),
            ann_threshold: ANN_THRESHOLD,
            parser: Parser::InProcess,
            last: Mutex::new((None, None)),
        })
    }

    /// Everything in memory (tests).
    pub fn in_memory() -> Result<KnowledgeBase, Error> {
        Ok(KnowledgeBase {
            store: Store::open_in_memory()?,
            dir: None,
            open: Mutex::new(HashMap::new()),
            writers: Mutex::new(HashMap::new()),
            builds: Mutex::new(HashMap::new()),
            wake: (Mutex::new(0), Condvar::new()),
            ann_threshold: ANN_THRESHOLD,
            parser: Parser::InProcess,
            last: Mutex::new((None, None)),
        })
    }

    /// Sets how documents are parsed (default: in this process).
    pub fn set_parser(&mut self, parser: Parser) {
        self.parser = parser;
    }

    /// Sets the size from which collections search an HNSW graph instead of every vector
    /// (default [`ANN_THRESHOLD`]); applies to collections opened afterwards.
    pub fn set_ann_threshold(&mut self, chunks: usize) {
        self.ann_threshold = chunks.max(1);
    }

    /// Whether the collection's dense search goes through its HNSW graph.
    pub fn is_approximate(&self, c: &Collection) -> Result<bool, Error> {
        Ok(self.indexes(c)?.vectors.is_approximate())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn create_collection(
        &self,
        tenant: &str,
        name: &str,
        embedder: &dyn Embedder,
        language: Option<&str>,
        chunking: ChunkConfig,
    ) -> Result<Collection, Error> {
        check_collection(name, embedder, &chunking)?;
        self.store
            .create_collection(tenant, name, embedder.model(), language, chunking)
    }

    /// The tenant's collection, or a not-found error naming it.
    pub fn collection(&self, tenant: &str, name: &str) -> Result<Collection, Error> {
        self.store
            .collection(tenant, name)?
            .ok_or_else(|| Error::NotFound(format!("collection '{name}'")))
    }

    pub fn delete_collection(&self, tenant: &str, name: &str) -> Result<(), Error> {
        self.remove_collection(tenant, name)?;
        self.store.checkpoint()
    }

    /// [`Self::delete_collection`] without the WAL checkpoint (its caller makes one).
    fn remove_collection(&self, tenant: &str, name: &str) -> Result<(), Error> {
        let c = self.collection(tenant, name)?;
        self.store.delete_collection(tenant, name)?;
        if let Ok(mut open) = self.open.lock() {
            open.remove(&c.id);
        }
        if let Some(dir) = &self.dir {
            let d = dir.join("index").join(c.id.to_string());
            let _ = std::fs::remove_dir_all(&d);
            let _ = std::fs::remove_file(ann_path(&d));
        }
        Ok(())
    }

    /// Deletes everything of `tenant`: its collections (documents, chunks, index files) and
    /// its tasks. Returns the number of collections.
    pub fn delete_tenant(&self, tenant: &str) -> Result<usize, Error> {
        let collections = self.store.collections(tenant)?;
        for c in &collections {
            self.remove_collection(tenant, &c.name)?;
        }
        self.store.delete_tasks(tenant)?;
        self.store.checkpoint()?;
        Ok(collections.len())
    }

    /// Forgets a collection's indexes: the next use rebuilds them from the store.
    fn evict(&self, c: &Collection) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&c.id);
        }
    }

    fn write_lock(&self, c: &Collection) -> Result<Arc<Mutex<()>>, Error> {
        lock_for(&self.writers, c)
    }

    fn cached(&self, c: &Collection) -> Result<Option<Arc<Indexes>>, Error> {
        let open = self
            .open
            .lock()
            .map_err(|_| Error::Index("the index table was poisoned".into()))?;
        Ok(open.get(&c.id).cloned())
    }

    /// The collection's indexes, built from the store on first use; the keyword index is
    /// reused from disk when it holds exactly the store's chunks.
    fn indexes(&self, c: &Collection) -> Result<Arc<Indexes>, Error> {
        if let Some(ix) = self.cached(c)? {
            return Ok(ix);
        }
        // Build under this collection's lock only: other collections stay searchable, and
        // two callers never build (or rebuild the directory of) the same collection at once.
        let build = lock_for(&self.builds, c)?;
        let _building = build
            .lock()
            .map_err(|_| Error::Index("an index build lock was poisoned".into()))?;
        if let Some(ix) = self.cached(c)? {
            return Ok(ix);
        }
        let rows = self.store.index_rows(c.id)?;
        let kdir = self
            .dir
            .as_ref()
            .map(|d| d.join("index").join(c.id.to_string()));
        let chunks: Vec<IndexedChunk<'_>> = rows
            .iter()
            .map(|r| IndexedChunk {
                id: r.id as u64,
                text: &r.text,
                meta: &r.meta,
                vector: &r.vector,
            })
            .collect();
        let mut keyword = KeywordIndex::open(kdir.as_deref())?;
        let stored: HashSet<u64> = chunks.iter().map(|c| c.id).collect();
        if keyword.ids()? != stored {
            // Out of step (a crash between the two commits, a deleted directory): rebuild.
            drop(keyword);
            if let Some(d) = &kdir {
                let _ = std::fs::remove_dir_all(d);
            }
            keyword = KeywordIndex::open(kdir.as_deref())?;
            keyword.upsert(&chunks)?;
            keyword.commit()?;
        }
        let vectors = VectorIndex::with_ann(self.ann_threshold, AnnParams::default());
        let saved = match (&kdir, chunks.first()) {
            (Some(d), Some(first)) if chunks.len() >= self.ann_threshold => {
                Ann::load(&ann_path(d), first.vector.len(), vectors.params())
            }
            _ => None,
        };
        vectors.load(&chunks, saved)?;
        let ix = Arc::new(Indexes {
            keyword,
            vectors: Box::new(vectors),
        });
        self.open
            .lock()
            .map_err(|_| Error::Index("the index table was poisoned".into()))?
            .insert(c.id, ix.clone());
        Ok(ix)
    }

    /// Parses, chunks, embeds, stores and indexes one document. Re-ingesting unchanged bytes
    /// (with unchanged metadata) is a no-op; changed ones replace the old chunks atomically.
    pub fn ingest(
        &self,
        c: &Collection,
        embedder: &dyn Embedder,
        source: &str,
        format: Format,
        bytes: &[u8],
        meta: &DocumentMeta,
    ) -> Result<Ingested, Error> {
        match self.prepare(c, embedder, source, format, bytes, meta)? {
            Prepared::Unchanged { document_id } => Ok(Ingested::Unchanged { document_id }),
            Prepared::Ready(p) => {
                let vectors = embed_all(embedder, &p.texts)?;
                self.commit(c, &p, &vectors, None)
            }
        }
    }

    /// Everything before embedding: the hash check, parsing and chunking.
    fn prepare(
        &self,
        c: &Collection,
        embedder: &dyn Embedder,
        source: &str,
        format: Format,
        bytes: &[u8],
        meta: &DocumentMeta,
    ) -> Result<Prepared, Error> {
        check_model(c, embedder)?;
        let content_hash = content_hash(bytes, meta);
        if let Some((id, stored)) = self.store.content_hash(c.id, source)? {
            if stored == content_hash {
                // Cheap path: no parsing, no embedding.
                return Ok(Prepared::Unchanged { document_id: id });
            }
        }
        prepare_parsed(
            &self.parser,
            c,
            embedder,
            source,
            format,
            bytes,
            meta,
            content_hash,
        )
        .map(|r| Prepared::Ready(Box::new(r)))
    }

    /// Stores a prepared document with its vectors (recording the task item `mark` in the same
    /// transaction) and updates the indexes.
    fn commit(
        &self,
        c: &Collection,
        p: &Ready,
        vectors: &[Vec<f32>],
        mark: Option<ItemRef>,
    ) -> Result<Ingested, Error> {
        if vectors.len() != p.texts.len() {
            return Err(Error::Embedding(format!(
                "{} texts gave {} vectors",
                p.texts.len(),
                vectors.len()
            )));
        }
        let ix = self.indexes(c)?;
        let dims = ix.vectors.dims();
        if let Some(v) = vectors.iter().find(|v| dims != 0 && v.len() != dims) {
            return Err(Error::Embedding(format!(
                "the model returned {}-dimensional vectors; collection '{}' holds {dims}",
                v.len(),
                c.name
            )));
        }
        let new_chunks: Vec<NewChunk<'_>> = p
            .chunks
            .iter()
            .zip(vectors)
            .map(|(ch, v)| NewChunk {
                start: ch.start,
                end: ch.end,
                page: ch.page,
                heading_path: &ch.heading_path,
                text: &ch.text,
                tokens: ch.tokens,
                vector: v,
            })
            .collect();
        let lock = self.write_lock(c)?;
        let _writing = lock
            .lock()
            .map_err(|_| Error::Index("a collection writer lock was poisoned".into()))?;
        let outcome = self.store.put_document_for(
            c.id,
            &NewDocument {
                source: &p.source,
                title: p.doc.title.as_deref(),
                format: p.format.as_str(),
                language: p.language,
                tags: &p.meta.tags,
                labels: &p.meta.labels,
                content_hash: &p.content_hash,
                text: &p.doc.text,
            },
            &new_chunks,
            mark,
        )?;
        match outcome {
            PutOutcome::Unchanged { document_id } => Ok(Ingested::Unchanged { document_id }),
            PutOutcome::Stored {
                document_id,
                version,
                added,
                removed,
            } => {
                let chunk_meta = ChunkMeta {
                    lang: p.language,
                    tags: p.meta.tags.clone(),
                    labels: p.meta.labels.clone(),
                };
                let indexed: Vec<IndexedChunk<'_>> = added
                    .iter()
                    .zip(&p.texts)
                    .zip(vectors)
                    .map(|((id, text), v)| IndexedChunk {
                        id: *id as u64,
                        text,
                        meta: &chunk_meta,
                        vector: v,
                    })
                    .collect();
                let removed: Vec<u64> = removed.iter().map(|&i| i as u64).collect();
                let updated = ix
                    .keyword
                    .delete(&removed)
                    .and_then(|()| ix.keyword.upsert(&indexed))
                    .and_then(|()| ix.keyword.commit())
                    .and_then(|()| {
                        if removed.is_empty() {
                            Ok(())
                        } else {
                            ix.keyword.purge_deleted()
                        }
                    })
                    .and_then(|()| ix.vectors.delete(&removed))
                    .and_then(|()| ix.vectors.upsert(&indexed));
                if let Err(e) = updated {
                    // The store has the new version: the indexes are rebuilt from it on next
                    // use rather than left behind.
                    self.evict(c);
                    return Err(e);
                }
                Ok(Ingested::Indexed {
                    document_id,
                    version,
                    chunks: added.len(),
                })
            }
        }
    }

    // ----- the task queue -----

    /// Enqueues documents for ingestion; returns once the task and every byte of its
    /// documents are durably stored.
    pub fn enqueue_ingest(&self, c: &Collection, items: &[NewItem]) -> Result<Task, Error> {
        let t = self.store.enqueue(c, TaskKind::Ingest, items)?;
        self.wake();
        Ok(t)
    }

    /// Enqueues deletions, ordered after every ingestion enqueued before them.
    pub fn enqueue_delete(&self, c: &Collection, sources: &[String]) -> Result<Task, Error> {
        let items: Vec<NewItem> = sources
            .iter()
            .map(|s| NewItem {
                source: s.clone(),
                ..NewItem::default()
            })
            .collect();
        let t = self.store.enqueue(c, TaskKind::Delete, &items)?;
        self.wake();
        Ok(t)
    }

    /// The tenant's task, with its items.
    pub fn task(&self, tenant: &str, id: i64) -> Result<Task, Error> {
        self.store
            .task(tenant, id, true)?
            .ok_or_else(|| Error::NotFound(format!("task {id}")))
    }

    /// Wakes the worker (new work was enqueued).
    pub fn wake(&self) {
        let (lock, cv) = &self.wake;
        if let Ok(mut n) = lock.lock() {
            *n = n.wrapping_add(1);
        }
        cv.notify_all();
    }

    /// Processes the queue until `stop` is set: the oldest unfinished task first, a group of
    /// items at a time. Blocking; runs on a thread of its own. A stopped task stays
    /// `processing` and resumes at its first pending item on the next start.
    pub fn run_worker(&self, embedder: &dyn Embedder, stop: &AtomicBool) {
        let (lock, cv) = &self.wake;
        while !stop.load(Ordering::Acquire) {
            let seen = lock.lock().map(|n| *n).unwrap_or(0);
            let step =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.work_once(embedder)));
            // A failing store (a full disk) is tried again every few seconds, not in a loop.
            let mut idle = std::time::Duration::from_millis(250);
            match step {
                Ok(Ok(true)) => continue,
                Ok(Ok(false)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "knowledge task worker");
                    if e.is_storage() {
                        idle = std::time::Duration::from_secs(2);
                    }
                }
                Err(_) => {
                    // A bug, not a bad document (parsers contain their own panics): end the
                    // task rather than crash on it again at every restart.
                    tracing::error!("knowledge task worker panicked; failing the current task");
                    let current = self.last.lock().ok().and_then(|l| l.1);
                    if let Some(id) = current {
                        let _ = self
                            .store
                            .finish_task(id, Some("internal error while processing this task"));
                    }
                }
            }
            // Idle (or failing): sleep until woken, with a timeout so a stop is noticed.
            if let Ok(n) = lock.lock() {
                if *n == seen && !stop.load(Ordering::Acquire) {
                    let _ = cv.wait_timeout(n, idle);
                }
            }
        }
    }

    /// One step of the queue: a group of items of the oldest unfinished task, or the task's
    /// end. Returns whether there was anything to do.
    pub fn work_once(&self, embedder: &dyn Embedder) -> Result<bool, Error> {
        let after = self.last.lock().ok().and_then(|l| l.0.clone());
        let Some(task) = self.store.next_task(after.as_deref())? else {
            return Ok(false);
        };
        if let Ok(mut l) = self.last.lock() {
            *l = (Some(task.tenant.clone()), Some(task.id));
        }
        if task.status == TaskStatus::Enqueued {
            self.store.start_task(task.id)?;
        }
        let Some(c) = self.store.collection_by_id(task.collection_id)? else {
            self.store
                .finish_task(task.id, Some("the collection was deleted"))?;
            return Ok(true);
        };
        let items = self.store.pending_items(task.id, GROUP_ITEMS)?;
        if items.is_empty() {
            self.store.finish_task(task.id, None)?;
            if let Err(e) = self.persist() {
                // The graph is rebuilt from the store at the next start: slower, not wrong.
                tracing::warn!(error = %e, "saving the HNSW graph");
            }
            return Ok(true);
        }
        match task.kind {
            TaskKind::Delete => {
                for it in items {
                    match self.delete_marked(&c, &it.source, Some(it.at)) {
                        Ok(()) | Err(Error::NotFound(_)) => {}
                        Err(e) if e.is_storage() => return Err(e),
                        Err(e) => self.fail_item(it.at, &e)?,
                    }
                }
            }
            TaskKind::Ingest => self.ingest_group(&c, embedder, items)?,
        }
        Ok(true)
    }

    fn fail_item(&self, at: ItemRef, e: &Error) -> Result<(), Error> {
        self.store
            .mark_item(at, ItemStatus::Failed, None, 0, Some(&e.to_string()))
    }

    /// Prepares items until a group's worth of chunks is waiting, embeds them in one call (so
    /// many small documents share the model's batches), then stores each.
    fn ingest_group(
        &self,
        c: &Collection,
        embedder: &dyn Embedder,
        items: Vec<PendingItem>,
    ) -> Result<(), Error> {
        let mut ready: Vec<(ItemRef, Ready)> = Vec::new();
        let mut texts = 0;
        let mut sources: HashSet<String> = HashSet::new();
        let mut items = items.into_iter();
        while let Some(it) = items.next() {
            // The rest stay pending for the next group: when enough chunks wait, and when a
            // source repeats (its later version must be compared with the earlier one once
            // that is stored, not with what was stored before the group). Their attempt was
            // counted when the group was taken: it is given back, since none was made.
            if texts >= GROUP_CHUNKS || !sources.insert(it.source.clone()) {
                let left: Vec<ItemRef> =
                    std::iter::once(it.at).chain(items.map(|i| i.at)).collect();
                self.store.unclaim(&left)?;
                break;
            }
            let format = it
                .format
                .as_deref()
                .and_then(Format::from_name)
                .ok_or_else(|| {
                    Error::Unsupported(it.format.clone().unwrap_or_else(|| "(none)".into()))
                });
            if it.attempts > MAX_ATTEMPTS {
                self.fail_item(
                    it.at,
                    &Error::Invalid(format!(
                        "processing this document was interrupted {} times (the process \
                         stopped or crashed while on it); it is not tried again",
                        it.attempts - 1
                    )),
                )?;
                continue;
            }
            let body = it.body.as_deref().unwrap_or_default();
            match format.and_then(|f| self.prepare(c, embedder, &it.source, f, body, &it.meta)) {
                Ok(Prepared::Unchanged { document_id }) => self.store.mark_item(
                    it.at,
                    ItemStatus::Unchanged,
                    Some(document_id),
                    0,
                    None,
                )?,
                Ok(Prepared::Ready(p)) => {
                    texts += p.texts.len();
                    ready.push((it.at, *p));
                }
                // The database, not the document, is failing: leave the item pending.
                Err(e) if e.is_storage() => return Err(e),
                Err(e) => self.fail_item(it.at, &e)?,
            }
        }
        let all: Vec<String> = ready.iter().flat_map(|(_, p)| p.texts.clone()).collect();
        // One call for the group; if it fails, one per document, so that only the documents
        // the model cannot embed fail.
        let grouped = embed_all(embedder, &all).ok();
        let mut offset = 0;
        for (at, p) in &ready {
            let n = p.texts.len();
            let vectors = match &grouped {
                Some(v) => Ok(v.get(offset..offset + n).unwrap_or_default().to_vec()),
                None => embed_all(embedder, &p.texts),
            };
            offset += n;
            let committed = vectors.and_then(|vs| self.commit(c, p, &vs, Some(*at)));
            if let Err(e) = committed {
                if e.is_storage() {
                    return Err(e); // the storage is failing: stop, retry later
                }
                self.fail_item(*at, &e)?;
            }
        }
        Ok(())
    }

    /// Saves every open collection's HNSW graph that changed since its last save, so that
    /// the next start loads it instead of rebuilding. (A graph saved before a crash is brought
    /// up to date from the store at load.)
    pub fn persist(&self) -> Result<(), Error> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let open: Vec<(i64, Arc<Indexes>)> = self
            .open
            .lock()
            .map_err(|_| Error::Index("the index table was poisoned".into()))?
            .iter()
            .map(|(id, ix)| (*id, ix.clone()))
            .collect();
        for (id, ix) in open {
            let d = dir.join("index").join(id.to_string());
            if let Some(parent) = d.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    Error::Index(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            ix.vectors.save(&ann_path(&d))?;
        }
        Ok(())
    }

    /// Whether both indexes hold exactly the store's chunks (an operator's check; tests).
    pub fn verify(&self, c: &Collection) -> Result<bool, Error> {
        let ix = self.indexes(c)?;
        let stored: HashSet<u64> = self
            .store
            .chunk_ids(c.id)?
            .into_iter()
            .map(|id| id as u64)
            .collect();
        Ok(ix.keyword.ids()? == stored && ix.vectors.ids()? == stored)
    }

    /// Removes a document from the store and every index.
    pub fn delete_document(&self, c: &Collection, source: &str) -> Result<(), Error> {
        self.delete_marked(c, source, None)
    }

    fn delete_marked(
        &self,
        c: &Collection,
        source: &str,
        mark: Option<ItemRef>,
    ) -> Result<(), Error> {
        let ix = self.indexes(c)?;
        let lock = self.write_lock(c)?;
        let _writing = lock
            .lock()
            .map_err(|_| Error::Index("a collection writer lock was poisoned".into()))?;
        let Some(removed) = self.store.delete_document_for(c.id, source, mark)? else {
            return Err(Error::NotFound(format!("document '{source}'")));
        };
        let removed: Vec<u64> = removed.iter().map(|&i| i as u64).collect();
        let updated = ix
            .keyword
            .delete(&removed)
            .and_then(|()| ix.keyword.commit())
            .and_then(|()| ix.keyword.purge_deleted())
            .and_then(|()| ix.vectors.delete(&removed));
        if updated.is_err() {
            self.evict(c);
        }
        updated?;
        self.store.checkpoint()
    }

    /// Ranked chunks for `query`, with their sources and positions.
    ///
    /// With [`SearchParams::prefer_language`] (and no language filter), the passages in
    /// that language are searched first; the search goes across languages only when that
    /// finds nothing, or nothing at or above [`SearchParams::relevance_floor`] while another
    /// language has something that is. A Spanish question is answered from the Spanish
    /// article whenever the collection has a relevant one.
    pub fn search(
        &self,
        c: &Collection,
        embedder: Option<&dyn Embedder>,
        query: &str,
        params: &SearchParams,
    ) -> Result<Vec<Hit>, Error> {
        let mut vector = None;
        let Some(own_filter) = own_language_filter(params) else {
            return self.search_with(c, embedder, query, params, &params.filter, &mut vector);
        };
        let own = self.search_with(c, embedder, query, params, &own_filter, &mut vector)?;
        if prefer_own(&own, params.relevance_floor) {
            return Ok(own);
        }
        let all = self.search_with(c, embedder, query, params, &params.filter, &mut vector)?;
        Ok(pick_language(own, all, params.relevance_floor))
    }

    /// One search under `filter`; the query's vector is computed once into `vector`.
    fn search_with(
        &self,
        c: &Collection,
        embedder: Option<&dyn Embedder>,
        query: &str,
        params: &SearchParams,
        filter: &Filter,
        vector: &mut Option<Vec<f32>>,
    ) -> Result<Vec<Hit>, Error> {
        let ix = self.indexes(c)?;
        let k = params.k.clamp(1, 1000);
        // Each ranking contributes more candidates than asked, so fusion has room to agree.
        let depth = (k * 4).max(50);
        let mut dense = |n: usize| -> Result<Vec<(u64, f32)>, Error> {
            let q = match vector {
                Some(q) => q,
                None => {
                    let e = embedder.ok_or_else(|| {
                        Error::Invalid("dense search needs the collection's embedding model".into())
                    })?;
                    let q = e
                        .embed(&[query.to_owned()])
                        .map_err(Error::Embedding)?
                        .pop()
                        .unwrap_or_default();
                    vector.insert(q)
                }
            };
            ix.vectors.search(q, n, filter)
        };
        let mut similarity: HashMap<i64, f32> = HashMap::new();
        let ranked: Vec<(u64, f32)> = match params.mode {
            Mode::Dense => {
                let d = dense(k)?;
                similarity.extend(d.iter().map(|(id, s)| (*id as i64, *s)));
                d
            }
            Mode::Bm25 => ix.keyword.search(query, k, filter)?,
            Mode::Hybrid => {
                let d = dense(depth)?;
                similarity.extend(d.iter().map(|(id, s)| (*id as i64, *s)));
                let b = ix.keyword.search(query, depth, filter)?;
                rrf(
                    &[(&d, params.dense_weight), (&b, params.bm25_weight)],
                    60.0,
                    k,
                )
            }
        };
        let ids: Vec<i64> = ranked.iter().map(|(id, _)| *id as i64).collect();
        let views = self.store.chunk_views(c.id, &ids)?;
        let scores: HashMap<i64, f32> = ranked.iter().map(|(id, s)| (*id as i64, *s)).collect();
        // The access rule once more, on the store's own metadata: an index that lags behind
        // the store can never show a caller what it may not see.
        Ok(views
            .into_iter()
            .filter(|v| filter.allows(&v.meta))
            .map(|v| Hit {
                score: scores.get(&v.id).copied().unwrap_or(0.0),
                similarity: similarity.get(&v.id).copied(),
                chunk: v,
            })
            .collect())
    }
}

/// Where a collection's HNSW graph is saved, beside (not inside) its keyword index directory.
fn ann_path(index_dir: &Path) -> PathBuf {
    index_dir.with_extension("vectors.ann")
}

/// The per-collection lock of `table`.
fn lock_for(
    table: &Mutex<HashMap<i64, Arc<Mutex<()>>>>,
    c: &Collection,
) -> Result<Arc<Mutex<()>>, Error> {
    let mut t = table
        .lock()
        .map_err(|_| Error::Index("a lock table was poisoned".into()))?;
    Ok(t.entry(c.id).or_default().clone())
}

/// Collection names are path- and URL-safe: letters, digits, `-`, `_`, `.`, 1–64 characters.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid collection name '{name}': use 1–64 letters, digits, '-', '_' or '.'"
        )))
    }
}
