//! Tickets in Postgres, shared by replicas: [`PgTickets`] implements [`TicketRecords`] as the
//! embedded backend does (the same checks, the same keyset paging), each call one
//! transaction. Citations and traces are JSONB.

use std::collections::HashMap;

use async_trait::async_trait;
use atalaya_postgres::{
    tokio_postgres::{self, types::Json, Row},
    Client, Migration, Pool, Schema,
};
use serde_json::Value;

use crate::{
    tickets::{check_feedback, check_status, feedback_outcome, Feedback, Ticket, TicketRecords},
    PipelineError,
};

/// The tickets schema.
pub static SCHEMA: Schema = Schema {
    component: "tickets",
    migrations: &[Migration {
        version: 1,
        name: "tickets, feedback and data subjects",
        sql: r#"
CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    subject TEXT,
    body TEXT NOT NULL,
    customer_id TEXT,
    channel TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    language TEXT,
    intent TEXT,
    priority TEXT,
    confidence DOUBLE PRECISION,
    draft TEXT,
    citations JSONB NOT NULL,
    pipeline TEXT NOT NULL,
    pipeline_version BIGINT NOT NULL,
    trace JSONB NOT NULL
);
CREATE INDEX tickets_by_tenant ON tickets (tenant, created_at DESC, id DESC);
CREATE INDEX tickets_by_customer ON tickets (customer_id, tenant);
CREATE TABLE ticket_feedback (
    id BIGSERIAL PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    verdict TEXT NOT NULL,
    final_text TEXT,
    resolution_seconds DOUBLE PRECISION,
    agent TEXT,
    comment TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX ticket_feedback_by_ticket ON ticket_feedback (ticket_id);
CREATE TABLE ticket_subjects (
    ticket_id TEXT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    PRIMARY KEY (ticket_id, subject)
);
CREATE INDEX ticket_subjects_by_subject ON ticket_subjects (subject);
"#,
    }],
};

fn db(e: tokio_postgres::Error) -> PipelineError {
    let text = atalaya_postgres::describe(&e);
    match e.code() {
        Some(c) if *c == tokio_postgres::error::SqlState::DISK_FULL => PipelineError::Full(text),
        _ => PipelineError::Store(text),
    }
}

/// Tickets of a data subject: its customer_id, or tagged with it (`$1` subject, `$2` tenant
/// or NULL).
const OF_SUBJECT: &str = "(customer_id = $1 OR id IN (SELECT ticket_id FROM ticket_subjects WHERE subject = $1)) AND ($2::TEXT IS NULL OR tenant = $2)";

const COLUMNS: &str = "id, tenant, created_at, updated_at, subject, body, customer_id, channel, status, reason, language, intent, priority, confidence, draft, citations, pipeline, pipeline_version, trace";

/// The ticket store on a Postgres pool. Cheap to clone.
#[derive(Clone)]
pub struct PgTickets {
    pool: Pool,
}

impl PgTickets {
    /// Uses `pool` (its tickets schema must be migrated: [`SCHEMA`]).
    pub fn new(pool: Pool) -> Self {
        PgTickets { pool }
    }

    /// Migrates the tickets schema, then uses `pool`.
    pub async fn open(pool: Pool) -> Result<Self, PipelineError> {
        atalaya_postgres::migrate(&pool, &[&SCHEMA])
            .await
            .map_err(|e| PipelineError::Store(e.to_string()))?;
        Ok(PgTickets { pool })
    }

    async fn client(&self) -> Result<Client, PipelineError> {
        self.pool
            .get()
            .await
            .map_err(|e| PipelineError::Store(atalaya_postgres::Error::from(e).to_string()))
    }
}

impl PgTickets {
    /// Writes tickets (with their feedback) and data-subject tags exported from another
    /// backend, as they are; a ticket already stored is left alone, so a copy can be run
    /// again. Returns the tickets written.
    pub async fn import(
        &self,
        tickets: &[Ticket],
        subjects: &[(String, String)],
    ) -> Result<u64, PipelineError> {
        let mut written = 0;
        for t in tickets {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(db)?;
            let n = insert_row(&tx, t).await?;
            if n == 1 {
                for f in &t.feedback {
                    tx.execute(
                        "INSERT INTO ticket_feedback (ticket_id, verdict, final_text, resolution_seconds, agent, comment, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[&t.id, &f.verdict, &f.final_text, &f.resolution_seconds, &f.agent, &f.comment, &f.created_at],
                    )
                    .await
                    .map_err(db)?;
                }
                written += 1;
            }
            tx.commit().await.map_err(db)?;
        }
        let c = self.client().await?;
        for (ticket, subject) in subjects {
            c.execute(
                "INSERT INTO ticket_subjects (ticket_id, subject) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[ticket, subject],
            )
            .await
            .map_err(db)?;
        }
        Ok(written)
    }

