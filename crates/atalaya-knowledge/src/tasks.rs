//! The durable ingestion queue (as Meilisearch's task queue): a request enqueues a task with
//! its documents' bytes in one transaction and gets the task id at once; a worker processes
//! the oldest unfinished task, item by item. Each item's outcome is recorded in the same
//! transaction as its document (`Store::put_document_for`), so a crash or `kill -9` loses
//! nothing acknowledged: on restart the worker resumes the task at its first pending item.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

pub use crate::store::{ItemRef, ItemStatus};
use crate::{
    doc::{DocumentMeta, Format},
    store::{db, mark_item_in, Collection, Store},
    Error,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Ingest,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Enqueued,
    Processing,
    /// Every item was processed; some may have failed (each says why).
    Succeeded,
    /// Nothing could be done: every item failed, or the task itself could not run.
    Failed,
}

macro_rules! str_enum {
    ($t:ty { $($v:ident = $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),* }
            }
            pub(crate) fn parse(s: &str) -> Option<$t> {
                match s { $($s => Some(<$t>::$v),)* _ => None }
            }
        }
    };
}
str_enum!(TaskKind { Ingest = "ingest", Delete = "delete" });
str_enum!(TaskStatus { Enqueued = "enqueued", Processing = "processing", Succeeded = "succeeded", Failed = "failed" });

/// A document handed to the queue.
#[derive(Debug, Clone, Default)]
pub struct NewItem {
    /// Unique within the collection: a file path, a URI or an upload's name.
    pub source: String,
    pub format: Option<Format>,
    pub meta: DocumentMeta,
    /// The raw bytes (ingest); none for deletions.
    pub body: Option<Vec<u8>>,
    /// Already known to fail (e.g. an unsupported file type): recorded as failed at once, so
    /// the task reports it with the others.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskItem {
    pub seq: i64,
    pub source: String,
    pub status: ItemStatus,
    pub document_id: Option<i64>,
    pub chunks: Option<i64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: i64,
    #[serde(skip)]
    pub tenant: String,
    #[serde(skip)]
    pub collection_id: i64,
    pub collection: String,
    pub kind: TaskKind,
    pub status: TaskStatus,
    /// Items in the task, processed so far (including failures), failed, and chunks written.
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    pub chunks: i64,
    pub error: Option<String>,
    /// Unix milliseconds.
    pub enqueued_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub items: Vec<TaskItem>,
}

impl Task {
    pub fn is_finished(&self) -> bool {
        matches!(self.status, TaskStatus::Succeeded | TaskStatus::Failed)
    }
}

