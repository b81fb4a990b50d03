//! The per-request context every service function receives. The principal (tenant, role,
//! key) comes from `atalaya-tenancy`, whose `Principal::authorize` is the one place where
//! tenant isolation and roles are decided.

pub use atalaya_tenancy::Principal;

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub principal: Principal,
    /// When the request arrived: deadlines count from here.
    pub received_at: tokio::time::Instant,
}
