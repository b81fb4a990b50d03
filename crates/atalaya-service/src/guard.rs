//! The guard stage of the gateway pipeline, and the scan service that `/v1/guard/*` and
//! `atalaya guard scan|redact` share.
//!
//! For a route with a guard policy, [`GuardService::protect`] runs before the request leaves:
//! injection detection on the last user message (direct) and on tool output (indirect), PII
//! pseudonymization of user, tool and assistant-history messages (the vault stays in memory
//! for this request only), and a canary line in the system prompt. The [`RequestGuard`] it
//! returns checks and restores the answer: whole ([`RequestGuard::finish`]) or streamed
//! ([`RequestGuard::wrap_stream`], placeholders split across chunks included). Decisions go to
//! the `x-atalaya-guard` header, the `atalaya.guard` object, the
//! `atalaya_guard_decisions_total` metric and the log — never the sensitive text.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use atalaya_api::guard as wire;
use atalaya_config::Config;
use atalaya_core::{
    domain::{ChatMessage, ChatRequest, Content, Role, StreamChunk},
    gateway::GatewayStream,
    metrics::Metrics,
    Error,
};
use atalaya_guard::{
    output::{self, OutputContext, OutputTrack},
    policy::{Action, InjectionAction, OutputAction},
    pseudo::{StreamRestorer, Vault},
    EntityType, Guard, GuardError, Policy, Source,
};
use bytes::Bytes;
use futures::StreamExt;
use regex::Regex;
use serde_json::{json, Value};

pub struct GuardService {
    guard: Arc<Guard>,
    metrics: Arc<Metrics>,
    /// Policies by name, prepared once at start-up.
    policies: HashMap<String, Arc<RoutePolicy>>,
    /// Each configured route's policy (`None`: unguarded), resolved at start-up.
    routes: HashMap<String, Option<Arc<RoutePolicy>>>,
    /// `guard.default_policy`: for names that are not routes (they end in 404 anyway) and for
    /// `/v1/guard/*` without `?policy=`.
    default: Option<Arc<RoutePolicy>>,
    /// Built-in defaults, for `/v1/guard/*` when no policy is configured.
    builtin: Arc<RoutePolicy>,
}

/// A policy with what it needs at request time prepared once: its deny-list regex.
#[derive(Clone)]
pub struct RoutePolicy {
    pub name: String,
    pub policy: Policy,
    deny: Option<Regex>,
}

impl RoutePolicy {
    fn new(name: &str, policy: Policy) -> Result<Self, Error> {
        let deny = output::deny_regex(&policy.output)
            .map_err(|e| Error::config(format!("guard.policies.{name}"), e.to_string()))?;
        Ok(RoutePolicy {
            name: name.to_string(),
            policy,
            deny,
        })
    }

    /// The same policy without its injection check: for a pipeline's model calls once the
    /// pipeline's own input `guard` step has judged the text with its own thresholds.
    pub fn without_injection(self: &Arc<Self>) -> Arc<RoutePolicy> {
        if !self.policy.injection.enabled {
            return Arc::clone(self);
        }
        let mut p = RoutePolicy::clone(self);
        p.policy.injection.enabled = false;
        Arc::new(p)
    }
}

/// A model call Atalaya makes itself (a grounded answer, a pipeline step), guarded as a
/// client's request on the same route would be.
pub struct GuardedCall<'a> {
    pub service: &'a GuardService,
    pub policy: Arc<RoutePolicy>,
    /// Retrieved documents already dropped by the indirect-injection check.
    pub dropped: Vec<FlaggedDocument>,
    /// The message holding the sources Atalaya inserted (screened as documents already).
    pub sources_at: Option<usize>,
}

impl GuardedCall<'_> {
    /// The input stage on `req` (rewritten in place): the guard that processes its answer.
    pub fn protect(self, req: &mut ChatRequest) -> Result<RequestGuard, Error> {
        self.service
            .protect(self.policy, req, self.dropped, self.sources_at)
    }
}

/// The answer of one guarded (or unguarded) model call.
pub struct Completion {
    /// The first choice's text: output-checked and restored under a policy.
    pub text: String,
    pub usage: Option<Value>,
    /// The guard's decisions, under a policy.
    pub guard: Option<GuardSummary>,
}

/// What a guarded call reports.
#[derive(Debug, Clone)]
pub struct GuardSummary {
    /// `atalaya.guard`: the policy and every input and output decision.
    pub report: Value,
    /// As the `x-atalaya-guard` header (input decisions), for the access and inference logs.
    pub header: String,
}

/// The domain request of an OpenAI-shaped chat-completion body built in process (by a
/// grounded answer or a pipeline step).
pub(crate) fn chat_request(body: Value) -> Result<ChatRequest, Error> {
    let wire: atalaya_api::ChatCompletionRequest = serde_json::from_value(body)
        .map_err(|e| Error::Internal(format!("completion request: {e}")))?;
    ChatRequest::try_from(wire)
}

