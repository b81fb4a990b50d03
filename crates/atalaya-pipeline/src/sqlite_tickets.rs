//! The embedded ticket backend: [`SqliteTickets`], the [`TicketRecords`] contract over the
//! synchronous [`TicketStore`] (`<data_dir>/tickets.db`, WAL, migrations in `user_version`),
//! called on the blocking pool.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::{
    tickets::{Feedback, Ticket, TicketRecords},
    PipelineError,
};

/// Every ticket (with its feedback) and every (ticket id, data subject) tag.
pub type TicketExport = (Vec<Ticket>, Vec<(String, String)>);

/// The embedded backend: [`TicketStore`] on the blocking thread pool.
#[derive(Clone)]
pub struct SqliteTickets(Arc<TicketStore>);

impl SqliteTickets {
    /// Opens (creating) `<dir>/tickets.db`.
    pub fn open(dir: &Path) -> Result<Self, PipelineError> {
        Ok(SqliteTickets(Arc::new(TicketStore::open(dir)?)))
    }

    /// [`TicketStore::export_all`] on the blocking pool.
    pub async fn export_all(&self) -> Result<TicketExport, PipelineError> {
        self.call(|s| s.export_all()).await
    }

    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&TicketStore) -> Result<T, PipelineError> + Send + 'static,
    ) -> Result<T, PipelineError> {
        let store = self.0.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| PipelineError::Store(format!("the store's blocking task failed: {e}")))?
    }
}

#[async_trait]
impl TicketRecords for SqliteTickets {
    async fn insert(&self, t: Ticket, data_subject: Option<String>) -> Result<(), PipelineError> {
        self.call(move |s| s.insert(&t, data_subject.as_deref()))
            .await
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Ticket, PipelineError> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        self.call(move |s| s.get(&tenant, &id)).await
    }

    async fn list(
        &self,
        tenant: &str,
        status: Option<&str>,
        limit: usize,
        before: Option<&str>,
    ) -> Result<Vec<Ticket>, PipelineError> {
        let (tenant, status, before) = (
            tenant.to_owned(),
            status.map(str::to_owned),
            before.map(str::to_owned),
        );
        self.call(move |s| s.list(&tenant, status.as_deref(), limit, before.as_deref()))
            .await
    }

    async fn add_feedback(
        &self,
        tenant: &str,
        id: &str,
        f: Feedback,
    ) -> Result<Ticket, PipelineError> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        self.call(move |s| s.add_feedback(&tenant, &id, f)).await
    }

    async fn by_subject(
        &self,
        tenant: Option<&str>,
        subject: &str,
    ) -> Result<Vec<Ticket>, PipelineError> {
        let (tenant, subject) = (tenant.map(str::to_owned), subject.to_owned());
        self.call(move |s| s.by_customer(tenant.as_deref(), &subject))
            .await
    }

    async fn erase_subject(
        &self,
        tenant: Option<&str>,
        subject: &str,
    ) -> Result<(u64, u64), PipelineError> {
        let (tenant, subject) = (tenant.map(str::to_owned), subject.to_owned());
        self.call(move |s| s.erase_customer(tenant.as_deref(), &subject))
            .await
    }

    async fn delete_tenant(&self, tenant: &str) -> Result<u64, PipelineError> {
        let tenant = tenant.to_owned();
        self.call(move |s| s.delete_tenant(&tenant)).await
    }
}

pub struct TicketStore {
    conn: Mutex<Connection>,
}

fn db(e: rusqlite::Error) -> PipelineError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => PipelineError::Full(e.to_string()),
        _ => PipelineError::Store(e.to_string()),
    }
}

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    subject TEXT,
    body TEXT NOT NULL,
    customer_id TEXT,
    channel TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    language TEXT,
    intent TEXT,
    priority TEXT,
    confidence REAL,
    draft TEXT,
    citations TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    pipeline_version INTEGER NOT NULL,
    trace TEXT NOT NULL
);
CREATE INDEX tickets_by_tenant ON tickets (tenant, status, created_at);
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    verdict TEXT NOT NULL,
    final_text TEXT,
    resolution_seconds REAL,
    agent TEXT,
    comment TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX feedback_by_ticket ON feedback (ticket_id);
"#,
    r#"
CREATE INDEX tickets_by_customer ON tickets (customer_id, tenant);
"#,
    // The data subject a ticket was created for (`x-atalaya-subject`), when it is not the
    // ticket's customer_id: erasure and export find the ticket by either.
    r#"
