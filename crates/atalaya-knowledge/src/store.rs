//! The knowledge base's record of truth, in SQLite (bundled, WAL): collections, documents
//! (with their extracted text, content hash and version) and chunks (with positions and
//! embeddings). Indexes are derived from it and can always be rebuilt from it.
//!
//! Every write that touches a document and its chunks is one transaction, so a crash leaves
//! either the old version or the new one, never a mix. Calls block: async callers run them
//! on a blocking thread.

use std::{
    path::Path,
    sync::{Mutex, MutexGuard},
    time::{SystemTime, UNIX_EPOCH},
};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use crate::{chunk::ChunkConfig, index::ChunkMeta, index::Lang, Error};

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran. Ids are
/// AUTOINCREMENT: a deleted chunk's id is never reused, so a chunk id names one content for
/// ever and the indexes can be checked against the store by their id sets alone.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    embedding_model TEXT NOT NULL,
    language TEXT,
    chunk_max_tokens INTEGER NOT NULL,
    chunk_overlap_tokens INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant, name)
);
CREATE TABLE documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    title TEXT,
    format TEXT NOT NULL,
    language TEXT,
    tags TEXT NOT NULL,
    labels TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    version INTEGER NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (collection_id, source)
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    collection_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    page INTEGER,
    heading_path TEXT NOT NULL,
    text TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX chunks_by_collection ON chunks (collection_id);
CREATE INDEX chunks_by_document ON chunks (document_id);
"#,
    r#"
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    collection_id INTEGER NOT NULL,
    collection TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    total INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    enqueued_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
CREATE INDEX tasks_by_status ON tasks (status, id);
CREATE TABLE task_items (
    task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    source TEXT NOT NULL,
    format TEXT,
    meta TEXT NOT NULL,
    body BLOB,
    status TEXT NOT NULL,
    document_id INTEGER,
    chunks INTEGER,
    error TEXT,
    PRIMARY KEY (task_id, seq)
);
"#,
    // How often an item was started: an item whose processing took the process down (or
    // was killed) is not retried for ever.
    r#"
ALTER TABLE task_items ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
"#,
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    pub id: i64,
    pub tenant: String,
    pub name: String,
    pub embedding_model: String,
    pub language: Option<String>,
    pub chunking: ChunkConfig,
    pub created_at: i64,
}

/// A document as ingestion hands it over: parsed, chunked and embedded.
#[derive(Debug, Clone)]
pub struct NewDocument<'a> {
    /// Where it came from (a path, a URI, an upload name): unique within the collection.
    pub source: &'a str,
    pub title: Option<&'a str>,
    pub format: &'a str,
    pub language: Option<Lang>,
    pub tags: &'a [String],
    pub labels: &'a [String],
    /// SHA-256 of the raw bytes: the same hash means nothing to do.
    pub content_hash: &'a str,
    pub text: &'a str,
}

#[derive(Debug, Clone)]
pub struct NewChunk<'a> {
    pub start: usize,
    pub end: usize,
    pub page: Option<u32>,
    pub heading_path: &'a [String],
    pub text: &'a str,
    pub tokens: usize,
    pub vector: &'a [f32],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentInfo {
    pub id: i64,
    pub source: String,
    pub title: Option<String>,
    pub format: String,
    pub language: Option<String>,
    pub tags: Vec<String>,
    pub labels: Vec<String>,
    pub content_hash: String,
    pub version: i64,
    pub chunks: i64,
    pub updated_at: i64,
}

/// What [`Store::put_document`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum PutOutcome {
    /// The same content was already stored: nothing changed.
    Unchanged { document_id: i64 },
    /// Stored (new, or a new version replacing `removed` chunks).
    Stored {
        document_id: i64,
        version: i64,
        added: Vec<i64>,
        removed: Vec<i64>,
    },
}

/// A chunk as the indexes need it.
#[derive(Debug, Clone)]
pub struct IndexRow {
    pub id: i64,
    pub text: String,
    pub meta: ChunkMeta,
    pub vector: Vec<f32>,
}