/// One chat completion through the gateway from an OpenAI-shaped request body, under a guard
/// policy when one is given: the input stage rewrites the request before it leaves, the
/// output stage checks and restores the answer. `/answer` and every pipeline model step
/// share it, so none reaches a model around the guard.
pub async fn complete(
    gateway: &atalaya_core::gateway::Gateway,
    ctx: &crate::context::RequestContext,
    body: Value,
    guard: Option<GuardedCall<'_>>,
) -> Result<Completion, Error> {
    let mut req = chat_request(body)?;
    let mut guard = guard.map(|g| g.protect(&mut req)).transpose()?;
    let routed = gateway.chat(ctx, &req).await?;
    let mut parsed: Value =
        serde_json::from_slice(&routed.value.body).map_err(|e| Error::Upstream {
            target: routed.target.clone(),
            detail: format!("invalid JSON in the completion: {e}"),
        })?;
    let report = match guard.as_mut() {
        Some(g) => {
            g.finish(&mut parsed)?;
            Some(GuardSummary {
                report: g.report(),
                header: g.header(),
            })
        }
        None => None,
    };
    let text = parsed
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(Completion {
        text,
        usage: parsed.get("usage").cloned(),
        guard: report,
    })
}

/// A retrieved document dropped by the indirect-injection check.
#[derive(Debug, Clone)]
pub struct FlaggedDocument {
    /// Its position among the retrieved hits.
    pub index: usize,
    pub score: f32,
    pub reasons: Vec<&'static str>,
}

/// A guard error as the API reports it (400 `guardrail_violation`, detector named).
pub fn to_error(e: GuardError, param: Option<String>) -> Error {
    match e {
        GuardError::Policy(_) | GuardError::Model { .. } => Error::Internal(e.to_string()),
        other => Error::Guardrail {
            detector: other.detector().to_string(),
            message: other.to_string(),
            param,
        },
    }
}

fn source_of(s: Option<&str>) -> Result<Source, Error> {
    match s {
        None | Some("user") => Ok(Source::User),
        Some("document") => Ok(Source::Document),
        Some(other) => Err(Error::invalid(
            format!("'source' must be \"user\" or \"document\", got \"{other}\""),
            Some("source"),
        )),
    }
}

/// Scans (and with `redact`, redacts) items: the one implementation behind the HTTP endpoint
/// and the CLI.
pub fn scan_items(
    guard: &Guard,
    policy: &Policy,
    items: Vec<wire::ScanItem>,
    redact: bool,
) -> Result<Vec<wire::ScanResult>, Error> {
    items
        .into_iter()
        .map(|item| scan_item(guard, policy, item, redact))
        .collect()
}

/// One item of [`scan_items`].
pub fn scan_item(
    guard: &Guard,
    policy: &Policy,
    item: wire::ScanItem,
    redact: bool,
) -> Result<wire::ScanResult, Error> {
    let source = source_of(item.source.as_deref())?;
    let (report, redacted) = if redact {
        let r = guard
            .redact(&item.text, source, policy)
            .map_err(|e| to_error(e, None))?;
        (r.report, Some(r.text))
    } else {
        (guard.scan(&item.text, source, policy), None)
    };
    let pii = report
        .char_spans(&item.text)
        .into_iter()
        .map(|(f, start, end)| wire::PiiSpan {
            kind: f.kind.as_str().to_string(),
            start,
            end,
            score: round(f.score),
        })
        .collect();
    Ok(wire::ScanResult {
        id: item.id,
        pii,
        injection: report.injection.map(|r| wire::InjectionResult {
            score: round(r.score),
            flagged: r.flagged,
            reasons: r.reasons.iter().map(|s| (*s).to_string()).collect(),
        }),
        redacted,
    })
}

fn round(x: f32) -> f32 {
    (x * 10_000.0).round() / 10_000.0
}

/// One decision, for the response and the metric.
#[derive(Debug, Clone)]
struct Decision {
    detector: &'static str,
    action: &'static str,
    kind: Option<EntityType>,
    count: u32,
    score: Option<f32>,
    reasons: Vec<&'static str>,
}

impl Decision {
    fn json(&self) -> Value {
        let mut v = json!({"detector": self.detector, "action": self.action});
        if let Some(k) = self.kind {
            v["type"] = json!(k.as_str());
        }
        if self.count > 0 {
            v["count"] = json!(self.count);
        }
        if let Some(s) = self.score {
            v["score"] = json!(round(s));
        }
        if !self.reasons.is_empty() {
            v["reasons"] = json!(self.reasons);
        }
        v
    }
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Pseudonymize => "pseudonymize",
        Action::Mask => "mask",
        Action::Block => "block",
        Action::Allow => "allow",
    }
}

fn output_action_name(a: OutputAction) -> &'static str {
    match a {
        OutputAction::Mask => "mask",
        OutputAction::Block => "block",
        OutputAction::Flag => "flag",
        OutputAction::Allow => "allow",
    }
}

