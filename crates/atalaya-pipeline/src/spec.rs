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
//! Each kind's keys, checks and run are in its module under [`crate::steps`]; this module
//! reads the file and makes the checks that span steps.
//!
//! Every step has an `id` (its output's name in the context), a `kind`, an optional `if`
//! (a condition; the step is skipped when it is false) and `on_error` (`fail`, `continue`
//! or `escalate`). The other keys depend on the kind; unknown keys are errors. Templates
//! (`text`, `query`, `url`...) and conditions (`if`, `when`, `values`) are minijinja over the
//! context; they are parsed here, at load time, so a typo fails start-up, not a request.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    expr::Templates,
    host::Host,
    state::{Outcome, State},
    steps::Check,
    PipelineError,
};

pub use crate::values::{map_strings, valid_id, valid_name};

pub use crate::steps::{
    BranchStep, Case, ClassifyStep, ConfidenceStep, DetectLanguage, EscalateStep, ExtractStep,
    GenerateStep, GuardStep, HttpStep, OnBlock, PromptStep, RetrieveStep, SetStep, Stage,
    SummarizeStep, TextSource,
};

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

impl StepKind {
    /// The step's own load-time checks.
    pub(crate) fn check(&self, c: &Check<'_>) -> Result<(), String> {
        match self {
            StepKind::DetectLanguage(s) => s.check(c),
            StepKind::Guard(s) => s.check(c),
            StepKind::Classify(s) => s.check(c),
            StepKind::Retrieve(s) => s.check(c),
            StepKind::Prompt(s) => s.check(c),
            StepKind::Generate(s) => s.check(c),
            StepKind::Extract(s) => s.check(c),
            StepKind::Http(s) => s.check(c),
            StepKind::Branch(s) => s.check(c),
            StepKind::Escalate(s) => s.check(c),
            StepKind::Set(s) => s.check(c),
            StepKind::Confidence(s) => s.check(c),
            StepKind::Summarize(s) => s.check(c),
        }
    }

    /// Runs the step (`id`: its step's).
    pub(crate) async fn run<H: Host>(
        &self,
        host: &H,
        id: &str,
        run: &mut State<'_>,
    ) -> Result<Outcome, H::Error> {
        match self {
            StepKind::DetectLanguage(s) => s.run(run),
            StepKind::Guard(s) => s.run(host, run),
            StepKind::Classify(s) => s.run(host, run).await,
            StepKind::Retrieve(s) => s.run(host, id, run).await,
            StepKind::Prompt(s) => s.run(run),
            StepKind::Generate(s) => s.run(host, id, run).await,
            StepKind::Extract(s) => s.run(host, run).await,
            StepKind::Http(s) => s.run(host, run).await,
            StepKind::Branch(s) => s.run(run),
            StepKind::Escalate(s) => s.run(run),
            StepKind::Set(s) => s.run(run),
            StepKind::Confidence(s) => s.run(run),
            StepKind::Summarize(s) => s.run(host, run).await,
        }
    }
}

const KINDS: &str = "detect_language, guard, classify, retrieve, prompt, generate, extract, http, branch, escalate, set, confidence, summarize";

fn one_u32() -> u32 {
    1
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
        let all: Vec<(&str, &'static str)> = self
            .steps
            .iter()
            .map(|s| (s.id.as_str(), s.kind.name()))
            .collect();
        for (i, s) in self.steps.iter().enumerate() {
            let c = Check {
                templates: &t,
                steps: &all,
                index: i,
            };
            if !seen.insert(s.id.as_str()) {
                return Err(c.err("id", "another step has this id"));
            }
            if let Some(w) = &s.when {
                c.expression("if", w)?;
            }
            s.kind.check(&c)?;
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
