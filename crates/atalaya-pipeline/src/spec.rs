//! What a pipeline file says, and its validation.
//!
//! ```toml
//! name = "support"
//! version = 3
//! [[steps]]
//! id = "language"
//! kind = "detect_language"
//! [[steps]]
//! id = "intent"
//! kind = "classify"
//! classifier = "intents"
//! optional = true
//! ```
//!
//! Every step has an `id` (its output's name in the context), a `kind`, an optional `if`
//! (a condition; the step is skipped when it is false) and `on_error` (`fail`, `continue`
//! or `escalate`). The other keys depend on the kind; unknown keys are errors. Templates
//! (`text`, `query`, `url`...) and conditions (`if`, `when`, `values`) are minijinja over the
//! context; they are parsed here, at load time, so a typo fails start-up, not a request.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{confidence::Weights, expr::Templates, lang, schema::Schema, PipelineError};

/// A validated pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub version: u32,
    pub description: String,
    /// Constants the templates see as `vars`.
    pub vars: Map<String, Value>,
    pub steps: Vec<Step>,
    /// Named results (expressions over the final context): what tickets and batch triage
    /// read (`language`, `intent`, `priority`, `confidence`, `draft`, `citations`).
    pub outputs: BTreeMap<String, String>,
    /// The answer text (a template); unset = the text of the last `generate` step that ran.
    pub output: Option<String>,
    /// Where it was read from (a path, or "built-in").
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    /// A condition: the step runs only when it is true.
    pub when: Option<String>,
    pub on_error: OnError,
    pub kind: StepKind,
}

/// What a failing step does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The run fails with the step's error.
    #[default]
    Fail,
    /// The step's output is `null`; the run goes on (the error is in the trace).
    Continue,
    /// The run ends with status `needs_human`, the error as the reason.
    Escalate,
}

#[derive(Debug, Clone)]
pub enum StepKind {
    DetectLanguage(DetectLanguage),
    Guard(GuardStep),
    Classify(ClassifyStep),
    Retrieve(RetrieveStep),
    Prompt(PromptStep),
    Generate(GenerateStep),
    Extract(ExtractStep),
    Http(HttpStep),
    Branch(BranchStep),
    Escalate(EscalateStep),
    Set(SetStep),
    Confidence(ConfidenceStep),
    Summarize(SummarizeStep),
}

impl StepKind {
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::DetectLanguage(_) => "detect_language",
            StepKind::Guard(_) => "guard",
            StepKind::Classify(_) => "classify",
            StepKind::Retrieve(_) => "retrieve",
            StepKind::Prompt(_) => "prompt",
            StepKind::Generate(_) => "generate",
            StepKind::Extract(_) => "extract",
            StepKind::Http(_) => "http",
            StepKind::Branch(_) => "branch",
            StepKind::Escalate(_) => "escalate",
            StepKind::Set(_) => "set",
            StepKind::Confidence(_) => "confidence",
            StepKind::Summarize(_) => "summarize",
        }
    }
}

const KINDS: &str = "detect_language, guard, classify, retrieve, prompt, generate, extract, http, branch, escalate, set, confidence, summarize";

fn input_text() -> String {
    "{{ input.text }}".into()
}

/// `detect_language`: the customer's language (a language given with the input wins).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectLanguage {
    #[serde(default = "input_text")]
    pub text: String,
    /// ISO 639-1 codes the pipeline serves.
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    /// Used when the text is too short to tell or in another language.
    #[serde(default = "default_language")]
    pub default: String,
}

fn default_languages() -> Vec<String> {
    vec!["en".into(), "es".into(), "pt".into()]
}
fn default_language() -> String {
    "en".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Injection and PII on text that goes to a model.
    Input,
    /// PII not in the input, leakage and the deny-list on an answer.
    Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextSource {
    User,
    Document,
}

/// What a guard step does when its policy would block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBlock {
    /// End the run with status `needs_human`.
    Escalate,
    /// Fail the run (400 `guardrail_violation`).
    Fail,
    /// Record it and go on.
    Continue,
}

