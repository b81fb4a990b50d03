//! The knowledge base in Postgres, shared by every replica: collections, documents, chunks
//! and tasks are rows, so a document is searchable from every replica the moment its task
//! item commits.
//!
//! - **Dense search**: pgvector, inner product over the unit-length embeddings (the cosine),
//!   with an HNSW index per vector width (`kb_chunks_hnsw_<dims>`, a partial expression
//!   index made the first time a width is stored). Filters are in the same statement;
//!   iterative index scans (`hnsw.iterative_scan`) keep filtered searches from coming back
//!   short.
//! - **Keyword search**: Postgres full text. Each chunk's text (title and headings first, as
//!   the embedded index sees it) is accent-folded (`unaccent`) and analysed with its
//!   language's configuration (english, spanish, portuguese, else simple); a query matches
//!   any of its words under every configuration, ranked by `ts_rank_cd`.
//! - **Hybrid**: both rankings fused by reciprocal rank, as in the embedded backend; the
//!   language preference and the access rule are the same code.
//! - **Tasks**: a worker leases one task at a time (`FOR UPDATE SKIP LOCKED`; the oldest open
//!   task of each collection, so deletions stay after the uploads enqueued before them),
//!   renews the lease while it works, and records each item's outcome in the transaction
//!   that writes its document, after checking that it still holds the lease. A replica that
//!   dies (kill -9) leaves its lease to expire; another worker then resumes the task at its
//!   first pending item.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use atalaya_postgres::{
    tokio_postgres::{self, Row, Transaction},
    Client, Migration, Pool, Schema,
};
use pgvector::Vector;

use crate::{
    chunk::ChunkConfig,
    doc::Format,
    index::{rrf, ChunkMeta, Filter, Lang},
    parse::Parser,
    records::{CollectionStats, KnowledgeRecords, NewCollection, TaskQueue},
    service::{
        check_collection, check_model, content_hash, embed_all, own_language_filter, pick_language,
        prefer_own, prepare_parsed, Embedder, Hit, Mode, Ready, SearchParams, GROUP_CHUNKS,
        GROUP_ITEMS, MAX_ATTEMPTS,
    },
    store::{
        self, index_text, ChunkView, Collection, DocumentInfo, ExportedDocument, ItemRef,
        ItemStatus,
    },
    tasks::{now_ms, NewItem, PendingItem, Task, TaskItem, TaskKind, TaskStatus},
    Error,
};

/// The knowledge schema.
pub static SCHEMA: Schema = Schema {
    component: "knowledge",
    migrations: &[Migration {
        version: 1,
        name: "collections, documents, chunks and tasks",
        sql: r#"
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TABLE kb_collections (
    id BIGSERIAL PRIMARY KEY,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    embedding_model TEXT NOT NULL,
    language TEXT,
    chunk_max_tokens INTEGER NOT NULL,
    chunk_overlap_tokens INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant, name)
);
CREATE TABLE kb_documents (
    id BIGSERIAL PRIMARY KEY,
    collection_id BIGINT NOT NULL REFERENCES kb_collections(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    title TEXT,
    format TEXT NOT NULL,
    language TEXT,
    tags TEXT[] NOT NULL,
    labels TEXT[] NOT NULL,
    content_hash TEXT NOT NULL,
    version BIGINT NOT NULL,
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (collection_id, source)
);
CREATE TABLE kb_chunks (
    id BIGSERIAL PRIMARY KEY,
    document_id BIGINT NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
    collection_id BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    start_char BIGINT NOT NULL,
    end_char BIGINT NOT NULL,
    page BIGINT,
    heading_path TEXT[] NOT NULL,
    text TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    language TEXT,
    tags TEXT[] NOT NULL,
    labels TEXT[] NOT NULL,
    dims INTEGER NOT NULL,
    embedding vector NOT NULL,
    lexemes tsvector NOT NULL
);
CREATE INDEX kb_chunks_collection ON kb_chunks (collection_id);
CREATE INDEX kb_chunks_document ON kb_chunks (document_id);
CREATE INDEX kb_chunks_lexemes ON kb_chunks USING gin (lexemes);
CREATE TABLE kb_tasks (
    id BIGSERIAL PRIMARY KEY,
    tenant TEXT NOT NULL,
    collection_id BIGINT NOT NULL,
    collection TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    total BIGINT NOT NULL,
    done BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    chunks BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    enqueued_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT
);
CREATE INDEX kb_tasks_open ON kb_tasks (collection_id, id) WHERE status IN ('enqueued', 'processing');
CREATE INDEX kb_tasks_tenant ON kb_tasks (tenant, id);
CREATE TABLE kb_task_items (
    task_id BIGINT NOT NULL REFERENCES kb_tasks(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    source TEXT NOT NULL,
    format TEXT,
    meta TEXT NOT NULL,
    body BYTEA,
    status TEXT NOT NULL,
    document_id BIGINT,
    chunks BIGINT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (task_id, seq)
);
"#,
    }],
};

/// How long a worker's claim on a task lasts without renewal.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

fn db(e: tokio_postgres::Error) -> Error {
    let text = atalaya_postgres::describe(&e);
    match e.code() {
        Some(c) if *c == tokio_postgres::error::SqlState::DISK_FULL => Error::Full(text),
        _ => Error::Store(text),
    }
}

fn pool_err(e: atalaya_postgres::Error) -> Error {
    Error::Store(e.to_string())
}

/// The full-text configuration of a language.
fn ts_config(lang: Option<Lang>) -> &'static str {
    match lang {
        Some(Lang::En) => "english",
        Some(Lang::Es) => "spanish",
        Some(Lang::Pt) => "portuguese",
        _ => "simple",
    }
}

/// The knowledge base on a Postgres pool. Cheap to clone.
#[derive(Clone)]
pub struct PgKnowledge {
    pool: Pool,
    parser: Parser,
    /// This worker's name in leases.
    worker: String,
    lease: Duration,
    /// Vector widths known to have their HNSW index.
    indexed_dims: Arc<Mutex<HashSet<i32>>>,
    /// The tenant of the task worked last (another tenant's task goes first next time).
    last_tenant: Arc<Mutex<Option<String>>>,
}

