//! Serving connections: HTTP/1.1 on hyper, with the limits that keep slow or abusive clients
//! from holding the server, and graceful shutdown.
//!
//! - At most `max_connections` connections at once (authenticated or not); one over the bound
//!   is closed at once, so a flood of idle sockets cannot exhaust file descriptors or tasks.
//! - Request headers must arrive within `header_read_timeout_ms` (slowloris).
//! - A request body must keep arriving: no gap longer than `body_read_timeout_ms`, and after
//!   its first [`RATE_GRACE`], at least `min_body_bytes_per_sec` on average. Either failing
//!   ends the read with 408 `request_timeout`.
//! - On shutdown the listener stops accepting, idle keep-alive connections are closed, and
//!   in-flight requests (streams too) may finish until the grace deadline; then the remaining
//!   connections are dropped.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{body::Body, extract::ConnectInfo, Router};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::TcpListener,
    sync::Semaphore,
    time::{Instant, Sleep},
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

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

/// Limits on connections and on how fast clients must send.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    /// 0 = no minimum rate.
    pub min_body_bytes_per_sec: u64,
}

/// How long a body may take before the minimum rate applies (a client's first burst, TCP
/// slow start).
pub const RATE_GRACE: Duration = Duration::from_secs(5);

pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
    grace: Duration,
    limits: ConnLimits,
) -> Result<Shutdown, ServerError> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Connection tasks; the graceful-shutdown watcher is what waits for them.
    let tasks = tokio_util::task::TaskTracker::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut refused: u64 = 0;
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept: back off
                    // a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    refused,
                    max_connections = limits.max_connections,
                    "connection refused: server.max_connections reached"
                );
            }
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move {
                    let (mut parts, body) = req.into_parts();
                    // The peer address reaches handlers (audit entries of failed authentications).
                    parts.extensions.insert(ConnectInfo(peer));
                    let body = Body::new(TimedBody::new(body, limits));
                    app.oneshot(http::Request::from_parts(parts, body)).await
                }
            });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(tcp), service);
        let conn = graceful.watch(conn);
        tasks.spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tasks.close();
    tokio::select! {
        biased;
        () = graceful.shutdown() => Ok(Shutdown::Drained),
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "shutdown grace period over; dropping remaining connections");
            Ok(Shutdown::GraceExpired)
        }
    }
}

/// Why a request body stopped being read.
#[derive(Debug, thiserror::Error)]
pub enum BodyTimeout {
    #[error("the request body stalled: nothing arrived for {0} ms (server.body_read_timeout_ms)")]
    Stalled(u128),
    #[error(
        "the request body arrived at {rate} bytes/s, below server.min_body_bytes_per_sec ({min})"
    )]
    TooSlow { rate: u64, min: u64 },
}

/// A request body that fails when the client stops sending or sends too slowly.
struct TimedBody {
    inner: hyper::body::Incoming,
    idle: Duration,
    stall: Pin<Box<Sleep>>,
    started: Instant,
    bytes: u64,
    min_rate: u64,
}

impl TimedBody {
    fn new(inner: hyper::body::Incoming, limits: ConnLimits) -> Self {
        TimedBody {
            inner,
            idle: limits.body_read_timeout,
            stall: Box::pin(tokio::time::sleep(limits.body_read_timeout)),
            started: Instant::now(),
            bytes: 0,
            min_rate: limits.min_body_bytes_per_sec,
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
                let elapsed = this.started.elapsed();
                if this.min_rate > 0 && elapsed > RATE_GRACE {
                    let rate = (this.bytes as f64 / elapsed.as_secs_f64()) as u64;
                    if rate < this.min_rate {
                        return Poll::Ready(Some(Err(Box::new(BodyTimeout::TooSlow {
                            rate,
                            min: this.min_rate,
                        }))));
                    }
                }
                let next = Instant::now() + this.idle;
                this.stall.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.stall.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout::Stalled(
                    this.idle.as_millis(),
                ))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The timeout behind a body-read error, if that is what it was.
pub fn body_timeout<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyTimeout> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<BodyTimeout>() {
            return Some(t);
        }
        cur = err.source();
    }
    None
}
