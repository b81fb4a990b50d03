//! Pipelines served: the pipelines of the configuration (and the built-in `support` one),
//! checked against the routes and policies at start-up, and run step by step against the
//! gateway, the knowledge base, the classifiers and the guard. `POST /v1/pipelines/{name}/run`,
//! `"model": "pipeline:NAME"` on `/v1/chat/completions`, `POST /v1/tickets` and
//! `atalaya tickets triage` all call [`PipelineService::run`].
//!
//! A run keeps a JSON context: `input`, `vars`, `tenant`, `status`, and each finished step's
//! output under its id. Each step is recorded in the trace (its rendered inputs, output,
//! latency and decision) and as a `pipeline_step` tracing span. Personal data found by an
//! input `guard` step is replaced by placeholders that the `generate` steps restore in the
//! model's answer; logs never hold the texts.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use atalaya_api::Usage;
use atalaya_core::{config::Config, context::RequestContext, gateway::Gateway, Error};
use atalaya_guard::pseudo::Vault;
use atalaya_knowledge::rag;
use atalaya_knowledge::{
    index::{Filter, Lang},
    service::{Hit, Mode, SearchParams, RELEVANCE_FLOOR},
};
use atalaya_pipeline::{
    confidence::{self, Signals},
    expr::Templates,
    lang::LanguageDetector,
    schema::{json_in, Schema},
    spec::{self, OnBlock, OnError, Stage, StepKind, TextSource},
    tickets::{SqliteTickets, TicketRecords},
    Pipeline, PipelineError, Step,
};
use atalaya_tenancy::Tenancy;
use futures::StreamExt;
use serde_json::{json, Map, Value};
use tracing::Instrument;

use crate::{
    classify::ClassifyService,
    guard::{self, GuardService, GuardedCall, RoutePolicy},
    knowledge::{self, KnowledgeService},
};

pub use atalaya_pipeline::tickets::TicketInput;

/// The built-in `support` pipeline (`pipelines/support.toml` in the repository).
pub const BUILTIN_SUPPORT: &str = include_str!("../../../pipelines/support.toml");

/// Prefix of pipeline names on `/v1/chat/completions`.
pub const MODEL_PREFIX: &str = "pipeline:";

/// What a run starts from.
#[derive(Debug, Clone, Default)]
pub struct RunInput {
    /// The text most steps read (`input.text`).
    pub text: String,
    /// Everything else the caller gave: `subject`, `body`, `messages`, `thread`,
    /// `thread_text`, `customer_id`, `channel`, `language`, `metadata`.
    pub fields: Map<String, Value>,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub pipeline: String,
    pub version: u32,
    /// `ok` or `needs_human`.
    pub status: String,
    pub reason: Option<String>,
    /// The answer text (the pipeline's `output`, else the last generated text).
    pub output: String,
    /// The pipeline's named `outputs`.
    pub outputs: Map<String, Value>,
    /// Each step's output by id (`null`: skipped or failed with `on_error = "continue"`).
    pub steps: Map<String, Value>,
    pub trace: Vec<Value>,
    /// Tokens of every model call of the run.
    pub usage: Option<Usage>,
    pub elapsed_ms: f64,
}

/// Where a streamed run sends its answer's text as it is generated (already restored from
/// placeholders). The receiver going away stops the generation.
pub type StreamSink = tokio::sync::mpsc::Sender<String>;

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

/// A step's result before it is recorded.
struct Outcome {
    output: Value,
    /// The inputs as rendered, for the trace.
    input: Value,
    decision: String,
    jump: Option<Jump>,
    /// (reason, stop)
    escalate: Option<(String, bool)>,
    /// What the trace shows instead of `output` (an http step's body stays out of it).
    traced: Option<Value>,
}

impl Outcome {
    fn new(output: Value, input: Value, decision: impl Into<String>) -> Self {
        Outcome {
            output,
            input,
            decision: decision.into(),
            jump: None,
            escalate: None,
            traced: None,
        }
    }
}

enum Jump {
    To(usize),
    End,
}

/// What a run carries between steps besides the JSON context.
struct Run {
    ctx: Map<String, Value>,
    /// Each retrieve step's passages (shared with the blocking tasks that read them).
    hits: HashMap<String, Arc<Vec<Hit>>>,
    vault: Option<Vault>,
    usage: Option<Usage>,
    last_text: Option<String>,
    /// The caller streams: the last step, when it is a `generate` (and the pipeline has no
    /// `output` template), sends its text here as it comes.
    sink: Option<StreamSink>,
    /// The step now running is the one whose text is the run's output, streamed.
    stream_here: bool,
    streamed: bool,
    /// An input `guard` step has judged the run's text for injection.
    input_checked: bool,
    /// The guard's decisions on the model calls of the step now running (for its trace).
    guard_reports: Vec<Value>,
}

impl Run {
    fn add_usage(&mut self, u: Option<Usage>) {
        if let Some(u) = u {
            let t = self.usage.get_or_insert_with(Usage::default);
            t.prompt_tokens += u.prompt_tokens;
            t.completion_tokens += u.completion_tokens;
            t.total_tokens += u.total_tokens.max(u.prompt_tokens + u.completion_tokens);
        }
    }
}

