//! Admission and accounting of API requests.
//!
//! [`Tenancy::admit`] decides, before a request is served: the model is one the tenant may
//! call; the key's and the tenant's budgets for the day and month are not spent; a
//! concurrency slot is free for both; and their requests-per-minute and tokens-per-minute
//! buckets have room (all buckets or none are charged). The last three are asked at once (a
//! limiter shared through Redis answers them in one round trip); when one refuses, what the
//! others granted is given back, and the refusal reported is the first in that order. Tokens are an
//! estimate (prompt characters / 4 plus the completion allowance); the returned [`Lease`]
//! reconciles them with the upstream's usage when the response ends, releases the slot,
//! records usage and cost for budgets and reports, and writes the inference-log row.

use std::{sync::Arc, time::Duration};

use atalaya_store::{InferenceRecord, Limits, Tenant, UsageDelta};

use crate::clock::day_of;
use crate::meter::{cost_micros, Scope};
use crate::{
    access::{Action, Principal},
    clock::now_millis,
    limiter::{BucketState, Decision, Entry, Quota, Take},
    service::{ScopeNames, Tenancy},
    Error, Result,
};

/// What a request may cost, estimated before it is served.
#[derive(Debug, Clone, Default)]
pub struct Estimate {
    /// The model asked for; `None` for requests that call no model (knowledge, guard).
    pub model: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Input for the inference log.
pub struct Capture {
    pub subject: Option<String>,
    /// The request as the client sent it (messages or input).
    pub request: serde_json::Value,
}

/// How a request ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub status: u16,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub target: Option<String>,
    pub latency_ms: u64,
    pub guard: Option<String>,
}

/// A request's admission: holds its concurrency slots until it ends.
pub struct Lease {
    tenancy: Arc<Tenancy>,
    /// The key's names (its id, budget, buckets).
    key: Arc<ScopeNames>,
    tenant_scope: Arc<ScopeNames>,
    /// The key's visible prefix, for the inference log (empty when the tenant keeps none).
    key_prefix: String,
    tenant: Arc<Tenant>,
    estimate: Estimate,
    gates: Vec<Arc<str>>,
    /// (bucket, quota) of the token buckets charged with the estimate.
    token_buckets: Vec<(Arc<str>, Quota)>,
    /// The `x-ratelimit-*` headers for the response.
    headers: Vec<(&'static str, String)>,
    day: i64,
    /// The budgets hold this request's estimate (returned if it is not served).
    reserved: bool,
    capture: Option<Capture>,
    answer: Option<serde_json::Value>,
    finished: bool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("tenant", &self.tenant.id)
            .field("key", &self.key.id)
            .field("model", &self.estimate.model)
            .finish_non_exhaustive()
    }
}

fn reset_header(d: Duration) -> String {
    // OpenAI's form: "1s", "6m0s", "20ms".
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        let s = d.as_secs();
        if s < 60 {
            format!("{}s", s + u64::from(d.subsec_nanos() > 0))
        } else {
            format!("{}m{}s", s / 60, s % 60)
        }
    }
}

/// Admission, over the shared tenancy state.
pub struct Admission<'a>(pub(crate) &'a Arc<Tenancy>);

impl std::ops::Deref for Admission<'_> {
    type Target = Arc<Tenancy>;

    fn deref(&self) -> &Arc<Tenancy> {
        self.0
    }
}

impl Tenancy {
    /// Admission: limits, budgets, the tenant's models and guard policy, usage and the
    /// inference log of each call.
    pub fn admission(self: &Arc<Self>) -> Admission<'_> {
        Admission(self)
    }
}