impl GuardService {
    /// Prepares every configured policy (and each route's choice of one) once.
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Result<Self, Error> {
        let guard = Guard::new().map_err(|e| Error::Internal(e.to_string()))?;
        let policies = config
            .guard
            .policies
            .iter()
            .map(|(n, p)| Ok((n.clone(), Arc::new(RoutePolicy::new(n, p.clone())?))))
            .collect::<Result<HashMap<_, _>, Error>>()?;
        let lookup = |name: &str| policies.get(name).cloned();
        let routes = config
            .models
            .keys()
            .map(|m| {
                (
                    m.clone(),
                    config.guard_policy(m).and_then(|(n, _)| lookup(n)),
                )
            })
            .collect();
        let default = config.guard.default_policy.as_deref().and_then(lookup);
        Ok(GuardService {
            guard: Arc::new(guard),
            metrics,
            routes,
            default,
            builtin: Arc::new(RoutePolicy::new("default", Policy::default())?),
            policies,
        })
    }

    /// The policy of a route, if it is guarded.
    pub fn policy_for(&self, model: &str) -> Option<Arc<RoutePolicy>> {
        match self.routes.get(model) {
            Some(p) => p.clone(),
            None => self.default.clone(),
        }
    }

    /// The policy of a request of a tenant with `tenant_policy` (a name or `off`) on route
    /// `model`: the tenant's when it has one, else the route's.
    pub fn policy_for_tenant(
        &self,
        tenant_policy: Option<&str>,
        model: &str,
    ) -> Option<Arc<RoutePolicy>> {
        match tenant_policy {
            None => self.policy_for(model),
            Some("off") => None,
            Some(name) => match self.policies.get(name) {
                Some(p) => Some(p.clone()),
                None => {
                    // Checked when set; a policy since removed from the config falls back.
                    tracing::warn!(
                        policy = name,
                        "a tenant's guard policy is not configured; the route's policy applies"
                    );
                    self.policy_for(model)
                }
            },
        }
    }

    /// The policy `/v1/guard/*` uses: `?policy=NAME`, else the default one, else built-in
    /// defaults.
    pub fn named_policy(&self, name: Option<&str>) -> Result<Arc<RoutePolicy>, Error> {
        match name {
            Some(n) => self
                .policies
                .get(n)
                .cloned()
                .ok_or_else(|| Error::NotFound(format!("guard policy '{n}'"))),
            None => Ok(self.default.clone().unwrap_or_else(|| self.builtin.clone())),
        }
    }

    pub fn scan(
        &self,
        policy: &Policy,
        items: Vec<wire::ScanItem>,
        redact: bool,
    ) -> Result<Vec<wire::ScanResult>, Error> {
        scan_items(&self.guard, policy, items, redact)
    }

    /// Indirect injection: removes from `hits` the retrieved chunks that carry instructions
    /// (they never reach a model) and returns them, as the request's guard reports them.
    pub fn drop_flagged(
        &self,
        policy: &Policy,
        hits: &mut Vec<atalaya_knowledge::service::Hit>,
    ) -> Vec<FlaggedDocument> {
        if !policy.injection.enabled {
            return Vec::new();
        }
        let threshold = policy.injection.threshold_for(Source::Document);
        let dropped: Vec<FlaggedDocument> = hits
            .iter()
            .enumerate()
            .filter_map(|(index, h)| {
                let r = self
                    .guard
                    .injection
                    .scan(&h.chunk.text, Source::Document, threshold);
                r.flagged.then_some(FlaggedDocument {
                    index,
                    score: r.score,
                    reasons: r.reasons,
                })
            })
            .collect();
        for d in dropped.iter().rev() {
            hits.remove(d.index);
        }
        dropped
    }

    /// The policy a model call of `tenant` on route `model` runs under: the tenant's guard
    /// policy when it has one, else the route's (`None`: unguarded).
    pub fn policy_of(
        &self,
        tenancy: &Arc<atalaya_tenancy::Tenancy>,
        tenant: &str,
        model: &str,
    ) -> Option<Arc<RoutePolicy>> {
        self.policy_for_tenant(tenancy.admission().guard_policy(tenant).as_deref(), model)
    }

    /// Counts a decision in the metrics and keeps it for the request's report.
    fn record(&self, decisions: &mut Vec<Decision>, d: Decision) {
        self.metrics.guard_decision(d.detector, d.action);
        decisions.push(d);
    }

