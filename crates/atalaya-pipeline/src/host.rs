//! What a running step may ask of the platform: the [`Host`] trait.
//!
//! Steps are pure functions of the run's context except where they call out: a model (chat,
//! streamed or not), the knowledge base (retrieve, and the embedding checks of an answer), a
//! classifier, the guard, or an HTTP API. Each of those goes through the host, which the
//! service crate implements over its gateway, knowledge, classify and guard services (and
//! the tests over a fake). The host is built for one run: it knows the caller, so its checks
//! (the tenant's model list, its guard policy, its knowledge collections) apply to every call
//! a step makes, as they would to a direct request.
//!
//! Errors: a step's own failures are [`PipelineError`]s; the host's are its own type, which
//! passes through a run unchanged (a rate limit stays a rate limit). [`HostError`] is what
//! the executor needs to know of it.

use std::sync::Arc;

use async_trait::async_trait;
use atalaya_api::Usage;
use atalaya_classify::model::Prediction;
use atalaya_guard::pseudo::Vault;
use atalaya_knowledge::service::{Hit, SearchParams};
use futures::stream::BoxStream;
use serde_json::Value;

use serde::Deserialize;

use crate::PipelineError;

/// The host's error type, as the executor sees it.
pub trait HostError: From<PipelineError> + Send + Sync + 'static {
    /// A missing collection or classifier: an `optional` step then gives nothing.
    fn is_not_found(&self) -> bool;
    /// The error with the step named (`at`) in its message; its kind (hence its status and
    /// code) unchanged.
    fn in_step(self, at: &str) -> Self;
    /// Its stable code, for the log line of a failed step.
    fn code(&self) -> &'static str;
    /// Its message as a client may see it (the trace, an escalation reason).
    fn public_message(&self) -> String;
}

/// Which side of a model call a `guard` step checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Injection and PII on text that goes to a model.
    Input,
    /// PII not in the input, leakage and the deny-list on an answer.
    Output,
}

/// One model call of a step.
#[derive(Debug, Clone)]
pub struct ChatCall {
    /// An OpenAI chat-completion request body.
    pub body: Value,
    /// The run's input `guard` step has judged the text: the call's own guard skips the
    /// injection check (PII redaction and the output checks still apply).
    pub input_checked: bool,
}

/// A model's answer.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// The first choice's text, output-checked, with the call's own guard placeholders
    /// restored (the run's input-guard placeholders are the step's to restore).
    pub text: String,
    pub usage: Option<Usage>,
    /// The guard's decisions on the call (for the step's trace).
    pub guard: Option<Value>,
}

/// One piece of a streamed answer.
#[derive(Debug, Clone, Default)]
pub struct Delta {
    /// Text to append (already output-checked).
    pub content: Option<String>,
    pub usage: Option<Usage>,
    pub guard: Option<Value>,
}

/// A streamed answer.
pub type DeltaStream<E> = BoxStream<'static, Result<Delta, E>>;

/// An answer checked against the passages it was given.
#[derive(Debug, Clone, Default)]
pub struct Grounding {
    /// Passage numbers (1-based) in order of first citation, valid ones only.
    pub cited: Vec<usize>,
    /// Claims (sentences) in the answer.
    pub claims: usize,
    /// The claims the passages they cite do not back.
    pub unsupported: Vec<String>,
}

/// An answer quoted from the passages (no model).
#[derive(Debug, Clone, Default)]
pub struct Quote {
    pub text: String,
    /// Passage numbers (1-based) quoted.
    pub cited: Vec<usize>,
    /// The best cosine of a quoted sentence to the question (0: nothing quoted).
    pub relevance: f32,
}

/// A guard policy applied to one text.
#[derive(Debug, Clone, Copy)]
pub struct GuardCheck<'a> {
    /// A `[guard.policies]` name; `None`: the tenant's, else the default.
    pub policy: Option<&'a str>,
    pub stage: Stage,
    pub text: &'a str,
    /// Input stage: the text is a document (indirect injection), not the customer's.
    pub document: bool,
    /// Input stage: only an injection score at or above this blocks.
    pub block_at: Option<f32>,
    /// Output stage: the text the answer may repeat personal data from.
    pub original: &'a str,
}

