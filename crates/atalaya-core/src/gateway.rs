//! The gateway service: what a request does once it has been parsed and authenticated.
//! HTTP handlers and the CLI call these functions; neither contains routing logic.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use tokio::time::{Duration, Instant};

use crate::{
    config::GatewaySections,
    context::CallContext,
    domain::{
        ChatCompletion, ChatRequest, EmbeddingRequest, Embeddings, RerankRequest, Reranked,
        StreamChunk,
    },
    metrics::Metrics,
    provider::{Call, ChatStream, Provider, UpstreamFailure},
    routing::{Attempt, CircuitBreaker, CircuitState, Route, Routed, Router, Target},
    Error,
};

/// A stream as the client receives it: chunks, possibly ended by one error.
pub type GatewayStream = Pin<Box<dyn Stream<Item = Result<StreamChunk, Error>> + Send>>;

/// A model as listed by `/v1/models`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub id: String,
    pub created: u64,
    pub owned_by: String,
    /// What the route's first target says about itself (local models: architecture,
    /// parameters, quantization, context, template).
    pub details: Option<serde_json::Value>,
}

/// Health of one target, for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    pub model: String,
    pub target: String,
    pub state: CircuitState,
    /// The upstream's last active health check: `None` if not probed (or not yet).
    pub upstream_up: Option<bool>,
}

/// Active health checking of one upstream.
struct Probe {
    provider: Arc<dyn Provider>,
    interval: Duration,
    timeout: Duration,
    /// 0 not probed yet, 1 up, 2 down.
    state: AtomicU8,
}

pub struct Gateway {
    router: Router,
    metrics: Arc<Metrics>,
    started_unix: u64,
    probes: HashMap<String, Probe>,
}

