//! Pipelines served: the pipelines of the configuration (and the built-in `support` one),
//! checked against the routes and policies at start-up, and run by the pipeline crate's
//! executor ([`atalaya_pipeline::run::execute`]) over [`RunHost`], this crate's
//! implementation of its [`Host`] trait: every model call goes through the gateway under
//! the caller's guard policy, every search through the knowledge service, every classifier
//! and HTTP call through this crate's checks. `POST /v1/pipelines/{name}/run`,
//! `"model": "pipeline:NAME"` on `/v1/chat/completions`, `POST /v1/tickets` and
//! `atalaya tickets triage` all call [`PipelineService::run`].

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use atalaya_classify::Prediction;
use atalaya_config::Config;
use atalaya_core::{gateway::Gateway, Error};
use atalaya_knowledge::service::{Hit, SearchParams};
use atalaya_pipeline::{
    expr::Templates,
    host::{
        Answer, ChatCall, Delta, DeltaStream, Grounding, GuardCheck, Header, HttpAnswer, HttpCall,
        Quote, TextCheck,
    },
    run::execute,
    spec::{Stage, StepKind},
    sqlite_tickets::SqliteTickets,
    tickets::TicketRecords,
    Host, HostError, Pipeline, PipelineError,
};
use atalaya_tenancy::Tenancy;
use futures::StreamExt;
use serde_json::{json, Map, Value};

use crate::context::RequestContext;
use crate::{
    classify::ClassifyService,
    guard::{self, GuardService, GuardedCall, RoutePolicy},
    knowledge::{self, KnowledgeService},
};

pub use atalaya_pipeline::tickets::TicketInput;
pub use atalaya_pipeline::{RunInput, RunOutcome, StreamSink};

/// The built-in `support` pipeline (`pipelines/support.toml` in the repository).
pub const BUILTIN_SUPPORT: &str = include_str!("../../../pipelines/support.toml");

/// Prefix of pipeline names on `/v1/chat/completions`.
pub const MODEL_PREFIX: &str = "pipeline:";

pub struct PipelineService {
    pipelines: HashMap<String, Arc<Pipeline>>,
    templates: Templates,
    gateway: Arc<Gateway>,
    knowledge: Option<Arc<KnowledgeService>>,
    classify: Arc<ClassifyService>,
    guard: Arc<GuardService>,
    tenancy: Arc<Tenancy>,
    http: reqwest::Client,
    http_allowed: Vec<String>,
    /// Allowed hosts that may resolve to internal addresses (see [`crate::outbound`]).
    http_private: Arc<Vec<String>>,
    answer_model: Option<String>,
    data_dir: PathBuf,
    tickets: Mutex<Option<Arc<dyn TicketRecords>>>,
    pub tickets_pipeline: String,
}

