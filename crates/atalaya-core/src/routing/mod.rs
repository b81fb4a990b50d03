//! Model routes: which targets serve a model name, and how a request moves between them.
//!
//! For each request the router builds a plan: targets grouped by `priority` (lowest first),
//! shuffled by weight inside a group (weighted load balancing). It walks the plan, skipping
//! targets whose circuit breaker is open. On a target it retries transient failures (connect
//! errors, timeouts, 408/429/5xx) with exponential backoff and jitter, waiting at least what
//! `Retry-After` asks; then it falls back to the next target. Everything is bounded by the
//! request's total deadline. Client errors (400, 422, ...) end the request at once.

pub mod breaker;

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use rand::Rng;
use tokio::time::{Duration, Instant};

use crate::{
    config::{GatewaySections, RetryConfig},
    metrics::Metrics,
    provider::{Call, FailureClass, Provider, UpstreamFailure},
    Error,
};
pub use breaker::{CircuitBreaker, CircuitState};

pub struct Target {
    /// `upstream/model`, used in logs, metrics and error messages.
    pub id: String,
    pub upstream: String,
    pub upstream_model: String,
    pub provider: Arc<dyn Provider>,
    pub weight: u32,
    pub priority: u32,
    pub attempt_timeout: Duration,
    pub breaker: Arc<CircuitBreaker>,
}

pub struct Route {
    pub name: String,
    pub targets: Vec<Target>,
    pub timeout: Duration,
    pub first_token_timeout: Duration,
    pub retry: RetryConfig,
}

/// The result of a routed call, with where and how it was served.
pub struct Routed<T> {
    pub value: T,
    pub target: String,
    /// Attempts made, over all targets.
    pub attempts: u32,
    /// Time from the first attempt's start to the successful attempt's end (retries included).
    pub upstream_time: Duration,
    /// The serving target's breaker, for failures noticed later (a stream breaking midway).
    pub breaker: Arc<CircuitBreaker>,
}

/// One kind of upstream call (chat, stream, embeddings), run by [`Route::execute`].
#[async_trait]
pub trait Attempt: Sync {
    type Output: Send;

    async fn run(
        &self,
        provider: &dyn Provider,
        call: Call<'_>,
    ) -> Result<Self::Output, UpstreamFailure>;

    /// How long one attempt may take.
    fn attempt_timeout(&self, route: &Route, target: &Target, remaining: Duration) -> Duration {
        let _ = route;
        target.attempt_timeout.min(remaining)
    }
}

pub struct Router {
    routes: HashMap<String, Arc<Route>>,
}

impl Router {
    pub fn build(
        config: GatewaySections<'_>,
        providers: &HashMap<String, Arc<dyn Provider>>,
        metrics: &Arc<Metrics>,
    ) -> Result<Router, Error> {
        let mut routes = HashMap::new();
        for (name, m) in config.models {
            let mut targets = Vec::with_capacity(m.targets.len());
            for (i, t) in m.targets.iter().enumerate() {
                // Local models have no per-attempt timeout of their own: the route's deadline.
                let default_timeout = match config.upstreams.get(&t.upstream) {
                    Some(up) => Some(up.timeout_ms),
                    None => config.local_models.get(&t.upstream).map(|_| m.timeout_ms),
                };
                let (Some(provider), Some(default_timeout)) =
                    (providers.get(&t.upstream), default_timeout)
                else {
                    return Err(Error::config(
                        format!("models.{name}.targets[{i}].upstream"),
                        format!("unknown upstream '{}'", t.upstream),
                    ));
                };
                let upstream_model = t.model.clone().unwrap_or_else(|| name.clone());
                let id = format!("{}/{}", t.upstream, upstream_model);
                targets.push(Target {
                    breaker: Arc::new(CircuitBreaker::new(
                        id.clone(),
                        m.circuit_breaker.failure_threshold,
                        Duration::from_millis(m.circuit_breaker.cooldown_ms),
                        metrics.clone(),
                    )),
                    id,
                    upstream: t.upstream.clone(),
                    upstream_model,
                    provider: provider.clone(),
                    weight: t.weight.max(1),
                    priority: t.priority,
                    attempt_timeout: Duration::from_millis(t.timeout_ms.unwrap_or(default_timeout)),
                });
            }
            routes.insert(
                name.clone(),
                Arc::new(Route {
                    name: name.clone(),
                    targets,
                    timeout: Duration::from_millis(m.timeout_ms),
                    first_token_timeout: Duration::from_millis(m.first_token_timeout_ms),
                    retry: m.retry.clone(),
                }),
            );
        }
        Ok(Router { routes })
    }

    pub fn route(&self, model: &str) -> Result<&Arc<Route>, Error> {
        self.routes
            .get(model)
            .ok_or_else(|| Error::ModelNotFound(model.to_owned()))
    }

    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.values()
    }
}