/// `guard`: a guard policy on text. Output: `flagged`, `blocked`, `injection`, `pii` (types
/// and counts), `text` (redacted on input, masked on output).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardStep {
    pub stage: Stage,
    #[serde(default = "input_text")]
    pub text: String,
    /// A `[guard.policies]` name; unset = the tenant's policy, else `guard.default_policy`,
    /// else the built-in defaults.
    pub policy: Option<String>,
    #[serde(default = "user_source")]
    pub source: TextSource,
    /// Output stage: the text the answer may repeat personal data from.
    pub original: Option<String>,
    #[serde(default = "escalate")]
    pub on_block: OnBlock,
    /// Input stage: an injection score at or above this (a template giving a number in
    /// 0..1, e.g. `"{{ vars.injection_escalate_at }}"`) blocks, and `on_block` applies; a
    /// text the policy flags below it is recorded as flagged and the run goes on with it.
    /// Unset: every flagged text blocks (when the policy's injection action is `block`).
    pub injection_block_at: Option<String>,
}

fn user_source() -> TextSource {
    TextSource::User
}
fn escalate() -> OnBlock {
    OnBlock::Escalate
}

/// `classify`: a trained classifier of the tenant (`atalaya classify train`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyStep {
    pub classifier: String,
    #[serde(default = "input_text")]
    pub text: String,
    /// A missing classifier gives `null` instead of an error.
    #[serde(default)]
    pub optional: bool,
}

/// `retrieve`: passages of a knowledge collection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrieveStep {
    /// A template: the collection may depend on the tenant or the intent.
    pub collection: String,
    #[serde(default = "input_text")]
    pub query: String,
    #[serde(default = "five")]
    pub k: usize,
    /// `hybrid`, `dense` or `bm25`.
    #[serde(default = "hybrid")]
    pub mode: String,
    #[serde(default = "one_f32")]
    pub dense_weight: f32,
    #[serde(default = "one_f32")]
    pub bm25_weight: f32,
    /// Passages with one of these tags only.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Passages in these languages only (templates, e.g. `"{{ language.language }}"`).
    #[serde(default)]
    pub languages: Vec<String>,
    /// The customer's language (a template, e.g. `"{{ language.language }}"`): passages in it
    /// first, other languages only when none in it is relevant. Empty = no preference.
    #[serde(default)]
    pub prefer_language: Option<String>,
    /// With `prefer_language`: the cosine similarity under which passages in the customer's
    /// language count as not relevant (default 0.3).
    #[serde(default)]
    pub relevance_floor: Option<f32>,
    /// Search with the part of the query that carries the question: without greetings,
    /// sign-offs and signatures, reply prefixes, e-mails, URLs, placeholders and long numbers
    /// (for customers' messages; see `atalaya_knowledge::query::focus`).
    #[serde(default)]
    pub focus: bool,
    /// A missing collection gives no passages instead of an error.
    #[serde(default)]
    pub optional: bool,
}

fn five() -> usize {
    5
}
fn hybrid() -> String {
    "hybrid".into()
}
fn one_f32() -> f32 {
    1.0
}

/// `prompt`: messages rendered from the context, for `generate`, `extract` or `summarize`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptStep {
    pub system: Option<String>,
    pub user: String,
    /// A `retrieve` step whose passages are appended to the system message, numbered from 1.
    pub sources: Option<String>,
}

/// `generate`: a model route's answer to a prompt.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateStep {
    /// A model route (template). Empty or unset: no model; with `sources`, the answer is
    /// extractive (the best sentences of the passages, cited), else the step fails.
    pub model: Option<String>,
    /// The `prompt` step to send.
    pub prompt: String,
    /// The `retrieve` step the answer cites (`[n]` markers become citations, claims are
    /// checked against the passages they cite).
    pub sources: Option<String>,
    /// The question an extractive answer answers.
    #[serde(default = "input_text")]
    pub query: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub top_p: Option<f64>,
}

/// `extract`: JSON from a model, checked against a JSON Schema; an invalid answer is sent
/// back once (`retries`) with the violations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractStep {
    pub model: String,
    /// The `prompt` step to send; unset = `text` with an instruction to answer in JSON.
    pub prompt: Option<String>,
    #[serde(default = "input_text")]
    pub text: String,
    pub schema: Value,
    #[serde(default = "one_u32")]
    pub retries: u32,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
}

fn one_u32() -> u32 {
    1
}

