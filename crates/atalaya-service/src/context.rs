//! The per-request context every service function receives: the call as the gateway sees it
//! (request id, arrival time) and the principal (tenant, role, key) from `atalaya-tenancy`,
//! whose `Principal::authorize` is the one place where tenant isolation and roles are
//! decided. It dereferences to the [`CallContext`], so that it can be handed to the gateway
//! as is.

use std::ops::Deref;

use atalaya_core::context::CallContext;

pub use atalaya_tenancy::Principal;

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub call: CallContext,
    pub principal: Principal,
}

impl RequestContext {
    pub fn new(
        request_id: String,
        principal: Principal,
        received_at: tokio::time::Instant,
    ) -> Self {
        RequestContext {
            call: CallContext {
                request_id,
                received_at,
            },
            principal,
        }
    }
}

impl Deref for RequestContext {
    type Target = CallContext;

    fn deref(&self) -> &CallContext {
        &self.call
    }
}