impl PgKnowledge {
    /// Migrates the knowledge schema of `pool`'s database, then uses it.
    pub async fn open(pool: Pool, parser: Parser) -> Result<Self, Error> {
        atalaya_postgres::migrate(&pool, &[&SCHEMA])
            .await
            .map_err(pool_err)?;
        Ok(Self::new(pool, parser))
    }

    /// Uses `pool` (its knowledge schema must be migrated).
    pub fn new(pool: Pool, parser: Parser) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        PgKnowledge {
            pool,
            parser,
            worker: format!("{}-{nanos:08x}", std::process::id()),
            lease: DEFAULT_LEASE,
            indexed_dims: Arc::new(Mutex::new(HashSet::new())),
            last_tenant: Arc::new(Mutex::new(None)),
        }
    }

    /// Sets how long a task's lease lasts without renewal (default [`DEFAULT_LEASE`]): a
    /// dead worker's task is resumed by another after this long.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(200));
        self
    }

    async fn client(&self) -> Result<Client, Error> {
        self.pool
            .get()
            .await
            .map_err(|e| pool_err(atalaya_postgres::Error::from(e)))
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// Makes the HNSW index of vectors `dims` wide, once per process.
    async fn ensure_index(&self, dims: i32) -> Result<(), Error> {
        if self
            .indexed_dims
            .lock()
            .map(|s| s.contains(&dims))
            .unwrap_or(false)
        {
            return Ok(());
        }
        let c = self.client().await?;
        // Concurrent creators would race on the catalog: one at a time, across processes.
        let mut c = c;
        let tx = c.transaction().await.map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&HNSW_LOCK])
            .await
            .map_err(db)?;
        tx.batch_execute(&format!(
            "CREATE INDEX IF NOT EXISTS kb_chunks_hnsw_{dims} ON kb_chunks \
             USING hnsw ((embedding::vector({dims})) vector_ip_ops) WHERE dims = {dims}"
        ))
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        if let Ok(mut s) = self.indexed_dims.lock() {
            s.insert(dims);
        }
        Ok(())
    }
}

impl PgKnowledge {
    /// Writes a collection exported from another backend (same tenant and name; created when
    /// missing) with its documents as they are: no parsing, no embedding. A document already
    /// stored with the same content hash is left alone, so a copy can be run again. Returns
    /// the documents written.
    pub async fn import_collection(
        &self,
        c: &Collection,
        docs: &[ExportedDocument],
    ) -> Result<usize, Error> {
        let client = self.client().await?;
        let max = i32::try_from(c.chunking.max_tokens).unwrap_or(i32::MAX);
        let overlap = i32::try_from(c.chunking.overlap_tokens).unwrap_or(i32::MAX);
        client
            .execute(
                "INSERT INTO kb_collections (tenant, name, embedding_model, language, chunk_max_tokens, chunk_overlap_tokens, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant, name) DO NOTHING",
                &[&c.tenant, &c.name, &c.embedding_model, &c.language, &max, &overlap, &c.created_at],
            )
            .await
            .map_err(db)?;
        drop(client);
        let target = self.collection(&c.tenant, &c.name).await?;
        if target.embedding_model != c.embedding_model {
            return Err(Error::Conflict(format!(
                "collection '{}' of tenant '{}' already exists embedded with '{}', not '{}'",
                c.name, c.tenant, target.embedding_model, c.embedding_model
            )));
        }
        let mut written = 0;
        for d in docs {
            let dims = d.chunks.first().map_or(0, |ch| ch.vector.len());
            let dims = i32::try_from(dims).unwrap_or(0);
            if dims > 0 {
                self.ensure_index(dims).await?;
            }
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db)?;
            let same = tx
                .query_opt(
                    "SELECT 1 FROM kb_documents WHERE collection_id = $1 AND source = $2 AND content_hash = $3",
                    &[&target.id, &d.source, &d.content_hash],
                )
                .await
                .map_err(db)?;
            if same.is_some() {
                continue;
            }
            tx.execute(
                "DELETE FROM kb_documents WHERE collection_id = $1 AND source = $2",
                &[&target.id, &d.source],
            )
            .await
            .map_err(db)?;
            let id: i64 = tx
                .query_one(
                    "INSERT INTO kb_documents (collection_id, source, title, format, language, tags, labels, content_hash, version, text, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                    &[&target.id, &d.source, &d.title, &d.format, &d.language, &d.tags, &d.labels,
                      &d.content_hash, &d.version, &d.text, &d.created_at, &d.updated_at],
                )
                .await
                .map_err(db)?
                .try_get(0)
                .map_err(db)?;
            let lang = d.language.as_deref().map(Lang::from_code);
            let insert = tx
                .prepare(&format!(
                    "INSERT INTO kb_chunks (document_id, collection_id, seq, start_char, end_char, page, heading_path, text, tokens,
                        language, tags, labels, dims, embedding, lexemes)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                        to_tsvector('{}'::regconfig, unaccent($15)))",
                    ts_config(lang)
                ))
                .await
                .map_err(db)?;
            for ch in &d.chunks {
                let seq = i32::try_from(ch.seq).unwrap_or(i32::MAX);
                let tokens = i32::try_from(ch.tokens).unwrap_or(i32::MAX);
                let text = index_text(d.title.as_deref(), &ch.heading_path, &ch.text);
                tx.execute(
                    &insert,
                    &[
                        &id,
                        &target.id,
                        &seq,
                        &ch.start,
                        &ch.end,
                        &ch.page,
                        &ch.heading_path,
                        &ch.text,
                        &tokens,
                        &d.language,
                        &d.tags,
                        &d.labels,
                        &dims,
                        &Vector::from(ch.vector.clone()),
                        &text,
                    ],
                )
                .await
                .map_err(db)?;
            }
            tx.commit().await.map_err(db)?;
            written += 1;
        }
        Ok(written)
    }
}

/// Serialises HNSW index creation across processes.
const HNSW_LOCK: i64 = 0x006b_625f_686e_7377;

const COLLECTION_COLS: &str = "id, tenant, name, embedding_model, language, chunk_max_tokens, chunk_overlap_tokens, created_at";

fn row_collection(r: &Row) -> Result<Collection, Error> {
    Ok(Collection {
        id: r.try_get(0).map_err(db)?,
        tenant: r.try_get(1).map_err(db)?,
        name: r.try_get(2).map_err(db)?,
        embedding_model: r.try_get(3).map_err(db)?,
        language: r.try_get(4).map_err(db)?,
        chunking: ChunkConfig {
            max_tokens: usize::try_from(r.try_get::<_, i32>(5).map_err(db)?).unwrap_or(200),
            overlap_tokens: usize::try_from(r.try_get::<_, i32>(6).map_err(db)?).unwrap_or(0),
        },
        created_at: r.try_get(7).map_err(db)?,
    })
}