/// A pending item as the worker takes it.
#[derive(Debug, Clone)]
pub struct PendingItem {
    pub at: ItemRef,
    pub source: String,
    pub format: Option<String>,
    pub meta: DocumentMeta,
    pub body: Option<Vec<u8>>,
    /// This attempt's number (1 the first time the item is taken).
    pub attempts: u32,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

const TASK_COLUMNS: &str = "id, tenant, collection_id, collection, kind, status, total, done, failed, chunks, error, enqueued_at, started_at, finished_at";

fn row_task(r: &rusqlite::Row<'_>) -> rusqlite::Result<Task> {
    let kind: String = r.get(4)?;
    let status: String = r.get(5)?;
    Ok(Task {
        id: r.get(0)?,
        tenant: r.get(1)?,
        collection_id: r.get(2)?,
        collection: r.get(3)?,
        kind: TaskKind::parse(&kind).unwrap_or(TaskKind::Ingest),
        status: TaskStatus::parse(&status).unwrap_or(TaskStatus::Failed),
        total: r.get(6)?,
        done: r.get(7)?,
        failed: r.get(8)?,
        chunks: r.get(9)?,
        error: r.get(10)?,
        enqueued_at: r.get(11)?,
        started_at: r.get(12)?,
        finished_at: r.get(13)?,
        items: Vec::new(),
    })
}

impl Store {
    /// Stores a task and its items in one transaction; the caller may acknowledge it once
    /// this returns.
    pub fn enqueue(
        &self,
        c: &Collection,
        kind: TaskKind,
        items: &[NewItem],
    ) -> Result<Task, Error> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(db)?;
        tx.execute(
            "INSERT INTO tasks (tenant, collection_id, collection, kind, status, total, enqueued_at)
             VALUES (?1, ?2, ?3, ?4, 'enqueued', ?5, ?6)",
            params![c.tenant, c.id, c.name, kind.as_str(), items.len() as i64, now_ms()],
        )
        .map_err(db)?;
        let task = tx.last_insert_rowid();
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO task_items (task_id, seq, source, format, meta, body, status)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
                )
                .map_err(db)?;
            for (seq, it) in items.iter().enumerate() {
                let meta = serde_json::to_string(&it.meta)
                    .map_err(|e| Error::Store(format!("document metadata: {e}")))?;
                st.execute(params![
                    task,
                    seq as i64,
                    it.source,
                    it.format.map(Format::as_str),
                    meta,
                    it.body
                ])
                .map_err(db)?;
            }
        }
        for (seq, it) in items.iter().enumerate() {
            if let Some(e) = &it.error {
                let at = ItemRef {
                    task,
                    seq: seq as i64,
                };
                mark_item_in(&tx, at, ItemStatus::Failed, None, 0, Some(e))?;
            }
        }
        let out = tx
            .query_row(
                &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"),
                params![task],
                row_task,
            )
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(out)
    }

    /// The tenant's task `id`, with its items when asked.
    pub fn task(&self, tenant: &str, id: i64, with_items: bool) -> Result<Option<Task>, Error> {
        let conn = self.conn()?;
        let task = conn
            .query_row(
                &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1 AND tenant = ?2"),
                params![id, tenant],
                row_task,
            )
            .optional()
            .map_err(db)?;
        let Some(mut task) = task else {
            return Ok(None);
        };
        if with_items {
            let mut st = conn
                .prepare(
                    "SELECT seq, source, status, document_id, chunks, error FROM task_items
                     WHERE task_id = ?1 ORDER BY seq",
                )
                .map_err(db)?;
            task.items = st
                .query_map(params![id], |r| {
                    let status: String = r.get(2)?;
                    Ok(TaskItem {
                        seq: r.get(0)?,
                        source: r.get(1)?,
                        status: ItemStatus::parse(&status).unwrap_or(ItemStatus::Failed),
                        document_id: r.get(3)?,
                        chunks: r.get(4)?,
                        error: r.get(5)?,
                    })
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
        }
        Ok(Some(task))
    }

    /// The tenant's most recent tasks, newest first.
    pub fn tasks(
        &self,
        tenant: &str,
        status: Option<TaskStatus>,
        limit: usize,
    ) -> Result<Vec<Task>, Error> {
        let conn = self.conn()?;
        let mut st = conn
            .prepare(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE tenant = ?1 AND (?2 IS NULL OR status = ?2)
                 ORDER BY id DESC LIMIT ?3"
            ))
            .map_err(db)?;
        let rows = st
            .query_map(
                params![tenant, status.map(TaskStatus::as_str), limit as i64],
                row_task,
            )
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(rows)
    }

    /// The task to work on: one already processing (resumed after a restart), else the
    /// oldest enqueued one; a task of another tenant than `after` first, so that one
    /// tenant's long upload does not hold up the others' (the worker takes a group of items
    /// at a time and then looks again).
    pub fn next_task(&self, after: Option<&str>) -> Result<Option<Task>, Error> {
        self.conn()?
            .query_row(
                &format!(
                    "SELECT {TASK_COLUMNS} FROM tasks WHERE status IN ('processing', 'enqueued')
                     ORDER BY tenant IS ?1, status = 'enqueued', id LIMIT 1"
                ),
                params![after],
                row_task,
            )
            .optional()
            .map_err(db)
    }

    pub fn start_task(&self, id: i64) -> Result<(), Error> {
        self.conn()?
            .execute(
                "UPDATE tasks SET status = 'processing', started_at = COALESCE(started_at, ?2)
                 WHERE id = ?1 AND status IN ('enqueued', 'processing')",
                params![id, now_ms()],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Up to `limit` pending items of a task, in order, with their bytes, each counted as
    /// one more attempt (committed before any of them is processed).
    pub fn pending_items(&self, task: i64, limit: usize) -> Result<Vec<PendingItem>, Error> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(db)?;
        let rows = {
            let mut st = tx
                .prepare(
                    "SELECT seq, source, format, meta, body, attempts FROM task_items
                     WHERE task_id = ?1 AND status = 'pending' ORDER BY seq LIMIT ?2",
                )
                .map_err(db)?;
            let rows = st
                .query_map(params![task, limit as i64], |r| {
                    let meta: String = r.get(3)?;
                    Ok(PendingItem {
                        at: ItemRef {
                            task,
                            seq: r.get(0)?,
                        },
                        source: r.get(1)?,
                        format: r.get(2)?,
                        meta: serde_json::from_str(&meta).unwrap_or_default(),
                        body: r.get(4)?,
                        attempts: r.get::<_, i64>(5)?.max(0) as u32 + 1,
                    })
                })
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            let mut bump = tx
                .prepare(
                    "UPDATE task_items SET attempts = attempts + 1 WHERE task_id = ?1 AND seq = ?2",
                )
                .map_err(db)?;
            for it in &rows {
                bump.execute(params![task, it.at.seq]).map_err(db)?;
            }
            rows
        };
        tx.commit().map_err(db)?;
        Ok(rows)
    }

    /// Gives back the attempt counted for items taken but not started (a group that filled
    /// up before reaching them): waiting in a queue is not an interrupted attempt.
    pub fn unclaim(&self, items: &[ItemRef]) -> Result<(), Error> {
        if items.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(db)?;
        {
            let mut st = tx
                .prepare(
                    "UPDATE task_items SET attempts = MAX(attempts - 1, 0)
                     WHERE task_id = ?1 AND seq = ?2 AND status = 'pending'",
                )
                .map_err(db)?;
            for at in items {
                st.execute(params![at.task, at.seq]).map_err(db)?;
            }
        }
        tx.commit().map_err(db)
    }

    /// Records an item's outcome on its own.
    pub fn mark_item(
        &self,
        at: ItemRef,
        status: ItemStatus,
        document_id: Option<i64>,
        chunks: usize,
        error: Option<&str>,
    ) -> Result<(), Error> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(db)?;
        mark_item_in(&tx, at, status, document_id, chunks, error)?;
        tx.commit().map_err(db)
    }

    /// Ends a task. With `error`, every item still pending fails with it.
    pub fn finish_task(&self, id: i64, error: Option<&str>) -> Result<(), Error> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(db)?;
        if let Some(e) = error {
            let pending: Vec<i64> = {
                let mut st = tx
                    .prepare("SELECT seq FROM task_items WHERE task_id = ?1 AND status = 'pending'")
                    .map_err(db)?;
                let rows = st
                    .query_map(params![id], |r| r.get(0))
                    .map_err(db)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db)?;
                rows
            };
            for seq in pending {
                mark_item_in(
                    &tx,
                    ItemRef { task: id, seq },
                    ItemStatus::Failed,
                    None,
                    0,
                    Some(e),
                )?;
            }
        }
        tx.execute(
            "UPDATE tasks SET finished_at = ?2, error = ?3,
                status = CASE WHEN ?3 IS NOT NULL OR (failed = total AND total > 0) THEN 'failed' ELSE 'succeeded' END
             WHERE id = ?1",
            params![id, now_ms(), error],
        )
        .map_err(db)?;
        tx.commit().map_err(db)
    }

    /// The collection with id `id`, whatever its tenant (the worker's lookup).
    pub fn collection_by_id(&self, id: i64) -> Result<Option<Collection>, Error> {
        self.conn()?
            .query_row(
                "SELECT id, tenant, name, embedding_model, language, chunk_max_tokens, chunk_overlap_tokens, created_at
                 FROM collections WHERE id = ?1",
                params![id],
                Store::row_collection,
            )
            .optional()
            .map_err(db)
    }
}
