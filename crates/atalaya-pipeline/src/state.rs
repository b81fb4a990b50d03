//! What a run carries between its steps ([`State`]) and what a step gives back
//! ([`Outcome`]).

use std::{collections::HashMap, sync::Arc, time::Duration};

use atalaya_api::Usage;
use atalaya_guard::pseudo::Vault;
use atalaya_knowledge::service::Hit;
use serde_json::{Map, Value};

use crate::{expr::Templates, PipelineError};

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
    /// The pipeline's step ids, in order (where a jump goes).
    pub(crate) ids: Vec<&'p str>,
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
    pub(crate) fn new(templates: &'p Templates, ids: Vec<&'p str>) -> Self {
        State {
            templates,
            ids,
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

    /// Where step `id` is.
    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.ids.iter().position(|s| *s == id)
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
