//! Serving with graceful shutdown: when the token is cancelled the listener stops accepting,
//! idle keep-alive connections are closed, and in-flight requests (streams too) may finish
//! until the grace deadline; then the remaining connections are dropped.

use std::{future::IntoFuture, time::Duration};

use axum::{serve::ListenerExt, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// What happened at shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Every in-flight request finished within the grace period.
    Drained,
    /// The grace period ran out; remaining connections were dropped.
    GraceExpired,
}

pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    grace: Duration,
) -> Result<Shutdown, ServerError> {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let token = shutdown.clone();
    // The peer address reaches handlers (audit entries of failed authentications).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server =
        axum::serve(listener, app).with_graceful_shutdown(async move { token.cancelled().await });
    let server = server.into_future();
    tokio::pin!(server);
    tokio::select! {
        biased;
        result = &mut server => {
            result?;
            Ok(Shutdown::Drained)
        }
        () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "shutdown grace period over; dropping remaining connections");
            Ok(Shutdown::GraceExpired)
        }
    }
}