const TASK_COLS: &str = "id, tenant, collection_id, collection, kind, status, total, done, failed, chunks, error, enqueued_at, started_at, finished_at";

fn row_task(r: &Row) -> Result<Task, Error> {
    let kind: String = r.try_get(4).map_err(db)?;
    let status: String = r.try_get(5).map_err(db)?;
    Ok(Task {
        id: r.try_get(0).map_err(db)?,
        tenant: r.try_get(1).map_err(db)?,
        collection_id: r.try_get(2).map_err(db)?,
        collection: r.try_get(3).map_err(db)?,
        kind: TaskKind::parse(&kind).unwrap_or(TaskKind::Ingest),
        status: TaskStatus::parse(&status).unwrap_or(TaskStatus::Failed),
        total: r.try_get(6).map_err(db)?,
        done: r.try_get(7).map_err(db)?,
        failed: r.try_get(8).map_err(db)?,
        chunks: r.try_get(9).map_err(db)?,
        error: r.try_get(10).map_err(db)?,
        enqueued_at: r.try_get(11).map_err(db)?,
        started_at: r.try_get(12).map_err(db)?,
        finished_at: r.try_get(13).map_err(db)?,
        items: Vec::new(),
    })
}

/// Records an item's outcome (once: an item already done is left as it is) and counts it on
/// its task.
async fn mark_in(
    tx: &Transaction<'_>,
    at: ItemRef,
    status: ItemStatus,
    document_id: Option<i64>,
    chunks: usize,
    error: Option<&str>,
) -> Result<(), Error> {
    let chunks = i64::try_from(chunks).unwrap_or(i64::MAX);
    let n = tx
        .execute(
            "UPDATE kb_task_items SET status = $3, document_id = $4, chunks = $5, error = $6, body = NULL
             WHERE task_id = $1 AND seq = $2 AND status = 'pending'",
            &[&at.task, &at.seq, &status.as_str(), &document_id, &chunks, &error],
        )
        .await
        .map_err(db)?;
    if n == 1 {
        let failed = i64::from(status == ItemStatus::Failed);
        tx.execute(
            "UPDATE kb_tasks SET done = done + 1, failed = failed + $2, chunks = chunks + $3 WHERE id = $1",
            &[&at.task, &failed, &chunks],
        )
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// Whether this worker still holds task `id`'s lease; locks the task row until the
/// transaction ends, so no other worker takes the task over meanwhile.
async fn holds_lease(tx: &Transaction<'_>, id: i64, worker: &str) -> Result<bool, Error> {
    let owner: Option<String> = tx
        .query_opt(
            "SELECT lease_owner FROM kb_tasks WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await
        .map_err(db)?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(db)?
        .flatten();
    Ok(owner.as_deref() == Some(worker))
}

/// A task's end; with `error`, every item still pending fails with it.
async fn finish_in(tx: &Transaction<'_>, id: i64, error: Option<&str>) -> Result<(), Error> {
    if let Some(e) = error {
        let pending = tx
            .query(
                "SELECT seq FROM kb_task_items WHERE task_id = $1 AND status = 'pending'",
                &[&id],
            )
            .await
            .map_err(db)?;
        for r in pending {
            let seq: i64 = r.try_get(0).map_err(db)?;
            mark_in(
                tx,
                ItemRef { task: id, seq },
                ItemStatus::Failed,
                None,
                0,
                Some(e),
            )
            .await?;
        }
    }
    tx.execute(
        "UPDATE kb_tasks SET finished_at = $2, error = $3, lease_owner = NULL, lease_until = NULL,
            status = CASE WHEN $3::TEXT IS NOT NULL OR (failed = total AND total > 0) THEN 'failed' ELSE 'succeeded' END
         WHERE id = $1",
        &[&id, &now_ms(), &error],
    )
    .await
    .map_err(db)?;
    Ok(())
}

#[async_trait]
impl KnowledgeRecords for PgKnowledge {
    async fn create_collection(
        &self,
        tenant: &str,
        new: NewCollection,
        embedder: Arc<dyn Embedder>,
    ) -> Result<CollectionStats, Error> {
        check_collection(&new.name, embedder.as_ref(), &new.chunking)?;
        let c = self.client().await?;
        let max = i32::try_from(new.chunking.max_tokens).unwrap_or(i32::MAX);
        let overlap = i32::try_from(new.chunking.overlap_tokens).unwrap_or(i32::MAX);
        let row = c
            .query_opt(
                &format!(
                    "INSERT INTO kb_collections (tenant, name, embedding_model, language, chunk_max_tokens, chunk_overlap_tokens, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant, name) DO NOTHING RETURNING {COLLECTION_COLS}"
                ),
                &[&tenant, &new.name, &embedder.model(), &new.language, &max, &overlap, &store::now()],
            )
            .await
            .map_err(db)?;
        let Some(row) = row else {
            return Err(Error::Conflict(format!(
                "collection '{}' already exists",
                new.name
            )));
        };
        Ok(CollectionStats {
            collection: row_collection(&row)?,
            documents: 0,
            chunks: 0,
        })
    }

    async fn collection(&self, tenant: &str, name: &str) -> Result<Collection, Error> {
        let c = self.client().await?;
        c.query_opt(
            &format!(
                "SELECT {COLLECTION_COLS} FROM kb_collections WHERE tenant = $1 AND name = $2"
            ),
            &[&tenant, &name],
        )
        .await
        .map_err(db)?
        .as_ref()
        .map(row_collection)
        .transpose()?
        .ok_or_else(|| Error::NotFound(format!("collection '{name}'")))
    }

    async fn collection_stats(&self, tenant: &str, name: &str) -> Result<CollectionStats, Error> {
        let collection = self.collection(tenant, name).await?;
        let c = self.client().await?;
        let r = c
            .query_one(
                "SELECT (SELECT count(*) FROM kb_documents WHERE collection_id = $1),
                        (SELECT count(*) FROM kb_chunks WHERE collection_id = $1)",
                &[&collection.id],
            )
            .await
            .map_err(db)?;
        Ok(CollectionStats {
            documents: usize::try_from(r.try_get::<_, i64>(0).map_err(db)?).unwrap_or(0),
            chunks: r.try_get(1).map_err(db)?,
            collection,
        })
    }

    async fn collections(&self, tenant: &str) -> Result<Vec<CollectionStats>, Error> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {COLLECTION_COLS},
                        (SELECT count(*) FROM kb_documents d WHERE d.collection_id = k.id),
                        (SELECT count(*) FROM kb_chunks ch WHERE ch.collection_id = k.id)
                     FROM kb_collections k WHERE tenant = $1 ORDER BY name"
                ),
                &[&tenant],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(CollectionStats {
                    collection: row_collection(r)?,
                    documents: usize::try_from(r.try_get::<_, i64>(8).map_err(db)?).unwrap_or(0),
                    chunks: r.try_get(9).map_err(db)?,
                })
            })
            .collect()
    }

    async fn delete_collection(&self, tenant: &str, name: &str) -> Result<(), Error> {
        let c = self.client().await?;
        let n = c
            .execute(
                "DELETE FROM kb_collections WHERE tenant = $1 AND name = $2",
                &[&tenant, &name],
            )
            .await
            .map_err(db)?;
        if n == 0 {
            return Err(Error::NotFound(format!("collection '{name}'")));
        }
        Ok(())
    }

    async fn documents(&self, col: &Collection) -> Result<Vec<DocumentInfo>, Error> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT d.id, d.source, d.title, d.format, d.language, d.tags, d.labels, d.content_hash, d.version,
                        (SELECT count(*) FROM kb_chunks c WHERE c.document_id = d.id), d.updated_at
                 FROM kb_documents d WHERE d.collection_id = $1 ORDER BY d.source",
                &[&col.id],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(DocumentInfo {
                    id: r.try_get(0).map_err(db)?,
                    source: r.try_get(1).map_err(db)?,
                    title: r.try_get(2).map_err(db)?,
                    format: r.try_get(3).map_err(db)?,
                    language: r.try_get(4).map_err(db)?,
                    tags: r.try_get(5).map_err(db)?,
                    labels: r.try_get(6).map_err(db)?,
                    content_hash: r.try_get(7).map_err(db)?,
                    version: r.try_get(8).map_err(db)?,
                    chunks: r.try_get(9).map_err(db)?,
                    updated_at: r.try_get(10).map_err(db)?,
                })
            })
            .collect()
    }

    async fn search(
        &self,
        c: &Collection,
        query: String,
        params: SearchParams,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Result<Vec<Hit>, Error> {
        let mut vector = None;
        let e = embedder;
        let Some(own_filter) = own_language_filter(&params) else {
            let all = &params.filter;
            return self
                .search_with(c, e, &query, &params, all, &mut vector)
                .await;
        };
        let own = self
            .search_with(c, e.clone(), &query, &params, &own_filter, &mut vector)
            .await?;
        if prefer_own(&own, params.relevance_floor) {
            return Ok(own);
        }
        let all = self
            .search_with(c, e, &query, &params, &params.filter, &mut vector)
            .await?;
        Ok(pick_language(own, all, params.relevance_floor))
    }

    async fn delete_tenant(&self, tenant: &str) -> Result<usize, Error> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        tx.execute("DELETE FROM kb_tasks WHERE tenant = $1", &[&tenant])
            .await
            .map_err(db)?;
        let n = tx
            .execute("DELETE FROM kb_collections WHERE tenant = $1", &[&tenant])
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

/// The filter's conditions on `kb_chunks`, parameters `$first..$first+2` (tags, languages,
/// the caller's labels).
fn filter_sql(first: usize) -> String {
    format!(
        "(cardinality(${a}::TEXT[]) = 0 OR tags && ${a}) \
         AND (cardinality(${b}::TEXT[]) = 0 OR language = ANY(${b})) \
         AND (cardinality(labels) = 0 OR labels && ${c})",
        a = first,
        b = first + 1,
        c = first + 2
    )
}

fn filter_values(f: &Filter) -> (Vec<String>, Vec<String>, Vec<String>) {
    (
        f.tags.clone(),
        f.languages.iter().map(|l| l.code().to_owned()).collect(),
        f.labels.clone(),
    )
}

impl PgKnowledge {
    /// One search under `filter`; the query's vector is computed once into `vector`.
    async fn search_with(
        &self,
        c: &Collection,
        embedder: Option<Arc<dyn Embedder>>,
        query: &str,
        params: &SearchParams,
        filter: &Filter,
        vector: &mut Option<Vec<f32>>,
    ) -> Result<Vec<Hit>, Error> {
        let k = params.k.clamp(1, 1000);
        let depth = (k * 4).max(50);
        let mut similarity: HashMap<i64, f32> = HashMap::new();
        let ranked: Vec<(u64, f32)> = match params.mode {
            Mode::Dense => {
                let d = self
                    .dense(c, embedder.clone(), query, k, filter, vector)
                    .await?;
                similarity.extend(d.iter().map(|(id, s)| (*id as i64, *s)));
                d
            }
            Mode::Bm25 => self.keyword(c, query, k, filter).await?,
            Mode::Hybrid => {
                let d = self
                    .dense(c, embedder, query, depth, filter, vector)
                    .await?;
                similarity.extend(d.iter().map(|(id, s)| (*id as i64, *s)));
                let b = self.keyword(c, query, depth, filter).await?;
                rrf(
                    &[(&d, params.dense_weight), (&b, params.bm25_weight)],
                    60.0,
                    k,
                )
            }
        };
        let ids: Vec<i64> = ranked.iter().map(|(id, _)| *id as i64).collect();
        let views = self.chunk_views(c.id, &ids).await?;
        let scores: HashMap<i64, f32> = ranked.iter().map(|(id, s)| (*id as i64, *s)).collect();
        // The access rule once more, on the rows themselves.
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

    async fn dense(
        &self,
        c: &Collection,
        embedder: Option<Arc<dyn Embedder>>,
        query: &str,
        n: usize,
        filter: &Filter,
        vector: &mut Option<Vec<f32>>,
    ) -> Result<Vec<(u64, f32)>, Error> {
        let q = match vector {
            Some(q) => q.clone(),
            None => {
                let e = embedder.ok_or_else(|| {
                    Error::Invalid("dense search needs the collection's embedding model".into())
                })?;
                check_model(c, e.as_ref())?;
                // The model blocks: off the async threads.
                let text = query.to_owned();
                let q = tokio::task::spawn_blocking(move || e.embed(&[text]))
                    .await
                    .map_err(|e| Error::Store(format!("embedding task: {e}")))?
                    .map_err(Error::Embedding)?
                    .pop()
                    .unwrap_or_default();
                vector.insert(q).clone()
            }
        };
        let dims = i32::try_from(q.len()).unwrap_or(0);
        if dims == 0 {
            return Ok(Vec::new());
        }
        let (tags, langs, labels) = filter_values(filter);
        let limit = i64::try_from(n).unwrap_or(1000);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        // A filtered HNSW scan goes on until it has `limit` rows (or the scan budget ends);
        // candidates in relaxed order are sorted below. The candidate list is at least 100
        // (pgvector's default 40 misses near-duplicates' best match now and then).
        tx.batch_execute(&format!(
            "SET LOCAL hnsw.ef_search = {}; SET LOCAL hnsw.iterative_scan = relaxed_order;",
            n.clamp(100, 1000)
        ))
        .await
        .map_err(db)?;
        let rows = tx
            .query(
                &format!(
                    "SELECT id, -(embedding::vector({dims}) <#> $1::vector({dims})) AS sim FROM kb_chunks
                     WHERE collection_id = $2 AND dims = {dims} AND {}
                     ORDER BY embedding::vector({dims}) <#> $1::vector({dims}) LIMIT $6",
                    filter_sql(3)
                ),
                &[&Vector::from(q), &c.id, &tags, &langs, &labels, &limit],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let mut out: Vec<(u64, f32)> = rows
            .iter()
            .map(|r| -> Result<(u64, f32), Error> {
                let id: i64 = r.try_get(0).map_err(db)?;
                let sim: f64 = r.try_get(1).map_err(db)?;
                Ok((u64::try_from(id).unwrap_or(0), sim as f32))
            })
            .collect::<Result<_, _>>()?;
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(out)
    }

    async fn keyword(
        &self,
        c: &Collection,
        query: &str,
        n: usize,
        filter: &Filter,
    ) -> Result<Vec<(u64, f32)>, Error> {
        let (tags, langs, labels) = filter_values(filter);
        let limit = i64::try_from(n).unwrap_or(1000);
        let client = self.client().await?;
        // The query's words, each under every configuration (its english, spanish and
        // portuguese stems and itself), OR-ed: a chunk matches in its own language's stems,
        // whatever language the question is in. A word that is a stop word in any of the
        // three languages ("the", "de", "my") is left out: kept, it would match nearly every
        // chunk of an unanalysed language and make the ranking read them all.
        let rows = client
            .query(
                &format!(
                    "WITH words AS (
                        SELECT lexeme AS w FROM unnest(to_tsvector('simple', unaccent($1)))
                     ), kept AS (
                        SELECT w FROM words
                        WHERE length(to_tsvector('english', w)) > 0
                          AND length(to_tsvector('spanish', w)) > 0
                          AND length(to_tsvector('portuguese', w)) > 0
                     ), lexemes AS (
                        SELECT DISTINCT l FROM kept, unnest(tsvector_to_array(
                            to_tsvector('english', w) || to_tsvector('spanish', w)
                            || to_tsvector('portuguese', w) || to_tsvector('simple', w))) AS l
                     ), q AS (
                        SELECT to_tsquery('simple', coalesce(string_agg(quote_literal(l), ' | '), '')) AS tsq
                        FROM lexemes
                     )
                     SELECT id, ts_rank_cd(lexemes, q.tsq, 1) AS score FROM kb_chunks, q
                     WHERE collection_id = $2 AND lexemes @@ q.tsq AND {}
                     ORDER BY score DESC, id LIMIT $6",
                    filter_sql(3)
                ),
                &[&query, &c.id, &tags, &langs, &labels, &limit],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.try_get(0).map_err(db)?;
                let score: f32 = r.try_get(1).map_err(db)?;
                Ok((u64::try_from(id).unwrap_or(0), score))
            })
            .collect()
    }

    /// Chunks `ids` of collection `collection`, in the order asked.
    async fn chunk_views(&self, collection: i64, ids: &[i64]) -> Result<Vec<ChunkView>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT c.id, c.document_id, d.source, d.title, c.seq, c.start_char, c.end_char, c.page,
                        c.heading_path, c.text, c.language, c.tags, c.labels
                 FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id
                 WHERE c.id = ANY($1) AND c.collection_id = $2",
                &[&ids, &collection],
            )
            .await
            .map_err(db)?;
        let mut by_id: HashMap<i64, ChunkView> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let lang: Option<String> = r.try_get(10).map_err(db)?;
            let v = ChunkView {
                id: r.try_get(0).map_err(db)?,
                document_id: r.try_get(1).map_err(db)?,
                source: r.try_get(2).map_err(db)?,
                title: r.try_get(3).map_err(db)?,
                seq: i64::from(r.try_get::<_, i32>(4).map_err(db)?),
                start: r.try_get(5).map_err(db)?,
                end: r.try_get(6).map_err(db)?,
                page: r.try_get(7).map_err(db)?,
                heading_path: r.try_get(8).map_err(db)?,
                text: r.try_get(9).map_err(db)?,
                meta: ChunkMeta {
                    lang: lang.as_deref().map(Lang::from_code),
                    tags: r.try_get(11).map_err(db)?,
                    labels: r.try_get(12).map_err(db)?,
                },
            };
            by_id.insert(v.id, v);
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }
}