/// Reads the configured pipelines (and the built-in one) and checks what they name against
/// the configuration: model routes, guard policies, `pipelines.vars`.
pub fn load_pipelines(config: &Config) -> Result<HashMap<String, Arc<Pipeline>>, Error> {
    let cfg = &config.pipelines;
    let spec_err = |key: &str, e: PipelineError| Error::config(key, e.to_string());
    let mut found: HashMap<String, Pipeline> = HashMap::new();
    let mut files = Vec::new();
    for (i, p) in cfg.paths.iter().enumerate() {
        let key = format!("pipelines.paths[{i}]");
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::config(&key, format!("{}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    matches!(
                        f.extension().and_then(|x| x.to_str()),
                        Some("toml" | "yaml" | "yml")
                    )
                })
                .collect();
            entries.sort();
            files.extend(entries.into_iter().map(|f| (key.clone(), f)));
        } else if p.is_file() {
            files.push((key, p.clone()));
        } else {
            return Err(Error::config(
                key,
                format!("{} is neither a file nor a directory", p.display()),
            ));
        }
    }
    for (key, f) in files {
        let p = Pipeline::load(&f).map_err(|e| spec_err(&key, e))?;
        if let Some(other) = found.get(&p.name) {
            return Err(Error::config(
                key,
                format!(
                    "pipeline '{}' is defined twice ({} and {})",
                    p.name,
                    other.source,
                    f.display()
                ),
            ));
        }
        found.insert(p.name.clone(), p);
    }
    if cfg.builtin && !found.contains_key("support") {
        let p = Pipeline::parse(BUILTIN_SUPPORT, false, "built-in")
            .map_err(|e| spec_err("pipelines.builtin", e))?;
        found.insert(p.name.clone(), p);
    }
    for (name, vars) in &cfg.vars {
        let Some(p) = found.get_mut(name) else {
            return Err(Error::config(
                format!("pipelines.vars.{name}"),
                format!("no pipeline '{name}' is loaded"),
            ));
        };
        for (k, v) in vars {
            if !p.vars.contains_key(k) {
                return Err(Error::config(
                    format!("pipelines.vars.{name}.{k}"),
                    format!(
                        "pipeline '{name}' has no var '{k}' (it has: {})",
                        p.vars.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            p.vars.insert(k.clone(), v.clone());
        }
    }
    for p in found.values() {
        for (step, model) in p.models() {
            if !config.models.contains_key(model) {
                return Err(Error::config(
                    format!("pipeline '{}' step '{step}'", p.name),
                    format!("'model': '{model}' is not a model route of [models]"),
                ));
            }
        }
        for s in &p.steps {
            if let StepKind::Guard(g) = &s.kind {
                if let Some(pol) = &g.policy {
                    if !config.guard.policies.contains_key(pol) {
                        return Err(Error::config(
                            format!("pipeline '{}' step '{}'", p.name, s.id),
                            format!("'policy': no guard policy '{pol}' in [guard.policies]"),
                        ));
                    }
                }
            }
        }
    }
    Ok(found.into_iter().map(|(k, v)| (k, Arc::new(v))).collect())
}

impl PipelineService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: &Config,
        pipelines: HashMap<String, Arc<Pipeline>>,
        gateway: Arc<Gateway>,
        knowledge: Option<Arc<KnowledgeService>>,
        classify: Arc<ClassifyService>,
        guard: Arc<GuardService>,
        tenancy: Arc<Tenancy>,
        shared_tickets: Option<Arc<dyn TicketRecords>>,
    ) -> Result<Self, Error> {
        let http_private = Arc::new(config.pipelines.http_private_hosts.clone());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(crate::outbound::PublicOnly {
                private_hosts: http_private.clone(),
            }))
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
        Ok(PipelineService {
            pipelines,
            templates: Templates::new(),
            gateway,
            knowledge,
            classify,
            guard,
            tenancy,
            http,
            http_allowed: config.pipelines.http_allowed_hosts.clone(),
            http_private,
            answer_model: config.knowledge.answer_model.clone(),
            data_dir: config.server.data_dir.clone(),
            // The shared store when there is one; else the embedded one, opened on first use.
            tickets: Mutex::new(shared_tickets),
            tickets_pipeline: config.pipelines.tickets_pipeline.clone(),
        })
    }

    /// The loaded pipelines, by name.
    pub fn list(&self) -> Vec<Arc<Pipeline>> {
        let mut v: Vec<_> = self.pipelines.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The model a run of pipeline `name` is admitted and billed under (limits, budgets, the
    /// tenant's model list, usage and cost): its first model step's route, the template
    /// rendered with the pipeline's vars (empty on `generate`/`summarize`:
    /// `knowledge.answer_model`). `None` when it names no model: such runs cost nothing. A run
    /// calling several models is billed under the first; each call still checks the tenant's
    /// model list.
    pub fn billing_model(&self, name: &str) -> Option<String> {
        let p = self.pipelines.get(name)?;
        let vars = json!({ "vars": p.vars });
        p.steps.iter().find_map(|s| {
            let (model, default) = match &s.kind {
                StepKind::Generate(g) => (g.model.as_deref(), self.answer_model.clone()),
                StepKind::Summarize(g) => (g.model.as_deref(), self.answer_model.clone()),
                StepKind::Extract(x) => (Some(x.model.as_str()), None),
                _ => return None,
            };
            model
                .and_then(|m| self.templates.render(m, &vars).ok())
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .or(default)
        })
    }

    pub fn get(&self, name: &str) -> Result<Arc<Pipeline>, Error> {
        self.pipelines
            .get(name)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("pipeline '{name}'")))
    }

    /// The ticket store, data subjects' tickets sealed under their keys
    /// ([`crate::sealed_tickets`]).
    pub fn tickets(&self) -> Result<Arc<dyn TicketRecords>, Error> {
        Ok(Arc::new(crate::sealed_tickets::SealedTickets::new(
            self.ticket_records()?,
            self.tenancy.clone(),
        )))
    }

    /// The ticket store as stored (sealed fields sealed): the shared one, or
    /// `<data_dir>/tickets.db` opened on first use.
    pub fn ticket_records(&self) -> Result<Arc<dyn TicketRecords>, Error> {
        let mut t = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = t.as_ref() {
            return Ok(s.clone());
        }
        let s: Arc<dyn TicketRecords> = Arc::new(SqliteTickets::open(&self.data_dir)?);
        *t = Some(s.clone());
        Ok(s)
    }

    /// Runs pipeline `name` for the caller of `ctx`.
    pub async fn run(
        &self,
        ctx: &RequestContext,
        name: &str,
        input: RunInput,
    ) -> Result<RunOutcome, Error> {
        self.run_with(ctx, name, input, None).await
    }

    /// Runs pipeline `name`, streaming: when its last step is a `generate` with a model (and
    /// the pipeline has no `output` template), that step's answer goes to `sink` as the
    /// upstream produces it, placeholders restored (the trace's `streamed`). Anything else
    /// runs as [`PipelineService::run`] does. `sink` is dropped when the run ends.
    pub async fn run_streaming(
        &self,
        ctx: &RequestContext,
        name: &str,
        input: RunInput,
        sink: StreamSink,
    ) -> Result<RunOutcome, Error> {
        self.run_with(ctx, name, input, Some(sink)).await
    }

    async fn run_with(
        &self,
        ctx: &RequestContext,
        name: &str,
        input: RunInput,
        sink: Option<StreamSink>,
    ) -> Result<RunOutcome, Error> {
        let p = self.get(name)?;
        let host = RunHost { svc: self, ctx };
        execute(&host, &self.templates, &p, input, sink)
            .await
            .map_err(|f| f.0)
    }
}

