//! A tenant's and a data subject's data across every store: the platform store (through
//! [`Tenancy`]), the knowledge base, tickets and classifiers. Deleting a tenant, erasing or
//! exporting a subject are orchestrated here once, for the admin API and the CLI.

use std::sync::Arc;

use atalaya_core::Error;
use atalaya_knowledge::{
    local::LocalKnowledge, parse::Parser, records::KnowledgeRecords, service::KnowledgeBase,
};
use atalaya_pipeline::{sqlite_tickets::SqliteTickets, tickets::TicketRecords};
use atalaya_tenancy::{Principal, Tenancy};
use serde_json::{json, Value};

use crate::{sealed_tickets, storage::Storage, wire::ticket_wire, Services};

/// Where the stores that hold tenant data outside the platform store are found. Each is
/// opened only when an operation needs it, after the tenancy service has authorized the
/// request (an unauthorized request opens or creates nothing).
pub enum DataStores<'a> {
    /// The stores of a running process.
    Process(&'a Services),
    /// The configured stores outside a running process (the CLI, with the servers perhaps
    /// stopped): the shared ones, or those found in the data directory (a store that does
    /// not exist holds nothing).
    Offline(Storage),
}

impl DataStores<'_> {
    /// The configured stores.
    pub fn open(storage: Storage) -> DataStores<'static> {
        DataStores::Offline(storage)
    }

    fn knowledge(&self) -> Result<Option<Arc<dyn KnowledgeRecords>>, Error> {
        match self {
            DataStores::Process(svc) => match &svc.knowledge {
                Some(k) => Ok(k.records()?),
                None => Ok(None),
            },
            DataStores::Offline(storage) => {
                if let Some(shared) = storage.knowledge(Parser::InProcess) {
                    return Ok(Some(Arc::new(shared)));
                }
                let dir = storage.data_dir();
                if !dir.join("knowledge").join("knowledge.db").exists() {
                    return Ok(None);
                }
                let kb = Arc::new(KnowledgeBase::open(dir)?);
                Ok(Some(Arc::new(LocalKnowledge::new(kb))))
            }
        }
    }

    fn tickets(&self) -> Result<Option<Arc<dyn TicketRecords>>, Error> {
        match self {
            DataStores::Process(svc) => Ok(Some(svc.pipelines.ticket_records()?)),
            DataStores::Offline(storage) => {
                if let Some(shared) = storage.tickets() {
                    return Ok(Some(shared));
                }
                let dir = storage.data_dir();
                if !dir.join("tickets.db").exists() {
                    return Ok(None);
                }
                let s: Arc<dyn TicketRecords> = Arc::new(SqliteTickets::open(dir)?);
                Ok(Some(s))
            }
        }
    }

    /// Deletes a tenant's classifiers (and, in a running process, their cache).
    async fn delete_classifiers(&self, tenant: &str) -> Result<bool, Error> {
        match self {
            DataStores::Process(svc) => svc.classify.delete_tenant(tenant).await,
            DataStores::Offline(storage) => storage
                .classifiers()
                .delete_tenant(tenant)
                .await
                .map_err(atalaya_core::Error::from),
        }
    }
}

/// Deletes tenant `id` (its keys and records, audited) and everything it left in the other
/// stores: knowledge collections (with their index files) and tasks, tickets, classifiers.
/// Returns what was purged.
pub async fn delete_tenant(
    tenancy: &Tenancy,
    stores: &DataStores<'_>,
    who: &Principal,
    id: &str,
) -> Result<Value, Error> {
    tenancy.admin().delete_tenant(who, id).await?;
    let collections = match stores.knowledge()? {
        Some(kb) => kb.delete_tenant(id).await?,
        None => 0,
    };
    let tickets = match stores.tickets()? {
        Some(store) => store.delete_tenant(id).await?,
        None => 0,
    };
    let classifiers = stores.delete_classifiers(id).await?;
    Ok(json!({
        "collections": collections,
        "tickets": tickets,
        "classifiers": classifiers,
    }))
}

/// The tenant a subject request covers once the tenancy service has authorized it: the
/// named one, the caller's own, or every tenant (`None`) for a platform admin who names none.
fn subject_scope(p: &Principal, tenant: Option<&str>) -> Option<String> {
    match tenant {
        Some(t) => Some(t.to_owned()),
        None if p.is_platform_admin() => None,
        None => Some(p.tenant.clone()),
    }
}

/// Everything stored about a data subject: the inference log (by its `user` /
/// `x-atalaya-subject` id) and the tickets whose `customer_id` it is.
pub async fn export_subject(
    tenancy: &Tenancy,
    stores: &DataStores<'_>,
    who: &Principal,
    subject: &str,
    tenant: Option<&str>,
) -> Result<Value, Error> {
    let mut v = tenancy.admin().export_subject(who, subject, tenant).await?;
    let tickets = match stores.tickets()? {
        Some(store) => {
            sealed_tickets::by_subject(
                tenancy,
                store.as_ref(),
                subject_scope(who, tenant).as_deref(),
                subject,
            )
            .await?
        }
        None => Vec::new(),
    };
    let tickets: Vec<_> = tickets.into_iter().map(|t| ticket_wire(t, true)).collect();
    v["tickets"] = serde_json::to_value(tickets).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(v)
}

/// Erases a data subject: destroys its keys (what was sealed under them, in any copy, can
/// no longer be read) and deletes its inference-log rows, its tickets and their feedback.
/// Returns what was deleted, by kind.
pub async fn erase_subject(
    tenancy: &Tenancy,
    stores: &DataStores<'_>,
    who: &Principal,
    subject: &str,
    tenant: Option<&str>,
) -> Result<Value, Error> {
    let n = tenancy.admin().erase_subject(who, subject, tenant).await?;
    let (tickets, feedback) = match stores.tickets()? {
        Some(store) => {
            sealed_tickets::erase_subject(
                tenancy,
                store.as_ref(),
                subject_scope(who, tenant).as_deref(),
                subject,
            )
            .await?
        }
        None => (0, 0),
    };
    Ok(json!({
        "inference_log": n, "tickets": tickets, "ticket_feedback": feedback,
        "feedback": 0, "documents": 0,
    }))
}
