//! The per-request context every service function receives. Later releases add the tenant,
//! role and limits here; isolation is enforced by reading them from this one place.

/// Who is calling, as established by authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Non-secret identifier of the key (first 8 hex digits of its SHA-256), for logs.
    pub key_id: String,
    /// The tenant the key belongs to (tenancy arrives with the store; `None` until then).
    pub tenant: Option<String>,
}

impl Principal {
    /// The principal of requests served with authentication disabled.
    pub fn anonymous() -> Self {
        Principal {
            key_id: "anonymous".into(),
            tenant: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub principal: Principal,
    /// When the request arrived: deadlines count from here.
    pub received_at: tokio::time::Instant,
}