/// A step's failure as the API's error: the host's own errors pass through unchanged.
pub struct StepFailure(pub Error);

impl From<Error> for StepFailure {
    fn from(e: Error) -> Self {
        StepFailure(e)
    }
}

impl From<PipelineError> for StepFailure {
    fn from(e: PipelineError) -> Self {
        StepFailure(e.into())
    }
}

impl HostError for StepFailure {
    fn is_not_found(&self) -> bool {
        matches!(self.0, Error::NotFound(_))
    }

    fn in_step(self, at: &str) -> Self {
        StepFailure(match self.0 {
            Error::InvalidRequest { message, param } => Error::InvalidRequest {
                message: format!("{at}: {message}"),
                param,
            },
            Error::Internal(m) => Error::Internal(format!("{at}: {m}")),
            Error::Unavailable(m) => Error::Unavailable(format!("{at}: {m}")),
            Error::Upstream { target, detail } => Error::Upstream {
                target,
                detail: format!("{at}: {detail}"),
            },
            other => other,
        })
    }

    fn code(&self) -> &'static str {
        self.0.code().as_str()
    }

    fn public_message(&self) -> String {
        self.0.public_message()
    }
}

/// An `http` step's URL as checked.
struct HttpTarget {
    url: reqwest::Url,
    host: String,
    port: u16,
    /// `pipelines.http_private_hosts` allows it to resolve to an internal address.
    vouched: bool,
}