    /// How many tickets are stored (of every tenant).
    pub async fn count(&self) -> Result<u64, PipelineError> {
        let c = self.client().await?;
        let n: i64 = c
            .query_one("SELECT count(*) FROM tickets", &[])
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Inserts a ticket unless one with its id exists; returns the rows written (0 or 1).
async fn insert_row(
    tx: &tokio_postgres::Transaction<'_>,
    t: &Ticket,
) -> Result<u64, PipelineError> {
    let citations =
        serde_json::to_value(&t.citations).map_err(|e| PipelineError::Store(e.to_string()))?;
    tx.execute(
        &format!("INSERT INTO tickets ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ON CONFLICT (id) DO NOTHING"),
        &[
            &t.id,
            &t.tenant,
            &t.created_at,
            &t.updated_at,
            &t.subject,
            &t.body,
            &t.customer_id,
            &t.channel,
            &t.status,
            &t.reason,
            &t.language,
            &t.intent,
            &t.priority,
            &t.confidence,
            &t.draft,
            &Json(citations),
            &t.pipeline,
            &i64::from(t.pipeline_version),
            &Json(&t.trace),
        ],
    )
    .await
    .map_err(db)
}

fn row(r: &Row) -> Result<Ticket, PipelineError> {
    let citations: Json<Value> = r.try_get(15).map_err(db)?;
    let id: String = r.try_get(0).map_err(db)?;
    let citations = serde_json::from_value(citations.0)
        .map_err(|e| PipelineError::Store(format!("ticket {id}: damaged citations: {e}")))?;
    Ok(Ticket {
        id,
        tenant: r.try_get(1).map_err(db)?,
        created_at: r.try_get(2).map_err(db)?,
        updated_at: r.try_get(3).map_err(db)?,
        subject: r.try_get(4).map_err(db)?,
        body: r.try_get(5).map_err(db)?,
        customer_id: r.try_get(6).map_err(db)?,
        channel: r.try_get(7).map_err(db)?,
        status: r.try_get(8).map_err(db)?,
        reason: r.try_get(9).map_err(db)?,
        language: r.try_get(10).map_err(db)?,
        intent: r.try_get(11).map_err(db)?,
        priority: r.try_get(12).map_err(db)?,
        confidence: r.try_get(13).map_err(db)?,
        draft: r.try_get(14).map_err(db)?,
        citations,
        pipeline: r.try_get(16).map_err(db)?,
        pipeline_version: u32::try_from(r.try_get::<_, i64>(17).map_err(db)?).unwrap_or(0),
        trace: r.try_get::<_, Json<Value>>(18).map_err(db)?.0,
        feedback: Vec::new(),
    })
}

/// The tickets of `rows`, each with its feedback (one query).
async fn with_feedback(c: &Client, rows: Vec<Row>) -> Result<Vec<Ticket>, PipelineError> {
    let mut out: Vec<Ticket> = rows.iter().map(row).collect::<Result<_, _>>()?;
    if out.is_empty() {
        return Ok(out);
    }
    let ids: Vec<&str> = out.iter().map(|t| t.id.as_str()).collect();
    let fb = c
        .query(
            "SELECT ticket_id, verdict, final_text, resolution_seconds, agent, comment, created_at
             FROM ticket_feedback WHERE ticket_id = ANY($1) ORDER BY id",
            &[&ids],
        )
        .await
        .map_err(db)?;
    let mut by_ticket: HashMap<String, Vec<Feedback>> = HashMap::new();
    for r in &fb {
        let f = Feedback {
            verdict: r.try_get(1).map_err(db)?,
            final_text: r.try_get(2).map_err(db)?,
            resolution_seconds: r.try_get(3).map_err(db)?,
            agent: r.try_get(4).map_err(db)?,
            comment: r.try_get(5).map_err(db)?,
            created_at: r.try_get(6).map_err(db)?,
        };
        by_ticket
            .entry(r.try_get(0).map_err(db)?)
            .or_default()
            .push(f);
    }
    for t in &mut out {
        t.feedback = by_ticket.remove(&t.id).unwrap_or_default();
    }
    Ok(out)
}

#[async_trait]
impl TicketRecords for PgTickets {
    async fn insert(&self, t: Ticket, data_subject: Option<String>) -> Result<(), PipelineError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        if insert_row(&tx, &t).await? == 0 {
            return Err(PipelineError::Store(format!(
                "ticket '{}' already exists",
                t.id
            )));
        }
        if let Some(subject) = data_subject.filter(|s| t.customer_id.as_deref() != Some(s)) {
            tx.execute(
                "INSERT INTO ticket_subjects (ticket_id, subject) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&t.id, &subject],
            )
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Ticket, PipelineError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!("SELECT {COLUMNS} FROM tickets WHERE id = $1 AND tenant = $2"),
                &[&id, &tenant],
            )
            .await
            .map_err(db)?;
        with_feedback(&c, rows)
            .await?
            .pop()
            .ok_or_else(|| PipelineError::NotFound(id.to_owned()))
    }

    async fn list(
        &self,
        tenant: &str,
        status: Option<&str>,
        limit: usize,
        before: Option<&str>,
    ) -> Result<Vec<Ticket>, PipelineError> {
        check_status(status)?;
        let c = self.client().await?;
        let cursor: Option<(i64, String)> = match before {
            None => None,
            Some(b) => {
                let r = c
                    .query_opt(
                        "SELECT created_at, id FROM tickets WHERE id = $1 AND tenant = $2",
                        &[&b, &tenant],
                    )
                    .await
                    .map_err(db)?
                    .ok_or_else(|| {
                        PipelineError::invalid(format!("'before': no ticket '{b}'"), Some("before"))
                    })?;
                Some((r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?))
            }
        };
        let (c_at, c_id) = cursor.unwrap_or((i64::MAX, String::new()));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Without `before`, a cursor past every ticket.
        let rows = c
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM tickets WHERE tenant = $1 AND ($2::TEXT IS NULL OR status = $2)
                     AND (created_at < $3 OR (created_at = $3 AND id < $4))
                     ORDER BY created_at DESC, id DESC LIMIT $5"
                ),
                &[&tenant, &status, &c_at, &c_id, &limit],
            )
            .await
            .map_err(db)?;
        with_feedback(&c, rows).await
    }

    async fn add_feedback(
        &self,
        tenant: &str,
        id: &str,
        f: Feedback,
    ) -> Result<Ticket, PipelineError> {
        check_feedback(&f)?;
        {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(db)?;
            let row = tx
                .query_opt(
                    "SELECT draft FROM tickets WHERE id = $1 AND tenant = $2 FOR UPDATE",
                    &[&id, &tenant],
                )
                .await
                .map_err(db)?
                .ok_or_else(|| PipelineError::NotFound(id.to_owned()))?;
            let draft: Option<String> = row.try_get(0).map_err(db)?;
            let (final_text, status) = feedback_outcome(&f, draft);
            tx.execute(
                "INSERT INTO ticket_feedback (ticket_id, verdict, final_text, resolution_seconds, agent, comment, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&id, &f.verdict, &final_text, &f.resolution_seconds, &f.agent, &f.comment, &f.created_at],
            )
            .await
            .map_err(db)?;
            tx.execute(
                "UPDATE tickets SET status = $1, updated_at = $2 WHERE id = $3",
                &[&status, &f.created_at, &id],
            )
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
        }
        self.get(tenant, id).await
    }

    async fn by_subject(
        &self,
        tenant: Option<&str>,
        subject: &str,
    ) -> Result<Vec<Ticket>, PipelineError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM tickets WHERE {OF_SUBJECT} ORDER BY created_at, id"
                ),
                &[&subject, &tenant],
            )
            .await
            .map_err(db)?;
        with_feedback(&c, rows).await
    }

    async fn erase_subject(
        &self,
        tenant: Option<&str>,
        subject: &str,
    ) -> Result<(u64, u64), PipelineError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        let feedback = tx
            .execute(
                &format!("DELETE FROM ticket_feedback WHERE ticket_id IN (SELECT id FROM tickets WHERE {OF_SUBJECT})"),
                &[&subject, &tenant],
            )
            .await
            .map_err(db)?;
        let tickets = tx
            .execute(
                &format!("DELETE FROM tickets WHERE {OF_SUBJECT}"),
                &[&subject, &tenant],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok((tickets, feedback))
    }

    async fn delete_tenant(&self, tenant: &str) -> Result<u64, PipelineError> {
        let c = self.client().await?;
        c.execute("DELETE FROM tickets WHERE tenant = $1", &[&tenant])
            .await
            .map_err(db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_tickets_conform() {
        let cluster = atalaya_postgres::testing::Cluster::start().expect("test Postgres");
        let failures = crate::ticket_conformance::run_all(|| async {
            PgTickets::open(cluster.pool().await.unwrap())
                .await
                .unwrap()
        })
        .await;
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