/// What a guard policy made of a text.
#[derive(Debug, Clone)]
pub struct TextCheck {
    /// The text to use from here on: pseudonymized or masked (input), masked (output).
    pub text: String,
    /// Restores the input stage's placeholders in a model's answer.
    pub vault: Option<Vault>,
    /// Something fired (injection flagged, PII found, an output check).
    pub flagged: bool,
    /// Why the policy blocks the text, if it does.
    pub blocked: Option<String>,
    /// The decisions as JSON for the pipeline's context (types and counts, never values).
    pub report: Value,
}

/// A header of an `http` step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// Rendered from the step's template.
    Value(String),
    /// Read from this environment variable by the host (a secret; never rendered, so a
    /// customer's text cannot name a variable).
    Env(String),
}

/// An `http` step's request.
#[derive(Debug, Clone)]
pub struct HttpCall {
    pub method: String,
    /// Rendered, not yet parsed: the host parses it and checks its scheme and host.
    pub url: String,
    pub headers: Vec<(String, Header)>,
    pub body: Option<Value>,
    pub timeout_ms: u64,
    pub max_response_bytes: usize,
    /// Hosts this step may call besides the configured ones.
    pub allowed_hosts: Vec<String>,
}

/// An API's answer.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    /// JSON, else the text.
    pub body: Value,
    pub bytes: usize,
    /// The host called (an error's target).
    pub host: String,
    /// `METHOD host/path`, for decisions and errors.
    pub shown: String,
    /// `scheme://host/path` (no query: it may hold personal data), for the trace.
    pub url: String,
}

/// The platform as a step sees it, for one run.
#[async_trait]
pub trait Host: Send + Sync {
    type Error: HostError;

    /// The tenant the run is for (`tenant` in templates).
    fn tenant(&self) -> &str;
    /// The model of `generate` and `summarize` steps that name none
    /// (`knowledge.answer_model`).
    fn answer_model(&self) -> Option<String>;
    /// The caller may call `model` (its tenant's model list), as a direct request would be
    /// checked.
    fn check_model(&self, model: &str) -> Result<(), Self::Error>;
    /// One chat completion, guarded as a direct request on its route would be.
    async fn chat(&self, call: ChatCall) -> Result<Answer, Self::Error>;
    /// The same, streamed.
    async fn chat_stream(&self, call: ChatCall) -> Result<DeltaStream<Self::Error>, Self::Error>;
    /// The knowledge base is enabled (a `retrieve` step fails first when it is not, even
    /// with nothing to search).
    fn check_knowledge(&self) -> Result<(), Self::Error>;
    /// Passages of one of the caller's collections.
    async fn retrieve(
        &self,
        collection: &str,
        query: String,
        params: SearchParams,
    ) -> Result<Vec<Hit>, Self::Error>;
    /// An answer's citations and claims checked against `hits` (embeds them).
    async fn ground(&self, answer: String, hits: Arc<Vec<Hit>>) -> Result<Grounding, Self::Error>;
    /// The sentences of `hits` that best answer `query` (embeds them).
    async fn quote(&self, query: String, hits: Arc<Vec<Hit>>) -> Result<Quote, Self::Error>;
    /// The `n` sentences nearest the centroid of all, by index in order; `None` when there is
    /// no embedding model.
    async fn central(
        &self,
        sentences: Vec<String>,
        n: usize,
    ) -> Result<Option<Vec<usize>>, Self::Error>;
    /// One of the tenant's classifiers on one text.
    async fn classify(&self, classifier: &str, text: String) -> Result<Prediction, Self::Error>;
    /// Whether the policy a `guard` step names (or the tenant's) is off: the step then
    /// passes its text on without rendering anything else.
    fn guard_off(&self, policy: Option<&str>) -> Result<bool, Self::Error>;
    /// A guard policy on one text: the policy's name and what it found; `None` when the
    /// tenant's policy is off.
    fn guard(&self, check: GuardCheck<'_>) -> Result<Option<(String, TextCheck)>, Self::Error>;
    /// Whether an `http` step may call `url` (scheme, allowed host and port, no internal
    /// address unless vouched for): checked before the step renders its headers and body.
    async fn http_check(&self, url: &str, allowed_hosts: &[String]) -> Result<(), Self::Error>;
    /// One call to an allowed HTTP API (checked again).
    async fn http(&self, call: HttpCall) -> Result<HttpAnswer, Self::Error>;
}