/// The platform as the steps of one run see it: the caller of `ctx` on the services of
/// `svc`.
pub struct RunHost<'a> {
    svc: &'a PipelineService,
    ctx: &'a RequestContext,
}

impl RunHost<'_> {
    fn guard_policy(&self, name: Option<&str>) -> Result<Option<Arc<RoutePolicy>>, Error> {
        let guard = &self.svc.guard;
        match name {
            Some(n) => guard.named_policy(Some(n)).map(Some),
            None => match self
                .svc
                .tenancy
                .admission()
                .guard_policy(self.tenant())
                .as_deref()
            {
                Some("off") => Ok(None),
                Some(n) => guard
                    .named_policy(Some(n))
                    .or_else(|_| guard.named_policy(None))
                    .map(Some),
                None => guard.named_policy(None).map(Some),
            },
        }
    }

    /// The guard a model call of a run goes through: the tenant's or the model route's
    /// policy, as for a direct request on that route. Once the run's input `guard` step has
    /// judged the text (with its own policy and thresholds), the injection check is not
    /// repeated; PII redaction and the output checks are.
    fn call_guard(&self, call: &ChatCall) -> Option<GuardedCall<'_>> {
        let model = call.body.get("model").and_then(Value::as_str)?;
        let policy = self
            .svc
            .guard
            .policy_of(&self.svc.tenancy, self.tenant(), model)?;
        Some(GuardedCall {
            service: &self.svc.guard,
            policy: match call.input_checked {
                true => policy.without_injection(),
                false => policy,
            },
            dropped: Vec::new(),
            sources_at: None,
        })
    }

    fn kb(&self) -> Result<&Arc<KnowledgeService>, Error> {
        self.svc.knowledge.as_ref().ok_or_else(|| {
            Error::Unavailable("the knowledge base is disabled (knowledge.enabled)".into())
        })
    }

    /// The URL of an `http` step parsed and checked: http or https, an allowed host and
    /// port, and no internal IP literal unless `pipelines.http_private_hosts` vouches for it.
    fn http_target(&self, raw: &str, allowed_hosts: &[String]) -> Result<HttpTarget, Error> {
        let url = reqwest::Url::parse(raw.trim())
            .map_err(|e| Error::invalid(format!("'url': '{raw}' is not a URL: {e}"), None))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::invalid(
                format!("'url': scheme '{}' is not http or https", url.scheme()),
                None,
            ));
        }
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        let default_port = if url.scheme() == "https" { 443 } else { 80 };
        let port = url.port().unwrap_or(default_port);
        let allowed = allowed_hosts
            .iter()
            .chain(self.svc.http_allowed.iter())
            .any(|a| crate::outbound::entry_allows(a, &host, port, default_port));
        if !allowed {
            return Err(Error::PermissionDenied(format!(
                "host '{host}' on port {port} is not allowed for http steps (add it to the step's allowed_hosts or pipelines.http_allowed_hosts; an entry without a port allows the scheme's default port only)"
            )));
        }
        let vouched = self
            .svc
            .http_private
            .iter()
            .any(|e| crate::outbound::entry_allows(e, &host, port, default_port));
        if !vouched {
            if let Ok(ip) = host.parse::<std::net::IpAddr>() {
                if !crate::outbound::is_public(ip) {
                    return Err(Error::PermissionDenied(crate::outbound::refused(&host)));
                }
            }
        }
        Ok(HttpTarget {
            url,
            host,
            port,
            vouched,
        })
    }
}