fn language_name(code: &str) -> &'static str {
    match code {
        "en" => "English",
        "es" => "Spanish (español)",
        "pt" => "Portuguese (português)",
        "fr" => "French",
        "de" => "German",
        "it" => "Italian",
        "nl" => "Dutch",
        "ca" => "Catalan",
        _ => "the customer's language",
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// A step's error with the step named (the kind of error, hence the HTTP status, is kept).
fn in_step(step: &Step, e: Error) -> Error {
    let at = format!("pipeline step '{}' ({})", step.id, step.kind.name());
    match e {
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
    }
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
            tickets: Mutex::new(None),
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

    /// The ticket store, opened on first use (`<data_dir>/tickets.db`).
    pub fn tickets(&self) -> Result<Arc<dyn TicketRecords>, Error> {
        let mut t = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = t.as_ref() {
            return Ok(s.clone());
        }
        let s: Arc<dyn TicketRecords> =
            Arc::new(SqliteTickets::open(&self.data_dir).map_err(pipeline_error)?);
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
        let started = Instant::now();
        let mut input_obj = input.fields;
        input_obj.insert("text".into(), Value::String(input.text));
        let mut run = Run {
            ctx: Map::new(),
            hits: HashMap::new(),
            vault: None,
            usage: None,
            last_text: None,
            sink,
            stream_here: false,
            streamed: false,
            input_checked: false,
            guard_reports: Vec::new(),
        };
        run.ctx.insert("input".into(), Value::Object(input_obj));
        run.ctx.insert("vars".into(), Value::Object(p.vars.clone()));
        run.ctx
            .insert("tenant".into(), json!(ctx.principal.tenant.as_str()));
        run.ctx.insert("status".into(), json!("ok"));
        run.ctx.insert("pipeline".into(), json!(p.name));
        let mut status = "ok";
        let mut reason: Option<String> = None;
        let mut trace = Vec::with_capacity(p.steps.len());
        let mut i = 0;
        while i < p.steps.len() {
            let step = &p.steps[i];
            let span = tracing::info_span!(
                "pipeline_step",
                pipeline = %p.name,
                step = %step.id,
                kind = step.kind.name(),
            );
            let t0 = Instant::now();
            if let Some(cond) = &step.when {
                let holds = self
                    .templates
                    .truthy(cond, &run.ctx)
                    .map_err(|e| in_step(step, Error::invalid(format!("'if': {e}"), None)))?;
                if !holds {
                    run.ctx.insert(step.id.clone(), Value::Null);
                    trace.push(json!({
                        "step": step.id, "kind": step.kind.name(), "status": "skipped",
                        "decision": format!("condition false: {cond}"),
                        "latency_ms": ms(t0.elapsed()),
                    }));
                    i += 1;
                    continue;
                }
            }
            run.stream_here = run.sink.is_some() && i + 1 == p.steps.len() && p.output.is_none();
            let result = self
                .step(ctx, &p, step, &mut run)
                .instrument(span.clone())
                .await;
            let latency = ms(t0.elapsed());
            let mut next = i + 1;
            match result {
                Ok(o) => {
                    span.in_scope(|| {
                        tracing::debug!(latency_ms = latency, decision = %o.decision, "pipeline step")
                    });
                    run.ctx.insert(step.id.clone(), o.output.clone());
                    let mut entry = json!({
                        "step": step.id, "kind": step.kind.name(), "status": "ok",
                        "decision": o.decision, "latency_ms": latency,
                        "input": o.input,
                        "output": o.traced.as_ref().unwrap_or(&o.output),
                    });
                    let reports = std::mem::take(&mut run.guard_reports);
                    if !reports.is_empty() {
                        entry["guard"] = json!(reports);
                    }
                    match o.jump {
                        Some(Jump::To(j)) => next = j,
                        Some(Jump::End) => next = p.steps.len(),
                        None => {}
                    }
                    if let Some((why, stop)) = o.escalate {
                        entry["status"] = json!("escalated");
                        status = "needs_human";
                        reason.get_or_insert(why);
                        run.ctx.insert("status".into(), json!(status));
                        run.ctx.insert("reason".into(), json!(reason));
                        if stop {
                            next = p.steps.len();
                        }
                    }
                    trace.push(entry);
                }
                Err(e) => {
                    let e = in_step(step, e);
                    span.in_scope(|| {
                        tracing::warn!(latency_ms = latency, code = %e.code().as_str(), "pipeline step failed")
                    });
                    trace.push(json!({
                        "step": step.id, "kind": step.kind.name(), "status": "failed",
                        "decision": match step.on_error {
                            OnError::Fail => "fail",
                            OnError::Continue => "continue",
                            OnError::Escalate => "escalate",
                        },
                        "error": e.public_message(), "latency_ms": latency,
                    }));
                    run.guard_reports.clear();
                    run.ctx.insert(step.id.clone(), Value::Null);
                    match step.on_error {
                        OnError::Fail => return Err(e),
                        OnError::Continue => {}
                        OnError::Escalate => {
                            status = "needs_human";
                            reason.get_or_insert(format!(
                                "step '{}' failed: {}",
                                step.id,
                                e.public_message()
                            ));
                            run.ctx.insert("status".into(), json!(status));
                            run.ctx.insert("reason".into(), json!(reason));
                            next = p.steps.len();
                        }
                    }
                }
            }
            i = next;
        }
        // Steps that never ran are `null`, so outputs over them are too.
        for s in &p.steps {
            run.ctx.entry(s.id.clone()).or_insert(Value::Null);
        }
        let all = &run.ctx;
        let mut outputs = Map::new();
        for (k, expr) in &p.outputs {
            let v = self
                .templates
                .eval(expr, all)
                .map_err(|e| Error::Internal(format!("pipeline '{}' outputs.{k}: {e}", p.name)))?;
            outputs.insert(k.clone(), v);
        }
        let output = match &p.output {
            Some(t) => self
                .templates
                .render(t, all)
                .map_err(|e| Error::Internal(format!("pipeline '{}' output: {e}", p.name)))?,
            None => run.last_text.take().unwrap_or_default(),
        };
        // The context is done with: its step outputs move into the outcome.
        let steps = p
            .steps
            .iter()
            .map(|s| (s.id.clone(), run.ctx.remove(&s.id).unwrap_or(Value::Null)))
            .collect();
        Ok(RunOutcome {
            pipeline: p.name.clone(),
            version: p.version,
            status: status.to_owned(),
            reason,
            output,
            outputs,
            steps,
            trace,
            usage: run.usage,
            elapsed_ms: ms(started.elapsed()),
        })
    }

    fn render(&self, key: &str, src: &str, run: &Run) -> Result<String, Error> {
        self.templates
            .render(src, &run.ctx)
            .map_err(|e| Error::invalid(format!("'{key}': {e}"), None))
    }

    /// A template that must give a number in 0..1 (a threshold).
    fn render_score(&self, key: &str, src: &str, run: &Run) -> Result<f32, Error> {
        let v = self.render(key, src, run)?;
        v.trim()
            .parse::<f32>()
            .ok()
            .filter(|x| (0.0..=1.0).contains(x))
            .ok_or_else(|| {
                Error::invalid(
                    format!("'{key}' must give a number from 0 to 1, got {v:?}"),
                    None,
                )
            })
    }

    async fn step(
        &self,
        ctx: &RequestContext,
        p: &Pipeline,
        step: &Step,
        run: &mut Run,
    ) -> Result<Outcome, Error> {
        match &step.kind {
            StepKind::DetectLanguage(d) => {
                let text = self.render("text", &d.text, run)?;
                let declared = run
                    .ctx
                    .get("input")
                    .and_then(|i| i.get("language"))
                    .and_then(Value::as_str)
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| d.languages.iter().any(|l| l == s));
                let (lang, conf, source) = match declared {
                    Some(l) => (l, 1.0, "declared"),
                    None => {
                        let r = LanguageDetector::new(&d.languages, &d.default).detect(&text);
                        let source = if r.reliable || r.confidence > 0.0 {
                            "detected"
                        } else {
                            "default"
                        };
                        (r.language, r.confidence, source)
                    }
                };
                Ok(Outcome::new(
                    json!({
                        "language": lang, "name": language_name(&lang),
                        "confidence": confidence::round(conf), "source": source,
                    }),
                    json!({"chars": text.chars().count()}),
                    format!("{lang} ({source})"),
                ))
            }
            StepKind::Guard(g) => self.guard_step(ctx, g, run),
            StepKind::Classify(c) => {
                let text = self.render("text", &c.text, run)?;
                let svc = self.classify.clone();
                let (tenant, name) = (ctx.principal.tenant.clone(), c.classifier.clone());
                let texts = vec![text];
                let r = knowledge::blocking(move || svc.classify(&tenant, &name, &texts)).await;
                let input = json!({"classifier": c.classifier});
                match r {
                    Err(Error::NotFound(_)) if c.optional => Ok(Outcome::new(
                        Value::Null,
                        input,
                        format!("no classifier '{}' for this tenant: skipped", c.classifier),
                    )),
                    Err(e) => Err(e),
                    Ok(mut preds) => {
                        let Some(pr) = preds.pop() else {
                            return Err(Error::Internal("no prediction".into()));
                        };
                        let decision = if pr.out_of_scope {
                            format!("out_of_scope (best {} {:.2})", pr.best, pr.confidence)
                        } else {
                            format!("{} ({:.2})", pr.label, pr.confidence)
                        };
                        Ok(Outcome::new(
                            json!({
                                "label": pr.label, "best": pr.best,
                                "confidence": confidence::round(f64::from(pr.confidence)),
                                "margin": confidence::round(f64::from(pr.margin)),
                                "out_of_scope": pr.out_of_scope,
                                "top": pr.top.iter().map(|(l, s)| json!({"label": l, "score": confidence::round(f64::from(*s))})).collect::<Vec<_>>(),
                            }),
                            input,
                            decision,
                        ))
                    }
                }
            }
            StepKind::Retrieve(r) => {
                let collection = self.render("collection", &r.collection, run)?;
                let mut query = self.render("query", &r.query, run)?;
                if r.focus {
                    query = atalaya_knowledge::query::focus(&query);
                }
                let mut languages = Vec::new();
                for l in &r.languages {
                    let code = self.render("languages", l, run)?;
                    if !code.trim().is_empty() {
                        languages.push(Lang::from_code(code.trim()));
                    }
                }
                let prefer_language = match &r.prefer_language {
                    Some(t) => {
                        let code = self.render("prefer_language", t, run)?;
                        let code = code.trim();
                        (!code.is_empty())
                            .then(|| Lang::from_code(code))
                            .filter(|l| *l != Lang::Other)
                    }
                    None => None,
                };
                let input = json!({"collection": collection, "query": query, "k": r.k, "mode": r.mode,
                    "prefer_language": prefer_language.map(Lang::code),
                    "questions": r.focus.then(|| atalaya_knowledge::query::questions(&query)).flatten()});
                let kb = self.knowledge.as_ref().ok_or_else(|| {
                    Error::Unavailable("the knowledge base is disabled (knowledge.enabled)".into())
                })?;
                let params = SearchParams {
                    k: r.k,
                    // Checked when the pipeline was loaded.
                    mode: Mode::parse(&r.mode)
                        .map_err(|e| Error::Internal(format!("retrieve step mode {e}")))?,
                    dense_weight: r.dense_weight,
                    bm25_weight: r.bm25_weight,
                    filter: Filter {
                        tags: r.tags.clone(),
                        languages,
                        labels: Vec::new(),
                    },
                    prefer_language,
                    relevance_floor: r.relevance_floor.unwrap_or(RELEVANCE_FLOOR),
                };
                // A focused ticket of several sentences is also searched by its questions
                // alone, and the two rankings fused.
                let asked = r
                    .focus
                    .then(|| atalaya_knowledge::query::questions(&query))
                    .flatten();
                let k = params.k;
                let hits = if query.trim().is_empty() {
                    Vec::new()
                } else {
                    let mut lists = Vec::new();
                    for q in std::iter::once(query).chain(asked) {
                        match kb
                            .retrieve(&self.gateway, ctx, &collection, q, params.clone(), false)
                            .await
                        {
                            Ok(h) => lists.push(h),
                            Err(Error::NotFound(_)) if r.optional => {}
                            Err(e) => return Err(e),
                        }
                    }
                    match lists.len() {
                        0 => Vec::new(),
                        1 => lists.pop().unwrap_or_default(),
                        _ => atalaya_knowledge::service::fuse(lists, k),
                    }
                };
                let top_similarity = hits
                    .iter()
                    .filter_map(|h| h.similarity)
                    .fold(None, |m: Option<f32>, s| Some(m.map_or(s, |m| m.max(s))));
                let out = json!({
                    "collection": collection,
                    "count": hits.len(),
                    "top_score": hits.first().map(|h| confidence::round(f64::from(h.score))),
                    "top_similarity": top_similarity.map(|s| confidence::round(f64::from(s))),
                    "hits": hits.iter().enumerate().map(|(i, h)| json!({
                        "n": i + 1, "doc": h.chunk.source, "chunk": h.chunk.id,
                        "title": h.chunk.title, "score": confidence::round(f64::from(h.score)),
                        "similarity": h.similarity.map(|s| confidence::round(f64::from(s))),
                        "text": h.chunk.text,
                    })).collect::<Vec<_>>(),
                });
                let decision = format!(
                    "{} passages (best similarity {})",
                    hits.len(),
                    top_similarity.map_or("n/a".into(), |s| format!("{s:.2}"))
                );
                run.hits.insert(step.id.clone(), Arc::new(hits));
                Ok(Outcome::new(out, input, decision))
            }
            StepKind::Prompt(pr) => {
                let mut system = match &pr.system {
                    Some(s) => self.render("system", s, run)?,
                    None => String::new(),
                };
                if let Some(src) = &pr.sources {
                    let hits = run.hits.get(src).map(|h| h.as_slice()).unwrap_or_default();
                    system.push_str(&rag::sources_block(hits));
                }
                let user = self.render("user", &pr.user, run)?;
                let mut messages = Vec::new();
                if !system.trim().is_empty() {
                    messages.push(json!({"role": "system", "content": system.trim_start()}));
                }
                messages.push(json!({"role": "user", "content": user}));
                let chars: usize = messages
                    .iter()
                    .filter_map(|m| m["content"].as_str())
                    .map(|c| c.chars().count())
                    .sum();
                Ok(Outcome::new(
                    json!({"messages": messages}),
                    Value::Null,
                    format!("{} messages, {chars} characters", messages.len()),
                ))
            }
            StepKind::Generate(g) => self.generate(ctx, step, g, run).await,
            StepKind::Extract(x) => self.extract(ctx, x, run).await,
            StepKind::Http(h) => self.http(h, run).await,
            StepKind::Branch(b) => {
                let all = &run.ctx;
                for c in &b.cases {
                    let holds = self
                        .templates
                        .truthy(&c.when, all)
                        .map_err(|e| Error::invalid(format!("'when': {e}"), None))?;
                    if holds {
                        return Ok(goto(p, &c.goto, format!("{} → {}", c.when, c.goto)));
                    }
                }
                Ok(match &b.otherwise {
                    Some(t) => goto(p, t, format!("no case held → {t}")),
                    None => Outcome::new(
                        json!({"taken": null}),
                        Value::Null,
                        "no case held → next step",
                    ),
                })
            }
            StepKind::Escalate(e) => {
                let why = self.render("reason", &e.reason, run)?;
                let mut o = Outcome::new(
                    json!({"reason": why}),
                    Value::Null,
                    format!("needs_human: {why}"),
                );
                o.escalate = Some((why, e.stop));
                Ok(o)
            }
            StepKind::Set(s) => {
                let all = &run.ctx;
                let mut out = Map::new();
                for (k, e) in &s.values {
                    let v = self
                        .templates
                        .eval(e, all)
                        .map_err(|m| Error::invalid(format!("'values.{k}': {m}"), None))?;
                    out.insert(k.clone(), v);
                }
                let decision = out
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                Ok(Outcome::new(Value::Object(out), Value::Null, decision))
            }
            StepKind::Confidence(c) => {
                let get = |id: &str| run.ctx.get(id).unwrap_or(&Value::Null);
                // Passages without a similarity (BM25 only) give no signal; no passages, 0.
                let retrieval = c.retrieval.as_deref().and_then(|r| {
                    let v = get(r);
                    match v["top_similarity"].as_f64() {
                        Some(s) => Some(confidence::similarity_signal(s)),
                        None if v["count"].as_u64().unwrap_or(0) > 0 => None,
                        None => Some(0.0),
                    }
                });
                let class: Vec<f64> = c
                    .classification
                    .iter()
                    .map(|k| get(k))
                    .filter(|v| !v.is_null())
                    .map(|v| {
                        if v["out_of_scope"].as_bool() == Some(true) {
                            0.0
                        } else {
                            v["confidence"].as_f64().unwrap_or(0.0)
                        }
                    })
                    .collect();
                let classification =
                    (!class.is_empty()).then(|| class.iter().sum::<f64>() / class.len() as f64);
                // A named answer step that did not run (nothing to draft from) is no support.
                // An answer grounded in passages unrelated to the question (the best one
                // under the similarity floor) supports nothing: quotes are grounded by
                // construction, whatever they say.
                let answer = c.answer.as_deref().map(|a| {
                    let grounded = get(a)["groundedness"].as_f64().unwrap_or(0.0);
                    if retrieval == Some(0.0) {
                        0.0
                    } else {
                        grounded
                    }
                });
                let signals = Signals {
                    retrieval,
                    classification,
                    answer,
                };
                let score = confidence::round(confidence::combine(&signals, &c.weights));
                Ok(Outcome::new(
                    json!({
                        "score": score,
                        "signals": {
                            "retrieval": signals.retrieval.map(confidence::round),
                            "classification": signals.classification.map(confidence::round),
                            "answer": signals.answer.map(confidence::round),
                        },
                    }),
                    Value::Null,
                    format!("{score:.2}"),
                ))
            }
            StepKind::Summarize(s) => self.summarize(ctx, s, run).await,
        }
    }

    fn guard_policy(
        &self,
        tenant: &str,
        name: Option<&str>,
    ) -> Result<Option<Arc<RoutePolicy>>, Error> {
        match name {
            Some(n) => self.guard.named_policy(Some(n)).map(Some),
            None => match self.tenancy.guard_policy(tenant).as_deref() {
                Some("off") => Ok(None),
                Some(n) => self
                    .guard
                    .named_policy(Some(n))
                    .or_else(|_| self.guard.named_policy(None))
                    .map(Some),
                None => self.guard.named_policy(None).map(Some),
            },
        }
    }

    fn guard_step(
        &self,
        ctx: &RequestContext,
        g: &spec::GuardStep,
        run: &mut Run,
    ) -> Result<Outcome, Error> {
        let text = self.render("text", &g.text, run)?;
        let Some(rp) = self.guard_policy(&ctx.principal.tenant, g.policy.as_deref())? else {
            return Ok(Outcome::new(
                json!({"text": text, "flagged": false, "blocked": false, "policy": "off"}),
                Value::Null,
                "the tenant's guard policy is off",
            ));
        };
        let block_at = match &g.injection_block_at {
            Some(t) => Some(self.render_score("injection_block_at", t, run)?),
            None => None,
        };
        let check = match g.stage {
            Stage::Input => {
                self.guard
                    .check_input(&rp, &text, g.source == TextSource::Document, block_at)
            }
            Stage::Output => {
                let original = match &g.original {
                    Some(o) => self.render("original", o, run)?,
                    None => String::new(),
                };
                self.guard.check_output(&rp, &text, &original)
            }
        };
        let mut out = check.report;
        out["text"] = json!(check.text);
        let input = json!({"stage": match g.stage { Stage::Input => "input", Stage::Output => "output" }, "policy": rp.name, "chars": text.chars().count()});
        if let Some(v) = check.vault {
            run.vault = Some(v);
        }
        if g.stage == Stage::Input {
            run.input_checked = true;
        }
        let Some(why) = check.blocked else {
            let decision = if check.flagged { "flagged" } else { "clean" };
            return Ok(Outcome::new(out, input, decision));
        };
        match g.on_block {
            OnBlock::Fail => Err(Error::Guardrail {
                detector: "pipeline_guard".into(),
                message: why,
                param: None,
            }),
            OnBlock::Continue => Ok(Outcome::new(
                out,
                input,
                format!("blocked (continuing): {why}"),
            )),
            OnBlock::Escalate => {
                let mut o = Outcome::new(out, input, format!("blocked: {why}"));
                o.escalate = Some((format!("guardrail: {why}"), true));
                Ok(o)
            }
        }
    }

    /// The model a `generate`/`summarize` step uses: its own (rendered), else
    /// `knowledge.answer_model`; `None` = no model (extractive).
    fn model_of(
        &self,
        tenant: &str,
        model: Option<&str>,
        run: &Run,
    ) -> Result<Option<String>, Error> {
        let m = match model {
            Some(m) => self.render("model", m, run)?,
            None => String::new(),
        };
        let m = if m.trim().is_empty() {
            self.answer_model.clone()
        } else {
            Some(m.trim().to_owned())
        };
        if let Some(m) = &m {
            self.check_model(tenant, m)?;
        }
        Ok(m)
    }

    /// The tenant may call `model` (its model list), as a direct request would be checked.
    fn check_model(&self, tenant: &str, model: &str) -> Result<(), Error> {
        if let Some(allowed) = self.tenancy.allowed_models(tenant) {
            if !allowed.iter().any(|a| a == model) {
                return Err(Error::ModelNotFound(model.to_owned()));
            }
        }
        Ok(())
    }

    /// The guard a model call of a run goes through: the tenant's or the model route's
    /// policy, as for a direct request on that route. Once the run's input `guard` step has
    /// judged the text (with its own policy and thresholds), the injection check is not
    /// repeated; PII redaction and the output checks are.
    fn call_guard(&self, tenant: &str, body: &Value, run: &Run) -> Option<GuardedCall<'_>> {
        let model = body.get("model").and_then(Value::as_str)?;
        let policy = self.guard.policy_of(&self.tenancy, tenant, model)?;
        Some(GuardedCall {
            service: &self.guard,
            policy: match run.input_checked {
                true => policy.without_injection(),
                false => policy,
            },
            dropped: Vec::new(),
            sources_at: None,
        })
    }

    /// One chat completion through the gateway, guarded: the answer's text (checked, its
    /// guard placeholders restored) and usage. The guard's decisions go to the step's trace.
    async fn chat(
        &self,
        ctx: &RequestContext,
        body: Value,
        run: &mut Run,
    ) -> Result<(String, Option<Usage>), Error> {
        let guard = self.call_guard(&ctx.principal.tenant, &body, run);
        let done = guard::complete(&self.gateway, ctx, body, guard).await?;
        run.guard_reports.extend(done.guard.map(|g| g.report));
        let usage = done
            .usage
            .and_then(|u| serde_json::from_value::<Usage>(u).ok());
        Ok((done.text, usage))
    }

    /// One streamed chat completion through the gateway: each content delta goes to `sink`
    /// as it arrives, with `vault`'s placeholders restored (one split across deltas is held
    /// back until it is whole). Returns the whole restored text and the usage. The sink's
    /// receiver going away (the client left) ends the call with an error, which stops
    /// reading the upstream.
    async fn chat_streamed(
        &self,
        ctx: &RequestContext,
        mut body: Value,
        run: &mut Run,
        sink: &StreamSink,
    ) -> Result<(String, Option<Usage>), Error> {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let guard = self.call_guard(&ctx.principal.tenant, &body, run);
        let mut req = guard::chat_request(body)?;
        let guard = guard.map(|g| g.protect(&mut req)).transpose()?;
        let mut stream = self.gateway.chat_stream(ctx, &req).await?.value;
        if let Some(g) = guard {
            stream = g.wrap_stream(stream, req.model.clone());
        }
        let vault = run.vault.as_ref();
        let mut report = None;
        let mut restorer = atalaya_guard::pseudo::StreamRestorer::new();
        let mut text = String::new();
        let mut usage = None;
        let gone = || Error::Internal("the client closed the stream".into());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if let Some(u) = chunk.usage {
                usage = Some(u);
            }
            let Ok(v) = serde_json::from_slice::<Value>(&chunk.data) else {
                continue;
            };
            if let Some(r) = v.pointer("/atalaya/guard") {
                report = Some(r.clone());
            }
            let Some(delta) = v
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
            else {
                continue;
            };
            let shown = match vault {
                Some(vault) => restorer.push(vault, delta),
                None => delta.to_owned(),
            };
            if !shown.is_empty() {
                text.push_str(&shown);
                sink.send(shown).await.map_err(|_| gone())?;
            }
        }
        if let Some(vault) = vault {
            let rest = restorer.finish(vault);
            if !rest.is_empty() {
                text.push_str(&rest);
                sink.send(rest).await.map_err(|_| gone())?;
            }
        }
        run.guard_reports.extend(report);
        Ok((text, usage))
    }

    async fn generate(
        &self,
        ctx: &RequestContext,
        step: &Step,
        g: &spec::GenerateStep,
        run: &mut Run,
    ) -> Result<Outcome, Error> {
        let model = self.model_of(&ctx.principal.tenant, g.model.as_deref(), run)?;
        let hits: Arc<Vec<Hit>> = g
            .sources
            .as_ref()
            .and_then(|s| run.hits.get(s))
            .cloned()
            .unwrap_or_default();
        let citations = |cited: &[usize]| -> Vec<Value> {
            cited
                .iter()
                .filter_map(|&n| hits.get(n - 1).map(|h| (n, h)))
                .map(|(n, h)| json!({"n": n, "doc": h.chunk.source, "chunk": h.chunk.id, "score": confidence::round(f64::from(h.similarity.unwrap_or(h.score)))}))
                .collect()
        };
        let Some(model) = model else {
            if g.sources.is_none() {
                return Err(Error::Unavailable(format!(
                    "step '{}' has no model: set its 'model' or knowledge.answer_model, or give it 'sources' for an extractive answer",
                    step.id
                )));
            }
            let query = self.render("query", &g.query, run)?;
            let input = json!({"model": null, "extractive": true, "sources": hits.len()});
            if hits.is_empty() {
                return Ok(Outcome::new(
                    json!({"text": "", "model": null, "extractive": true, "citations": [], "grounded": false, "groundedness": 0.0, "unsupported": []}),
                    input,
                    "no passages: nothing to quote",
                ));
            }
            let kb = self.knowledge.as_ref().ok_or_else(|| {
                Error::Unavailable("the knowledge base is disabled (knowledge.enabled)".into())
            })?;
            let embedder = kb.embedder()?.clone();
            let h2 = Arc::clone(&hits);
            let (text, cited, relevance) = knowledge::blocking(move || {
                knowledge::extractive_answer(embedder.as_ref(), &query, &h2)
            })
            .await?;
            let n = cited.len();
            let out = json!({
                "text": text, "model": null, "extractive": true,
                "citations": citations(&cited),
                "grounded": !text.is_empty(),
                "groundedness": if text.is_empty() { 0.0 } else { 1.0 },
                "relevance": confidence::round(f64::from(relevance)),
                "unsupported": [],
            });
            run.last_text = Some(text);
            return Ok(Outcome::new(
                out,
                input,
                format!("extractive, {n} sources cited"),
            ));
        };
        let messages = prompt_messages(run, &g.prompt).cloned().unwrap_or_default();
        let body = chat_body(&model, messages, g.temperature, g.max_tokens, g.top_p);
        let sink = if run.stream_here {
            run.sink.clone()
        } else {
            None
        };
        let (text, usage) = match sink {
            Some(sink) => {
                let r = self.chat_streamed(ctx, body, run, &sink).await?;
                run.streamed = true;
                r
            }
            None => {
                let (raw, usage) = self.chat(ctx, body, run).await?;
                // Placeholders of an input guard back to the customer's values.
                let text = match &run.vault {
                    Some(v) => v.restore(&raw),
                    None => raw,
                };
                (text, usage)
            }
        };
        run.add_usage(usage);
        let input = json!({"model": model, "sources": hits.len(), "streamed": run.streamed});
        if hits.is_empty() {
            let out = json!({"text": text, "model": model, "extractive": false, "citations": [], "usage": usage});
            run.last_text = Some(text);
            return Ok(Outcome::new(out, input, format!("generated by {model}")));
        }
        let kb = self.knowledge.as_ref().ok_or_else(|| {
            Error::Unavailable("the knowledge base is disabled (knowledge.enabled)".into())
        })?;
        let embedder = kb.embedder()?.clone();
        let (t2, h2) = (text.clone(), Arc::clone(&hits));
        let checked =
            knowledge::blocking(move || knowledge::check_answer(embedder.as_ref(), &t2, &h2))
                .await?;
        let (cited, n_claims) = (checked.cited, checked.claims);
        let unsupported: Vec<String> = checked.unsupported.into_iter().map(|(c, _)| c).collect();
        let groundedness = if n_claims == 0 {
            0.0
        } else {
            (n_claims - unsupported.len()) as f64 / n_claims as f64
        };
        let out = json!({
            "text": text, "model": model, "extractive": false,
            "citations": citations(&cited),
            "grounded": unsupported.is_empty() && n_claims > 0,
            "groundedness": confidence::round(groundedness),
            "unsupported": unsupported,
            "usage": usage,
        });
        run.last_text = Some(text);
        Ok(Outcome::new(
            out,
            input,
            format!(
                "generated by {model}: {} sources cited, {}/{} claims supported",
                cited.len(),
                n_claims - unsupported.len(),
                n_claims
            ),
        ))
    }

    async fn extract(
        &self,
        ctx: &RequestContext,
        x: &spec::ExtractStep,
        run: &mut Run,
    ) -> Result<Outcome, Error> {
        let model = self.render("model", &x.model, run)?;
        self.check_model(&ctx.principal.tenant, &model)?;
        let schema =
            Schema::compile(&x.schema).map_err(|e| Error::Internal(format!("schema: {e}")))?;
        let instruction = format!(
            "Answer with one JSON value only, no prose, matching this JSON Schema:\n{}",
            x.schema
        );
        let mut messages: Vec<Value> = match &x.prompt {
            Some(p) => prompt_messages(run, p).cloned().unwrap_or_default(),
            None => vec![json!({"role": "user", "content": self.render("text", &x.text, run)?})],
        };
        messages.insert(0, json!({"role": "system", "content": instruction}));
        let mut problems = Vec::new();
        for attempt in 0..=x.retries {
            let (text, usage) = self
                .chat(
                    ctx,
                    chat_body(&model, messages.clone(), x.temperature, x.max_tokens, None),
                    run,
                )
                .await?;
            run.add_usage(usage);
            let (value, found) = match json_in(&text) {
                Some(v) => {
                    let found = schema.violations(&v);
                    (Some(v), found)
                }
                None => (None, vec!["the answer holds no JSON".to_owned()]),
            };
            if let (Some(v), true) = (value, found.is_empty()) {
                let v = match &run.vault {
                    Some(vault) => {
                        spec::map_strings(&v, &mut |s| Ok(vault.restore(s))).unwrap_or(v)
                    }
                    None => v,
                };
                return Ok(Outcome::new(
                    v,
                    json!({"model": model, "attempts": attempt + 1}),
                    format!("valid JSON after {} attempt(s)", attempt + 1),
                ));
            }
            problems = found;
            messages.push(json!({"role": "assistant", "content": text}));
            messages.push(json!({"role": "user", "content": format!(
                "That answer does not match the schema: {}. Answer again with the corrected JSON only.",
                problems.join("; ")
            )}));
        }
        Err(Error::Upstream {
            target: model,
            detail: format!(
                "the answer did not match the schema after {} attempt(s): {}",
                x.retries + 1,
                problems.join("; ")
            ),
        })
    }

    fn host_allowed(&self, step: &spec::HttpStep, host: &str, port: u16, default: u16) -> bool {
        step.allowed_hosts
            .iter()
            .chain(self.http_allowed.iter())
            .any(|a| crate::outbound::entry_allows(a, host, port, default))
    }

    async fn http(&self, h: &spec::HttpStep, run: &mut Run) -> Result<Outcome, Error> {
        let url_s = self
            .templates
            .render_url(&h.url, &run.ctx)
            .map_err(|e| Error::invalid(format!("'url': {e}"), None))?;
        let url = reqwest::Url::parse(url_s.trim())
            .map_err(|e| Error::invalid(format!("'url': '{url_s}' is not a URL: {e}"), None))?;
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
        if !self.host_allowed(h, &host, port, default_port) {
            return Err(Error::PermissionDenied(format!(
                "host '{host}' on port {port} is not allowed for http steps (add it to the step's allowed_hosts or pipelines.http_allowed_hosts; an entry without a port allows the scheme's default port only)"
            )));
        }
        // Addresses are checked where the connection is made (the client's resolver); an IP
        // literal is not resolved, so it is checked here, and a name is looked up once here
        // too for a clear error.
        let vouched = self
            .http_private
            .iter()
            .any(|e| crate::outbound::entry_allows(e, &host, port, default_port));
        if !vouched {
            let internal = match host.parse::<std::net::IpAddr>() {
                Ok(ip) => !crate::outbound::is_public(ip),
                Err(_) => tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .map(|mut addrs| addrs.all(|a| !crate::outbound::is_public(a.ip())))
                    .unwrap_or(false),
            };
            if internal {
                return Err(Error::PermissionDenied(crate::outbound::refused(&host)));
            }
        }
        let method = reqwest::Method::from_bytes(h.method.as_bytes())
            .map_err(|e| Error::Internal(e.to_string()))?;
        let mut req = self
            .http
            .request(method, url.clone())
            .timeout(Duration::from_millis(h.timeout_ms));
        for (k, v) in &h.headers {
            let value = match v.strip_prefix("env:") {
                Some(var) => std::env::var(var).map_err(|_| {
                    Error::Unavailable(format!(
                        "header '{k}': the environment variable {var} is not set"
                    ))
                })?,
                None => self.render("headers", v, run)?,
            };
            req = req.header(k.as_str(), value);
        }
        if let Some(b) = &h.body {
            let all = &run.ctx;
            let body = spec::map_strings(b, &mut |s| self.templates.render(s, all))
                .map_err(|e| Error::invalid(format!("'body': {e}"), None))?;
            req = req.json(&body);
        }
        let shown = format!("{} {}{}", h.method, host, url.path());
        let timeout = |e: reqwest::Error| {
            if e.is_timeout() {
                Error::UpstreamTimeout {
                    target: host.clone(),
                    detail: format!("{shown} did not answer within {} ms", h.timeout_ms),
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
            if body.len() + chunk.len() > h.max_response_bytes {
                return Err(Error::Upstream {
                    target: host.clone(),
                    detail: format!(
                        "{shown}: the response exceeds {} bytes",
                        h.max_response_bytes
                    ),
                });
            }
            body.extend_from_slice(&chunk);
        }
        let value = serde_json::from_slice::<Value>(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        if !(200..300).contains(&status) {
            return Err(Error::Upstream {
                target: host,
                detail: format!("{shown} answered {status}"),
            });
        }
        let mut o = Outcome::new(
            json!({"status": status, "body": value}),
            json!({"method": h.method, "url": format!("{}://{host}{}", url.scheme(), url.path())}),
            format!("{shown} → {status}"),
        );
        if !h.trace_body {
            o.traced = Some(json!({"status": status, "body_bytes": body.len()}));
        }
        Ok(o)
    }

    async fn summarize(
        &self,
        ctx: &RequestContext,
        s: &spec::SummarizeStep,
        run: &mut Run,
    ) -> Result<Outcome, Error> {
        let text = self.render("text", &s.text, run)?;
        let chars = text.chars().count();
        let input = json!({"chars": chars});
        if chars < s.min_chars {
            return Ok(Outcome::new(
                json!({"summary": text.trim(), "method": "short", "sentences": null}),
                input,
                "short enough: kept whole",
            ));
        }
        if let Some(model) = self.model_of(&ctx.principal.tenant, s.model.as_deref(), run)? {
            let messages = vec![
                json!({"role": "system", "content": format!("Summarise this customer support thread in at most {} sentences, in the thread's language. Keep order numbers, amounts, dates, what the customer wants and what was already tried. No preamble.", s.max_sentences)}),
                json!({"role": "user", "content": text}),
            ];
            let (summary, usage) = self
                .chat(
                    ctx,
                    chat_body(&model, messages, Some(0.2), Some(300), None),
                    run,
                )
                .await?;
            run.add_usage(usage);
            let summary = match &run.vault {
                Some(v) => v.restore(&summary),
                None => summary,
            };
            return Ok(Outcome::new(
                json!({"summary": summary.trim(), "method": "model", "model": model}),
                input,
                format!("summarised by {model}"),
            ));
        }
        // Extractive: the sentences nearest the thread's centroid, in their order.
        let sentences: Vec<String> = atalaya_knowledge::sentences::split(&text)
            .into_iter()
            .map(|(a, b)| text[a..b].trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect();
        let n = s.max_sentences;
        let picked: Vec<usize> = match self.knowledge.as_ref().map(|k| k.embedder()) {
            Some(Ok(e)) if sentences.len() > n => {
                let (e, sents) = (e.clone(), sentences.clone());
                knowledge::blocking(move || {
                    let v = knowledge::embed(e.as_ref(), &sents)?;
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
                .await?
            }
            _ => (0..sentences.len().min(n)).collect(),
        };
        let summary = picked
            .iter()
            .filter_map(|&i| sentences.get(i))
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Outcome::new(
            json!({"summary": summary, "method": "extractive", "sentences": picked}),
            input,
            format!(
                "extractive: {} of {} sentences",
                picked.len(),
                sentences.len()
            ),
        ))
    }
}

/// An OpenAI chat-completion request body for a model step.
fn chat_body(
    model: &str,
    messages: Vec<Value>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    top_p: Option<f64>,
) -> Value {
    let mut body = json!({"model": model, "messages": messages});
    if let Some(t) = temperature {
        body["temperature"] = json!(t);
    }
    if let Some(m) = max_tokens {
        body["max_tokens"] = json!(m);
    }
    if let Some(p) = top_p {
        body["top_p"] = json!(p);
    }
    body
}

/// The messages of prompt step `id` (none when it did not run: a branch may jump over it).
fn prompt_messages<'a>(run: &'a Run, id: &str) -> Option<&'a Vec<Value>> {
    run.ctx
        .get(id)
        .and_then(|p| p.get("messages"))
        .and_then(Value::as_array)
}

fn goto(p: &Pipeline, target: &str, decision: String) -> Outcome {
    let mut o = Outcome::new(json!({"taken": target}), Value::Null, decision);
    o.jump = Some(match p.position(target) {
        Some(j) => Jump::To(j),
        None => Jump::End,
    });
    o
}

/// A pipeline-crate error as the API's.
pub fn pipeline_error(e: PipelineError) -> Error {
    match e {
        PipelineError::NotFound(id) => Error::NotFound(format!("ticket '{id}'")),
        PipelineError::Invalid { message, param } => Error::invalid(message, param),
        PipelineError::Spec(m) => Error::ConfigSource(m),
        PipelineError::Store(m) => Error::Internal(format!("ticket store: {m}")),
        PipelineError::Full(m) => Error::StorageFull(format!("ticket store: {m}")),
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
        store
            .insert(ticket.clone(), data_subject)
            .await
            .map_err(pipeline_error)?;
        Ok((ticket, outcome))
    }
}
