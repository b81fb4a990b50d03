//! Looking at texts without a model call: the guard's scans (`/v1/guard/*`) and the tenants'
//! classifiers (`/v1/classify`). Detection and embedding are CPU work: large inputs run off
//! the async threads.

use atalaya_api::guard as gwire;
use atalaya_classify::Prediction;
use atalaya_core::Error;

use crate::context::RequestContext;
use crate::Services;

/// Scan results: one for a single text, a list for a batch.
pub enum Scanned {
    One(gwire::ScanResult),
    Batch(Vec<gwire::ScanResult>),
}

/// PII spans and injection scores of one text or a batch (with `redact`, the redacted text
/// too), under `policy`, else the tenant's own policy (unless "off"), else the default.
pub async fn scan(
    svc: &Services,
    ctx: &RequestContext,
    policy: Option<&str>,
    request: gwire::ScanRequest,
    redact: bool,
) -> Result<Scanned, Error> {
    let tenant_policy = svc
        .tenancy
        .admission()
        .guard_policy(&ctx.principal.tenant)
        .filter(|p| p != "off");
    let policy = svc
        .guard
        .named_policy(policy.or(tenant_policy.as_deref()))?;
    let (items, batch) = match request {
        gwire::ScanRequest::Batch { input } => (input, true),
        gwire::ScanRequest::One(item) => (vec![item], false),
    };
    let guard = svc.guard.clone();
    let results = if items.iter().map(|i| i.text.len()).sum::<usize>() > 64 * 1024 {
        tokio::task::spawn_blocking(move || guard.scan(&policy.policy, items, redact))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??
    } else {
        guard.scan(&policy.policy, items, redact)?
    };
    if batch {
        return Ok(Scanned::Batch(results));
    }
    results
        .into_iter()
        .next()
        .map(Scanned::One)
        .ok_or_else(|| Error::Internal("scan returned no result".into()))
}

/// The caller's tenant's classifier `name` on `texts`.
pub async fn classify(
    svc: &Services,
    ctx: &RequestContext,
    name: String,
    texts: Vec<String>,
) -> Result<Vec<Prediction>, Error> {
    svc.classify
        .classify(&ctx.principal.tenant, &name, texts)
        .await
}
