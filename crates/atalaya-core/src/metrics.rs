//! Typed Prometheus metrics. Names carry their unit (`_seconds`, `_total`); label sets are
//! structs, so a label cannot be misspelt at one call site.

use std::time::Duration;

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub model: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    pub target: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CircuitLabels {
    pub target: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LocalLabels {
    pub local_model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LocalRejectLabels {
    pub local_model: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GuardLabels {
    pub detector: String,
    pub action: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms .. ~131 s
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

fn overhead_histogram() -> Histogram {
    // 10 µs .. ~164 ms: the gateway's own time should sit in the first buckets.
    Histogram::new(exponential_buckets(0.000_01, 2.0, 15))
}

pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    upstream_duration: HistogramFamily<TargetLabels>,
    upstream_attempts: Family<AttemptLabels, Counter>,
    overhead: Histogram,
    time_to_first_token: HistogramFamily<ModelLabels>,
    prompt_tokens: Family<ModelLabels, Counter>,
    completion_tokens: Family<ModelLabels, Counter>,
    retries: Family<TargetLabels, Counter>,
    fallbacks: Family<ModelLabels, Counter>,
    circuit_state: Family<TargetLabels, Gauge>,
    circuit_transitions: Family<CircuitLabels, Counter>,
    stream_errors: Family<ModelLabels, Counter>,
    upstream_up: Family<UpstreamLabels, Gauge>,
    guard_decisions: Family<GuardLabels, Counter>,
    in_flight: Gauge,
    coordination_up: Gauge,
    coordination_fallbacks: Counter,
    coordination_refusals: Counter,
    pub local: LocalMetrics,
}

/// The local engine's metrics, one series per local model (`local_model` label).
#[derive(Clone)]
pub struct LocalMetrics {
    pub queue_depth: Family<LocalLabels, Gauge>,
    pub active_sequences: Family<LocalLabels, Gauge>,
    pub prompt_tokens: Family<LocalLabels, Counter>,
    pub cached_prompt_tokens: Family<LocalLabels, Counter>,
    pub generated_tokens: Family<LocalLabels, Counter>,
    pub rejected: Family<LocalRejectLabels, Counter>,
    pub batch_tokens: Family<LocalLabels, Histogram, fn() -> Histogram>,
    pub batch_sequences: Family<LocalLabels, Histogram, fn() -> Histogram>,
}

fn count_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 14))
}

impl LocalMetrics {
    fn new() -> Self {
        LocalMetrics {
            queue_depth: Family::default(),
            active_sequences: Family::default(),
            prompt_tokens: Family::default(),
            cached_prompt_tokens: Family::default(),
            generated_tokens: Family::default(),
            rejected: Family::default(),
            batch_tokens: Family::new_with_constructor(count_histogram),
            batch_sequences: Family::new_with_constructor(count_histogram),
        }
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "atalaya_local_queue_depth",
            "Requests waiting for the local engine",
            self.queue_depth.clone(),
        );
        r.register(
            "atalaya_local_active_sequences",
            "Sequences being generated in the running batch",
            self.active_sequences.clone(),
        );
        r.register(
            "atalaya_local_prompt_tokens",
            "Prompt tokens admitted by the local engine",
            self.prompt_tokens.clone(),
        );
        r.register(
            "atalaya_local_prompt_cached_tokens",
            "Prompt tokens served from the prefix (KV) cache instead of being recomputed; divide by atalaya_local_prompt_tokens for the hit rate",
            self.cached_prompt_tokens.clone(),
        );
        r.register(
            "atalaya_local_generated_tokens",
            "Tokens generated by the local engine",
            self.generated_tokens.clone(),
        );
        r.register(
            "atalaya_local_rejected",
            "Requests the local engine refused, by reason (queue_full, context_length)",
            self.rejected.clone(),
        );
        r.register(
            "atalaya_local_batch_tokens",
            "Tokens per forward pass of the local engine",
            self.batch_tokens.clone(),
        );
        r.register(
            "atalaya_local_batch_sequences",
            "Sequences (chat) or inputs (embeddings) per forward pass",
            self.batch_sequences.clone(),
        );
    }

    /// One model's series, resolved once: the engine's per-token path updates them without
    /// building or hashing labels.
    pub fn series(&self, model: &str) -> ModelSeries {
        let l = LocalLabels {
            local_model: model.to_owned(),
        };
        ModelSeries {
            queue_depth: self.queue_depth.get_or_create(&l).clone(),
            active_sequences: self.active_sequences.get_or_create(&l).clone(),
            prompt_tokens: self.prompt_tokens.get_or_create(&l).clone(),
            cached_prompt_tokens: self.cached_prompt_tokens.get_or_create(&l).clone(),
            generated_tokens: self.generated_tokens.get_or_create(&l).clone(),
            batch_tokens: self.batch_tokens.get_or_create(&l).clone(),
            batch_sequences: self.batch_sequences.get_or_create(&l).clone(),
            rejected: self.rejected.clone(),
            model: model.to_owned(),
        }
    }
}

