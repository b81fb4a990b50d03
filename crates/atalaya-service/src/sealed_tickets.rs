//! Tickets of a data subject sealed under the subject's own key (crypto-shredding; see
//! `atalaya_tenancy::crypto`). [`SealedTickets`] wraps any [`TicketRecords`] backend, so the
//! embedded and the Postgres stores keep the same promise without knowing about it.
//!
//! A ticket whose data subject is known (`x-atalaya-subject`, else its `customer_id`) is
//! stored with:
//! - `subject`, `body`, `draft` and feedback's `final_text` and `comment` sealed, each as
//!   `atalaya-sealed:v1:<subject key id>:<base64 nonce || ciphertext>`, bound to the ticket
//!   (tenant and id);
//! - `trace` sealed as one such string, holding the trace and the `customer_id`;
//! - `customer_id` and the subject tag replaced by the subject's pseudonym (`sh:` and its
//!   keyed hash), so the store holds no subject id in clear.
//!
//! Status, channel, language, intent, priority, confidence, reason and citations stay in
//! clear: they are what queues and reports are built from, and hold no customer text.
//! Erasure destroys the subject key (in the platform store) and deletes the rows; a copy of
//! a row that survives (a backup) keeps only ciphertext under a key that no longer exists,
//! and reads back as that ciphertext. A field that does not open (the text a customer typed
//! that merely looks sealed, or a destroyed key) is returned as stored.

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use atalaya_pipeline::{
    tickets::{Feedback, Ticket, TicketRecords},
    PipelineError,
};
use atalaya_tenancy::{crypto::SubjectCipher, Tenancy};
use base64::Engine;
use serde_json::Value;

const SEALED: &str = "atalaya-sealed:v1:";

/// A ticket store whose data subjects' tickets are sealed (see the module docs). Without
/// `encryption.master_key`, tickets pass through unchanged.
pub struct SealedTickets {
    inner: Arc<dyn TicketRecords>,
    tenancy: Arc<Tenancy>,
}

impl SealedTickets {
    pub fn new(inner: Arc<dyn TicketRecords>, tenancy: Arc<Tenancy>) -> Self {
        SealedTickets { inner, tenancy }
    }
}

fn crypto(e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Internal(format!("sealing a ticket: {e}"))
}

/// Finding or creating a subject key failed (the platform store).
fn keys(e: atalaya_tenancy::Error) -> PipelineError {
    PipelineError::Store(format!("subject keys: {e}"))
}

fn aad(tenant: &str, id: &str) -> Vec<u8> {
    let mut a = b"atalaya-ticket-v1\0".to_vec();
    a.extend_from_slice(tenant.as_bytes());
    a.push(0);
    a.extend_from_slice(id.as_bytes());
    a
}

fn seal_text(k: &SubjectCipher, text: &str, aad: &[u8]) -> Result<String, PipelineError> {
    let (mut nonce, ct) = k.seal(text.as_bytes(), aad).map_err(crypto)?;
    nonce.extend_from_slice(&ct);
    Ok(format!(
        "{SEALED}{}:{}",
        k.id,
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(nonce)
    ))
}

/// The subject key id a sealed text names.
fn key_of(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(SEALED)?;
    let (id, _) = rest.split_once(':')?;
    Some(id)
}

/// The text in clear, or `text` as stored when it is not sealed or does not open.
fn open_text(keys: &HashMap<String, SubjectCipher>, text: String, aad: &[u8]) -> String {
    let opened = (|| {
        let rest = text.strip_prefix(SEALED)?;
        let (id, b64) = rest.split_once(':')?;
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64)
            .ok()?;
        if raw.len() < 12 {
            return None;
        }
        let plain = keys.get(id)?.open(&raw[..12], &raw[12..], aad).ok()?;
        String::from_utf8(plain).ok()
    })();
    opened.unwrap_or(text)
}

/// The ticket's data subject: the tag, else its customer.
fn data_subject_of(t: &Ticket, tag: &Option<String>) -> Option<String> {
    tag.clone()
        .or_else(|| t.customer_id.clone())
        .filter(|s| !s.is_empty())
}

/// Seals a new ticket of a data subject; returns it with the subject tag to store.
pub async fn seal(
    tenancy: &Tenancy,
    mut t: Ticket,
    tag: Option<String>,
) -> Result<(Ticket, Option<String>), PipelineError> {
    let Some(subject) = data_subject_of(&t, &tag) else {
        return Ok((t, tag));
    };
    let Some(key) = tenancy
        .subject_key(&t.tenant, &subject)
        .await
        .map_err(keys)?
    else {
        return Ok((t, tag));
    };
    let aad = aad(&t.tenant, &t.id);
    t.body = seal_text(&key, &t.body, &aad)?;
    t.subject = t.subject.map(|s| seal_text(&key, &s, &aad)).transpose()?;
    t.draft = t.draft.map(|s| seal_text(&key, &s, &aad)).transpose()?;
    let hidden = serde_json::json!({"trace": t.trace, "customer_id": t.customer_id});
    t.trace = Value::String(seal_text(&key, &hidden.to_string(), &aad)?);
    t.customer_id = t
        .customer_id
        .map(|c| tenancy.subject_pseudonym(&c).unwrap_or(c));
    for f in &mut t.feedback {
        seal_feedback(&key, f, &aad)?;
    }
    let tag = tag.map(|s| tenancy.subject_pseudonym(&s).unwrap_or(s));
    Ok((t, tag))
}

fn seal_feedback(key: &SubjectCipher, f: &mut Feedback, aad: &[u8]) -> Result<(), PipelineError> {
    f.final_text = f
        .final_text
        .take()
        .map(|s| seal_text(key, &s, aad))
        .transpose()?;
    f.comment = f
        .comment
        .take()
        .map(|s| seal_text(key, &s, aad))
        .transpose()?;
    Ok(())
}