#[async_trait]
impl Host for RunHost<'_> {
    type Error = StepFailure;

    fn tenant(&self) -> &str {
        &self.ctx.principal.tenant
    }

    fn answer_model(&self) -> Option<String> {
        self.svc.answer_model.clone()
    }

    fn check_model(&self, model: &str) -> Result<(), StepFailure> {
        if let Some(allowed) = self.svc.tenancy.admission().allowed_models(self.tenant()) {
            if !allowed.iter().any(|a| a == model) {
                return Err(Error::ModelNotFound(model.to_owned()).into());
            }
        }
        Ok(())
    }

    async fn chat(&self, call: ChatCall) -> Result<Answer, StepFailure> {
        let guard = self.call_guard(&call);
        let done = guard::complete(&self.svc.gateway, self.ctx, call.body, guard).await?;
        Ok(Answer {
            text: done.text,
            usage: done.usage.and_then(|u| serde_json::from_value(u).ok()),
            guard: done.guard.map(|g| g.report),
        })
    }

    async fn chat_stream(&self, call: ChatCall) -> Result<DeltaStream<StepFailure>, StepFailure> {
        let guard = self.call_guard(&call);
        let mut req = guard::chat_request(call.body)?;
        let guard = guard.map(|g| g.protect(&mut req)).transpose()?;
        let mut stream = self.svc.gateway.chat_stream(self.ctx, &req).await?.value;
        if let Some(g) = guard {
            stream = g.wrap_stream(stream, req.model.clone());
        }
        Ok(stream
            .map(|chunk| {
                let mut chunk = chunk?;
                // The guard's report rides in its last chunk, under `atalaya`: only such a
                // chunk is parsed; the text comes parsed with the chunk.
                let guard = memchr::memmem::find(&chunk.data, b"\"atalaya\"")
                    .and_then(|_| serde_json::from_slice::<Value>(&chunk.data).ok())
                    .and_then(|v| v.pointer("/atalaya/guard").cloned());
                let content = chunk
                    .content
                    .iter_mut()
                    .find(|(i, _)| *i == 0)
                    .map(|(_, t)| std::mem::take(t));
                Ok(Delta {
                    content,
                    usage: chunk.usage,
                    guard,
                })
            })
            .boxed())
    }

    fn check_knowledge(&self) -> Result<(), StepFailure> {
        self.kb().map(|_| ()).map_err(StepFailure)
    }

    async fn retrieve(
        &self,
        collection: &str,
        query: String,
        params: SearchParams,
    ) -> Result<Vec<Hit>, StepFailure> {
        Ok(self
            .kb()?
            .retrieve(
                &self.svc.gateway,
                self.ctx,
                collection,
                query,
                params,
                false,
            )
            .await?)
    }

    async fn ground(&self, answer: String, hits: Arc<Vec<Hit>>) -> Result<Grounding, StepFailure> {
        let embedder = self.kb()?.embedder()?.clone();
        let checked =
            knowledge::blocking(move || knowledge::check_answer(embedder.as_ref(), &answer, &hits))
                .await?;
        Ok(Grounding {
            cited: checked.cited,
            claims: checked.claims,
            unsupported: checked.unsupported.into_iter().map(|(c, _)| c).collect(),
        })
    }

    async fn quote(&self, query: String, hits: Arc<Vec<Hit>>) -> Result<Quote, StepFailure> {
        let embedder = self.kb()?.embedder()?.clone();
        let (text, cited, relevance) = knowledge::blocking(move || {
            knowledge::extractive_answer(embedder.as_ref(), &query, &hits)
        })
        .await?;
        Ok(Quote {
            text,
            cited,
            relevance,
        })
    }

    async fn central(
        &self,
        sentences: Vec<String>,
        n: usize,
    ) -> Result<Option<Vec<usize>>, StepFailure> {
        let Some(Ok(e)) = self.svc.knowledge.as_ref().map(|k| k.embedder()) else {
            return Ok(None);
        };
        let e = e.clone();
        let keep = knowledge::blocking(move || {
            let v = knowledge::embed(e.as_ref(), &sentences)?;
            let dims = v.first().map_or(0, Vec::len);
            let mut centroid = vec![0f32; dims];
            for x in &v {
                for (c, y) in centroid.iter_mut().zip(x) {
                    *c += y;
                }
            }
            let mut order: Vec<(usize, f32)> = v
                .iter()
                .enumerate()
                .map(|(i, x)| (i, knowledge::cosine(&centroid, x)))
                .collect();
            order.sort_by(|a, b| b.1.total_cmp(&a.1));
            let mut keep: Vec<usize> = order.into_iter().take(n).map(|(i, _)| i).collect();
            keep.sort_unstable();
            Ok(keep)
        })
        .await?;
        Ok(Some(keep))
    }

    async fn classify(&self, classifier: &str, text: String) -> Result<Prediction, StepFailure> {
        let mut preds = self
            .svc
            .classify
            .classify(self.tenant(), classifier, vec![text])
            .await?;
        Ok(preds
            .pop()
            .ok_or_else(|| Error::Internal("no prediction".into()))?)
    }

    fn guard_off(&self, policy: Option<&str>) -> Result<bool, StepFailure> {
        Ok(self.guard_policy(policy)?.is_none())
    }

    fn guard(&self, check: GuardCheck<'_>) -> Result<Option<(String, TextCheck)>, StepFailure> {
        let Some(rp) = self.guard_policy(check.policy)? else {
            return Ok(None);
        };
        let guard = &self.svc.guard;
        let found = match check.stage {
            Stage::Input => guard.check_input(&rp, check.text, check.document, check.block_at),
            Stage::Output => guard.check_output(&rp, check.text, check.original),
        };
        Ok(Some((rp.name.clone(), found)))
    }

    async fn http_check(&self, url: &str, allowed_hosts: &[String]) -> Result<(), StepFailure> {
        let t = self.http_target(url, allowed_hosts)?;
        // Addresses are checked where the connection is made (the client's resolver); an IP
        // literal is checked in `http_target`, and a name is looked up once here too, for a
        // clear error before anything is rendered or sent.
        if !t.vouched && t.host.parse::<std::net::IpAddr>().is_err() {
            let internal = tokio::net::lookup_host((t.host.as_str(), t.port))
                .await
                .map(|mut addrs| addrs.all(|a| !crate::outbound::is_public(a.ip())))
                .unwrap_or(false);
            if internal {
                return Err(Error::PermissionDenied(crate::outbound::refused(&t.host)).into());
            }
        }
        Ok(())
    }

    async fn http(&self, call: HttpCall) -> Result<HttpAnswer, StepFailure> {
        // Checked again (without the lookup): what is sent is what was allowed.
        let HttpTarget { url, host, .. } = self.http_target(&call.url, &call.allowed_hosts)?;
        let method = reqwest::Method::from_bytes(call.method.as_bytes())
            .map_err(|e| Error::Internal(e.to_string()))?;
        let mut req = self
            .svc
            .http
            .request(method, url.clone())
            .timeout(Duration::from_millis(call.timeout_ms));
        for (k, v) in &call.headers {
            let value = match v {
                Header::Env(var) => std::env::var(var).map_err(|_| {
                    Error::Unavailable(format!(
                        "header '{k}': the environment variable {var} is not set"
                    ))
                })?,
                Header::Value(s) => s.clone(),
            };
            req = req.header(k.as_str(), value);
        }
        if let Some(body) = &call.body {
            req = req.json(body);
        }
        let shown = format!("{} {}{}", call.method, host, url.path());
        let timeout = |e: reqwest::Error| {
            if e.is_timeout() {
                Error::UpstreamTimeout {
                    target: host.clone(),
                    detail: format!("{shown} did not answer within {} ms", call.timeout_ms),
                }
            } else {
                Error::Upstream {
                    target: host.clone(),
                    detail: format!("{shown}: {e}"),
                }
            }
        };
        let resp = req.send().await.map_err(timeout)?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(timeout)?;
            if body.len() + chunk.len() > call.max_response_bytes {
                return Err(Error::Upstream {
                    target: host.clone(),
                    detail: format!(
                        "{shown}: the response exceeds {} bytes",
                        call.max_response_bytes
                    ),
                }
                .into());
            }
            body.extend_from_slice(&chunk);
        }
        let value = serde_json::from_slice::<Value>(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok(HttpAnswer {
            status,
            body: value,
            bytes: body.len(),
            url: format!("{}://{host}{}", url.scheme(), url.path()),
            host,
            shown,
        })
    }
}