    /// Runs the input stage on a request (rewriting it in place) and returns the guard that
    /// processes its answer.
    pub fn protect(
        &self,
        route_policy: Arc<RoutePolicy>,
        req: &mut ChatRequest,
        dropped_documents: Vec<FlaggedDocument>,
        sources_at: Option<usize>,
    ) -> Result<RequestGuard, Error> {
        let policy = &route_policy.policy;
        let mut decisions: Vec<Decision> = dropped_documents
            .into_iter()
            .map(|d| Decision {
                detector: "injection_document",
                action: "drop",
                kind: None,
                count: 1,
                score: Some(d.score),
                reasons: d.reasons,
            })
            .collect();
        // The messages' text before any rewriting: scanned for injection, and the inputs a
        // placeholder must not collide with.
        let originals: Vec<String> = if policy.injection.enabled || policy.pii.enabled {
            req.messages.iter().map(|m| m.text()).collect()
        } else {
            Vec::new()
        };
        // Logprobs would reveal the answer's tokens before the output checks saw them.
        if policy.output.enabled && req.params.logprobs == Some(true) {
            return Err(Error::invalid(
                "logprobs are not returned on a route with output checks (they would carry the unchecked answer); drop 'logprobs' or use a route without output checks",
                Some("logprobs"),
            ));
        }
        // 1. Injection: every user turn and every client-supplied system or developer
        //    message (direct), tool output and the tool calls replayed in the history
        //    (indirect). The sources Atalaya inserted were screened as documents already.
        if policy.injection.enabled {
            let last_user = req.messages.iter().rposition(|m| m.role == Role::User);
            for (i, m) in req.messages.iter().enumerate() {
                let calls = tool_call_text(m);
                // A system prompt is instructions by nature, which the classifier is trained
                // to flag: there, only the rules (an override, a mode switch, a fake
                // delimiter) count.
                let system = matches!(m.role, Role::System | Role::Developer);
                let (source, text) = match m.role {
                    Role::User => (Source::User, originals[i].clone()),
                    Role::System | Role::Developer if Some(i) != sources_at => {
                        (Source::User, originals[i].clone())
                    }
                    Role::Tool | Role::Function => (Source::Document, originals[i].clone()),
                    Role::Assistant if !calls.is_empty() => (Source::Document, calls),
                    _ => continue,
                };
                let mut r = self.guard.injection.scan(
                    &text,
                    source,
                    policy.injection.threshold_for(source),
                );
                if system {
                    r.reasons.retain(|x| *x != "classifier");
                    r.flagged = r.flagged && !r.reasons.is_empty();
                }
                let detector = match source {
                    Source::User => "injection",
                    Source::Document => "injection_document",
                };
                if r.flagged {
                    let action = match policy.injection.action {
                        InjectionAction::Block => "block",
                        InjectionAction::Flag => "flag",
                    };
                    if policy.injection.action == InjectionAction::Block {
                        self.metrics.guard_decision(detector, action);
                        tracing::info!(detector, score = r.score, reasons = ?r.reasons, "guard blocked a request");
                        return Err(to_error(
                            GuardError::Injection {
                                score: r.score,
                                reasons: r.reasons.join(", "),
                            },
                            Some(format!("messages[{i}]")),
                        ));
                    }
                    self.record(
                        &mut decisions,
                        Decision {
                            detector,
                            action,
                            kind: None,
                            count: 1,
                            score: Some(r.score),
                            reasons: r.reasons,
                        },
                    );
                } else if Some(i) == last_user {
                    self.record(
                        &mut decisions,
                        Decision {
                            detector,
                            action: "pass",
                            kind: None,
                            count: 0,
                            score: Some(r.score),
                            reasons: Vec::new(),
                        },
                    );
                }
            }
        }
        // 2. PII in every message (the retrieved sources and client system prompts too),
        //    in the tool-call arguments of the history, and in the `user` field.
        let mut vault = Vault::new();
        let mut counts: HashMap<(EntityType, Action), u32> = HashMap::new();
        if policy.pii.enabled {
            let inputs: Vec<&str> = originals.iter().map(String::as_str).collect();
            // Pseudonymizes one text in place; `param` names it in a block error.
            let mut redact_text =
                |t: &mut String, param: &dyn Fn() -> String| -> Result<(), Error> {
                    let findings = self.guard.pii.scan(t);
                    if findings.is_empty() {
                        return Ok(());
                    }
                    let (new, reps) =
                        atalaya_guard::pseudo::redact(t, &findings, policy, &mut vault, &inputs)
                            .map_err(|e| {
                                if let GuardError::BlockedEntity(_) = e {
                                    self.metrics.guard_decision("pii", "block");
                                }
                                to_error(e, Some(param()))
                            })?;
                    for r in reps {
                        *counts.entry((r.kind, r.action)).or_insert(0) += 1;
                    }
                    *t = new;
                    Ok(())
                };
            if let Some(user) = req.user.as_mut() {
                redact_text(user, &|| "user".into())?;
            }
            for (i, m) in req.messages.iter_mut().enumerate() {
                let param = || format!("messages[{i}]");
                match &mut m.content {
                    Content::Text(t) => redact_text(t, &param)?,
                    Content::Parts(parts) => {
                        for p in parts.iter_mut() {
                            if let Some(t) = p.text.as_mut() {
                                redact_text(t, &param)?;
                            }
                        }
                    }
                    Content::None => {}
                }
                for call in m.tool_calls.iter_mut().flatten() {
                    if let Some(Value::String(args)) = call.pointer_mut("/function/arguments") {
                        redact_text(args, &param)?;
                    }
                }
            }
        }
        let mut kinds: Vec<_> = counts.into_iter().collect();
        kinds.sort_by_key(|((k, _), _)| *k);
        for ((kind, action), count) in kinds {
            self.record(
                &mut decisions,
                Decision {
                    detector: "pii",
                    action: action_name(action),
                    kind: Some(kind),
                    count,
                    score: None,
                    reasons: Vec::new(),
                },
            );
        }
        // 3. Output checks: the canary in the system prompt, what the model was sent.
        let output = if policy.output.enabled {
            // The operator's system prompt: not the retrieved sources Atalaya inserted.
            let system: String = req
                .messages
                .iter()
                .enumerate()
                .filter(|(i, m)| {
                    matches!(m.role, Role::System | Role::Developer) && Some(*i) != sources_at
                })
                .map(|(_, m)| m)
                .map(|m| m.text())
                .collect::<Vec<_>>()
                .join("\n");
            let canary = if policy.output.canary {
                req.messages
                    .iter_mut()
                    .find(|m| matches!(m.role, Role::System | Role::Developer))
                    .and_then(|m| {
                        let c = output::new_canary();
                        match &mut m.content {
                            Content::Text(t) => {
                                t.push_str(&output::canary_line(&c));
                                Some(c)
                            }
                            _ => None,
                        }
                    })
            } else {
                None
            };
            let sent: String = req
                .messages
                .iter()
                .map(|m| m.text())
                .collect::<Vec<_>>()
                .join("\n");
            Some(OutputContext::new(
                canary,
                route_policy.deny.clone(),
                &system,
                sent,
            ))
        } else {
            None
        };
        Ok(RequestGuard {
            guard: self.guard.clone(),
            metrics: self.metrics.clone(),
            policy: route_policy,
            vault,
            output,
            decisions,
            output_decisions: Vec::new(),
        })
    }
}