/// A chunk as a search result shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkView {
    pub id: i64,
    pub document_id: i64,
    pub source: String,
    pub title: Option<String>,
    pub seq: i64,
    pub start: i64,
    pub end: i64,
    pub page: Option<i64>,
    pub heading_path: Vec<String>,
    pub text: String,
    /// What filters look at (not shown to clients).
    #[serde(skip)]
    pub meta: ChunkMeta,
}

pub struct Store {
    conn: Mutex<Connection>,
}

/// The outcome of one item of a task (`tasks`), recorded in the same transaction as its
/// document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Pending,
    Indexed,
    Unchanged,
    Deleted,
    Failed,
}

impl ItemStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Pending => "pending",
            ItemStatus::Indexed => "indexed",
            ItemStatus::Unchanged => "unchanged",
            ItemStatus::Deleted => "deleted",
            ItemStatus::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<ItemStatus> {
        [
            ItemStatus::Pending,
            ItemStatus::Indexed,
            ItemStatus::Unchanged,
            ItemStatus::Deleted,
            ItemStatus::Failed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// One item of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemRef {
    pub task: i64,
    pub seq: i64,
}

/// Records an item's outcome (once: an item already done is left as it is) and counts it on
/// its task.
pub(crate) fn mark_item_in(
    tx: &Transaction<'_>,
    at: ItemRef,
    status: ItemStatus,
    document_id: Option<i64>,
    chunks: usize,
    error: Option<&str>,
) -> Result<(), Error> {
    let n = tx
        .execute(
            "UPDATE task_items SET status = ?3, document_id = ?4, chunks = ?5, error = ?6, body = NULL
             WHERE task_id = ?1 AND seq = ?2 AND status = 'pending'",
            params![at.task, at.seq, status.as_str(), document_id, chunks as i64, error],
        )
        .map_err(db)?;
    if n == 1 {
        tx.execute(
            "UPDATE tasks SET done = done + 1, failed = failed + ?2, chunks = chunks + ?3 WHERE id = ?1",
            params![at.task, i64::from(status == ItemStatus::Failed), chunks as i64],
        )
        .map_err(db)?;
    }
    Ok(())
}

pub(crate) fn db(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => Error::Full(e.to_string()),
        _ => Error::Store(e.to_string()),
    }
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn from_json<T: for<'de> Deserialize<'de> + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

fn vector_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn blob_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl Store {
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Store, Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Store(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        // FULL: a commit is on disk when it returns, so an acknowledged upload survives a
        // power loss too, not only a process crash (WAL + NORMAL may roll the last commits
        // back). Costs one fsync per commit: per document, not per chunk.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        Store::init(conn)
    }

    pub fn open_in_memory() -> Result<Store, Error> {
        Store::init(Connection::open_in_memory().map_err(db)?)
    }

    fn init(conn: Connection) -> Result<Store, Error> {
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        // Deleted documents, chunks and uploaded bytes are overwritten in the file, not
        // left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db)?;
        let version = usize::try_from(version).unwrap_or(0);
        if version > MIGRATIONS.len() {
            return Err(Error::Store(format!(
                "the database is at schema version {version}, newer than this binary ({}): upgrade Atalaya",
                MIGRATIONS.len()
            )));
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version) {
            conn.execute_batch(&format!(
                "BEGIN; {m} PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))
            .map_err(db)?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn conn(&self) -> Result<MutexGuard<'_, Connection>, Error> {
        self.conn
            .lock()
            .map_err(|_| Error::Store("the database connection was poisoned".into()))
    }

    pub fn create_collection(
        &self,
        tenant: &str,
        name: &str,
        embedding_model: &str,
        language: Option<&str>,
        chunking: ChunkConfig,
    ) -> Result<Collection, Error> {
        let conn = self.conn()?;
        let created_at = now();
        let res = conn.execute(
            "INSERT INTO collections (tenant, name, embedding_model, language, chunk_max_tokens, chunk_overlap_tokens, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                tenant,
                name,
                embedding_model,
                language,
                chunking.max_tokens as i64,
                chunking.overlap_tokens as i64,
                created_at
            ],
        );
        match res {
            Ok(_) => Ok(Collection {
                id: conn.last_insert_rowid(),
                tenant: tenant.to_owned(),
                name: name.to_owned(),
                embedding_model: embedding_model.to_owned(),
                language: language.map(str::to_owned),
                chunking,
                created_at,
            }),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::Conflict(format!(
                    "collection '{name}' already exists"
                )))
            }
            Err(e) => Err(db(e)),
        }
    }

    pub(crate) fn row_collection(r: &rusqlite::Row<'_>) -> rusqlite::Result<Collection> {
        Ok(Collection {
            id: r.get(0)?,
            tenant: r.get(1)?,
            name: r.get(2)?,
            embedding_model: r.get(3)?,
            language: r.get(4)?,
            chunking: ChunkConfig {
                max_tokens: usize::try_from(r.get::<_, i64>(5)?).unwrap_or(200),
                overlap_tokens: usize::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
            },
            created_at: r.get(7)?,
        })
    }

    /// The tenant's collection `name`. Every lookup is by tenant: no call reaches another
    /// tenant's collection.
    pub fn collection(&self, tenant: &str, name: &str) -> Result<Option<Collection>, Error> {
        self.conn()?
            .query_row(
                "SELECT id, tenant, name, embedding_model, language, chunk_max_tokens, chunk_overlap_tokens, created_at
                 FROM collections WHERE tenant = ?1 AND name = ?2",
                params![tenant, name],
                Store::row_collection,
            )
            .optional()
            .map_err(db)
    }

    pub fn collections(&self, tenant: &str) -> Result<Vec<Collection>, Error> {
        let conn = self.conn()?;
        let mut st = conn
            .prepare(
                "SELECT id, tenant, name, embedding_model, language, chunk_max_tokens, chunk_overlap_tokens, created_at
                 FROM collections WHERE tenant = ?1 ORDER BY name",
            )
            .map_err(db)?;
        let rows = st
            .query_map(params![tenant], Store::row_collection)
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(rows)
    }

    /// Deletes a collection with its documents and chunks.
    /// Moves the write-ahead log into the database file and empties it (after deletions: no
    /// older copy of a deleted page stays in the log).
    pub fn checkpoint(&self) -> Result<(), Error> {
        self.conn()?
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(db)
    }

    /// Deletes every task of `tenant` (with its items and any upload bytes still pending).
    pub fn delete_tasks(&self, tenant: &str) -> Result<usize, Error> {
        self.conn()?
            .execute("DELETE FROM tasks WHERE tenant = ?1", params![tenant])
            .map_err(db)
    }

    pub fn delete_collection(&self, tenant: &str, name: &str) -> Result<bool, Error> {
        let n = self
            .conn()?
            .execute(
                "DELETE FROM collections WHERE tenant = ?1 AND name = ?2",
                params![tenant, name],
            )
            .map_err(db)?;
        Ok(n > 0)
    }

    /// The id and stored content hash of `source`, if the document exists.
    pub fn content_hash(
        &self,
        collection: i64,
        source: &str,
    ) -> Result<Option<(i64, String)>, Error> {
        self.conn()?
            .query_row(
                "SELECT id, content_hash FROM documents WHERE collection_id = ?1 AND source = ?2",
                params![collection, source],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db)
    }

    /// Stores a document and its chunks in one transaction: a no-op when the content hash and
    /// the metadata are unchanged, otherwise a new version replacing every old chunk.
    pub fn put_document(
        &self,
        collection: i64,
        doc: &NewDocument<'_>,
        chunks: &[NewChunk<'_>],
    ) -> Result<PutOutcome, Error> {
        self.put_document_for(collection, doc, chunks, None)
    }

    /// [`Store::put_document`], recording the outcome on the task item `mark` in the same
    /// transaction: after a crash, an item is either done with its document stored, or still
    /// pending with nothing of it stored.
    pub fn put_document_for(
        &self,
        collection: i64,
        doc: &NewDocument<'_>,
        chunks: &[NewChunk<'_>],
        mark: Option<ItemRef>,
    ) -> Result<PutOutcome, Error> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(db)?;
        let outcome = put_in(&tx, collection, doc, chunks)?;
        if let Some(m) = mark {
            let (status, document_id, n) = match &outcome {
                PutOutcome::Unchanged { document_id } => (ItemStatus::Unchanged, *document_id, 0),
                PutOutcome::Stored {
                    document_id, added, ..
                } => (ItemStatus::Indexed, *document_id, added.len()),
            };
            mark_item_in(&tx, m, status, Some(document_id), n, None)?;
        }
        tx.commit().map_err(db)?;
        Ok(outcome)
    }
}

fn put_in(
    tx: &Transaction<'_>,
    collection: i64,
    doc: &NewDocument<'_>,
    chunks: &[NewChunk<'_>],
) -> Result<PutOutcome, Error> {
    let existing: Option<(i64, String, i64, String, String)> = tx
            .query_row(
                "SELECT id, content_hash, version, tags, labels FROM documents WHERE collection_id = ?1 AND source = ?2",
                params![collection, doc.source],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(db)?;
    let (tags, labels) = (json(&doc.tags), json(&doc.labels));
    let lang = doc.language.map(Lang::code);
    let t = now();
    let (document_id, version, removed) = match existing {
        Some((id, hash, _, old_tags, old_labels))
            if hash == doc.content_hash && old_tags == tags && old_labels == labels =>
        {
            return Ok(PutOutcome::Unchanged { document_id: id });
        }
        Some((id, _, version, _, _)) => {
            let removed = chunk_ids(tx, "document_id", id)?;
            tx.execute("DELETE FROM chunks WHERE document_id = ?1", params![id])
                .map_err(db)?;
            tx.execute(
                    "UPDATE documents SET title = ?2, format = ?3, language = ?4, tags = ?5, labels = ?6,
                     content_hash = ?7, version = ?8, text = ?9, updated_at = ?10 WHERE id = ?1",
                    params![id, doc.title, doc.format, lang, tags, labels, doc.content_hash, version + 1, doc.text, t],
                )
                .map_err(db)?;
            (id, version + 1, removed)
        }
        None => {
            tx.execute(
                    "INSERT INTO documents (collection_id, source, title, format, language, tags, labels, content_hash, version, text, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?10, ?10)",
                    params![collection, doc.source, doc.title, doc.format, lang, tags, labels, doc.content_hash, doc.text, t],
                )
                .map_err(db)?;
            (tx.last_insert_rowid(), 1, Vec::new())
        }
    };
    let mut added = Vec::with_capacity(chunks.len());
    {
        let mut st = tx
                .prepare(
                    "INSERT INTO chunks (document_id, collection_id, seq, start_char, end_char, page, heading_path, text, tokens, vector)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(db)?;
        for (seq, c) in chunks.iter().enumerate() {
            st.execute(params![
                document_id,
                collection,
                seq as i64,
                c.start as i64,
                c.end as i64,
                c.page.map(i64::from),
                json(&c.heading_path),
                c.text,
                c.tokens as i64,
                vector_blob(c.vector)
            ])
            .map_err(db)?;
            added.push(tx.last_insert_rowid());
        }
    }
    Ok(PutOutcome::Stored {
        document_id,
        version,
        added,
        removed,
    })
}

impl Store {
    /// Deletes a document; returns the ids of the chunks it had (for the indexes), or `None`
    /// when there was no such document.
    pub fn delete_document(
        &self,
        collection: i64,
        source: &str,
    ) -> Result<Option<Vec<i64>>, Error> {
        self.delete_document_for(collection, source, None)
    }

    /// [`Store::delete_document`], recording the outcome on the task item `mark` in the same
    /// transaction.
    pub fn delete_document_for(
        &self,
        collection: i64,
        source: &str,
        mark: Option<ItemRef>,
    ) -> Result<Option<Vec<i64>>, Error> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(db)?;
        let id: Option<i64> = tx
            .query_row(
                "SELECT id FROM documents WHERE collection_id = ?1 AND source = ?2",
                params![collection, source],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        let Some(id) = id else {
            if let Some(m) = mark {
                mark_item_in(
                    &tx,
                    m,
                    ItemStatus::Failed,
                    None,
                    0,
                    Some(&format!("document '{source}' not found")),
                )?;
                tx.commit().map_err(db)?;
            }
            return Ok(None);
        };
        let removed = chunk_ids(&tx, "document_id", id)?;
        tx.execute("DELETE FROM documents WHERE id = ?1", params![id])
            .map_err(db)?;
        if let Some(m) = mark {
            mark_item_in(&tx, m, ItemStatus::Deleted, Some(id), removed.len(), None)?;
        }
        tx.commit().map_err(db)?;
        Ok(Some(removed))
    }

    pub fn documents(&self, collection: i64) -> Result<Vec<DocumentInfo>, Error> {
        let conn = self.conn()?;
        let mut st = conn
            .prepare(
                "SELECT d.id, d.source, d.title, d.format, d.language, d.tags, d.labels, d.content_hash, d.version,
                        (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id), d.updated_at
                 FROM documents d WHERE d.collection_id = ?1 ORDER BY d.source",
            )
            .map_err(db)?;
        let rows = st
            .query_map(params![collection], |r| {
                Ok(DocumentInfo {
                    id: r.get(0)?,
                    source: r.get(1)?,
                    title: r.get(2)?,
                    format: r.get(3)?,
                    language: r.get(4)?,
                    tags: from_json(&r.get::<_, String>(5)?),
                    labels: from_json(&r.get::<_, String>(6)?),
                    content_hash: r.get(7)?,
                    version: r.get(8)?,
                    chunks: r.get(9)?,
                    updated_at: r.get(10)?,
                })
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(rows)
    }

    /// The ids of every chunk of the collection.
    pub fn chunk_ids(&self, collection: i64) -> Result<Vec<i64>, Error> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(db)?;
        chunk_ids(&tx, "collection_id", collection)
    }

    /// Every chunk of the collection as the indexes take it: the heading path and title lead
    /// the text, so keyword search matches them too.
    pub fn index_rows(&self, collection: i64) -> Result<Vec<IndexRow>, Error> {
        let conn = self.conn()?;
        let mut st = conn
            .prepare(
                "SELECT c.id, c.text, c.heading_path, d.title, d.language, d.tags, d.labels, c.vector
                 FROM chunks c JOIN documents d ON d.id = c.document_id
                 WHERE c.collection_id = ?1 ORDER BY c.id",
            )
            .map_err(db)?;
        let rows = st
            .query_map(params![collection], |r| {
                let text: String = r.get(1)?;
                let path: Vec<String> = from_json(&r.get::<_, String>(2)?);
                let title: Option<String> = r.get(3)?;
                let lang: Option<String> = r.get(4)?;
                Ok(IndexRow {
                    id: r.get(0)?,
                    text: index_text(title.as_deref(), &path, &text),
                    meta: ChunkMeta {
                        lang: lang.as_deref().map(Lang::from_code),
                        tags: from_json(&r.get::<_, String>(5)?),
                        labels: from_json(&r.get::<_, String>(6)?),
                    },
                    vector: blob_vector(&r.get::<_, Vec<u8>>(7)?),
                })
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(rows)
    }

    /// The chunks `ids` of `collection` (ids of other collections are ignored), in the order
    /// asked.
    pub fn chunk_views(&self, collection: i64, ids: &[i64]) -> Result<Vec<ChunkView>, Error> {
        let conn = self.conn()?;
        let mut st = conn
            .prepare_cached(
                "SELECT c.id, c.document_id, d.source, d.title, c.seq, c.start_char, c.end_char, c.page, c.heading_path, c.text,
                        d.language, d.tags, d.labels
                 FROM chunks c JOIN documents d ON d.id = c.document_id
                 WHERE c.id = ?1 AND c.collection_id = ?2",
            )
            .map_err(db)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = st
                .query_row(params![id, collection], |r| {
                    Ok(ChunkView {
                        id: r.get(0)?,
                        document_id: r.get(1)?,
                        source: r.get(2)?,
                        title: r.get(3)?,
                        seq: r.get(4)?,
                        start: r.get(5)?,
                        end: r.get(6)?,
                        page: r.get(7)?,
                        heading_path: from_json(&r.get::<_, String>(8)?),
                        text: r.get(9)?,
                        meta: ChunkMeta {
                            lang: r
                                .get::<_, Option<String>>(10)?
                                .as_deref()
                                .map(Lang::from_code),
                            tags: from_json(&r.get::<_, String>(11)?),
                            labels: from_json(&r.get::<_, String>(12)?),
                        },
                    })
                })
                .optional()
                .map_err(db)?;
            out.extend(row);
        }
        Ok(out)
    }
}

/// A document as stored, with its chunks and their vectors: what moves a knowledge base from
/// one backend to another (`atalaya migrate copy`) without parsing or embedding again.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedDocument {
    pub source: String,
    pub title: Option<String>,
    pub format: String,
    pub language: Option<String>,
    pub tags: Vec<String>,
    pub labels: Vec<String>,
    pub content_hash: String,
    pub version: i64,
    pub text: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub chunks: Vec<ExportedChunk>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportedChunk {
    pub seq: i64,
    pub start: i64,
    pub end: i64,
    pub page: Option<i64>,
    pub heading_path: Vec<String>,
    pub text: String,
    pub tokens: i64,
    pub vector: Vec<f32>,
}

impl Store {
    /// Every collection of every tenant.
    pub fn all_collections(&self) -> Result<Vec<Collection>, Error> {
        let conn = self.conn()?;
        let mut st = conn
            .prepare(
                "SELECT id, tenant, name, embedding_model, language, chunk_max_tokens, chunk_overlap_tokens, created_at
                 FROM collections ORDER BY tenant, name",
            )
            .map_err(db)?;
        let rows = st
            .query_map([], Store::row_collection)
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(rows)
    }

    /// The collection's documents with their chunks and vectors, by source.
    pub fn export_documents(&self, collection: i64) -> Result<Vec<ExportedDocument>, Error> {
        let conn = self.conn()?;
        let mut st = conn
            .prepare(
                "SELECT id, source, title, format, language, tags, labels, content_hash, version, text, created_at, updated_at
                 FROM documents WHERE collection_id = ?1 ORDER BY source",
            )
            .map_err(db)?;
        let docs = st
            .query_map(params![collection], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    ExportedDocument {
                        source: r.get(1)?,
                        title: r.get(2)?,
                        format: r.get(3)?,
                        language: r.get(4)?,
                        tags: from_json(&r.get::<_, String>(5)?),
                        labels: from_json(&r.get::<_, String>(6)?),
                        content_hash: r.get(7)?,
                        version: r.get(8)?,
                        text: r.get(9)?,
                        created_at: r.get(10)?,
                        updated_at: r.get(11)?,
                        chunks: Vec::new(),
                    },
                ))
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        let mut chunks = conn
            .prepare(
                "SELECT seq, start_char, end_char, page, heading_path, text, tokens, vector
                 FROM chunks WHERE document_id = ?1 ORDER BY seq",
            )
            .map_err(db)?;
        let mut out = Vec::with_capacity(docs.len());
        for (id, mut d) in docs {
            d.chunks = chunks
                .query_map(params![id], |r| {
                    Ok(ExportedChunk {
                        seq: r.get(0)?,
                        start: r.get(1)?,
                        end: r.get(2)?,
                        page: r.get(3)?,
                        heading_path: from_json(&r.get::<_, String>(4)?),
                        text: r.get(5)?,
                        tokens: r.get(6)?,
                        vector: blob_vector(&r.get::<_, Vec<u8>>(7)?),
                    })
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            out.push(d);
        }
        Ok(out)
    }
}

/// The text the indexes see for a chunk: title and heading path, then the content.
pub fn index_text(title: Option<&str>, heading_path: &[String], text: &str) -> String {
    let mut head: Vec<&str> = Vec::new();
    if let Some(t) = title.filter(|t| heading_path.first().map(String::as_str) != Some(*t)) {
        head.push(t);
    }
    head.extend(heading_path.iter().map(String::as_str));
    if head.is_empty() {
        text.to_owned()
    } else {
        format!("{}\n{text}", head.join(" > "))
    }
}

fn chunk_ids(tx: &Transaction<'_>, column: &str, id: i64) -> Result<Vec<i64>, Error> {
    let mut st = tx
        .prepare(&format!(
            "SELECT id FROM chunks WHERE {column} = ?1 ORDER BY id"
        ))
        .map_err(db)?;
    let ids = st
        .query_map(params![id], |r| r.get(0))
        .map_err(db)?
        .collect::<Result<Vec<i64>, _>>()
        .map_err(db)?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc<'a>(source: &'a str, hash: &'a str, text: &'a str) -> NewDocument<'a> {
        NewDocument {
            source,
            title: Some("Guide"),
            format: "markdown",
            language: Some(Lang::En),
            tags: &[],
            labels: &[],
            content_hash: hash,
            text,
        }
    }

    fn chunk<'a>(text: &'a str, path: &'a [String], v: &'a [f32]) -> NewChunk<'a> {
        NewChunk {
            start: 0,
            end: text.chars().count(),
            page: None,
            heading_path: path,
            text,
            tokens: 3,
            vector: v,
        }
    }

    #[test]
    fn documents_are_idempotent_versioned_and_deletable() {
        let s = Store::open_in_memory().unwrap();
        let c = s
            .create_collection(
                "acme",
                "help",
                "all-minilm-l6-v2",
                Some("en"),
                ChunkConfig::default(),
            )
            .unwrap();
        assert!(matches!(
            s.create_collection("acme", "help", "m", None, ChunkConfig::default()),
            Err(Error::Conflict(_))
        ));
        // Another tenant may use the same name; lookups never cross tenants.
        s.create_collection("other", "help", "m", None, ChunkConfig::default())
            .unwrap();
        assert_eq!(s.collection("acme", "help").unwrap().unwrap().id, c.id);
        assert_eq!(s.collections("acme").unwrap().len(), 1);

        let path = vec!["Setup".to_owned()];
        let v = [0.6f32, 0.8];
        let first = s
            .put_document(
                c.id,
                &doc("a.md", "h1", "one two"),
                &[chunk("one", &path, &v), chunk("two", &path, &v)],
            )
            .unwrap();
        let PutOutcome::Stored {
            document_id,
            version: 1,
            added,
            removed,
        } = first
        else {
            panic!("{first:?}");
        };
        assert_eq!((added.len(), removed.len()), (2, 0));
        // Same content: nothing happens.
        assert_eq!(
            s.put_document(
                c.id,
                &doc("a.md", "h1", "one two"),
                &[chunk("x", &path, &v)]
            )
            .unwrap(),
            PutOutcome::Unchanged { document_id }
        );
        // Changed content: a new version replaces every chunk.
        let again = s
            .put_document(
                c.id,
                &doc("a.md", "h2", "three"),
                &[chunk("three", &path, &v)],
            )
            .unwrap();
        let PutOutcome::Stored {
            version: 2,
            removed,
            added: new,
            ..
        } = again
        else {
            panic!("{again:?}");
        };
        assert_eq!(removed, added);
        let rows = s.index_rows(c.id).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, new[0]);
        assert_eq!(rows[0].text, "Guide > Setup\nthree");
        assert_eq!(rows[0].vector, v);
        assert_eq!(rows[0].meta.lang, Some(Lang::En));
        let views = s.chunk_views(c.id, &[new[0], 999]).unwrap();
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].source, "a.md");
        // Chunks of another collection are not visible through this one.
        let other = s.collection("other", "help").unwrap().unwrap();
        assert!(s.chunk_views(other.id, &[new[0]]).unwrap().is_empty());
        let docs = s.documents(c.id).unwrap();
        assert_eq!((docs.len(), docs[0].version, docs[0].chunks), (1, 2, 1));
        // Deleting removes the document and reports its chunks.
        assert_eq!(s.delete_document(c.id, "a.md").unwrap(), Some(new.clone()));
        assert_eq!(s.delete_document(c.id, "a.md").unwrap(), None);
        assert!(s.index_rows(c.id).unwrap().is_empty());
        assert!(s.delete_collection("acme", "help").unwrap());
        assert!(s.collection("acme", "help").unwrap().is_none());
    }

    #[test]
    fn the_database_persists_and_migrates_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kb/knowledge.db");
        {
            let s = Store::open(&path).unwrap();
            s.create_collection("t", "c", "m", None, ChunkConfig::default())
                .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert!(s.collection("t", "c").unwrap().is_some());
    }
}