/// The input of a run from a chat conversation: the last user message is the text.
pub fn input_from_messages(messages: &[Value]) -> RunInput {
    let text_of = |m: &Value| -> String {
        match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    };
    let text = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(text_of)
        .unwrap_or_default();
    let thread_text = messages
        .iter()
        .filter(|m| m["role"] == "user" || m["role"] == "assistant")
        .map(|m| format!("{}: {}", m["role"].as_str().unwrap_or("user"), text_of(m)))
        .collect::<Vec<_>>()
        .join("\n");
    let mut fields = Map::new();
    fields.insert("messages".into(), Value::Array(messages.to_vec()));
    fields.insert("thread_text".into(), Value::String(thread_text));
    RunInput { text, fields }
}

impl PipelineService {
    /// Runs the tickets pipeline on a ticket: the ticket with its triage, draft and status
    /// (not stored), and the run.
    pub async fn triage(
        &self,
        ctx: &RequestContext,
        t: TicketInput,
    ) -> Result<(atalaya_pipeline::tickets::Ticket, RunOutcome), Error> {
        use atalaya_pipeline::tickets::{self, Ticket, TicketFields, Triage};
        if t.body.trim().is_empty() {
            return Err(Error::invalid("'body' must not be empty", Some("body")));
        }
        let text = match &t.subject {
            Some(s) if !s.trim().is_empty() => format!("{}\n\n{}", s.trim(), t.body),
            _ => t.body.clone(),
        };
        let mut thread_text = String::new();
        for m in &t.thread {
            thread_text.push_str(&format!(
                "{}: {}\n",
                m.author.as_deref().unwrap_or("customer"),
                m.text.trim()
            ));
        }
        thread_text.push_str(&format!("customer: {}", text));
        let fields = TicketFields {
            ticket: &t,
            thread_text,
        }
        .into_map();
        let outcome = self
            .run(ctx, &self.tickets_pipeline, RunInput { text, fields })
            .await?;
        // The triage is what the pipeline's `outputs` name.
        let triage = Triage::from_outputs(&outcome.outputs);
        let (status, reason) = match (&outcome.reason, outcome.status.as_str(), &triage.draft) {
            (r, "needs_human", _) => ("needs_human", r.clone()),
            (_, _, None) => (
                "needs_human",
                Some("no draft: nothing in the knowledge base answers it".to_owned()),
            ),
            _ => ("drafted", None),
        };
        let now = tickets::now();
        let ticket = Ticket {
            id: tickets::new_id(),
            tenant: ctx.principal.tenant.clone(),
            created_at: now,
            updated_at: now,
            subject: t.subject,
            body: t.body,
            customer_id: t.customer_id,
            channel: t.channel,
            status: status.to_owned(),
            reason,
            language: triage.language,
            intent: triage.intent,
            priority: triage.priority,
            confidence: triage.confidence,
            draft: triage.draft,
            citations: triage.citations,
            pipeline: outcome.pipeline.clone(),
            pipeline_version: outcome.version,
            trace: Value::Array(outcome.trace.clone()),
            feedback: Vec::new(),
        };
        Ok((ticket, outcome))
    }

    /// Triages a ticket and stores it, tagged with `data_subject` (`x-atalaya-subject`) when
    /// that is not its customer_id, so that the subject's erasure and export find it.
    pub async fn create_ticket(
        &self,
        ctx: &RequestContext,
        t: TicketInput,
        data_subject: Option<String>,
    ) -> Result<(atalaya_pipeline::tickets::Ticket, RunOutcome), Error> {
        // The store first: a ticket is never triaged (and paid for) without a place to go.
        let store = self.tickets()?;
        let (ticket, outcome) = self.triage(ctx, t).await?;
        store.insert(ticket.clone(), data_subject).await?;
        Ok((ticket, outcome))
    }
}