/// The answer side of one guarded request.
pub struct RequestGuard {
    guard: Arc<Guard>,
    metrics: Arc<Metrics>,
    policy: Arc<RoutePolicy>,
    vault: Vault,
    output: Option<OutputContext>,
    decisions: Vec<Decision>,
    output_decisions: Vec<Decision>,
}

impl RequestGuard {
    /// The `x-atalaya-guard` header: `policy=NAME; pii=N; injection=SCORE; flags=N` (input
    /// decisions only, so it is known before the answer).
    pub fn header(&self) -> String {
        let pii: u32 = self
            .decisions
            .iter()
            .filter(|d| d.detector == "pii")
            .map(|d| d.count)
            .sum();
        let inj = self
            .decisions
            .iter()
            .filter(|d| d.detector == "injection")
            .filter_map(|d| d.score)
            .fold(0f32, f32::max);
        format!(
            "policy={}; pii={pii}; injection={:.2}; flags={}",
            self.policy.name,
            inj,
            self.decisions
                .iter()
                .filter(|d| d.action == "flag" || d.action == "drop")
                .count()
        )
    }

    fn report(&self) -> Value {
        json!({
            "policy": self.policy.name,
            "input": self.decisions.iter().map(Decision::json).collect::<Vec<_>>(),
            "output": self.output_decisions.iter().map(Decision::json).collect::<Vec<_>>(),
        })
    }

    /// Output checks on one text (before restoration: restored values are the client's own),
    /// with their decisions recorded. A stream reports each check once (`pii` per finding).
    fn output_check(&mut self, text: &str, track: &mut OutputTrack) -> Result<String, Error> {
        let Some(ctx) = &self.output else {
            return Ok(text.to_string());
        };
        let (checked, found) = ctx
            .check(&self.guard.pii, &self.policy.policy.output, text, track)
            .map_err(|e| {
                if let GuardError::OutputBlocked { check } = &e {
                    self.metrics.guard_decision(output_detector(check), "block");
                }
                to_error(e, None)
            })?;
        for f in found {
            let action = output_action_name(f.action);
            let detector = output_detector(f.check);
            let repeated = detector != "output_pii"
                && self.output_decisions.iter().any(|d| d.detector == detector);
            if repeated {
                continue;
            }
            self.metrics.guard_decision(detector, action);
            self.output_decisions.push(Decision {
                detector,
                action,
                kind: f.kind,
                count: 1,
                score: None,
                reasons: Vec::new(),
            });
        }
        Ok(checked)
    }

    /// The error for an answer a guarded route cannot read.
    pub fn not_json(e: &serde_json::Error) -> Error {
        Error::Upstream {
            target: "guard".into(),
            detail: format!("the answer is not JSON ({e}); a guarded route needs it"),
        }
    }

    /// Checks and restores a complete (non-streamed) answer, parsed: message contents,
    /// tool-call arguments; adds `atalaya.guard`.
    pub fn finish(&mut self, v: &mut Value) -> Result<(), Error> {
        if let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) {
            for c in choices {
                let Some(msg) = c.get_mut("message") else {
                    continue;
                };
                // The answer, a refusal, the visible reasoning and tool-call arguments are all
                // text the client receives: each is checked, then restored.
                for field in ["content", "refusal", "reasoning_content"] {
                    if let Some(text) = msg.get(field).and_then(Value::as_str).map(str::to_owned) {
                        let checked = self.output_check(&text, &mut OutputTrack::default())?;
                        msg[field] = Value::String(self.vault.restore(&checked));
                    }
                }
                if let Some(calls) = msg.get_mut("tool_calls").and_then(Value::as_array_mut) {
                    for call in calls.iter_mut() {
                        let args = call
                            .pointer("/function/arguments")
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                        if let Some(args) = args {
                            let checked = self.output_check(&args, &mut OutputTrack::default())?;
                            if let Some(slot) = call.pointer_mut("/function/arguments") {
                                *slot = Value::String(checked);
                            }
                        }
                    }
                    restore_tool_calls(&self.vault, calls);
                }
            }
        }
        if let Some(ext) = atalaya_ext(v) {
            ext.insert("guard".into(), self.report());
        }
        Ok(())
    }

    /// Checks and restores a streamed answer. Placeholders split across chunks are held back
    /// until complete; with output checks on, text is released a sentence at a time (a check
    /// needs whole entities). A blocking check ends the stream with an error event. The last
    /// chunk before the end carries `atalaya.guard`.
    pub fn wrap_stream(self, inner: GatewayStream, model: String) -> GatewayStream {
        let state = StreamState {
            guard: self,
            inner,
            choices: HashMap::new(),
            done: false,
            model,
        };
        Box::pin(futures::stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            loop {
                match st.inner.next().await {
                    Some(Ok(chunk)) => match st.chunk(chunk) {
                        Ok(Some(c)) => return Some((Ok(c), st)),
                        Ok(None) => continue,
                        Err(e) => {
                            st.done = true;
                            return Some((Err(e), st));
                        }
                    },
                    Some(Err(e)) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                    None => {
                        st.done = true;
                        return match st.tail() {
                            Ok(c) => Some((Ok(c), st)),
                            Err(e) => Some((Err(e), st)),
                        };
                    }
                }
            }
        }))
    }
}

