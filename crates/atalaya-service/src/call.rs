//! One API call's record: what the services learn while serving it (model, target, usage,
//! the guard's summary, the admission lease), read by the transport for its log line and
//! metrics and settled when the response ends. Admission and the inference-log capture write
//! to it; nothing here knows HTTP.

use crate::context::RequestContext;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use atalaya_api::{ErrorCode, Usage};
use atalaya_core::{gateway::GatewayStream, routing::Routed, Error};
use atalaya_tenancy::{Capture, Estimate, Principal, Tenancy};
use bytes::Bytes;
use futures::StreamExt;

/// What the services learn about a call, for its log line, metrics and settlement.
#[derive(Debug, Default)]
pub struct FactData {
    /// The model the client asked for (logged; a metric label only if it is configured).
    pub model: Option<String>,
    pub target: Option<String>,
    pub attempts: u32,
    pub usage: Option<Usage>,
    pub upstream_time: Option<Duration>,
    pub stream: bool,
    pub time_to_first_chunk: Option<Duration>,
    /// A stream that failed after it started (the response status is 200 then): its code
    /// and what happened, for the log line.
    pub stream_error: Option<(ErrorCode, String)>,
    pub key_id: Option<String>,
    /// The guard's summary (`policy=...; pii=N; injection=S; flags=N`): counts and scores
    /// only, never text.
    pub guard: Option<String>,
    /// The call's admission (rate limits, budgets): settled when the response ends.
    pub lease: Option<atalaya_tenancy::Lease>,
}

/// A call's [`FactData`], shared by the transport and the services.
#[derive(Debug, Clone, Default)]
pub struct Facts(Arc<Mutex<FactData>>);

impl Facts {
    pub fn update(&self, f: impl FnOnce(&mut FactData)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Notes the requested model.
    pub fn note_model(&self, model: &str, stream: bool) {
        self.update(|f| {
            f.model = Some(model.to_owned());
            f.stream = stream;
        });
    }

    /// Notes where and how a call was served.
    pub fn note_routed<T>(&self, routed: &Routed<T>, usage: Option<Usage>) {
        self.update(|f| {
            f.target = Some(routed.target.clone());
            f.attempts = routed.attempts;
            f.upstream_time = Some(routed.upstream_time);
            if usage.is_some() {
                f.usage = usage;
            }
        });
    }

    /// Whether the inference log keeps this call's answer (the tenant logs inference).
    pub fn wants_answer(&self) -> bool {
        let mut wants = false;
        self.update(|f| wants = f.lease.as_ref().is_some_and(|l| l.wants_answer()));
        wants
    }

    /// Keeps the answer as the client got it for the inference log (encrypted at rest).
    pub fn record_answer(&self, answer: serde_json::Value) {
        self.update(|f| {
            if let Some(l) = f.lease.as_mut() {
                l.set_answer(answer);
            }
        });
    }
}

/// Where the gateway served a call: the transport reports it (`x-atalaya-target`).
#[derive(Debug, Clone)]
pub struct Served {
    pub target: String,
    pub attempts: u32,
}

impl<T> From<&Routed<T>> for Served {
    fn from(r: &Routed<T>) -> Self {
        Served {
            target: r.target.clone(),
            attempts: r.attempts,
        }
    }
}

/// What a chat call produced, for the transport to frame.
pub enum ChatReply {
    /// A complete answer, as JSON bytes.
    Json {
        body: Bytes,
        served: Option<Served>,
        /// The guard's input-stage summary (`x-atalaya-guard`).
        guard: Option<String>,
    },
    /// Chunks of an answer; with `include_usage`, the client also gets the usage chunk.
    Stream {
        stream: GatewayStream,
        include_usage: bool,
        served: Option<Served>,
        guard: Option<String>,
    },
}

/// Tokens of a text, estimated before the call (about 4 characters a token; the upstream's
/// usage replaces the estimate when the response ends).
pub fn estimate_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

/// Admits a model call (budgets, concurrency, rate limits) and leaves its lease in the
/// call's facts, to be settled when the response ends.
pub async fn admit(
    tenancy: &Arc<Tenancy>,
    ctx: &RequestContext,
    facts: &Facts,
    estimate: Estimate,
    capture: impl FnOnce() -> Capture + Send,
) -> Result<(), Error> {
    let lease = tenancy
        .admission()
        .admit(&ctx.principal, estimate, capture)
        .await?;
    facts.update(|f| f.lease = Some(lease));
    Ok(())
}

/// Collects the streamed answer's text (as the client receives it) for the inference log,
/// from each chunk's `content` (no chunk is parsed again here).
pub fn record_streamed_answer(stream: GatewayStream, facts: Facts) -> GatewayStream {
    Box::pin(stream.inspect(move |item| {
        let Ok(chunk) = item else { return };
        if chunk.content.is_empty() {
            return;
        }
        facts.update(|f| {
            if let Some(l) = f.lease.as_mut() {
                for (index, text) in &chunk.content {
                    l.append_answer(*index, text);
                }
            }
        });
    }))
}

/// How often a stream checks that its key is still usable.
const KEY_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Ends a stream with an error event once its key is revoked (or expires, or its tenant is
/// deleted): checked at most every [`KEY_CHECK_EVERY`], as chunks arrive.
pub fn end_if_revoked(
    inner: GatewayStream,
    tenancy: Arc<Tenancy>,
    principal: Principal,
) -> GatewayStream {
    let checked = tokio::time::Instant::now();
    Box::pin(futures::stream::unfold(
        (inner, checked, false),
        move |(mut inner, mut checked, done)| {
            let (tenancy, principal) = (tenancy.clone(), principal.clone());
            async move {
                if done {
                    return None;
                }
                let item = inner.next().await?;
                if checked.elapsed() >= KEY_CHECK_EVERY {
                    checked = tokio::time::Instant::now();
                    if !tenancy.authn().still_usable(&principal) {
                        let e = Error::KeyNotUsable(format!(
                            "the API key {} was revoked or expired during the stream",
                            principal.display
                        ));
                        return Some((Err(e), (inner, checked, true)));
                    }
                }
                Some((item, (inner, checked, false)))
            }
        },
    ))
}
