//! The executor: runs a pipeline's steps in order against a [`Host`].
//!
//! A run keeps a JSON context: `input`, `vars`, `tenant`, `status`, `pipeline`, and each
//! finished step's output under its id. A step whose `if` is false is skipped (`null`); a
//! `branch` jumps forward; `escalate` (or a failed step with `on_error = "escalate"`) sets
//! the status to `needs_human`. Each step is recorded in the trace (its rendered inputs,
//! output, latency and decision) and as a `pipeline_step` tracing span. Personal data found
//! by an input `guard` step is replaced by placeholders that the model steps restore in the
//! answers; logs never hold the texts.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use atalaya_api::Usage;
use atalaya_guard::pseudo::Vault;
use atalaya_knowledge::service::Hit;
use serde_json::{json, Map, Value};
use tracing::Instrument;

use crate::{
    expr::Templates,
    host::{Host, HostError},
    spec::{OnError, Pipeline, Step},
    PipelineError,
};

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

/// A step's result before it is recorded.
#[derive(Debug)]
pub struct Outcome {
    pub(crate) output: Value,
    /// The inputs as rendered, for the trace.
    pub(crate) input: Value,
    pub(crate) decision: String,
    pub(crate) jump: Option<Jump>,
    /// (reason, stop)
    pub(crate) escalate: Option<(String, bool)>,
    /// What the trace shows instead of `output` (an http step's body stays out of it).
    pub(crate) traced: Option<Value>,
}

impl Outcome {
    pub(crate) fn new(output: Value, input: Value, decision: impl Into<String>) -> Self {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Jump {
    To(usize),
    End,
}

/// What a run carries between steps: the JSON context and what does not fit in it.
pub struct State<'p> {
    pub(crate) templates: &'p Templates,
    pub(crate) pipeline: &'p Pipeline,
    pub(crate) ctx: Map<String, Value>,
    /// Each retrieve step's passages (shared with the blocking tasks that read them).
    pub(crate) hits: HashMap<String, Arc<Vec<Hit>>>,
    pub(crate) vault: Option<Vault>,
    pub(crate) usage: Option<Usage>,
    pub(crate) last_text: Option<String>,
    /// The caller streams: the last step, when it is a `generate` (and the pipeline has no
    /// `output` template), sends its text here as it comes.
    pub(crate) sink: Option<StreamSink>,
    /// The step now running is the one whose text is the run's output, streamed.
    pub(crate) stream_here: bool,
    pub(crate) streamed: bool,
    /// An input `guard` step has judged the run's text for injection.
    pub(crate) input_checked: bool,
    /// The guard's decisions on the model calls of the step now running (for its trace).
    pub(crate) guard_reports: Vec<Value>,
}

impl<'p> State<'p> {
    pub(crate) fn new(templates: &'p Templates, pipeline: &'p Pipeline) -> Self {
        State {
            templates,
            pipeline,
            ctx: Map::new(),
            hits: HashMap::new(),
            vault: None,
            usage: None,
            last_text: None,
            sink: None,
            stream_here: false,
            streamed: false,
            input_checked: false,
            guard_reports: Vec::new(),
        }
    }

    pub(crate) fn add_usage(&mut self, u: Option<Usage>) {
        if let Some(u) = u {
            let t = self.usage.get_or_insert_with(Usage::default);
            t.prompt_tokens += u.prompt_tokens;
            t.completion_tokens += u.completion_tokens;
            t.total_tokens += u.total_tokens.max(u.prompt_tokens + u.completion_tokens);
        }
    }

    /// Template `src` (the step's key `key`) rendered over the context.
    pub(crate) fn render(&self, key: &str, src: &str) -> Result<String, PipelineError> {
        self.templates
            .render(src, &self.ctx)
            .map_err(|e| PipelineError::invalid(format!("'{key}': {e}"), None))
    }

    /// A template that must give a number in 0..1 (a threshold).
    pub(crate) fn render_score(&self, key: &str, src: &str) -> Result<f32, PipelineError> {
        let v = self.render(key, src)?;
        v.trim()
            .parse::<f32>()
            .ok()
            .filter(|x| (0.0..=1.0).contains(x))
            .ok_or_else(|| {
                PipelineError::invalid(
                    format!("'{key}' must give a number from 0 to 1, got {v:?}"),
                    None,
                )
            })
    }

    /// Expression `src` evaluated over the context.
    pub(crate) fn eval(&self, key: &str, src: &str) -> Result<Value, PipelineError> {
        self.templates
            .eval(src, &self.ctx)
            .map_err(|e| PipelineError::invalid(format!("'{key}': {e}"), None))
    }

    /// Condition `src` over the context.
    pub(crate) fn truthy(&self, key: &str, src: &str) -> Result<bool, PipelineError> {
        self.templates
            .truthy(src, &self.ctx)
            .map_err(|e| PipelineError::invalid(format!("'{key}': {e}"), None))
    }

    /// A finished step's output (`null` when it was skipped or has not run).
    pub(crate) fn get(&self, id: &str) -> &Value {
        self.ctx.get(id).unwrap_or(&Value::Null)
    }

    /// The messages of prompt step `id` (none when it did not run: a branch may jump over
    /// it).
    pub(crate) fn prompt_messages(&self, id: &str) -> Option<&Vec<Value>> {
        self.ctx
            .get(id)
            .and_then(|p| p.get("messages"))
            .and_then(Value::as_array)
    }

    /// `text` with the input guard's placeholders back to the customer's values.
    pub(crate) fn restore(&self, text: String) -> String {
        match &self.vault {
            Some(v) => v.restore(&text),
            None => text,
        }
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Runs pipeline `p` for the caller `host` stands for. With `sink`, the run streams: when its
/// last step is a `generate` with a model (and the pipeline has no `output` template), that
/// step's answer goes to `sink` as the upstream produces it, placeholders restored (the
/// trace's `streamed`). `sink` is dropped when the run ends.
pub async fn execute<H: Host>(
    host: &H,
    templates: &Templates,
    p: &Pipeline,
    input: RunInput,
    sink: Option<StreamSink>,
) -> Result<RunOutcome, H::Error> {
    let started = Instant::now();
    let mut input_obj = input.fields;
    input_obj.insert("text".into(), Value::String(input.text));
    let mut run = State::new(templates, p);
    run.sink = sink;
    run.ctx.insert("input".into(), Value::Object(input_obj));
    run.ctx.insert("vars".into(), Value::Object(p.vars.clone()));
    run.ctx.insert("tenant".into(), json!(host.tenant()));
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
            let holds = run
                .truthy("if", cond)
                .map_err(|e| H::Error::from(e).in_step(&at(step)))?;
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
        let result = step
            .kind
            .run(host, step, &mut run)
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
                let e = e.in_step(&at(step));
                span.in_scope(|| {
                    tracing::warn!(latency_ms = latency, code = %e.code(), "pipeline step failed")
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
        let v = templates.eval(expr, all).map_err(|e| {
            PipelineError::Internal(format!("pipeline '{}' outputs.{k}: {e}", p.name))
        })?;
        outputs.insert(k.clone(), v);
    }
    let output = match &p.output {
        Some(t) => templates
            .render(t, all)
            .map_err(|e| PipelineError::Internal(format!("pipeline '{}' output: {e}", p.name)))?,
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

/// How a step's errors name it.
fn at(step: &Step) -> String {
    format!("pipeline step '{}' ({})", step.id, step.kind.name())
}