CREATE TABLE ticket_subjects (
    ticket_id TEXT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    PRIMARY KEY (ticket_id, subject)
);
CREATE INDEX ticket_subjects_by_subject ON ticket_subjects (subject);
"#,
];

/// Tickets of a data subject: its customer_id, or tagged with it.
const OF_SUBJECT: &str = "(customer_id = ?1 OR id IN (SELECT ticket_id FROM ticket_subjects WHERE subject = ?1)) AND (?2 IS NULL OR tenant = ?2)";

const COLUMNS: &str = "id, tenant, created_at, updated_at, subject, body, customer_id, channel, status, reason, language, intent, priority, confidence, draft, citations, pipeline, pipeline_version, trace";

impl TicketStore {
    /// Opens (creating) `<dir>/tickets.db`.
    pub fn open(dir: &Path) -> Result<TicketStore, PipelineError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| PipelineError::Store(format!("{}: {e}", dir.display())))?;
        let conn = Connection::open(dir.join("tickets.db")).map_err(db)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA busy_timeout = 5000;",
        )
        .map_err(db)?;
        let mut conn = conn;
        // One IMMEDIATE transaction, the version read inside it: two processes opening a new
        // data directory at once (the server and `tickets triage --store`) migrate once.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db)?;
        if version > MIGRATIONS.len() as i64 {
            return Err(PipelineError::Store(format!(
                "tickets.db is at schema version {version}, newer than this binary knows ({}): upgrade Atalaya",
                MIGRATIONS.len()
            )));
        }
        for m in MIGRATIONS.iter().skip(version as usize) {
            tx.execute_batch(m).map_err(db)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {}", MIGRATIONS.len()))
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(TicketStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a new ticket and, in the same transaction, the data subject it was created for
    /// (`x-atalaya-subject`) when that is not its customer_id, so that the subject's erasure
    /// and export find it even after a crash.
    pub fn insert(&self, t: &Ticket, data_subject: Option<&str>) -> Result<(), PipelineError> {
        let citations =
            serde_json::to_string(&t.citations).map_err(|e| PipelineError::Store(e.to_string()))?;
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db)?;
        tx.execute(
                &format!("INSERT INTO tickets ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"),
                params![
                    t.id,
                    t.tenant,
                    t.created_at,
                    t.updated_at,
                    t.subject,
                    t.body,
                    t.customer_id,
                    t.channel,
                    t.status,
                    t.reason,
                    t.language,
                    t.intent,
                    t.priority,
                    t.confidence,
                    t.draft,
                    citations,
                    t.pipeline,
                    t.pipeline_version,
                    t.trace.to_string(),
                ],
            )
            .map_err(db)?;
        if let Some(subject) = data_subject.filter(|s| t.customer_id.as_deref() != Some(*s)) {
            tx.execute(
                "INSERT OR IGNORE INTO ticket_subjects (ticket_id, subject) VALUES (?1, ?2)",
                params![t.id, subject],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// The tenant's ticket `id` with its feedback.
    pub fn get(&self, tenant: &str, id: &str) -> Result<Ticket, PipelineError> {
        let conn = self.conn();
        let t = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM tickets WHERE id = ?1 AND tenant = ?2"),
                params![id, tenant],
                row,
            )
            .optional()
            .map_err(db)?
            .ok_or_else(|| PipelineError::NotFound(id.to_owned()))?;
        with_feedback(&conn, std::iter::once(Ok(t)))?
            .pop()
            .ok_or_else(|| PipelineError::NotFound(id.to_owned()))
    }

    /// The tenant's tickets, newest first, optionally of one status; `before` (a ticket id)
    /// pages on.
    pub fn list(
        &self,
        tenant: &str,
        status: Option<&str>,
        limit: usize,
        before: Option<&str>,
    ) -> Result<Vec<Ticket>, PipelineError> {
        crate::tickets::check_status(status)?;
        let conn = self.conn();
        // The cursor: the position of `before` in (created_at, id) order.
        let cursor: Option<(i64, String)> = match before {
            None => None,
            Some(b) => Some(
                conn.query_row(
                    "SELECT created_at, id FROM tickets WHERE id = ?1 AND tenant = ?2",
                    params![b, tenant],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?
                .ok_or_else(|| {
                    PipelineError::invalid(format!("'before': no ticket '{b}'"), Some("before"))
                })?,
            ),
        };
        // Without `before`, a cursor past every ticket.
        let (c_at, c_id) = cursor.unwrap_or((i64::MAX, String::new()));
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM tickets WHERE tenant = ?1 AND (?2 IS NULL OR status = ?2)
                 AND (created_at < ?3 OR (created_at = ?3 AND id < ?4))
                 ORDER BY created_at DESC, id DESC LIMIT ?5"
            ))
            .map_err(db)?;
        let rows = stmt
            .query_map(params![tenant, status, c_at, c_id, limit as i64], row)
            .map_err(db)?;
        with_feedback(&conn, rows)
    }

    /// Every ticket of customer `customer_id` (in `tenant`, or in every tenant), oldest
    /// first, with its feedback: a data subject's export.
    pub fn by_customer(
        &self,
        tenant: Option<&str>,
        customer_id: &str,
    ) -> Result<Vec<Ticket>, PipelineError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM tickets WHERE {OF_SUBJECT} ORDER BY created_at, id"
            ))
            .map_err(db)?;
        let rows = stmt
            .query_map(params![customer_id, tenant], row)
            .map_err(db)?;
        with_feedback(&conn, rows)
    }

    /// Deletes every ticket of customer `customer_id` (in `tenant`, or in every tenant) and
    /// their feedback, in one transaction (`secure_delete` overwrites the freed pages):
    /// a data subject's erasure. Returns (tickets, feedback entries) deleted.
    pub fn erase_customer(
        &self,
        tenant: Option<&str>,
        customer_id: &str,
    ) -> Result<(u64, u64), PipelineError> {
        self.delete_where(OF_SUBJECT, params![customer_id, tenant])
    }

    /// Deletes every ticket of `tenant` and their feedback (the tenant is being deleted).
    pub fn delete_tenant(&self, tenant: &str) -> Result<u64, PipelineError> {
        let (tickets, _) = self.delete_where("tenant = ?1", params![tenant])?;
        Ok(tickets)
    }

    /// Deletes the tickets `filter` (a condition on `tickets`) selects and their feedback in
    /// one transaction, then checkpoints the log. Returns (tickets, feedback entries).
    fn delete_where(
        &self,
        filter: &str,
        args: impl rusqlite::Params + Copy,
    ) -> Result<(u64, u64), PipelineError> {
        let deleted = {
            let mut conn = self.conn();
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db)?;
            let feedback = tx
                .execute(
                    &format!(
                        "DELETE FROM feedback WHERE ticket_id IN (SELECT id FROM tickets WHERE {filter})"
                    ),
                    args,
                )
                .map_err(db)?;
            let tickets = tx
                .execute(&format!("DELETE FROM tickets WHERE {filter}"), args)
                .map_err(db)?;
            tx.commit().map_err(db)?;
            (tickets as u64, feedback as u64)
        };
        self.checkpoint()?;
        Ok(deleted)
    }

    /// Moves the write-ahead log into the database file and empties it: pages holding deleted
    /// text (overwritten there by `secure_delete`) leave no older copy in the log.
    fn checkpoint(&self) -> Result<(), PipelineError> {
        self.conn()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(db)
    }

    /// Every ticket with its feedback, oldest first, and every (ticket, data subject) tag:
    /// what moves the store to another backend (`atalaya migrate copy`).
    pub fn export_all(&self) -> Result<TicketExport, PipelineError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM tickets ORDER BY created_at, id"
            ))
            .map_err(db)?;
        let rows = stmt.query_map([], row).map_err(db)?;
        let tickets = with_feedback(&conn, rows)?;
        let mut stmt = conn
            .prepare("SELECT ticket_id, subject FROM ticket_subjects ORDER BY ticket_id, subject")
            .map_err(db)?;
        let subjects = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok((tickets, subjects))
    }

    /// Records an agent's feedback and moves the ticket on: a final text makes it
    /// `answered`; a rejected draft without one leaves it to a human (`needs_human`).
    pub fn add_feedback(
        &self,
        tenant: &str,
        id: &str,
        f: Feedback,
    ) -> Result<Ticket, PipelineError> {
        crate::tickets::check_feedback(&f)?;
        {
            let mut conn = self.conn();
            let tx = conn.transaction().map_err(db)?;
            let draft: Option<Option<String>> = tx
                .query_row(
                    "SELECT draft FROM tickets WHERE id = ?1 AND tenant = ?2",
                    params![id, tenant],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            let Some(draft) = draft else {
                return Err(PipelineError::NotFound(id.to_owned()));
            };
            let (final_text, status) = crate::tickets::feedback_outcome(&f, draft);
            tx.execute(
                "INSERT INTO feedback (ticket_id, verdict, final_text, resolution_seconds, agent, comment, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, f.verdict, final_text, f.resolution_seconds, f.agent, f.comment, f.created_at],
            )
            .map_err(db)?;
            tx.execute(
                "UPDATE tickets SET status = ?1, updated_at = ?2 WHERE id = ?3",
                params![status, f.created_at, id],
            )
            .map_err(db)?;
            tx.commit().map_err(db)?;
        }
        self.get(tenant, id)
    }
}

