//! Audit events as the tenancy service writes them (a leaf module: the service, the
//! administration and the upkeep loop all build them here).

use atalaya_store::AuditEvent;

use crate::clock::now_millis;

pub(crate) fn system_event(action: &str, tenant: Option<&str>, target: Option<&str>) -> AuditEvent {
    event("system", action, tenant, target)
}

/// A successful action of `actor`, with no details yet.
pub(crate) fn event(
    actor: &str,
    action: &str,
    tenant: Option<&str>,
    target: Option<&str>,
) -> AuditEvent {
    AuditEvent {
        ts: now_millis(),
        actor: actor.into(),
        action: action.into(),
        tenant_id: tenant.map(str::to_owned),
        target: target.map(str::to_owned),
        outcome: "success".into(),
        source_ip: None,
        details: serde_json::json!({}),
    }
}
