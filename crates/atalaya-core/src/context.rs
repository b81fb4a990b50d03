//! What the gateway knows of a call: its request id (for logs) and when it arrived
//! (deadlines count from there). Who is calling is the service layer's business
//! (`atalaya_service::context::RequestContext` adds the principal).

#[derive(Debug, Clone)]
pub struct CallContext {
    pub request_id: String,
    /// When the request arrived: deadlines count from here.
    pub received_at: tokio::time::Instant,
}