/// `http`: an external API (order status, CRM), its JSON answer bound into the context.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    /// A template; its host must be allowed.
    pub url: String,
    #[serde(default = "get")]
    pub method: String,
    /// Values are templates; `env:NAME` is read from the environment (secrets).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON; its strings are templates.
    pub body: Option<Value>,
    #[serde(default = "five_seconds")]
    pub timeout_ms: u64,
    /// Hosts this step may call (besides `pipelines.http_allowed_hosts`).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    #[serde(default = "one_mib")]
    pub max_response_bytes: usize,
    /// Record the response body in the run's trace (off: the trace shows its status and size;
    /// the body still reaches the steps that use it).
    #[serde(default)]
    pub trace_body: bool,
}

fn get() -> String {
    "GET".into()
}
fn five_seconds() -> u64 {
    5000
}
fn one_mib() -> usize {
    1 << 20
}

/// `branch`: jumps forward to the first case whose condition holds (`end` ends the run).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchStep {
    pub cases: Vec<Case>,
    /// Where to go when no case holds; unset = the next step.
    #[serde(rename = "else")]
    pub otherwise: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub when: String,
    pub goto: String,
}

/// `escalate`: the run's status becomes `needs_human` with a reason.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalateStep {
    /// A template.
    pub reason: String,
    /// End the run here (else later steps still run, e.g. to draft for the agent).
    #[serde(default = "yes")]
    pub stop: bool,
}

fn yes() -> bool {
    true
}

/// `set`: values computed from the context (expressions).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStep {
    pub values: BTreeMap<String, String>,
}

/// `confidence`: the weighted mean of the signals (see [`crate::confidence`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfidenceStep {
    /// A `retrieve` step: its best passage's similarity to the question.
    pub retrieval: Option<String>,
    /// `classify` steps: their confidence (0 when out of scope).
    #[serde(default)]
    pub classification: Vec<String>,
    /// A `generate` step: its groundedness.
    pub answer: Option<String>,
    #[serde(default)]
    pub weights: Weights,
}

/// `summarize`: a long thread in a few sentences — by a model, or extractively (the
/// sentences closest to the thread's centroid, in order) without one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummarizeStep {
    #[serde(default = "thread_text")]
    pub text: String,
    /// A model route (template); empty or unset = extractive.
    pub model: Option<String>,
    #[serde(default = "three")]
    pub max_sentences: usize,
    /// Texts shorter than this (in characters) are their own summary.
    #[serde(default = "min_summary_chars")]
    pub min_chars: usize,
}

fn thread_text() -> String {
    "{{ input.thread_text or input.text }}".into()
}
fn three() -> usize {
    3
}
fn min_summary_chars() -> usize {
    600
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    name: String,
    #[serde(default = "one_u32")]
    version: u32,
    #[serde(default)]
    description: String,
    #[serde(default)]
    vars: Map<String, Value>,
    steps: Vec<Value>,
    #[serde(default)]
    outputs: BTreeMap<String, String>,
    output: Option<String>,
}

/// Names the context holds besides step outputs.
pub const RESERVED: &[&str] = &[
    "input", "vars", "tenant", "status", "reason", "pipeline", "end", "steps", "output",
];