impl Gateway {
    pub fn new(
        config: GatewaySections<'_>,
        providers: &HashMap<String, Arc<dyn Provider>>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, Error> {
        let probes = config
            .upstreams
            .iter()
            .filter(|(_, u)| u.health_check_interval_ms > 0)
            .filter_map(|(name, u)| {
                providers.get(name).map(|p| {
                    (
                        name.clone(),
                        Probe {
                            provider: p.clone(),
                            interval: Duration::from_millis(u.health_check_interval_ms),
                            // A probe is a small GET: the upstream's timeout, 5 s at most.
                            timeout: Duration::from_millis(u.timeout_ms.min(5_000)),
                            state: AtomicU8::new(0),
                        },
                    )
                })
            })
            .collect();
        Ok(Gateway {
            router: Router::build(config, providers, &metrics)?,
            probes,
            metrics,
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        })
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub async fn chat(
        &self,
        ctx: &CallContext,
        req: &ChatRequest,
    ) -> Result<Routed<ChatCompletion>, Error> {
        let route = self.router.route(&req.model)?;
        route
            .execute(req, &ctx.request_id, ctx.received_at, &self.metrics)
            .await
    }

    /// Opens a stream. Retries and fallback happen until the first chunk arrives; after that
    /// a failure ends the stream with an error item (never a silent truncation).
    pub async fn chat_stream(
        &self,
        ctx: &CallContext,
        req: &ChatRequest,
    ) -> Result<Routed<GatewayStream>, Error> {
        let route = self.router.route(&req.model)?;
        let routed = route
            .execute(
                &StreamAttempt(req),
                &ctx.request_id,
                ctx.received_at,
                &self.metrics,
            )
            .await?;
        let deadline = ctx.received_at + route.timeout;
        let (first, rest) = routed.value;
        let stream = guard_stream(
            first,
            rest,
            deadline,
            routed.target.clone(),
            route.timeout,
            routed.breaker.clone(),
        );
        Ok(Routed {
            value: stream,
            target: routed.target,
            attempts: routed.attempts,
            upstream_time: routed.upstream_time,
            breaker: routed.breaker,
        })
    }

    pub async fn embed(
        &self,
        ctx: &CallContext,
        req: &EmbeddingRequest,
    ) -> Result<Routed<Embeddings>, Error> {
        let route = self.router.route(&req.model)?;
        route
            .execute(req, &ctx.request_id, ctx.received_at, &self.metrics)
            .await
    }

    /// Reranks documents through the route `req.model` (retries, fallback and breakers as for
    /// any request).
    pub async fn rerank(
        &self,
        ctx: &CallContext,
        req: &RerankRequest,
    ) -> Result<Routed<Reranked>, Error> {
        let route = self.router.route(&req.model)?;
        route
            .execute(req, &ctx.request_id, ctx.received_at, &self.metrics)
            .await
    }

    pub fn models(&self) -> Vec<ModelInfo> {
        let mut out: Vec<ModelInfo> = self
            .router
            .routes()
            .map(|r| ModelInfo {
                id: r.name.clone(),
                created: self.started_unix,
                owned_by: "atalaya".into(),
                details: r.targets.iter().find_map(|t| t.provider.describe()),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    fn upstream_up(&self, upstream: &str) -> Option<bool> {
        match self.probes.get(upstream)?.state.load(Ordering::Relaxed) {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }

    /// Ready when at least one target of some model can take a request: its circuit is not
    /// open and its upstream has not failed its last active health check.
    pub fn ready(&self) -> bool {
        self.router.routes().any(|r| {
            r.targets
                .iter()
                .any(|t| t.breaker.available() && self.upstream_up(&t.upstream) != Some(false))
        })
    }

    /// Upstreams with active health checks, and their intervals.
    pub fn health_checks(&self) -> Vec<(String, Duration)> {
        let mut v: Vec<_> = self
            .probes
            .iter()
            .map(|(name, p)| (name.clone(), p.interval))
            .collect();
        v.sort();
        v
    }

    /// Probes one upstream now and records the result.
    pub async fn probe(&self, upstream: &str) {
        let Some(probe) = self.probes.get(upstream) else {
            return;
        };
        let result = tokio::time::timeout(probe.timeout, probe.provider.health(probe.timeout))
            .await
            .unwrap_or_else(|_| Err(UpstreamFailure::Timeout("health check timed out".into())));
        let up = result.is_ok();
        let previous = probe.state.swap(if up { 1 } else { 2 }, Ordering::Relaxed);
        self.metrics.upstream_up(upstream, up);
        if previous != if up { 1 } else { 2 } {
            match result {
                Ok(()) => tracing::info!(upstream, "upstream health check passed"),
                Err(e) => tracing::warn!(upstream, error = %e, "upstream health check failed"),
            }
        }
    }

    pub fn health(&self) -> Vec<TargetHealth> {
        let mut out: Vec<TargetHealth> = self
            .router
            .routes()
            .flat_map(|r| {
                r.targets.iter().map(|t| TargetHealth {
                    model: r.name.clone(),
                    target: t.id.clone(),
                    state: t.breaker.state(),
                    upstream_up: self.upstream_up(&t.upstream),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.model, &a.target).cmp(&(&b.model, &b.target)));
        out
    }
}

/// A unary call is its request: the `Provider` method that serves it, retried and fallen back
/// by the router like any attempt.
macro_rules! unary_attempts {
    ($($request:ty => $output:ty, $method:ident;)*) => {$(
        #[async_trait]
        impl Attempt for $request {
            type Output = $output;
            async fn run(
                &self,
                provider: &dyn Provider,
                call: Call<'_>,
            ) -> Result<$output, UpstreamFailure> {
                provider.$method(call, self).await
            }
        }
    )*};
}

unary_attempts! {
    ChatRequest => ChatCompletion, infer;
    EmbeddingRequest => Embeddings, embed;
    RerankRequest => Reranked, rerank;
}

/// Opens the stream and waits for its first chunk: a stream counts as served (no more
/// retries) only once data has arrived.
struct StreamAttempt<'a>(&'a ChatRequest);

#[async_trait]
impl Attempt for StreamAttempt<'_> {
    type Output = (StreamChunk, ChatStream);

    async fn run(
        &self,
        provider: &dyn Provider,
        call: Call<'_>,
    ) -> Result<Self::Output, UpstreamFailure> {
        let mut stream = provider.infer_stream(call, self.0).await?;
        match stream.next().await {
            Some(Ok(first)) => Ok((first, stream)),
            Some(Err(e)) => Err(e),
            None => Err(UpstreamFailure::InvalidResponse(
                "the stream ended before any data".into(),
            )),
        }
    }

    fn attempt_timeout(&self, route: &Route, target: &Target, remaining: Duration) -> Duration {
        target
            .attempt_timeout
            .min(route.first_token_timeout)
            .min(remaining)
    }
}

/// The rest of a stream, under the request's total deadline. After an error item the
/// stream ends.
fn guard_stream(
    first: StreamChunk,
    rest: ChatStream,
    deadline: Instant,
    target: String,
    timeout: Duration,
    breaker: Arc<CircuitBreaker>,
) -> GatewayStream {
    struct S {
        first: Option<StreamChunk>,
        rest: ChatStream,
        done: bool,
        target: String,
        breaker: Arc<CircuitBreaker>,
    }
    let state = S {
        first: Some(first),
        rest,
        done: false,
        target,
        breaker,
    };
    Box::pin(futures::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        if let Some(f) = st.first.take() {
            return Some((Ok(f), st));
        }
        match tokio::time::timeout_at(deadline, st.rest.next()).await {
            Ok(None) => None,
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), st)),
            Ok(Some(Err(failure))) => {
                st.done = true;
                // The target broke a stream it had started: that counts against its health.
                st.breaker.report_failure();
                let err = Error::Upstream {
                    target: st.target.clone(),
                    detail: failure.to_string(),
                };
                Some((Err(err), st))
            }
            Err(_) => {
                st.done = true;
                let err = Error::UpstreamTimeout {
                    target: st.target.clone(),
                    detail: format!(
                        "the stream did not finish within the deadline of {} ms",
                        timeout.as_millis()
                    ),
                };
                Some((Err(err), st))
            }
        }
    }))
}