type RowResult = Result<Ticket, String>;

/// Ticket ids per feedback query: well under SQLite's limit on bound parameters.
const FEEDBACK_BATCH: usize = 500;

/// The tickets of a query's rows, each with its feedback (one query per
/// [`FEEDBACK_BATCH`] tickets).
fn with_feedback(
    conn: &Connection,
    rows: impl Iterator<Item = rusqlite::Result<RowResult>>,
) -> Result<Vec<Ticket>, PipelineError> {
    let mut out = Vec::new();
    for r in rows {
        out.push(r.map_err(db)?.map_err(PipelineError::Store)?);
    }
    let mut by_ticket: HashMap<String, Vec<Feedback>> = HashMap::new();
    for batch in out.chunks(FEEDBACK_BATCH) {
        let marks = vec!["?"; batch.len()].join(", ");
        let mut stmt = conn
            .prepare(&format!(
                "SELECT ticket_id, verdict, final_text, resolution_seconds, agent, comment, created_at
                 FROM feedback WHERE ticket_id IN ({marks}) ORDER BY id"
            ))
            .map_err(db)?;
        let ids = batch.iter().map(|t| t.id.as_str());
        let rows = stmt
            .query_map(rusqlite::params_from_iter(ids), |r| {
                let f = Feedback {
                    verdict: r.get(1)?,
                    final_text: r.get(2)?,
                    resolution_seconds: r.get(3)?,
                    agent: r.get(4)?,
                    comment: r.get(5)?,
                    created_at: r.get(6)?,
                };
                Ok((r.get::<_, String>(0)?, f))
            })
            .map_err(db)?;
        for r in rows {
            let (id, f) = r.map_err(db)?;
            by_ticket.entry(id).or_default().push(f);
        }
    }
    for t in &mut out {
        t.feedback = by_ticket.remove(&t.id).unwrap_or_default();
    }
    Ok(out)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RowResult> {
    let citations: String = r.get(15)?;
    let trace: String = r.get(18)?;
    let id: String = r.get(0)?;
    let citations = match serde_json::from_str(&citations) {
        Ok(c) => c,
        Err(e) => return Ok(Err(format!("ticket {id}: damaged citations: {e}"))),
    };
    Ok(Ok(Ticket {
        id,
        tenant: r.get(1)?,
        created_at: r.get(2)?,
        updated_at: r.get(3)?,
        subject: r.get(4)?,
        body: r.get(5)?,
        customer_id: r.get(6)?,
        channel: r.get(7)?,
        status: r.get(8)?,
        reason: r.get(9)?,
        language: r.get(10)?,
        intent: r.get(11)?,
        priority: r.get(12)?,
        confidence: r.get(13)?,
        draft: r.get(14)?,
        citations,
        pipeline: r.get(16)?,
        pipeline_version: r.get(17)?,
        trace: serde_json::from_str(&trace).unwrap_or(Value::Null),
        feedback: Vec::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket_conformance::ticket;

    #[test]
    fn tickets_persist_when_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let a = ticket("acme", 100, "drafted");
        {
            let s = TicketStore::open(dir.path()).unwrap();
            s.insert(&a, Some("subject-9")).unwrap();
        }
        let s = TicketStore::open(dir.path()).unwrap();
        assert_eq!(s.get("acme", &a.id).unwrap(), a);
        assert_eq!(s.by_customer(None, "subject-9").unwrap().len(), 1);
    }

    #[tokio::test]
    async fn sqlite_tickets_conform() {
        let dirs = Mutex::new(Vec::new());
        let failures = crate::ticket_conformance::run_all(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteTickets::open(dir.path()).unwrap();
            dirs.lock().unwrap().push(dir);
            async move { store }
        })
        .await;
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