/// Handles on one local model's metrics (clones share the registered series).
#[derive(Clone)]
pub struct ModelSeries {
    pub queue_depth: Gauge,
    pub active_sequences: Gauge,
    pub prompt_tokens: Counter,
    pub cached_prompt_tokens: Counter,
    pub generated_tokens: Counter,
    pub batch_tokens: Histogram,
    pub batch_sequences: Histogram,
    rejected: Family<LocalRejectLabels, Counter>,
    model: String,
}

impl ModelSeries {
    /// A refused request (`queue_full`, `context_length`): rare, so labelled on the spot.
    pub fn reject(&self, reason: &str) {
        self.rejected
            .get_or_create(&LocalRejectLabels {
                local_model: self.model.clone(),
                reason: reason.to_owned(),
            })
            .inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            upstream_duration: Family::new_with_constructor(latency_histogram),
            upstream_attempts: Family::default(),
            overhead: overhead_histogram(),
            time_to_first_token: Family::new_with_constructor(latency_histogram),
            prompt_tokens: Family::default(),
            completion_tokens: Family::default(),
            retries: Family::default(),
            fallbacks: Family::default(),
            circuit_state: Family::default(),
            circuit_transitions: Family::default(),
            stream_errors: Family::default(),
            upstream_up: Family::default(),
            guard_decisions: Family::default(),
            in_flight: Gauge::default(),
            coordination_up: Gauge::default(),
            coordination_fallbacks: Counter::default(),
            coordination_refusals: Counter::default(),
            local: LocalMetrics::new(),
            registry: Registry::default(),
        };
        m.local.register(&mut registry);
        registry.register(
            "atalaya_http_requests",
            "HTTP requests by route, model and status",
            m.http_requests.clone(),
        );
        registry.register(
            "atalaya_http_request_duration_seconds",
            "Total request time, to the last byte of the response",
            m.http_duration.clone(),
        );
        registry.register(
            "atalaya_upstream_request_duration_seconds",
            "Time of each upstream attempt",
            m.upstream_duration.clone(),
        );
        registry.register(
            "atalaya_upstream_attempts",
            "Upstream attempts by target and outcome",
            m.upstream_attempts.clone(),
        );
        registry.register(
            "atalaya_gateway_overhead_seconds",
            "Time spent in the gateway itself (total minus upstream time), non-streaming requests",
            m.overhead.clone(),
        );
        registry.register(
            "atalaya_time_to_first_token_seconds",
            "Streams: time from request to the first chunk",
            m.time_to_first_token.clone(),
        );
        registry.register(
            "atalaya_prompt_tokens",
            "Prompt (input) tokens reported by upstreams",
            m.prompt_tokens.clone(),
        );
        registry.register(
            "atalaya_completion_tokens",
            "Completion (output) tokens reported by upstreams",
            m.completion_tokens.clone(),
        );
        registry.register(
            "atalaya_upstream_retries",
            "Retries of the same target",
            m.retries.clone(),
        );
        registry.register(
            "atalaya_fallbacks",
            "Moves to the next target of a model after a failure",
            m.fallbacks.clone(),
        );
        registry.register(
            "atalaya_circuit_state",
            "Circuit breaker state per target: 0 closed, 1 half-open, 2 open",
            m.circuit_state.clone(),
        );
        registry.register(
            "atalaya_circuit_transitions",
            "Circuit breaker transitions by target and new state",
            m.circuit_transitions.clone(),
        );
        registry.register(
            "atalaya_stream_errors",
            "Streams ended by an error event after they had started",
            m.stream_errors.clone(),
        );
        registry.register(
            "atalaya_guard_decisions",
            "Guardrail decisions by detector (pii, injection, canary, ...) and action",
            m.guard_decisions.clone(),
        );
        registry.register(
            "atalaya_upstream_up",
            "Active health check result per upstream (1 up, 0 down); only probed upstreams",
            m.upstream_up.clone(),
        );
        registry.register(
            "atalaya_requests_in_flight",
            "Requests being served",
            m.in_flight.clone(),
        );
        registry.register(
            "atalaya_coordination_up",
            "Whether Redis, which holds the limits shared by replicas, answered the last call (1 up, 0 down); absent without [coordination]",
            m.coordination_up.clone(),
        );
        registry.register(
            "atalaya_coordination_fallbacks",
            "Limit and budget decisions taken in this process while Redis was unreachable (on_unavailable = fail_open)",
            m.coordination_fallbacks.clone(),
        );
        registry.register(
            "atalaya_coordination_refusals",
            "Limit and budget decisions refused while Redis was unreachable (on_unavailable = fail_closed; a request asks up to three: its budget, its gates and its buckets)",
            m.coordination_refusals.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(8 * 1024);
        encode(&mut out, &self.registry)?;
        Ok(out)
    }