#[async_trait]
impl TaskQueue for PgKnowledge {
    async fn enqueue_ingest(&self, c: &Collection, items: Vec<NewItem>) -> Result<Task, Error> {
        self.enqueue(c, TaskKind::Ingest, items).await
    }

    async fn enqueue_delete(&self, c: &Collection, sources: Vec<String>) -> Result<Task, Error> {
        let items = sources
            .into_iter()
            .map(|source| NewItem {
                source,
                ..NewItem::default()
            })
            .collect();
        self.enqueue(c, TaskKind::Delete, items).await
    }

    async fn task(&self, tenant: &str, id: i64) -> Result<Task, Error> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {TASK_COLS} FROM kb_tasks WHERE id = $1 AND tenant = $2"),
                &[&id, &tenant],
            )
            .await
            .map_err(db)?
            .ok_or_else(|| Error::NotFound(format!("task {id}")))?;
        let mut task = row_task(&row)?;
        let items = c
            .query(
                "SELECT seq, source, status, document_id, chunks, error FROM kb_task_items
                 WHERE task_id = $1 ORDER BY seq",
                &[&id],
            )
            .await
            .map_err(db)?;
        task.items = items
            .iter()
            .map(|r| {
                let status: String = r.try_get(2).map_err(db)?;
                Ok(TaskItem {
                    seq: r.try_get(0).map_err(db)?,
                    source: r.try_get(1).map_err(db)?,
                    status: ItemStatus::parse(&status).unwrap_or(ItemStatus::Failed),
                    document_id: r.try_get(3).map_err(db)?,
                    chunks: r.try_get(4).map_err(db)?,
                    error: r.try_get(5).map_err(db)?,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(task)
    }

    async fn tasks(
        &self,
        tenant: &str,
        status: Option<TaskStatus>,
        limit: usize,
    ) -> Result<Vec<Task>, Error> {
        let c = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = c
            .query(
                &format!(
                    "SELECT {TASK_COLS} FROM kb_tasks WHERE tenant = $1 AND ($2::TEXT IS NULL OR status = $2)
                     ORDER BY id DESC LIMIT $3"
                ),
                &[&tenant, &status.map(TaskStatus::as_str), &limit],
            )
            .await
            .map_err(db)?;
        rows.iter().map(row_task).collect()
    }

    async fn work_once(&self, embedder: Arc<dyn Embedder>) -> Result<bool, Error> {
        let Some((task, c)) = self.claim().await? else {
            return Ok(false);
        };
        let Some(c) = c else {
            self.finish(task.id, Some("the collection was deleted"))
                .await?;
            return Ok(true);
        };
        // The lease is renewed while the group is worked on (parsing and embedding may take
        // longer than one lease).
        let renew = async {
            loop {
                tokio::time::sleep(self.lease / 3).await;
                if let Err(e) = self.renew(task.id).await {
                    tracing::warn!(error = %e, task = task.id, "renewing a task lease");
                }
            }
        };
        tokio::select! {
            done = self.work_task(&task, &c, embedder) => done.map(|()| true),
            () = renew => Ok(true),
        }
    }
}

impl PgKnowledge {
    async fn enqueue(
        &self,
        c: &Collection,
        kind: TaskKind,
        items: Vec<NewItem>,
    ) -> Result<Task, Error> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO kb_tasks (tenant, collection_id, collection, kind, status, total, enqueued_at)
                     VALUES ($1, $2, $3, $4, 'enqueued', $5, $6) RETURNING {TASK_COLS}"
                ),
                &[&c.tenant, &c.id, &c.name, &kind.as_str(), &total, &now_ms()],
            )
            .await
            .map_err(db)?;
        let mut task = row_task(&row)?;
        let insert = tx
            .prepare(
                "INSERT INTO kb_task_items (task_id, seq, source, format, meta, body, status)
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending')",
            )
            .await
            .map_err(db)?;
        for (seq, it) in items.iter().enumerate() {
            let meta = serde_json::to_string(&it.meta)
                .map_err(|e| Error::Store(format!("document metadata: {e}")))?;
            let seq = i64::try_from(seq).unwrap_or(i64::MAX);
            tx.execute(
                &insert,
                &[
                    &task.id,
                    &seq,
                    &it.source,
                    &it.format.map(Format::as_str),
                    &meta,
                    &it.body,
                ],
            )
            .await
            .map_err(db)?;
            if let Some(e) = &it.error {
                let at = ItemRef { task: task.id, seq };
                mark_in(&tx, at, ItemStatus::Failed, None, 0, Some(e)).await?;
                task.done += 1;
                task.failed += 1;
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(task)
    }

    /// Leases the next task to work on: one this worker already holds, else the oldest open
    /// task of a collection with no older open task, whose lease is free or expired; another
    /// tenant's than the last one first.
    async fn claim(&self) -> Result<Option<(Task, Option<Collection>)>, Error> {
        let last = self.last_tenant.lock().ok().and_then(|l| l.clone());
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let now = now_ms();
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {TASK_COLS} FROM kb_tasks t
                     WHERE status IN ('enqueued', 'processing')
                       AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $2)
                       AND NOT EXISTS (SELECT 1 FROM kb_tasks e WHERE e.collection_id = t.collection_id
                                       AND e.id < t.id AND e.status IN ('enqueued', 'processing'))
                     ORDER BY lease_owner IS DISTINCT FROM $1, tenant IS NOT DISTINCT FROM $3, id
                     LIMIT 1 FOR UPDATE SKIP LOCKED"
                ),
                &[&self.worker, &now, &last],
            )
            .await
            .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let task = row_task(&row)?;
        tx.execute(
            "UPDATE kb_tasks SET status = 'processing', started_at = COALESCE(started_at, $2),
                lease_owner = $3, lease_until = $2 + $4 WHERE id = $1",
            &[&task.id, &now, &self.worker, &self.lease_ms()],
        )
        .await
        .map_err(db)?;
        let collection = tx
            .query_opt(
                &format!("SELECT {COLLECTION_COLS} FROM kb_collections WHERE id = $1"),
                &[&task.collection_id],
            )
            .await
            .map_err(db)?
            .as_ref()
            .map(row_collection)
            .transpose()?;
        tx.commit().await.map_err(db)?;
        if let Ok(mut l) = self.last_tenant.lock() {
            *l = Some(task.tenant.clone());
        }
        Ok(Some((task, collection)))
    }

    async fn renew(&self, task: i64) -> Result<(), Error> {
        let c = self.client().await?;
        c.execute(
            "UPDATE kb_tasks SET lease_until = $3 WHERE id = $1 AND lease_owner = $2",
            &[&task, &self.worker, &(now_ms() + self.lease_ms())],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn finish(&self, task: i64, error: Option<&str>) -> Result<(), Error> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        if holds_lease(&tx, task, &self.worker).await? {
            finish_in(&tx, task, error).await?;
        }
        tx.commit().await.map_err(db)
    }

    /// Up to [`GROUP_ITEMS`] pending items of the task, each counted as one more attempt.
    async fn pending(&self, task: i64) -> Result<Vec<PendingItem>, Error> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        if !holds_lease(&tx, task, &self.worker).await? {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(GROUP_ITEMS).unwrap_or(64);
        let rows = tx
            .query(
                "UPDATE kb_task_items SET attempts = attempts + 1
                 WHERE task_id = $1 AND seq IN (
                     SELECT seq FROM kb_task_items WHERE task_id = $1 AND status = 'pending'
                     ORDER BY seq LIMIT $2)
                 RETURNING seq, source, format, meta, body, attempts",
                &[&task, &limit],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let mut items: Vec<PendingItem> = rows
            .iter()
            .map(|r| {
                let meta: String = r.try_get(3).map_err(db)?;
                Ok(PendingItem {
                    at: ItemRef {
                        task,
                        seq: r.try_get(0).map_err(db)?,
                    },
                    source: r.try_get(1).map_err(db)?,
                    format: r.try_get(2).map_err(db)?,
                    meta: serde_json::from_str(&meta).unwrap_or_default(),
                    body: r.try_get(4).map_err(db)?,
                    attempts: u32::try_from(r.try_get::<_, i32>(5).map_err(db)?).unwrap_or(1),
                })
            })
            .collect::<Result<_, Error>>()?;
        items.sort_by_key(|i| i.at.seq);
        Ok(items)
    }

    /// Gives back the attempt counted for items taken but not started.
    async fn unclaim(&self, items: &[ItemRef]) -> Result<(), Error> {
        let Some(task) = items.first().map(|i| i.task) else {
            return Ok(());
        };
        let seqs: Vec<i64> = items.iter().map(|i| i.seq).collect();
        let c = self.client().await?;
        c.execute(
            "UPDATE kb_task_items SET attempts = GREATEST(attempts - 1, 0)
             WHERE task_id = $1 AND seq = ANY($2) AND status = 'pending'",
            &[&task, &seqs],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Records one item's outcome on its own (if this worker still holds the task).
    async fn mark(
        &self,
        at: ItemRef,
        status: ItemStatus,
        error: Option<&str>,
    ) -> Result<(), Error> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        if holds_lease(&tx, at.task, &self.worker).await? {
            mark_in(&tx, at, status, None, 0, error).await?;
        }
        tx.commit().await.map_err(db)
    }

    async fn work_task(
        &self,
        task: &Task,
        c: &Collection,
        embedder: Arc<dyn Embedder>,
    ) -> Result<(), Error> {
        let items = self.pending(task.id).await?;
        if items.is_empty() {
            return self.finish(task.id, None).await;
        }
        match task.kind {
            TaskKind::Delete => {
                for it in items {
                    self.delete_item(c, &it).await?;
                }
                Ok(())
            }
            TaskKind::Ingest => self.ingest_group(c, embedder, items).await,
        }
    }

    async fn delete_item(&self, c: &Collection, it: &PendingItem) -> Result<(), Error> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        if !holds_lease(&tx, it.at.task, &self.worker).await? {
            return Ok(());
        }
        let row = tx
            .query_opt(
                "DELETE FROM kb_documents WHERE collection_id = $1 AND source = $2 RETURNING id,
                    (SELECT count(*) FROM kb_chunks WHERE document_id = kb_documents.id)",
                &[&c.id, &it.source],
            )
            .await
            .map_err(db)?;
        match row {
            Some(r) => {
                let id: i64 = r.try_get(0).map_err(db)?;
                let n: i64 = r.try_get(1).map_err(db)?;
                let n = usize::try_from(n).unwrap_or(0);
                mark_in(&tx, it.at, ItemStatus::Deleted, Some(id), n, None).await?;
            }
            None => {
                let e = format!("document '{}' not found", it.source);
                mark_in(&tx, it.at, ItemStatus::Failed, None, 0, Some(&e)).await?;
            }
        }
        tx.commit().await.map_err(db)
    }

    /// Prepares items until a group's worth of chunks waits, embeds them in one call, then
    /// stores each with its item's outcome.
    async fn ingest_group(
        &self,
        c: &Collection,
        embedder: Arc<dyn Embedder>,
        items: Vec<PendingItem>,
    ) -> Result<(), Error> {
        let mut ready: Vec<(ItemRef, Ready)> = Vec::new();
        let mut texts = 0;
        let mut sources: HashSet<String> = HashSet::new();
        let mut items = items.into_iter();
        while let Some(it) = items.next() {
            // The rest wait for the next group; their attempt is given back (none was made).
            if texts >= GROUP_CHUNKS || !sources.insert(it.source.clone()) {
                let left: Vec<ItemRef> =
                    std::iter::once(it.at).chain(items.map(|i| i.at)).collect();
                self.unclaim(&left).await?;
                break;
            }
            if it.attempts > MAX_ATTEMPTS {
                let e = format!(
                    "processing this document was interrupted {} times (the process stopped or \
                     crashed while on it); it is not tried again",
                    it.attempts - 1
                );
                self.mark(it.at, ItemStatus::Failed, Some(&e)).await?;
                continue;
            }
            let Some(format) = it.format.as_deref().and_then(Format::from_name) else {
                let e = Error::Unsupported(it.format.clone().unwrap_or_else(|| "(none)".into()));
                self.mark(it.at, ItemStatus::Failed, Some(&e.to_string()))
                    .await?;
                continue;
            };
            if let Err(e) = check_model(c, embedder.as_ref()) {
                self.mark(it.at, ItemStatus::Failed, Some(&e.to_string()))
                    .await?;
                continue;
            }
            let body = it.body.clone().unwrap_or_default();
            let hash = content_hash(&body, &it.meta);
            if let Some(id) = self.unchanged(c.id, &it.source, &hash).await? {
                let mut client = self.client().await?;
                let tx = client.transaction().await.map_err(db)?;
                if holds_lease(&tx, it.at.task, &self.worker).await? {
                    mark_in(&tx, it.at, ItemStatus::Unchanged, Some(id), 0, None).await?;
                }
                tx.commit().await.map_err(db)?;
                continue;
            }
            let (parser, col, e2, source, meta) = (
                self.parser.clone(),
                c.clone(),
                embedder.clone(),
                it.source.clone(),
                it.meta.clone(),
            );
            let prepared = tokio::task::spawn_blocking(move || {
                prepare_parsed(
                    &parser,
                    &col,
                    e2.as_ref(),
                    &source,
                    format,
                    &body,
                    &meta,
                    hash,
                )
            })
            .await
            .map_err(|e| Error::Store(format!("parsing task: {e}")))?;
            match prepared {
                Ok(p) => {
                    texts += p.texts.len();
                    ready.push((it.at, p));
                }
                Err(e) => {
                    self.mark(it.at, ItemStatus::Failed, Some(&e.to_string()))
                        .await?
                }
            }
        }
        let all: Vec<String> = ready.iter().flat_map(|(_, p)| p.texts.clone()).collect();
        let e2 = embedder.clone();
        let grouped = tokio::task::spawn_blocking(move || embed_all(e2.as_ref(), &all).ok())
            .await
            .map_err(|e| Error::Store(format!("embedding task: {e}")))?;
        let mut offset = 0;
        for (at, p) in &ready {
            let n = p.texts.len();
            let vectors = match &grouped {
                Some(v) => Ok(v.get(offset..offset + n).unwrap_or_default().to_vec()),
                None => {
                    let (e2, texts) = (embedder.clone(), p.texts.clone());
                    tokio::task::spawn_blocking(move || embed_all(e2.as_ref(), &texts))
                        .await
                        .map_err(|e| Error::Store(format!("embedding task: {e}")))?
                }
            };
            offset += n;
            let stored = match vectors {
                Ok(vs) => self.put(c, *at, p, &vs).await,
                Err(e) => Err(e),
            };
            if let Err(e) = stored {
                if e.is_storage() {
                    return Err(e);
                }
                self.mark(*at, ItemStatus::Failed, Some(&e.to_string()))
                    .await?;
            }
        }
        Ok(())
    }

    /// The document's id when `source` is stored with this content hash.
    async fn unchanged(
        &self,
        collection: i64,
        source: &str,
        hash: &str,
    ) -> Result<Option<i64>, Error> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT id FROM kb_documents WHERE collection_id = $1 AND source = $2 AND content_hash = $3",
                &[&collection, &source, &hash],
            )
            .await
            .map_err(db)?;
        row.map(|r| r.try_get(0)).transpose().map_err(db)
    }

    /// Stores a prepared document (a new version replaces every old chunk) and its item's
    /// outcome in one transaction, if this worker still holds the task.
    async fn put(
        &self,
        c: &Collection,
        at: ItemRef,
        p: &Ready,
        vectors: &[Vec<f32>],
    ) -> Result<(), Error> {
        if vectors.len() != p.texts.len() {
            return Err(Error::Embedding(format!(
                "{} texts gave {} vectors",
                p.texts.len(),
                vectors.len()
            )));
        }
        let dims = vectors.first().map_or(0, Vec::len);
        if let Some(v) = vectors.iter().find(|v| v.len() != dims) {
            return Err(Error::Embedding(format!(
                "the model returned vectors of {} and {dims} dimensions",
                v.len()
            )));
        }
        let dims = i32::try_from(dims).unwrap_or(0);
        if dims > 0 {
            self.ensure_index(dims).await?;
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        if !holds_lease(&tx, at.task, &self.worker).await? {
            tracing::warn!(task = at.task, "lost a task's lease; another worker has it");
            return Ok(());
        }
        let lang = p.language.map(Lang::code);
        let now = store::now();
        let existing = tx
            .query_opt(
                "SELECT id, version FROM kb_documents WHERE collection_id = $1 AND source = $2 FOR UPDATE",
                &[&c.id, &p.source],
            )
            .await
            .map_err(db)?;
        let document_id: i64 = match existing {
            Some(r) => {
                let id: i64 = r.try_get(0).map_err(db)?;
                let version: i64 = r.try_get(1).map_err(db)?;
                tx.execute("DELETE FROM kb_chunks WHERE document_id = $1", &[&id])
                    .await
                    .map_err(db)?;
                tx.execute(
                    "UPDATE kb_documents SET title = $2, format = $3, language = $4, tags = $5, labels = $6,
                        content_hash = $7, version = $8, text = $9, updated_at = $10 WHERE id = $1",
                    &[&id, &p.doc.title, &p.format.as_str(), &lang, &p.meta.tags, &p.meta.labels,
                      &p.content_hash, &(version + 1), &p.doc.text, &now],
                )
                .await
                .map_err(db)?;
                id
            }
            None => tx
                .query_one(
                    "INSERT INTO kb_documents (collection_id, source, title, format, language, tags, labels, content_hash, version, text, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $10) RETURNING id",
                    &[&c.id, &p.source, &p.doc.title, &p.format.as_str(), &lang, &p.meta.tags,
                      &p.meta.labels, &p.content_hash, &p.doc.text, &now],
                )
                .await
                .map_err(db)?
                .try_get(0)
                .map_err(db)?,
        };
        let insert = tx
            .prepare(&format!(
                "INSERT INTO kb_chunks (document_id, collection_id, seq, start_char, end_char, page, heading_path, text, tokens,
                    language, tags, labels, dims, embedding, lexemes)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                    to_tsvector('{}'::regconfig, unaccent($15)))",
                ts_config(p.language)
            ))
            .await
            .map_err(db)?;
        for (seq, ((ch, text), v)) in p.chunks.iter().zip(&p.texts).zip(vectors).enumerate() {
            let seq = i32::try_from(seq).unwrap_or(i32::MAX);
            let start = i64::try_from(ch.start).unwrap_or(i64::MAX);
            let end = i64::try_from(ch.end).unwrap_or(i64::MAX);
            let page = ch.page.map(i64::from);
            let tokens = i32::try_from(ch.tokens).unwrap_or(i32::MAX);
            tx.execute(
                &insert,
                &[
                    &document_id,
                    &c.id,
                    &seq,
                    &start,
                    &end,
                    &page,
                    &ch.heading_path,
                    &ch.text,
                    &tokens,
                    &lang,
                    &p.meta.tags,
                    &p.meta.labels,
                    &dims,
                    &Vector::from(v.clone()),
                    text,
                ],
            )
            .await
            .map_err(db)?;
        }
        mark_in(
            &tx,
            at,
            ItemStatus::Indexed,
            Some(document_id),
            p.chunks.len(),
            None,
        )
        .await?;
        tx.commit().await.map_err(db)
    }
}