/// Exponential backoff with equal jitter: half the step fixed, half random.
pub fn backoff(cfg: &RetryConfig, retry_number: u32, rng: &mut impl Rng) -> Duration {
    let exp = cfg
        .backoff_base_ms
        .saturating_mul(1u64 << retry_number.saturating_sub(1).min(20));
    let step = exp.min(cfg.backoff_max_ms);
    let half = step / 2;
    Duration::from_millis(half + rng.random_range(0..=step - half))
}

impl Route {
    /// Targets in the order they will be tried.
    pub fn plan(&self, rng: &mut impl Rng) -> Vec<&Target> {
        // Efraimidis–Spirakis weighted shuffle: key = u^(1/w), larger first.
        let mut keyed: Vec<(u32, f64, &Target)> = self
            .targets
            .iter()
            .map(|t| {
                let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                (t.priority, u.powf(1.0 / f64::from(t.weight)), t)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        keyed.into_iter().map(|(_, _, t)| t).collect()
    }

    /// Whether some target can take a request now.
    pub fn available(&self) -> bool {
        self.targets.iter().any(|t| t.breaker.available())
    }

    /// Runs `attempt` against the route's targets, with retries, fallback and the deadline.
    pub async fn execute<A: Attempt>(
        &self,
        attempt: &A,
        request_id: &str,
        started: Instant,
        metrics: &Metrics,
    ) -> Result<Routed<A::Output>, Error> {
        let deadline = started + self.timeout;
        let plan = self.plan(&mut rand::rng());
        let mut attempts = 0u32;
        let mut first_attempt_at: Option<Instant> = None;
        let mut last: Option<(String, UpstreamFailure)> = None;
        let mut ejected = 0usize;

        for target in plan {
            if last.is_some() {
                metrics.fallback(&self.name);
                tracing::info!(request_id, model = %self.name, target_name = %target.id, "falling back to next target");
            }
            for try_number in 1..=self.retry.attempts {
                let now = Instant::now();
                let remaining = deadline.saturating_duration_since(now);
                if remaining.is_zero() {
                    return Err(self.deadline_error(last));
                }
                let Some(permit) = target.breaker.try_acquire() else {
                    if try_number == 1 {
                        ejected += 1;
                    }
                    break;
                };
                attempts += 1;
                first_attempt_at.get_or_insert(now);
                let timeout = attempt.attempt_timeout(self, target, remaining);
                // Cut short by the request's own deadline: a timeout then says nothing about
                // the target's health.
                let cut_by_deadline =
                    timeout < attempt.attempt_timeout(self, target, Duration::MAX);
                let call = Call {
                    upstream_model: &target.upstream_model,
                    timeout,
                    request_id,
                };
                let result = tokio::time::timeout(timeout, attempt.run(&*target.provider, call))
                    .await
                    .unwrap_or_else(|_| {
                        Err(UpstreamFailure::Timeout(format!(
                            "no response within {} ms",
                            timeout.as_millis()
                        )))
                    });
                let took = now.elapsed();
                match result {
                    Ok(value) => {
                        metrics.attempt(&target.id, "ok", took);
                        permit.success();
                        return Ok(Routed {
                            value,
                            target: target.id.clone(),
                            attempts,
                            upstream_time: first_attempt_at.map(|t| t.elapsed()).unwrap_or(took),
                            breaker: target.breaker.clone(),
                        });
                    }
                    Err(failure @ UpstreamFailure::Timeout(_)) if cut_by_deadline => {
                        metrics.attempt(&target.id, failure.outcome_label(), took);
                        permit.neutral();
                        return Err(self.deadline_error(Some((target.id.clone(), failure))));
                    }
                    Err(failure) => {
                        metrics.attempt(&target.id, failure.outcome_label(), took);
                        tracing::warn!(request_id, model = %self.name, target_name = %target.id, attempt = try_number, error = %failure, "upstream attempt failed");
                        match failure.class() {
                            FailureClass::ClientError => {
                                permit.success();
                                if let UpstreamFailure::ContextLengthExceeded(detail) = failure {
                                    return Err(Error::ContextLengthExceeded {
                                        target: target.id.clone(),
                                        detail,
                                    });
                                }
                                return Err(Error::UpstreamRejected {
                                    target: target.id.clone(),
                                    detail: failure.to_string(),
                                });
                            }
                            FailureClass::Fallback => {
                                permit.failure();
                                last = Some((target.id.clone(), failure));
                                break;
                            }
                            FailureClass::Retryable => {
                                permit.failure();
                                let retry_after = failure.retry_after();
                                last = Some((target.id.clone(), failure));
                                if try_number == self.retry.attempts {
                                    break;
                                }
                                let mut wait = backoff(&self.retry, try_number, &mut rand::rng());
                                if let Some(ra) = retry_after {
                                    if ra > Duration::from_millis(self.retry.max_retry_after_ms) {
                                        break; // too long to hold the request: next target
                                    }
                                    wait = wait.max(ra);
                                }
                                if Instant::now() + wait >= deadline {
                                    break; // would wait past the deadline: next target
                                }
                                metrics.retry(&target.id);
                                tokio::time::sleep(wait).await;
                            }
                        }
                    }
                }
            }
        }
        match last {
            Some((target, failure)) => Err(failure_to_error(target, failure)),
            None if ejected > 0 => Err(Error::NoHealthyTarget {
                model: self.name.clone(),
                retry_after: self
                    .targets
                    .iter()
                    .map(|t| t.breaker.retry_in())
                    .min()
                    .unwrap_or(Duration::ZERO)
                    .max(Duration::from_secs(1)),
            }),
            None => Err(self.deadline_error(None)),
        }
    }

    fn deadline_error(&self, last: Option<(String, UpstreamFailure)>) -> Error {
        let (target, detail) = match last {
            Some((t, f)) => (
                t,
                format!(
                    "deadline of {} ms reached; last failure: {f}",
                    self.timeout.as_millis()
                ),
            ),
            None => (
                self.name.clone(),
                format!("deadline of {} ms reached", self.timeout.as_millis()),
            ),
        };
        Error::UpstreamTimeout { target, detail }
    }
}

/// The error a client sees when every attempt failed, from the last failure.
pub fn failure_to_error(target: String, failure: UpstreamFailure) -> Error {
    match &failure {
        UpstreamFailure::Timeout(_) => Error::UpstreamTimeout {
            target,
            detail: failure.to_string(),
        },
        UpstreamFailure::Status {
            status: 429,
            retry_after,
            ..
        } => Error::UpstreamRateLimited {
            target,
            retry_after: *retry_after,
            detail: failure.to_string(),
        },
        _ => Error::Upstream {
            target,
            detail: failure.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{ChatCompletion, ChatRequest, EmbeddingRequest, Embeddings},
        provider::ChatStream,
    };
    use rand::{rngs::StdRng, SeedableRng};
    use std::sync::Mutex;

    /// A provider that replays scripted outcomes and counts calls.
    struct Scripted {
        outcomes: Mutex<Vec<Result<(), UpstreamFailure>>>,
        calls: Mutex<u32>,
    }

    impl Scripted {
        fn new(mut outcomes: Vec<Result<(), UpstreamFailure>>) -> Arc<Self> {
            outcomes.reverse();
            Arc::new(Scripted {
                outcomes: Mutex::new(outcomes),
                calls: Mutex::new(0),
            })
        }
        fn calls(&self) -> u32 {
            *self.calls.lock().unwrap()
        }
    }

    #[async_trait]
    impl Provider for Scripted {
        async fn infer(
            &self,
            _: Call<'_>,
            _: &ChatRequest,
        ) -> Result<ChatCompletion, UpstreamFailure> {
            unreachable!()
        }
        async fn infer_stream(
            &self,
            _: Call<'_>,
            _: &ChatRequest,
        ) -> Result<ChatStream, UpstreamFailure> {
            unreachable!()
        }
        async fn embed(
            &self,
            _: Call<'_>,
            _: &EmbeddingRequest,
        ) -> Result<Embeddings, UpstreamFailure> {
            unreachable!()
        }
    }

    /// Runs the script: the target's upstream model name is the index of its script.
    struct Direct(Vec<Arc<Scripted>>);
    #[async_trait]
    impl Attempt for Direct {
        type Output = String;
        async fn run(&self, _: &dyn Provider, call: Call<'_>) -> Result<String, UpstreamFailure> {
            let idx: usize = call.upstream_model.parse().unwrap();
            let s = &self.0[idx];
            *s.calls.lock().unwrap() += 1;
            let next = s.outcomes.lock().unwrap().pop().unwrap_or(Ok(()));
            next.map(|()| call.upstream_model.to_owned())
        }
    }

    /// The route's provider is never called (attempts go to `Direct`); it only fills the slot.
    fn route(n: usize, attempts: u32, timeout_ms: u64, placeholder: &Arc<Scripted>) -> Route {
        let metrics = Arc::new(Metrics::new());
        let provider: Arc<dyn Provider> = placeholder.clone();
        Route {
            name: "m".into(),
            targets: (0..n)
                .map(|i| Target {
                    id: format!("u/{i}"),
                    upstream: "u".into(),
                    upstream_model: i.to_string(),
                    provider: provider.clone(),
                    weight: 1,
                    priority: i as u32,
                    attempt_timeout: Duration::from_secs(30),
                    breaker: Arc::new(CircuitBreaker::new(
                        format!("u/{i}"),
                        2,
                        Duration::from_secs(1),
                        metrics.clone(),
                    )),
                })
                .collect(),
            timeout: Duration::from_millis(timeout_ms),
            first_token_timeout: Duration::from_millis(timeout_ms),
            retry: RetryConfig {
                attempts,
                backoff_base_ms: 10,
                backoff_max_ms: 40,
                max_retry_after_ms: 5_000,
            },
        }
    }

    fn status(code: u16, retry_after: Option<u64>) -> Result<(), UpstreamFailure> {
        Err(UpstreamFailure::Status {
            status: code,
            message: "x".into(),
            retry_after: retry_after.map(Duration::from_secs),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn retries_then_succeeds_honouring_retry_after() {
        let s = Scripted::new(vec![status(429, Some(2))]);
        let r = route(1, 3, 60_000, &s);
        let start = Instant::now();
        let out = r
            .execute(&Direct(vec![s.clone()]), "id", start, &Metrics::new())
            .await
            .unwrap();
        assert_eq!(out.attempts, 2);
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "waited {:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_past_the_deadline_is_not_waited() {
        let s = Scripted::new(vec![status(429, Some(3)), status(429, Some(3))]);
        let r = route(1, 3, 1_000, &s);
        let start = Instant::now();
        let err = r
            .execute(&Direct(vec![s.clone()]), "id", start, &Metrics::new())
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, Error::UpstreamRateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(3)),
            "{err:?}"
        );
        assert!(start.elapsed() < Duration::from_millis(100));
        assert_eq!(s.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn falls_back_to_the_second_target() {
        let a = Scripted::new(vec![status(500, None), status(502, None)]);
        let b = Scripted::new(vec![]);
        let r = route(2, 2, 60_000, &a);
        let out = r
            .execute(
                &Direct(vec![a.clone(), b.clone()]),
                "id",
                Instant::now(),
                &Metrics::new(),
            )
            .await
            .unwrap();
        assert_eq!(out.value, "1");
        assert_eq!(out.attempts, 3);
        assert_eq!((a.calls(), b.calls()), (2, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn client_errors_are_not_retried() {
        let a = Scripted::new(vec![status(400, None)]);
        let b = Scripted::new(vec![]);
        let r = route(2, 3, 60_000, &a);
        let err = r
            .execute(
                &Direct(vec![a.clone(), b.clone()]),
                "id",
                Instant::now(),
                &Metrics::new(),
            )
            .await
            .err()
            .unwrap();
        assert!(matches!(err, Error::UpstreamRejected { .. }));
        assert_eq!((a.calls(), b.calls()), (1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_ejects_and_reports_no_healthy_target() {
        let a = Scripted::new(vec![status(500, None); 4]);
        let r = route(1, 1, 60_000, &a);
        for _ in 0..2 {
            assert!(r
                .execute(
                    &Direct(vec![a.clone()]),
                    "id",
                    Instant::now(),
                    &Metrics::new()
                )
                .await
                .is_err());
        }
        let err = r
            .execute(
                &Direct(vec![a.clone()]),
                "id",
                Instant::now(),
                &Metrics::new(),
            )
            .await
            .err()
            .unwrap();
        assert!(matches!(err, Error::NoHealthyTarget { .. }), "{err:?}");
        assert_eq!(a.calls(), 2);
        assert!(!r.available());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(r.available());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let cfg = RetryConfig {
            attempts: 5,
            backoff_base_ms: 100,
            backoff_max_ms: 1_000,
            max_retry_after_ms: 0,
        };
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..100 {
            let d1 = backoff(&cfg, 1, &mut rng).as_millis();
            let d3 = backoff(&cfg, 3, &mut rng).as_millis();
            let d9 = backoff(&cfg, 9, &mut rng).as_millis();
            assert!((50..=100).contains(&d1), "{d1}");
            assert!((200..=400).contains(&d3), "{d3}");
            assert!((500..=1000).contains(&d9), "{d9}");
        }
    }

    #[test]
    fn weighted_plan_respects_priority_and_weight() {
        let s = Scripted::new(vec![]);
        let mut r = route(3, 1, 1000, &s);
        r.targets[0].priority = 0;
        r.targets[0].weight = 3;
        r.targets[1].priority = 0;
        r.targets[1].weight = 1;
        r.targets[2].priority = 1;
        let mut rng = StdRng::seed_from_u64(1);
        let mut first = [0u32; 3];
        for _ in 0..4000 {
            let plan = r.plan(&mut rng);
            assert_eq!(plan[2].upstream_model, "2", "priority 1 always last");
            first[plan[0].upstream_model.parse::<usize>().unwrap()] += 1;
        }
        let share = f64::from(first[0]) / 4000.0;
        assert!((0.70..0.80).contains(&share), "weight 3:1 gave {share}");
    }
}