impl Admission<'_> {
    /// The guard policy a tenant's requests use on every route (`Some("off")`: none);
    /// `None` = each route's own.
    pub fn guard_policy(&self, tenant: &str) -> Option<String> {
        self.tenant_cached(tenant)
            .and_then(|t| t.guard_policy.clone())
    }

    /// The models a tenant may call; `None` = all.
    pub fn allowed_models(&self, tenant: &str) -> Option<Vec<String>> {
        self.tenant_cached(tenant)
            .filter(|t| !t.models.is_empty())
            .map(|t| t.models.clone())
    }

    /// Admits a request of `principal` (see the module's overview). `capture` is called only
    /// when the tenant logs inference (and encryption is configured).
    pub async fn admit(
        &self,
        principal: &Principal,
        estimate: Estimate,
        capture: impl FnOnce() -> Capture + Send,
    ) -> Result<Lease> {
        principal.authorize(Action::UseApi, Some(&principal.tenant))?;
        let tenant = self
            .tenant_cached(&principal.tenant)
            .ok_or_else(|| Error::NotFound(format!("tenant '{}'", principal.tenant)))?;
        if let Some(model) = &estimate.model {
            if !tenant.models.is_empty() && !tenant.models.iter().any(|m| m == model) {
                return Err(Error::ModelNotAllowed(model.clone()));
            }
        }
        let tokens = estimate.prompt_tokens + estimate.completion_tokens;
        let key_names = self.key_names(&principal.key_id);
        let tenant_names = self.tenant_names(&tenant.id);
        let day = day_of(now_millis());
        let price = estimate
            .model
            .as_deref()
            .and_then(|m| self.settings.pricing.get(m));
        let est_cost = cost_micros(price, estimate.prompt_tokens, estimate.completion_tokens);
        // Concurrency: the key's and the tenant's slots, both or neither.
        let mut gates = Vec::new();
        if let Some(max) = principal.limits.max_concurrent {
            gates.push((key_names.inflight.clone(), max));
        }
        if let Some(max) = tenant.limits.max_concurrent {
            gates.push((tenant_names.inflight.clone(), max));
        }
        // Requests and tokens per minute.
        let mut takes = Vec::new();
        let mut kinds = Vec::new();
        let req_quota = |l: &Limits| {
            l.requests_per_minute.map(|r| Quota {
                per_minute: u64::from(r),
                burst: u64::from(l.burst_requests.unwrap_or(r).max(1)),
            })
        };
        for (names, limits, who) in [
            (&key_names, &principal.limits, "key"),
            (&tenant_names, &tenant.limits, "tenant"),
        ] {
            if let Some(q) = req_quota(limits) {
                takes.push(Take {
                    bucket: names.rpm.clone(),
                    quota: q,
                    cost: 1,
                });
                kinds.push(("requests", who));
            }
            if estimate.model.is_some() {
                if let Some(tpm) = limits.tokens_per_minute {
                    let q = Quota::per_minute(tpm);
                    takes.push(Take {
                        bucket: names.tpm.clone(),
                        quota: q,
                        cost: tokens,
                    });
                    kinds.push(("tokens", who));
                }
            }
        }
        // Budgets bound what model calls cost; other requests cost nothing.
        let scopes = [
            Scope {
                name: &key_names.scope,
                limits: &principal.limits,
                who: "key",
            },
            Scope {
                name: &tenant_names.scope,
                limits: &tenant.limits,
                who: "tenant",
            },
        ];
        // The three checks are asked at once, so that a shared limiter answers them in one
        // round trip; what one of them granted is given back below when another refuses.
        // A refusal is reported in the order budget, concurrency, rate.
        let (reserved, entry, verdict) = tokio::join!(
            async {
                match estimate.model {
                    Some(_) => Some(
                        self.budgets
                            .reserve(&scopes, day, to_i64(tokens), to_i64(est_cost))
                            .await,
                    ),
                    None => None,
                }
            },
            async {
                if gates.is_empty() {
                    Entry::Entered
                } else {
                    self.limiter.enter(&gates).await
                }
            },
            async {
                if takes.is_empty() {
                    None
                } else {
                    Some(self.limiter.take(&takes).await)
                }
            },
        );
        let mut lease = Lease {
            tenancy: Arc::clone(self.0),
            key: key_names.clone(),
            tenant_scope: tenant_names.clone(),
            key_prefix: String::new(),
            tenant: tenant.clone(),
            estimate,
            gates: Vec::new(),
            token_buckets: Vec::new(),
            headers: Vec::new(),
            day,
            reserved: matches!(reserved, Some(Ok(()))),
            capture: None,
            answer: None,
            finished: false,
        };
        if entry == Entry::Entered {
            lease.gates = gates.iter().map(|(g, _)| g.clone()).collect();
        }
        // From here, a refusal drops the lease: slots released, reservation returned. Buckets
        // charged by an admitted take are given back here.
        let give_back = |verdict: &Option<Decision>| {
            if let Some(Decision::Admitted(_)) = verdict {
                for t in &takes {
                    self.limiter.adjust(&t.bucket, t.quota, -to_i64(t.cost));
                }
            }
        };
        if let Some(Err(e)) = reserved {
            give_back(&verdict);
            return Err(e);
        }
        match entry {
            Entry::Entered => {}
            Entry::Unavailable(m) => {
                give_back(&verdict);
                return Err(Error::CoordinationUnavailable(m));
            }
            Entry::Full => {
                give_back(&verdict);
                let who = if principal.limits.max_concurrent.is_some()
                    && gates.len() == 1
                    && gates[0].0 == key_names.inflight
                {
                    "key"
                } else {
                    "key or tenant"
                };
                return Err(Error::RateLimited {
                    message: format!(
                        "too many concurrent requests for this {who}; retry when one finishes"
                    ),
                    retry_after: Duration::from_secs(1),
                    headers: Vec::new(),
                });
            }
        }
        match verdict {
            None => {}
            Some(Decision::Admitted(states)) => {
                lease.headers = headers(&kinds, &states);
                lease.token_buckets = takes
                    .iter()
                    .zip(&kinds)
                    .filter(|(_, k)| k.0 == "tokens")
                    .map(|(t, _)| (t.bucket.clone(), t.quota))
                    .collect();
            }
            Some(Decision::Unavailable(m)) => return Err(Error::CoordinationUnavailable(m)),
            Some(Decision::Refused {
                index,
                retry_after,
                never,
            }) => {
                let (what, who) = kinds[index];
                let limit = takes[index].quota.per_minute;
                let message = if never {
                    format!("this request needs about {tokens} tokens, more than the {who}'s limit of {limit} tokens per minute allows at once; lower max_tokens or shorten the prompt")
                } else {
                    format!("rate limit of the {who} reached: {limit} {what} per minute; retry after {:.1} s", retry_after.as_secs_f64())
                };
                let mut h = vec![(
                    if what == "tokens" {
                        "x-ratelimit-limit-tokens"
                    } else {
                        "x-ratelimit-limit-requests"
                    },
                    limit.to_string(),
                )];
                h.push((
                    if what == "tokens" {
                        "x-ratelimit-remaining-tokens"
                    } else {
                        "x-ratelimit-remaining-requests"
                    },
                    "0".into(),
                ));
                h.push((
                    if what == "tokens" {
                        "x-ratelimit-reset-tokens"
                    } else {
                        "x-ratelimit-reset-requests"
                    },
                    reset_header(retry_after),
                ));
                // The lease drops here: slots released, budget reservation returned.
                return Err(Error::RateLimited {
                    message,
                    retry_after,
                    headers: h,
                });
            }
        }
        if tenant.log_inference && self.keyring().is_some() {
            lease.capture = Some(capture());
            lease.key_prefix = principal.display.clone();
        }
        Ok(lease)
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `x-ratelimit-*` headers from the tightest bucket of each kind.
fn headers(kinds: &[(&str, &str)], states: &[BucketState]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (kind, names) in [
        (
            "requests",
            [
                "x-ratelimit-limit-requests",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests",
            ],
        ),
        (
            "tokens",
            [
                "x-ratelimit-limit-tokens",
                "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-tokens",
            ],
        ),
    ] {
        let tightest = kinds
            .iter()
            .zip(states)
            .filter(|(k, _)| k.0 == kind)
            .map(|(_, s)| s)
            .min_by_key(|s| s.remaining);
        if let Some(s) = tightest {
            out.push((names[0], s.limit.to_string()));
            out.push((names[1], s.remaining.to_string()));
            out.push((names[2], reset_header(s.reset)));
        }
    }
    out
}

impl Lease {
    /// The `x-ratelimit-*` headers of the admission.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The `x-ratelimit-*` headers of the admission, handed over (once).
    pub fn take_headers(&mut self) -> Vec<(&'static str, String)> {
        std::mem::take(&mut self.headers)
    }

    pub fn tenant(&self) -> &str {
        &self.tenant.id
    }

    /// Whether the inference log wants the answer.
    pub fn wants_answer(&self) -> bool {
        self.capture.is_some()
    }

    /// The answer for the inference log (the response body, or the streamed text).
    pub fn set_answer(&mut self, answer: serde_json::Value) {
        if self.capture.is_some() {
            self.answer = Some(answer);
        }
    }

    /// Cost of the estimate (what admission reserved).
    fn estimated_cost(&self) -> u64 {
        let price = self
            .estimate
            .model
            .as_deref()
            .and_then(|m| self.tenancy.settings.pricing.get(m));
        cost_micros(
            price,
            self.estimate.prompt_tokens,
            self.estimate.completion_tokens,
        )
    }

    /// Adds tokens and cost (negative: gives back) to the key's and the tenant's budgets,
    /// on the admission day.
    fn charge(&self, tokens: i64, cost: i64) {
        self.tenancy.budgets.settle(
            &[&self.key.scope, &self.tenant_scope.scope],
            self.day,
            tokens,
            cost,
        );
    }

    /// Appends streamed text of choice `index` to the answer.
    pub fn append_answer(&mut self, index: u64, text: &str) {
        if self.capture.is_none() {
            return;
        }
        let answer = self
            .answer
            .get_or_insert_with(|| serde_json::json!({"choices": {}}));
        if let Some(choices) = answer.get_mut("choices").and_then(|c| c.as_object_mut()) {
            let slot = choices
                .entry(index.to_string())
                .or_insert_with(|| serde_json::Value::String(String::new()));
            if let serde_json::Value::String(s) = slot {
                s.push_str(text);
            }
        }
    }

    /// Settles the request: tokens reconciled, usage and cost recorded, slots released, the
    /// inference-log row queued.
    pub fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        let t = self.tenancy.clone();
        t.limiter.leave(&self.gates);
        let Some(model) = self.estimate.model.as_deref() else {
            return;
        };
        let ok = (200..300).contains(&outcome.status);
        let estimated = self.estimate.prompt_tokens + self.estimate.completion_tokens;
        // Without usage from the upstream, a success counts as estimated, and so does a
        // request whose client went away (499: the upstream may have produced and billed the
        // answer); a failure is free.
        let charged = ok || outcome.status == 499;
        let (prompt, completion) = match (outcome.prompt_tokens, outcome.completion_tokens) {
            (Some(p), c) => (p, c.unwrap_or(0)),
            (None, _) if charged => (self.estimate.prompt_tokens, self.estimate.completion_tokens),
            (None, _) => (0, 0),
        };
        let actual = prompt + completion;
        let delta = to_i64(actual) - to_i64(estimated);
        for (bucket, quota) in &self.token_buckets {
            if delta != 0 {
                t.limiter.adjust(bucket, *quota, delta);
            }
        }
        let cost = cost_micros(t.settings.pricing.get(model), prompt, completion);
        self.charge(delta, to_i64(cost) - to_i64(self.estimated_cost()));
        let mut pending = t.pending.lock().unwrap_or_else(|p| p.into_inner());
        let day = day_of(now_millis());
        let rows = pending.usage.entry(self.key.id.clone()).or_default();
        let i = match rows
            .iter()
            .position(|r| r.model == model && r.day == day && r.tenant_id == self.tenant.id)
        {
            Some(i) => i,
            None => {
                rows.push(UsageDelta {
                    tenant_id: self.tenant.id.clone(),
                    key_id: self.key.id.to_string(),
                    model: model.to_owned(),
                    day,
                    ..UsageDelta::default()
                });
                rows.len() - 1
            }
        };
        let e = &mut rows[i];
        e.requests += 1;
        e.prompt_tokens += prompt;
        e.completion_tokens += completion;
        e.cost_micros += cost;
        drop(pending);
        if let Some(capture) = self.capture.take() {
            let answer = self.answer.take();
            if let Err(err) = t.log_inference(
                &self.tenant.id,
                &self.key_prefix,
                model,
                capture,
                answer,
                &outcome,
                (prompt, completion, cost),
            ) {
                tracing::error!(error = %err, "inference-log row not written");
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.finished {
            // Refused or abandoned before it was served: release the slots and return the
            // budget reservation.
            self.tenancy.limiter.leave(&self.gates);
            if self.reserved {
                let tokens = to_i64(self.estimate.prompt_tokens + self.estimate.completion_tokens);
                self.charge(-tokens, -to_i64(self.estimated_cost()));
            }
        }
    }
}

impl Tenancy {
    #[allow(clippy::too_many_arguments)]
    fn log_inference(
        &self,
        tenant: &str,
        key_prefix: &str,
        model: &str,
        capture: Capture,
        answer: Option<serde_json::Value>,
        outcome: &Outcome,
        (prompt, completion, cost): (u64, u64, u64),
    ) -> Result<()> {
        let keyring = self
            .keyring()
            .ok_or_else(|| Error::Unavailable("encryption is not configured".into()))?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let payload = serde_json::json!({
            "subject": capture.subject,
            "request": capture.request,
            "response": answer,
        });
        let plain = serde_json::to_vec(&payload).map_err(|e| Error::Crypto(e.to_string()))?;
        // A data subject's row is sealed under the subject's own key when flushed.
        let (data_key_id, nonce, ct) = match capture.subject {
            Some(_) => (String::new(), Vec::new(), Vec::new()),
            None => keyring.encrypt(&plain, &crate::crypto::row_aad(&id, tenant))?,
        };
        let record = InferenceRecord {
            id,
            ts: now_millis(),
            tenant_id: tenant.to_owned(),
            key_prefix: key_prefix.to_owned(),
            subject_hash: capture.subject.as_deref().map(|s| keyring.subject_hash(s)),
            model: model.to_owned(),
            target: outcome.target.clone(),
            status: outcome.status,
            latency_ms: outcome.latency_ms,
            prompt_tokens: Some(prompt),
            completion_tokens: Some(completion),
            cost_micros: Some(cost),
            guard: outcome.guard.clone(),
            data_key_id,
            subject_key_id: None,
            nonce,
            payload: ct,
        };
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if record.subject_hash.is_some() {
            pending.to_seal.push((record, plain));
        } else {
            pending.inference.push(record);
        }
        Ok(())
    }
}

impl Admission<'_> {
    /// Spending of a scope (`key:ID` or `tenant:ID`) today and this month.
    pub fn spent(&self, scope: &str) -> (u64, u64, u64, u64) {
        self.budgets.spent(scope, day_of(now_millis()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_header_forms() {
        assert_eq!(reset_header(Duration::from_millis(20)), "20ms");
        assert_eq!(reset_header(Duration::from_millis(1500)), "2s");
        assert_eq!(reset_header(Duration::from_secs(360)), "6m0s");
    }
}