/// Pipeline names and step ids: a letter, then letters, digits or `_` (they are template
/// variables), at most 64.
pub fn valid_id(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && s.len() <= 64
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Pipeline names may also hold `-`.
pub fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphanumeric())
        && s.len() <= 64
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Pipeline {
    /// Reads a pipeline from TOML or YAML (`yaml` chooses).
    pub fn parse(text: &str, yaml: bool, source: &str) -> Result<Pipeline, PipelineError> {
        let value: Value = if yaml {
            serde_yaml::from_str(text)
                .map_err(|e| PipelineError::Spec(format!("pipeline file {source}: {e}")))?
        } else {
            toml::from_str(text)
                .map_err(|e| PipelineError::Spec(format!("pipeline file {source}: {e}")))?
        };
        Self::from_value(value, source)
    }

    /// Reads the file at `path` (`.yaml`/`.yml` as YAML, anything else as TOML).
    pub fn load(path: &std::path::Path) -> Result<Pipeline, PipelineError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PipelineError::Spec(format!("pipeline file {}: {e}", path.display())))?;
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        Self::parse(&text, yaml, &path.display().to_string())
    }

    fn from_value(value: Value, source: &str) -> Result<Pipeline, PipelineError> {
        let raw: RawPipeline = serde_json::from_value(value)
            .map_err(|e| PipelineError::Spec(format!("pipeline file {source}: {e}")))?;
        let name = raw.name.clone();
        let err = |m: String| PipelineError::Spec(format!("pipeline '{name}' ({source}): {m}"));
        if !valid_name(&raw.name) {
            return Err(err(
                "'name' must be 1–64 letters, digits, '-' or '_', starting with a letter or digit"
                    .into(),
            ));
        }
        if raw.steps.is_empty() {
            return Err(err("'steps' must list at least one step".into()));
        }
        let mut steps = Vec::with_capacity(raw.steps.len());
        for (i, v) in raw.steps.into_iter().enumerate() {
            steps.push(parse_step(v, i).map_err(&err)?);
        }
        let p = Pipeline {
            name: raw.name,
            version: raw.version,
            description: raw.description,
            vars: raw.vars,
            steps,
            outputs: raw.outputs,
            output: raw.output,
            source: source.to_owned(),
        };
        p.validate().map_err(err)?;
        Ok(p)
    }

    /// Where step `id` is.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// Cross-step checks: unique ids, references to earlier steps of the right kind, forward
    /// jumps only (so every run ends), templates and expressions that parse.
    fn validate(&self) -> Result<(), String> {
        let t = Templates::new();
        let mut seen = HashSet::new();
        for (i, s) in self.steps.iter().enumerate() {
            let at = |key: &str, m: String| {
                format!(
                    "step {} '{}' ({}): '{key}': {m}",
                    i + 1,
                    s.id,
                    s.kind.name()
                )
            };
            if !seen.insert(s.id.as_str()) {
                return Err(at("id", "another step has this id".into()));
            }
            let earlier = |key: &str, id: &str, kinds: &[&str]| -> Result<(), String> {
                match self.steps[..i].iter().find(|e| e.id == id) {
                    Some(e) if kinds.contains(&e.kind.name()) => Ok(()),
                    Some(e) => Err(at(
                        key,
                        format!(
                            "step '{id}' is a {} step, not {}",
                            e.kind.name(),
                            kinds.join(" or ")
                        ),
                    )),
                    None => Err(at(
                        key,
                        format!("no earlier step '{id}' (a step may only use the output of steps before it)"),
                    )),
                }
            };
            let template = |key: &str, src: &str| t.check_template(src).map_err(|e| at(key, e));
            let expression = |key: &str, src: &str| t.check_expr(src).map_err(|e| at(key, e));
            if let Some(w) = &s.when {
                expression("if", w)?;
            }
            match &s.kind {
                StepKind::DetectLanguage(d) => {
                    template("text", &d.text)?;
                    if d.languages.is_empty() {
                        return Err(at("languages", "list at least one language".into()));
                    }
                    for l in d.languages.iter().chain(std::iter::once(&d.default)) {
                        if !lang::known(l) {
                            return Err(at(
                                "languages",
                                format!("unknown language '{l}' (known: {})", lang::known_codes()),
                            ));
                        }
                    }
                }
                StepKind::Guard(g) => {
                    template("text", &g.text)?;
                    if let Some(o) = &g.original {
                        if g.stage == Stage::Input {
                            return Err(at("original", "only an output guard has one".into()));
                        }
                        template("original", o)?;
                    }
                    if let Some(t) = &g.injection_block_at {
                        if g.stage == Stage::Output {
                            return Err(at(
                                "injection_block_at",
                                "only an input guard has one".into(),
                            ));
                        }
                        template("injection_block_at", t)?;
                    }
                }
                StepKind::Classify(c) => {
                    template("text", &c.text)?;
                    if !valid_name(&c.classifier) {
                        return Err(at("classifier", "1–64 letters, digits, '-' or '_'".into()));
                    }
                }
                StepKind::Retrieve(r) => {
                    template("collection", &r.collection)?;
                    template("query", &r.query)?;
                    for l in &r.languages {
                        template("languages", l)?;
                    }
                    if let Some(l) = &r.prefer_language {
                        template("prefer_language", l)?;
                    }
                    if let Some(f) = r.relevance_floor {
                        if !(0.0..=1.0).contains(&f) {
                            return Err(at("relevance_floor", format!("must be 0 to 1, got {f}")));
                        }
                    }
                    if !(1..=50).contains(&r.k) {
                        return Err(at("k", format!("must be 1 to 50, got {}", r.k)));
                    }
                    if !["hybrid", "dense", "bm25"].contains(&r.mode.as_str()) {
                        return Err(at(
                            "mode",
                            format!(
                                "must be \"hybrid\", \"dense\" or \"bm25\", got \"{}\"",
                                r.mode
                            ),
                        ));
                    }
                    for (k, w) in [
                        ("dense_weight", r.dense_weight),
                        ("bm25_weight", r.bm25_weight),
                    ] {
                        if !(w.is_finite() && w >= 0.0) {
                            return Err(at(k, "must be a non-negative number".into()));
                        }
                    }
                }
                StepKind::Prompt(p) => {
                    if let Some(sys) = &p.system {
                        template("system", sys)?;
                    }
                    template("user", &p.user)?;
                    if let Some(src) = &p.sources {
                        earlier("sources", src, &["retrieve"])?;
                    }
                }
                StepKind::Generate(g) => {
                    if let Some(m) = &g.model {
                        template("model", m)?;
                    }
                    earlier("prompt", &g.prompt, &["prompt"])?;
                    if let Some(src) = &g.sources {
                        earlier("sources", src, &["retrieve"])?;
                    }
                    template("query", &g.query)?;
                    check_sampling(g.temperature, g.top_p, g.max_tokens)
                        .map_err(|(k, m)| at(k, m))?;
                }
                StepKind::Extract(x) => {
                    if x.model.trim().is_empty() {
                        return Err(at("model", "name a model route".into()));
                    }
                    template("model", &x.model)?;
                    match &x.prompt {
                        Some(p) => earlier("prompt", p, &["prompt"])?,
                        None => template("text", &x.text)?,
                    }
                    Schema::compile(&x.schema).map_err(|e| at("schema", e))?;
                    if x.retries > 3 {
                        return Err(at("retries", "at most 3".into()));
                    }
                    check_sampling(x.temperature, None, x.max_tokens).map_err(|(k, m)| at(k, m))?;
                }
                StepKind::Http(h) => {
                    template("url", &h.url)?;
                    if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&h.method.as_str()) {
                        return Err(at(
                            "method",
                            format!(
                                "must be GET, POST, PUT, PATCH or DELETE, got \"{}\"",
                                h.method
                            ),
                        ));
                    }
                    for (k, v) in &h.headers {
                        if v.strip_prefix("env:").is_none() {
                            template("headers", v)?;
                        }
                        if k.is_empty()
                            || !k
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                        {
                            return Err(at("headers", format!("'{k}' is not a header name")));
                        }
                    }
                    if let Some(b) = &h.body {
                        map_strings(b, &mut |s| t.check_template(s).map(|()| String::new()))
                            .map_err(|e| at("body", e))?;
                    }
                    if !(1..=60_000).contains(&h.timeout_ms) {
                        return Err(at("timeout_ms", "must be 1 to 60000".into()));
                    }
                    if h.max_response_bytes == 0 || h.max_response_bytes > 16 << 20 {
                        return Err(at("max_response_bytes", "must be 1 to 16 MiB".into()));
                    }
                }
                StepKind::Branch(b) => {
                    if b.cases.is_empty() {
                        return Err(at("cases", "list at least one case".into()));
                    }
                    let targets = b
                        .cases
                        .iter()
                        .map(|c| c.goto.as_str())
                        .chain(b.otherwise.as_deref());
                    for c in &b.cases {
                        expression("when", &c.when)?;
                    }
                    for target in targets {
                        if target == "end" {
                            continue;
                        }
                        match self.position(target) {
                            Some(j) if j > i => {}
                            Some(_) => {
                                return Err(at(
                                    "goto",
                                    format!("'{target}' is not after this step (jumps go forward, so every run ends)"),
                                ))
                            }
                            None => {
                                return Err(at("goto", format!("no step '{target}' (or \"end\")")))
                            }
                        }
                    }
                }
                StepKind::Escalate(e) => template("reason", &e.reason)?,
                StepKind::Set(v) => {
                    if v.values.is_empty() {
                        return Err(at("values", "set at least one value".into()));
                    }
                    for (k, e) in &v.values {
                        if !valid_id(k) {
                            return Err(at("values", format!("'{k}' is not a valid name")));
                        }
                        expression("values", e)?;
                    }
                }
                StepKind::Confidence(c) => {
                    if let Some(r) = &c.retrieval {
                        earlier("retrieval", r, &["retrieve"])?;
                    }
                    for k in &c.classification {
                        earlier("classification", k, &["classify"])?;
                    }
                    if let Some(a) = &c.answer {
                        earlier("answer", a, &["generate"])?;
                    }
                    if c.retrieval.is_none() && c.classification.is_empty() && c.answer.is_none() {
                        return Err(at(
                            "retrieval",
                            "name at least one signal (retrieval, classification or answer)".into(),
                        ));
                    }
                    let w = c.weights;
                    let all = [w.retrieval, w.classification, w.answer];
                    if all.iter().any(|x| !x.is_finite() || *x < 0.0)
                        || all.iter().sum::<f64>() <= 0.0
                    {
                        return Err(at("weights", "non-negative numbers, not all zero".into()));
                    }
                }
                StepKind::Summarize(s) => {
                    template("text", &s.text)?;
                    if let Some(m) = &s.model {
                        template("model", m)?;
                    }
                    if !(1..=20).contains(&s.max_sentences) {
                        return Err(at("max_sentences", "must be 1 to 20".into()));
                    }
                }
            }
        }
        for (k, e) in &self.outputs {
            if !valid_id(k) {
                return Err(format!("'outputs.{k}': not a valid name"));
            }
            t.check_expr(e).map_err(|m| format!("'outputs.{k}': {m}"))?;
        }
        if let Some(o) = &self.output {
            t.check_template(o).map_err(|m| format!("'output': {m}"))?;
        }
        Ok(())
    }

    /// The model routes the pipeline names literally (templated ones are checked when they
    /// render), with the step that names each.
    pub fn models(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        for s in &self.steps {
            let m = match &s.kind {
                StepKind::Generate(g) => g.model.as_deref(),
                StepKind::Summarize(g) => g.model.as_deref(),
                StepKind::Extract(x) => Some(x.model.as_str()),
                _ => None,
            };
            if let Some(m) = m.filter(|m| !m.contains("{{") && !m.trim().is_empty()) {
                out.push((s.id.as_str(), m));
            }
        }
        out
    }
}

