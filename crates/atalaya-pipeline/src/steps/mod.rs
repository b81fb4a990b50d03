//! The step kinds, one module each: its keys (a serde struct, unknown keys refused), its
//! load-time validation (`check`, over a [`Check`] of the step's place in the pipeline) and
//! its `run` (over the run's [`State`] and the [`Host`]). Adding a kind is a new module here
//! and one line in each `match` of [`crate::spec::StepKind`] (see
//! docs/adding-a-step-kind.md).

use atalaya_api::Usage;
use serde_json::{json, Value};

use crate::{expr::Templates, host::Host, state::State};

pub mod branch;
pub mod classify;
pub mod confidence;
pub mod detect_language;
pub mod escalate;
pub mod extract;
pub mod generate;
pub mod guard;
pub mod http;
pub mod prompt;
pub mod retrieve;
pub mod set;
pub mod summarize;

pub use branch::{BranchStep, Case};
pub use classify::ClassifyStep;
pub use confidence::ConfidenceStep;
pub use detect_language::DetectLanguage;
pub use escalate::EscalateStep;
pub use extract::ExtractStep;
pub use generate::GenerateStep;
pub use guard::{GuardStep, OnBlock, Stage, TextSource};
pub use http::HttpStep;
pub use prompt::PromptStep;
pub use retrieve::RetrieveStep;
pub use set::SetStep;
pub use summarize::SummarizeStep;

/// The default text of most steps: the run's input.
pub(crate) fn input_text() -> String {
    "{{ input.text }}".into()
}

/// A step's place in its pipeline, for its load-time checks: errors name the step and key.
pub(crate) struct Check<'a> {
    pub(crate) templates: &'a Templates,
    /// Every step of the pipeline: its id and its kind's name.
    pub(crate) steps: &'a [(&'a str, &'static str)],
    /// The index of the step checked.
    pub(crate) index: usize,
}

impl Check<'_> {
    /// An error about `key` of this step.
    pub(crate) fn err(&self, key: &str, m: impl std::fmt::Display) -> String {
        let (id, kind) = self.steps.get(self.index).copied().unwrap_or_default();
        format!("step {} '{id}' ({kind}): '{key}': {m}", self.index + 1)
    }

    pub(crate) fn template(&self, key: &str, src: &str) -> Result<(), String> {
        self.templates
            .check_template(src)
            .map_err(|e| self.err(key, e))
    }

    pub(crate) fn expression(&self, key: &str, src: &str) -> Result<(), String> {
        self.templates.check_expr(src).map_err(|e| self.err(key, e))
    }

    /// `id` names an earlier step of one of `kinds` (steps only read what ran before them).
    pub(crate) fn earlier(&self, key: &str, id: &str, kinds: &[&str]) -> Result<(), String> {
        let before = self.steps.get(..self.index).unwrap_or_default();
        match before.iter().find(|(e, _)| *e == id) {
            Some((_, kind)) if kinds.contains(kind) => Ok(()),
            Some((_, kind)) => Err(self.err(
                key,
                format!("step '{id}' is a {kind} step, not {}", kinds.join(" or ")),
            )),
            None => Err(self.err(
                key,
                format!(
                    "no earlier step '{id}' (a step may only use the output of steps before it)"
                ),
            )),
        }
    }

    /// `target` is a step after this one, or `end` (jumps go forward, so every run ends).
    pub(crate) fn later(&self, key: &str, target: &str) -> Result<(), String> {
        if target == "end" {
            return Ok(());
        }
        match self.steps.iter().position(|(id, _)| *id == target) {
            Some(j) if j > self.index => Ok(()),
            Some(_) => Err(self.err(
                key,
                format!("'{target}' is not after this step (jumps go forward, so every run ends)"),
            )),
            None => Err(self.err(key, format!("no step '{target}' (or \"end\")"))),
        }
    }
}

/// An OpenAI chat-completion request body for a model step.
pub(crate) fn chat_body(
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

/// One chat completion of a step: its guard report goes to the step's trace, its usage to
/// the run's (and is returned, with the answer's text).
pub(crate) async fn chat<H: Host>(
    host: &H,
    run: &mut State<'_>,
    body: Value,
) -> Result<(String, Option<Usage>), H::Error> {
    let a = host
        .chat(crate::host::ChatCall {
            body,
            input_checked: run.input_checked,
        })
        .await?;
    run.guard_reports.extend(a.guard);
    run.add_usage(a.usage);
    Ok((a.text, a.usage))
}

/// The model a `generate`/`summarize` step uses: its own (rendered), else the host's answer
/// model; `None` = no model (extractive). The tenant must be allowed it.
pub(crate) fn model_of<H: Host>(
    host: &H,
    model: Option<&str>,
    run: &State<'_>,
) -> Result<Option<String>, H::Error> {
    let m = match model {
        Some(m) => run.render("model", m)?,
        None => String::new(),
    };
    let m = if m.trim().is_empty() {
        host.answer_model()
    } else {
        Some(m.trim().to_owned())
    };
    if let Some(m) = &m {
        host.check_model(m)?;
    }
    Ok(m)
}