/// The `atalaya` extension object of a response body, created if missing; `None` when the
/// body is not a JSON object (or its `atalaya` is not one).
pub fn atalaya_ext(v: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    v.as_object_mut()?
        .entry("atalaya")
        .or_insert_with(|| json!({}))
        .as_object_mut()
}

/// One streamed tool call's arguments: restored as they come, or, with output checks on,
/// held whole until the choice finishes (a check needs the whole value), then checked and
/// restored.
#[derive(Default)]
struct CallState {
    restorer: StreamRestorer,
    held: String,
}

impl CallState {
    fn holding(&self) -> bool {
        !self.held.is_empty() || self.restorer.holding()
    }
}

/// Rewrites one streamed choice's tool-call argument fragments (each call by its `index`):
/// placeholders restored (held-back text goes out with a later fragment) and, with output
/// checks on, the arguments held until the finish and checked whole. At the choice's finish,
/// what is still held goes out as one more fragment per call. `None` when the choice carries
/// no tool calls and none were held.
fn stream_tool_calls(
    guard: &mut RequestGuard,
    calls_state: &mut BTreeMap<u64, CallState>,
    choice: &mut Value,
    finish: bool,
) -> Result<Option<()>, Error> {
    let checked = guard.output.is_some();
    let mut touched = false;
    if let Some(calls) = choice
        .pointer_mut("/delta/tool_calls")
        .and_then(Value::as_array_mut)
    {
        for call in calls.iter_mut() {
            let k = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            if let Some(args) = call.pointer_mut("/function/arguments") {
                if let Some(a) = args.as_str() {
                    let st = calls_state.entry(k).or_default();
                    let shown = if checked {
                        st.held.push_str(a);
                        String::new()
                    } else {
                        st.restorer.push(&guard.vault, a)
                    };
                    *args = Value::String(shown);
                }
            }
        }
        touched = true;
    }
    if finish {
        let mut rest: Vec<(u64, String)> = Vec::new();
        for (k, st) in calls_state.iter_mut() {
            let text = if checked {
                let held = std::mem::take(&mut st.held);
                if held.is_empty() {
                    String::new()
                } else {
                    let ok = guard.output_check(&held, &mut OutputTrack::default())?;
                    guard.vault.restore(&ok)
                }
            } else {
                st.restorer.finish(&guard.vault)
            };
            if !text.is_empty() {
                rest.push((*k, text));
            }
        }
        if !rest.is_empty() {
            let Some(obj) = choice.as_object_mut() else {
                return Ok(None);
            };
            let delta = obj.entry("delta").or_insert_with(|| json!({}));
            let Some(calls) = delta.as_object_mut().and_then(|d| {
                d.entry("tool_calls")
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
            }) else {
                return Ok(None);
            };
            for (k, text) in rest {
                let existing = calls
                    .iter_mut()
                    .find(|c| c.get("index").and_then(Value::as_u64) == Some(k))
                    .and_then(|c| c.pointer_mut("/function/arguments"));
                match existing {
                    Some(Value::String(a)) => a.push_str(&text),
                    _ => calls.push(json!({"index": k, "function": {"arguments": text}})),
                }
            }
            touched = true;
        }
    }
    Ok(touched.then_some(()))
}