/// Opens stored tickets (those not sealed are returned as they are).
pub async fn open(tenancy: &Tenancy, tickets: Vec<Ticket>) -> Result<Vec<Ticket>, PipelineError> {
    let mut ids: Vec<String> = Vec::new();
    for t in &tickets {
        ids.extend(key_of(&t.body).map(str::to_owned));
        for f in &t.feedback {
            for s in [&f.final_text, &f.comment].into_iter().flatten() {
                ids.extend(key_of(s).map(str::to_owned));
            }
        }
    }
    if ids.is_empty() {
        return Ok(tickets);
    }
    let keys = tenancy.subject_keys(ids).await.map_err(self::keys)?;
    Ok(tickets
        .into_iter()
        .map(|mut t| {
            let aad = aad(&t.tenant, &t.id);
            let sealed_trace = t.trace.as_str().is_some_and(|s| key_of(s).is_some());
            t.body = open_text(&keys, std::mem::take(&mut t.body), &aad);
            t.subject = t.subject.map(|s| open_text(&keys, s, &aad));
            t.draft = t.draft.map(|s| open_text(&keys, s, &aad));
            if sealed_trace {
                if let Value::String(s) = std::mem::take(&mut t.trace) {
                    let text = open_text(&keys, s, &aad);
                    match serde_json::from_str::<Value>(&text) {
                        Ok(Value::Object(mut hidden)) if key_of(&text).is_none() => {
                            t.trace = hidden.remove("trace").unwrap_or(Value::Null);
                            t.customer_id = hidden
                                .remove("customer_id")
                                .and_then(|c| c.as_str().map(str::to_owned));
                        }
                        _ => t.trace = Value::String(text),
                    }
                }
            }
            for f in &mut t.feedback {
                f.final_text = f.final_text.take().map(|s| open_text(&keys, s, &aad));
                f.comment = f.comment.take().map(|s| open_text(&keys, s, &aad));
            }
            t
        })
        .collect())
}

/// Every ticket of a subject (filed under its id in clear, before sealing, or under its
/// pseudonym), opened, oldest first.
pub async fn by_subject(
    tenancy: &Tenancy,
    store: &dyn TicketRecords,
    tenant: Option<&str>,
    subject: &str,
) -> Result<Vec<Ticket>, PipelineError> {
    let mut all = store.by_subject(tenant, subject).await?;
    if let Some(p) = tenancy.subject_pseudonym(subject) {
        all.extend(store.by_subject(tenant, &p).await?);
    }
    all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    all.dedup_by(|a, b| a.id == b.id);
    open(tenancy, all).await
}

/// Deletes a subject's tickets and their feedback, filed either way; returns (tickets,
/// feedback entries). The subject's key is destroyed by the platform store's erasure.
pub async fn erase_subject(
    tenancy: &Tenancy,
    store: &dyn TicketRecords,
    tenant: Option<&str>,
    subject: &str,
) -> Result<(u64, u64), PipelineError> {
    let (mut tickets, mut feedback) = store.erase_subject(tenant, subject).await?;
    if let Some(p) = tenancy.subject_pseudonym(subject) {
        let (t, f) = store.erase_subject(tenant, &p).await?;
        tickets += t;
        feedback += f;
    }
    Ok((tickets, feedback))
}

fn one(mut v: Vec<Ticket>) -> Result<Ticket, PipelineError> {
    v.pop()
        .ok_or_else(|| PipelineError::Internal("a ticket went missing while opening it".into()))
}

#[async_trait]
impl TicketRecords for SealedTickets {
    async fn insert(&self, t: Ticket, data_subject: Option<String>) -> Result<(), PipelineError> {
        let (t, tag) = seal(&self.tenancy, t, data_subject).await?;
        self.inner.insert(t, tag).await
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Ticket, PipelineError> {
        one(open(&self.tenancy, vec![self.inner.get(tenant, id).await?]).await?)
    }

    async fn list(
        &self,
        tenant: &str,
        status: Option<&str>,
        limit: usize,
        before: Option<&str>,
    ) -> Result<Vec<Ticket>, PipelineError> {
        let page = self.inner.list(tenant, status, limit, before).await?;
        open(&self.tenancy, page).await
    }

    async fn add_feedback(
        &self,
        tenant: &str,
        id: &str,
        mut f: Feedback,
    ) -> Result<Ticket, PipelineError> {
        let stored = self.inner.get(tenant, id).await?;
        if let Some(key_id) = key_of(&stored.body) {
            let keys = self
                .tenancy
                .subject_keys(vec![key_id.to_owned()])
                .await
                .map_err(self::keys)?;
            let key = keys.get(key_id).ok_or_else(|| {
                PipelineError::NotFound(format!("ticket '{id}' (its data subject was erased)"))
            })?;
            seal_feedback(key, &mut f, &aad(tenant, id))?;
        }
        let t = self.inner.add_feedback(tenant, id, f).await?;
        one(open(&self.tenancy, vec![t]).await?)
    }

    async fn by_subject(
        &self,
        tenant: Option<&str>,
        subject: &str,
    ) -> Result<Vec<Ticket>, PipelineError> {
        by_subject(&self.tenancy, self.inner.as_ref(), tenant, subject).await
    }

    async fn erase_subject(
        &self,
        tenant: Option<&str>,
        subject: &str,
    ) -> Result<(u64, u64), PipelineError> {
        erase_subject(&self.tenancy, self.inner.as_ref(), tenant, subject).await
    }

    async fn delete_tenant(&self, tenant: &str) -> Result<u64, PipelineError> {
        self.inner.delete_tenant(tenant).await
    }
}
