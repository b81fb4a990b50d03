//! The executor: runs a pipeline's steps in order against a [`Host`].
//!
//! A run keeps a JSON context: `input`, `vars`, `tenant`, `status`, `pipeline`, and each
//! finished step's output under its id. A step whose `if` is false is skipped (`null`); a
//! `branch` jumps forward; `escalate` (or a failed step with `on_error = "escalate"`) sets
//! the status to `needs_human`. Each step is recorded in the trace (its rendered inputs,
//! output, latency and decision) and as a `pipeline_step` tracing span. Personal data found
//! by an input `guard` step is replaced by placeholders that the model steps restore in the
//! answers; logs never hold the texts.

use std::time::Instant;

use atalaya_api::Usage;
use serde_json::{json, Map, Value};
use tracing::Instrument;

use crate::{
    expr::Templates,
    host::{Host, HostError},
    spec::{OnError, Pipeline, Step},
    state::{ms, Jump, State},
    PipelineError,
};

pub use crate::state::StreamSink;

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
    let mut run = State::new(templates, p.steps.iter().map(|s| s.id.as_str()).collect());
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
            .run(host, &step.id, &mut run)
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