/// The tool calls an assistant message of the history carries: names and arguments, one per
/// line (empty without any).
fn tool_call_text(m: &ChatMessage) -> String {
    m.tool_calls
        .iter()
        .flatten()
        .filter_map(|c| {
            let name = c.pointer("/function/name").and_then(Value::as_str)?;
            let args = c
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Some(format!("{name}({args})"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Restores placeholders in tool-call arguments (`function.arguments` strings).
fn restore_tool_calls(vault: &Vault, calls: &mut [Value]) {
    for call in calls {
        if let Some(args) = call.pointer_mut("/function/arguments") {
            if let Some(a) = args.as_str() {
                *args = Value::String(vault.restore(a));
            }
        }
    }
}

fn output_detector(check: &'static str) -> &'static str {
    match check {
        "pii" => "output_pii",
        other => other,
    }
}

/// The text fields of a streamed delta the client reads: each output-checked and restored.
const TEXT_FIELDS: [&str; 3] = ["content", "refusal", "reasoning_content"];

/// One text field of one streamed choice.
#[derive(Default)]
struct FieldState {
    /// Text received and not yet released (output checks need whole sentences).
    raw: String,
    /// What the output checks keep between this field's segments.
    track: OutputTrack,
    restorer: StreamRestorer,
}

impl FieldState {
    fn holding(&self) -> bool {
        !self.raw.is_empty() || self.restorer.holding()
    }
}

#[derive(Default)]
struct ChoiceState {
    /// By field name (`TEXT_FIELDS`).
    fields: BTreeMap<&'static str, FieldState>,
    /// One state per streamed tool call (by its `index`): a placeholder may be split across
    /// argument fragments.
    calls: BTreeMap<u64, CallState>,
    finished: bool,
}

impl ChoiceState {
    fn holding(&self) -> bool {
        self.fields.values().any(FieldState::holding) || self.calls.values().any(CallState::holding)
    }
}

struct StreamState {
    guard: RequestGuard,
    inner: GatewayStream,
    choices: HashMap<u64, ChoiceState>,
    done: bool,
    model: String,
}

/// Where a released segment may end: after the last sentence end or line break, or (for long
/// text without one) the last space.
fn release_point(raw: &str) -> usize {
    let b = raw.as_bytes();
    for i in (0..b.len()).rev() {
        if b[i] == b'\n'
            || (matches!(b[i], b'.' | b'!' | b'?') && b.get(i + 1).is_some_and(|c| *c == b' '))
        {
            return i + 1;
        }
    }
    if raw.len() > 400 {
        return raw.rfind(' ').map_or(0, |i| i + 1);
    }
    0
}

/// What one choice can show now of its incoming text: with output checks, whole segments
/// checked; placeholders restored (a possible placeholder prefix held back until `finish`).
fn release(
    guard: &mut RequestGuard,
    st: &mut FieldState,
    incoming: &str,
    finish: bool,
) -> Result<String, Error> {
    let checked = if guard.output.is_some() {
        st.raw.push_str(incoming);
        let cut = if finish {
            st.raw.len()
        } else {
            release_point(&st.raw)
        };
        if cut == 0 {
            return Ok(String::new());
        }
        let segment: String = st.raw.drain(..cut).collect();
        guard.output_check(&segment, &mut st.track)?
    } else {
        incoming.to_string()
    };
    let mut out = st.restorer.push(&guard.vault, &checked);
    if finish {
        out.push_str(&st.restorer.finish(&guard.vault));
    }
    Ok(out)
}

impl StreamState {
    /// Rewrites one upstream chunk; `None` when nothing is left to send in it.
    fn chunk(&mut self, mut chunk: StreamChunk) -> Result<Option<StreamChunk>, Error> {
        if chunk.usage_only {
            return Ok(Some(chunk));
        }
        let Ok(mut v) = serde_json::from_slice::<Value>(&chunk.data) else {
            return Ok(Some(chunk));
        };
        let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) else {
            return Ok(Some(chunk));
        };
        let mut empty = true;
        for c in choices.iter_mut() {
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
            let finish = c.get("finish_reason").is_some_and(|f| !f.is_null());
            let st = self.choices.entry(index).or_default();
            let mut released_any = false;
            for field in TEXT_FIELDS {
                let incoming = c
                    .get("delta")
                    .and_then(|d| d.get(field))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if incoming.is_none() && !(finish && st.fields.contains_key(field)) {
                    continue;
                }
                let fs = st.fields.entry(field).or_default();
                let released = release(
                    &mut self.guard,
                    fs,
                    incoming.as_deref().unwrap_or_default(),
                    finish,
                )?;
                if incoming.is_some() || !released.is_empty() {
                    released_any |= !released.is_empty();
                    // A finish chunk may come without a `delta`: held text still goes out.
                    let delta = c
                        .as_object_mut()
                        .map(|o| o.entry("delta").or_insert_with(|| json!({})))
                        .and_then(Value::as_object_mut);
                    if let Some(delta) = delta {
                        delta.insert(field.into(), Value::String(released));
                    }
                }
            }
            if finish {
                st.finished = true;
            }
            let restored_calls =
                stream_tool_calls(&mut self.guard, &mut st.calls, c, finish)?.is_some();
            let has_other = c.get("delta").and_then(Value::as_object).is_some_and(|d| {
                d.keys().any(|k| !TEXT_FIELDS.contains(&k.as_str())) || d.is_empty()
            });
            if released_any
                || finish
                || restored_calls
                || has_other
                || c.get("logprobs").is_some_and(|l| !l.is_null())
            {
                empty = false;
            }
        }
        if empty {
            return Ok(None);
        }
        // What the client receives is the rewritten text.
        chunk.content = atalaya_core::domain::contents(&v["choices"]);
        chunk.data =
            Bytes::from(serde_json::to_vec(&v).map_err(|e| Error::Internal(e.to_string()))?);
        Ok(Some(chunk))
    }

    /// Text still held when the upstream ended without a finish chunk, and the report.
    fn tail(&mut self) -> Result<StreamChunk, Error> {
        let open: Vec<u64> = self
            .choices
            .iter()
            .filter(|(_, s)| !s.finished && s.holding())
            .map(|(i, _)| *i)
            .collect();
        let mut choices = Vec::new();
        for i in open {
            let st = self.choices.entry(i).or_default();
            let mut delta = serde_json::Map::new();
            for (field, fs) in st.fields.iter_mut() {
                let text = release(&mut self.guard, fs, "", true)?;
                if !text.is_empty() {
                    delta.insert((*field).into(), Value::String(text));
                }
            }
            let mut choice = json!({"index": i, "delta": delta, "finish_reason": null});
            stream_tool_calls(&mut self.guard, &mut st.calls, &mut choice, true)?;
            choices.push(choice);
        }
        let v = json!({
            "object": "chat.completion.chunk",
            "model": self.model,
            "choices": choices,
            "atalaya": {"guard": self.guard.report()},
        });
        Ok(StreamChunk::with_choices(
            Bytes::from(v.to_string()),
            &v["choices"],
        ))
    }
}

/// What a pipeline's `guard` step learned about one text (the pipeline crate's type).
pub use atalaya_pipeline::host::TextCheck;

impl GuardService {
    /// The input stage of `policy` on one text, for a pipeline step: injection detection and
    /// PII redaction. A blocking decision is reported, not raised (the step decides).
    ///
    /// `block_at`: with a blocking injection action, only a score at or above it blocks; a
    /// text flagged below it is reported (`flagged`) and goes on, redacted (the support
    /// pipeline's two thresholds). `None`: every flagged text blocks.
    pub fn check_input(
        &self,
        rp: &RoutePolicy,
        text: &str,
        document: bool,
        block_at: Option<f32>,
    ) -> TextCheck {
        let policy = &rp.policy;
        let source = if document {
            Source::Document
        } else {
            Source::User
        };
        let mut blocked = None;
        let (out, report, vault) = match self.guard.redact(text, source, policy) {
            Ok(r) => (r.text, r.report, Some(r.vault)),
            Err(e) => {
                blocked = Some(e.to_string());
                (text.to_owned(), self.guard.scan(text, source, policy), None)
            }
        };
        let mut counts: BTreeMap<&'static str, (Action, u32)> = BTreeMap::new();
        for f in &report.pii {
            counts
                .entry(f.kind.as_str())
                .or_insert((policy.action(f.kind), 0))
                .1 += 1;
        }
        let pii: Vec<Value> = counts
            .iter()
            .map(|(t, (a, n))| {
                self.metrics.guard_decision("pii", action_name(*a));
                json!({"type": t, "count": n, "action": action_name(*a)})
            })
            .collect();
        let injection = report.injection.as_ref().map(|r| {
            if r.flagged {
                let blocks = policy.injection.action == InjectionAction::Block
                    && block_at.is_none_or(|t| r.score >= t);
                self.metrics
                    .guard_decision("injection", if blocks { "block" } else { "flag" });
                if blocks && blocked.is_none() {
                    blocked = Some(
                        GuardError::Injection {
                            score: r.score,
                            reasons: r.reasons.join(", "),
                        }
                        .to_string(),
                    );
                }
            }
            json!({"score": round(r.score), "flagged": r.flagged, "reasons": r.reasons})
        });
        let flagged = !pii.is_empty() || report.injection.as_ref().is_some_and(|r| r.flagged);
        TextCheck {
            text: if blocked.is_some() {
                String::new()
            } else {
                out
            },
            vault: if blocked.is_some() { None } else { vault },
            flagged,
            report: json!({
                "policy": rp.name,
                "flagged": flagged,
                "blocked": blocked.is_some(),
                "injection": injection,
                "pii": pii,
            }),
            blocked,
        }
    }

    /// The output stage of `policy` on an answer, for a pipeline step: PII not in
    /// `original`, the deny-list (no canary or system prompt: a step checks text, not a
    /// conversation).
    pub fn check_output(&self, rp: &RoutePolicy, text: &str, original: &str) -> TextCheck {
        let policy = &rp.policy;
        if !policy.output.enabled {
            return TextCheck {
                text: text.to_owned(),
                vault: None,
                flagged: false,
                blocked: None,
                report: json!({"policy": rp.name, "flagged": false, "blocked": false, "output": []}),
            };
        }
        let ctx = OutputContext::new(None, rp.deny.clone(), "", original.to_owned());
        let mut track = OutputTrack::default();
        let (out, found, blocked) =
            match ctx.check(&self.guard.pii, &policy.output, text, &mut track) {
                Ok((t, f)) => (t, f, None),
                Err(e) => (String::new(), Vec::new(), Some(e.to_string())),
            };
        for f in &found {
            self.metrics
                .guard_decision(f.check, output_action_name(f.action));
        }
        let flagged = !found.is_empty() || blocked.is_some();
        TextCheck {
            report: json!({
                "policy": rp.name,
                "flagged": flagged,
                "blocked": blocked.is_some(),
                "output": found,
            }),
            text: out,
            vault: None,
            flagged,
            blocked,
        }
    }
}