fn check_sampling(
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<u32>,
) -> Result<(), (&'static str, String)> {
    if let Some(t) = temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(("temperature", "must be 0 to 2".into()));
        }
    }
    if let Some(p) = top_p {
        if !(p > 0.0 && p <= 1.0) {
            return Err(("top_p", "must be in (0, 1]".into()));
        }
    }
    if max_tokens == Some(0) {
        return Err(("max_tokens", "must be at least 1".into()));
    }
    Ok(())
}

/// `v` with every string replaced by `f(string)`.
pub fn map_strings(
    v: &Value,
    f: &mut impl FnMut(&str) -> Result<String, String>,
) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(f(s)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| map_strings(x, f))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), map_strings(x, f)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn parse_step(v: Value, i: usize) -> Result<Step, String> {
    let Value::Object(mut m) = v else {
        return Err(format!("step {}: must be a table", i + 1));
    };
    let id = match m.remove("id") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(format!("step {}: 'id' must be a string", i + 1)),
        None => return Err(format!("step {}: 'id' is missing", i + 1)),
    };
    let at = |key: &str, msg: String| format!("step {} '{id}': '{key}': {msg}", i + 1);
    if !valid_id(&id) {
        return Err(at(
            "id",
            "a letter, then letters, digits or '_' (it names the step's output in templates)"
                .into(),
        ));
    }
    if RESERVED.contains(&id.as_str()) {
        return Err(at(
            "id",
            format!("'{id}' is reserved ({})", RESERVED.join(", ")),
        ));
    }
    let kind = match m.remove("kind") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(at("kind", "must be a string".into())),
        None => return Err(at("kind", format!("missing (one of: {KINDS})"))),
    };
    let when = match m.remove("if") {
        None => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(at("if", "must be a string (a condition)".into())),
    };
    let on_error: OnError = match m.remove("on_error") {
        None => OnError::Fail,
        Some(v) => serde_json::from_value(v).map_err(|_| {
            at(
                "on_error",
                "must be \"fail\", \"continue\" or \"escalate\"".into(),
            )
        })?,
    };
    let rest = Value::Object(m);
    fn body<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }
    let kind_err = |e: String| format!("step {} '{id}' ({kind}): {e}", i + 1);
    let k = match kind.as_str() {
        "detect_language" => StepKind::DetectLanguage(body(rest).map_err(kind_err)?),
        "guard" => StepKind::Guard(body(rest).map_err(kind_err)?),
        "classify" => StepKind::Classify(body(rest).map_err(kind_err)?),
        "retrieve" => StepKind::Retrieve(body(rest).map_err(kind_err)?),
        "prompt" => StepKind::Prompt(body(rest).map_err(kind_err)?),
        "generate" => StepKind::Generate(body(rest).map_err(kind_err)?),
        "extract" => StepKind::Extract(body(rest).map_err(kind_err)?),
        "http" => StepKind::Http(body(rest).map_err(kind_err)?),
        "branch" => StepKind::Branch(body(rest).map_err(kind_err)?),
        "escalate" => StepKind::Escalate(body(rest).map_err(kind_err)?),
        "set" => StepKind::Set(body(rest).map_err(kind_err)?),
        "confidence" => StepKind::Confidence(body(rest).map_err(kind_err)?),
        "summarize" => StepKind::Summarize(body(rest).map_err(kind_err)?),
        other => {
            return Err(at(
                "kind",
                format!("unknown kind '{other}' (one of: {KINDS})"),
            ))
        }
    };
    Ok(Step {
        id,
        when,
        on_error,
        kind: k,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Pipeline, String> {
        Pipeline::parse(text, false, "test.toml").map_err(|e| e.to_string())
    }

    const OK: &str = r#"
name = "support"
version = 2
[[steps]]
id = "language"
kind = "detect_language"
[[steps]]
id = "docs"
kind = "retrieve"
collection = "help"
languages = ["{{ language.language }}"]
[[steps]]
id = "ask"
kind = "prompt"
user = "{{ input.text }}"
sources = "docs"
[[steps]]
id = "route"
kind = "branch"
cases = [{ when = "docs.count == 0", goto = "human" }]
[[steps]]
id = "draft"
kind = "generate"
prompt = "ask"
sources = "docs"
[[steps]]
id = "human"
kind = "escalate"
if = "not draft"
reason = "nothing found"
[outputs]
draft = "draft.text"
"#;

    #[test]
    fn a_valid_pipeline_loads() {
        let p = parse(OK).unwrap();
        assert_eq!(p.name, "support");
        assert_eq!(p.version, 2);
        assert_eq!(p.steps.len(), 6);
        assert_eq!(p.steps[5].when.as_deref(), Some("not draft"));
        assert!(
            matches!(p.steps[1].kind, StepKind::Retrieve(ref r) if r.k == 5 && r.mode == "hybrid")
        );
        assert_eq!(p.position("draft"), Some(4));
    }

    #[test]
    fn yaml_says_the_same() {
        let y = r#"
name: tiny
steps:
  - id: language
    kind: detect_language
    languages: [en, pt]
  - id: stop
    kind: escalate
    if: "language.language == 'pt'"
    reason: "portuguese queue"
"#;
        let p = Pipeline::parse(y, true, "t.yaml").unwrap();
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.version, 1);
    }

    /// Each broken variant of OK and the words its error must contain.
    #[test]
    fn errors_name_the_pipeline_step_and_key() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "kind = \"retrieve\"\ncollection",
                "kind = \"retreive\"\ncollection",
                &["step 2 'docs'", "'kind'", "unknown kind 'retreive'"],
            ),
            (
                "collection = \"help\"",
                "collection = \"help\"\nkk = 3",
                &["step 2 'docs' (retrieve)", "unknown field `kk`"],
            ),
            (
                "prompt = \"ask\"",
                "prompt = \"nope\"",
                &[
                    "step 5 'draft' (generate)",
                    "'prompt'",
                    "no earlier step 'nope'",
                ],
            ),
            (
                "prompt = \"ask\"",
                "prompt = \"docs\"",
                &["'prompt'", "is a retrieve step"],
            ),
            (
                "goto = \"human\"",
                "goto = \"language\"",
                &["step 4 'route' (branch)", "'goto'", "not after this step"],
            ),
            (
                "goto = \"human\"",
                "goto = \"nowhere\"",
                &["'goto'", "no step 'nowhere'"],
            ),
            (
                "user = \"{{ input.text }}\"",
                "user = \"{{ input.text \"",
                &["step 3 'ask' (prompt)", "'user'"],
            ),
            (
                "if = \"not draft\"",
                "if = \"not (\"",
                &["step 6 'human' (escalate)", "'if'"],
            ),
            (
                "id = \"draft\"",
                "id = \"docs\"",
                &["'id'", "another step has this id"],
            ),
            ("id = \"human\"", "id = \"input\"", &["'input' is reserved"]),
            ("id = \"human\"", "id = \"9lives\"", &["'id'"]),
            (
                "collection = \"help\"",
                "collection = \"help\"\nk = 0",
                &["'k'", "1 to 50"],
            ),
            (
                "collection = \"help\"",
                "collection = \"help\"\nmode = \"fuzzy\"",
                &["'mode'"],
            ),
            (
                "kind = \"detect_language\"",
                "kind = \"detect_language\"\nlanguages = [\"xx\"]",
                &["unknown language 'xx'"],
            ),
            (
                "draft = \"draft.text\"",
                "draft = \"draft.\"",
                &["'outputs.draft'"],
            ),
            ("name = \"support\"", "name = \"sup port\"", &["'name'"]),
            (
                "sources = \"docs\"\n[[steps]]\nid = \"route\"",
                "sources = \"docs\"\ntemperature = 9.0\n[[steps]]\nid = \"route\"",
                &[],
            ),
        ];
        for (from, to, words) in cases {
            assert!(OK.contains(from), "{from}");
            let text = OK.replacen(from, to, 1);
            let e = match parse(&text) {
                Ok(_) => panic!("accepted: {to}"),
                Err(e) => e,
            };
            assert!(e.starts_with("pipeline"), "{e}");
            for w in *words {
                assert!(e.contains(w), "'{w}' not in: {e}");
            }
        }
        assert!(parse("name = \"x\"\nsteps = []")
            .unwrap_err()
            .contains("at least one step"));
        assert!(parse("name = \"x\"\nstep = []")
            .unwrap_err()
            .contains("unknown field `step`"));
    }

    #[test]
    fn step_specific_checks() {
        let http = |extra: &str| {
            parse(&format!(
                "name = \"h\"\n[[steps]]\nid = \"order\"\nkind = \"http\"\nurl = \"http://127.0.0.1/o/{{{{ input.text }}}}\"\n{extra}"
            ))
        };
        assert!(http("").is_ok());
        assert!(http("method = \"TRACE\"").unwrap_err().contains("'method'"));
        assert!(http("timeout_ms = 0").unwrap_err().contains("'timeout_ms'"));
        assert!(http("headers = { \"bad header\" = \"x\" }")
            .unwrap_err()
            .contains("'headers'"));
        assert!(http("headers = { Authorization = \"env:TOKEN\" }").is_ok());
        assert!(http("body = { q = \"{{ input.text \" }")
            .unwrap_err()
            .contains("'body'"));
        let extract = |schema: &str| {
            parse(&format!(
                "name = \"x\"\n[[steps]]\nid = \"fields\"\nkind = \"extract\"\nmodel = \"m\"\nschema = {schema}\n"
            ))
        };
        assert!(extract("{ type = \"object\" }").is_ok());
        assert!(extract("{ type = \"objekt\" }")
            .unwrap_err()
            .contains("'schema'"));
        let conf = parse("name = \"c\"\n[[steps]]\nid = \"c\"\nkind = \"confidence\"\n");
        assert!(conf.unwrap_err().contains("at least one signal"));
        let set = parse("name = \"s\"\n[[steps]]\nid = \"s\"\nkind = \"set\"\nvalues = { p = \"'high' if x else 'low'\" }\n");
        assert!(set.is_ok());
        let onerr = parse("name = \"s\"\n[[steps]]\nid = \"s\"\nkind = \"escalate\"\nreason = \"r\"\non_error = \"retry\"\n");
        assert!(onerr.unwrap_err().contains("'on_error'"));
    }

    #[test]
    fn literal_models_are_listed_for_the_server_to_check() {
        let p = parse(
            "name = \"m\"\n[[steps]]\nid = \"p\"\nkind = \"prompt\"\nuser = \"hi\"\n[[steps]]\nid = \"g\"\nkind = \"generate\"\nmodel = \"gpt\"\nprompt = \"p\"\n[[steps]]\nid = \"g2\"\nkind = \"generate\"\nmodel = \"{{ vars.model }}\"\nprompt = \"p\"\n",
        )
        .unwrap();
        assert_eq!(p.models(), vec![("g", "gpt")]);
    }
}