    pub fn request_finished(&self, route: &str, model: &str, status: u16, total: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.to_owned(),
                model: model.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(total.as_secs_f64());
    }

    pub fn tokens(&self, model: &str, prompt: u64, completion: u64) {
        let l = ModelLabels {
            model: model.to_owned(),
        };
        self.prompt_tokens.get_or_create(&l).inc_by(prompt);
        self.completion_tokens.get_or_create(&l).inc_by(completion);
    }

    pub fn overhead(&self, d: Duration) {
        self.overhead.observe(d.as_secs_f64());
    }

    pub fn time_to_first_token(&self, model: &str, d: Duration) {
        self.time_to_first_token
            .get_or_create(&ModelLabels {
                model: model.to_owned(),
            })
            .observe(d.as_secs_f64());
    }

    pub fn attempt(&self, target: &str, outcome: &str, d: Duration) {
        self.upstream_attempts
            .get_or_create(&AttemptLabels {
                target: target.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.upstream_duration
            .get_or_create(&TargetLabels {
                target: target.to_owned(),
            })
            .observe(d.as_secs_f64());
    }

    pub fn retry(&self, target: &str) {
        self.retries
            .get_or_create(&TargetLabels {
                target: target.to_owned(),
            })
            .inc();
    }

    pub fn fallback(&self, model: &str) {
        self.fallbacks
            .get_or_create(&ModelLabels {
                model: model.to_owned(),
            })
            .inc();
    }

    /// A target's circuit starts closed (so the series exists before any transition).
    pub fn circuit_init(&self, target: &str) {
        self.circuit_state
            .get_or_create(&TargetLabels {
                target: target.to_owned(),
            })
            .set(0);
    }

    pub fn circuit(&self, target: &str, state: &str, value: i64) {
        self.circuit_state
            .get_or_create(&TargetLabels {
                target: target.to_owned(),
            })
            .set(value);
        self.circuit_transitions
            .get_or_create(&CircuitLabels {
                target: target.to_owned(),
                state: state.to_owned(),
            })
            .inc();
    }

    /// One guardrail decision. Both labels come from fixed sets (detector names and actions),
    /// never from request content.
    pub fn guard_decision(&self, detector: &'static str, action: &'static str) {
        self.guard_decisions
            .get_or_create(&GuardLabels {
                detector: detector.to_owned(),
                action: action.to_owned(),
            })
            .inc();
    }

    pub fn stream_error(&self, model: &str) {
        self.stream_errors
            .get_or_create(&ModelLabels {
                model: model.to_owned(),
            })
            .inc();
    }

    pub fn upstream_up(&self, upstream: &str, up: bool) {
        self.upstream_up
            .get_or_create(&UpstreamLabels {
                upstream: upstream.to_owned(),
            })
            .set(i64::from(up));
    }

    /// The shared limits' health (`[coordination]`): Redis reachable, and decisions taken
    /// without it since the last call (fail_open: counted here; fail_closed: refused).
    pub fn coordination(&self, up: bool, new_fallbacks: u64, new_refusals: u64) {
        self.coordination_up.set(i64::from(up));
        self.coordination_fallbacks.inc_by(new_fallbacks);
        self.coordination_refusals.inc_by(new_refusals);
    }

    pub fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_units() {
        let m = Metrics::new();
        m.request_finished("/v1/chat/completions", "m", 200, Duration::from_millis(3));
        m.tokens("m", 5, 7);
        m.attempt("up/m", "ok", Duration::from_millis(2));
        let text = m.encode().unwrap();
        for name in [
            "atalaya_http_requests_total{route=\"/v1/chat/completions\",model=\"m\",status=\"200\"} 1",
            "atalaya_http_request_duration_seconds_bucket",
            "atalaya_prompt_tokens_total{model=\"m\"} 5",
            "atalaya_completion_tokens_total{model=\"m\"} 7",
            "atalaya_upstream_attempts_total{target=\"up/m\",outcome=\"ok\"} 1",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
