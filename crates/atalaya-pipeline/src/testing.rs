//! A fake [`Host`] for the step tests: canned answers, passages, predictions and guard
//! verdicts, and a record of every call a step made.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use atalaya_api::Usage;
use atalaya_classify::Prediction;
use atalaya_guard::{pseudo::Vault, EntityType};
use atalaya_knowledge::{
    index::ChunkMeta,
    rag,
    service::{Hit, SearchParams},
    store::ChunkView,
};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::{
    expr::Templates,
    host::Stage,
    host::{
        Answer, ChatCall, Delta, DeltaStream, Grounding, GuardCheck, Host, HostError, HttpAnswer,
        HttpCall, Quote, TextCheck,
    },
    run::{execute, RunInput, RunOutcome},
    spec::Pipeline,
    PipelineError,
};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FakeError {
    /// A step's own failure, as its message.
    Step(String),
    NotFound(String),
    ModelNotFound(String),
}

impl From<PipelineError> for FakeError {
    fn from(e: PipelineError) -> Self {
        FakeError::Step(e.to_string())
    }
}

impl HostError for FakeError {
    fn is_not_found(&self) -> bool {
        matches!(self, FakeError::NotFound(_))
    }
    fn in_step(self, _at: &str) -> Self {
        self
    }
    fn code(&self) -> &'static str {
        "fake"
    }
    fn public_message(&self) -> String {
        format!("{self:?}")
    }
}

/// What the fake guard says of every text.
#[derive(Debug, Clone, Default)]
pub(crate) enum GuardVerdict {
    #[default]
    Clean,
    /// The tenant's policy is off.
    Off,
    /// Blocked, with this reason.
    Block(String),
    /// This value is personal data: replaced by a placeholder.
    Redact(&'static str),
}

/// Canned model answers, in order (then "ok").
#[derive(Debug, Default)]
pub(crate) struct Answers(Mutex<VecDeque<String>>);

impl From<Vec<String>> for Answers {
    fn from(v: Vec<String>) -> Self {
        Answers(Mutex::new(v.into()))
    }
}

#[derive(Debug)]
pub(crate) struct FakeHost {
    pub hits: Vec<Hit>,
    pub missing_collection: bool,
    /// `None`: no such classifier.
    pub prediction: Option<Prediction>,
    pub answers: Answers,
    pub guard: GuardVerdict,
    pub denied_models: Vec<String>,
    /// What `central` answers (`None`: no embedding model).
    pub central: Option<Vec<usize>>,
    pub http_status: u16,
    pub knowledge_disabled: bool,
    /// Hosts `http_check` refuses.
    pub denied_hosts: Vec<String>,
    pub log: Mutex<Vec<String>>,
    pub searches: Mutex<Vec<(String, String, SearchParams)>>,
    pub requests: Mutex<Vec<HttpCall>>,
}

impl Default for FakeHost {
    fn default() -> Self {
        FakeHost {
            hits: Vec::new(),
            missing_collection: false,
            prediction: None,
            answers: Answers::default(),
            guard: GuardVerdict::Clean,
            denied_models: Vec::new(),
            central: None,
            http_status: 200,
            knowledge_disabled: false,
            denied_hosts: Vec::new(),
            log: Mutex::default(),
            searches: Mutex::default(),
            requests: Mutex::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeHost {
    /// Each call, in order, as a line.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.log).clone()
    }
    pub fn retrieved(&self) -> Vec<(String, String, SearchParams)> {
        lock(&self.searches).clone()
    }
    pub fn http_calls(&self) -> Vec<HttpCall> {
        lock(&self.requests).clone()
    }

    fn answer(&self, call: &ChatCall) -> String {
        let model = call.body["model"].as_str().unwrap_or_default();
        let said = call.body["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|m| m["content"].as_str())
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .unwrap_or_default();
        let checked = if call.input_checked {
            "checked"
        } else {
            "unchecked"
        };
        lock(&self.log).push(format!("chat {model} {checked}: {said}"));
        lock(&self.answers.0)
            .pop_front()
            .unwrap_or_else(|| "ok".into())
    }
}

fn usage() -> Usage {
    Usage {
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
    }
}

#[async_trait]
impl Host for FakeHost {
    type Error = FakeError;

    fn tenant(&self) -> &str {
        "acme"
    }
    fn answer_model(&self) -> Option<String> {
        None
    }
    fn check_model(&self, model: &str) -> Result<(), FakeError> {
        match self.denied_models.iter().any(|m| m == model) {
            true => Err(FakeError::ModelNotFound(model.to_owned())),
            false => Ok(()),
        }
    }
    async fn chat(&self, call: ChatCall) -> Result<Answer, FakeError> {
        Ok(Answer {
            text: self.answer(&call),
            usage: Some(usage()),
            guard: Some(json!({"flagged": false})),
        })
    }
    async fn chat_stream(&self, call: ChatCall) -> Result<DeltaStream<FakeError>, FakeError> {
        let text = self.answer(&call);
        let mut deltas: Vec<Result<Delta, FakeError>> = text
            .split_inclusive(' ')
            .map(|w| {
                Ok(Delta {
                    content: Some(w.to_owned()),
                    ..Delta::default()
                })
            })
            .collect();
        deltas.push(Ok(Delta {
            usage: Some(usage()),
            ..Delta::default()
        }));
        Ok(futures::stream::iter(deltas).boxed())
    }
    fn check_knowledge(&self) -> Result<(), FakeError> {
        match self.knowledge_disabled {
            true => Err(FakeError::Step("the knowledge base is disabled".into())),
            false => Ok(()),
        }
    }
    async fn retrieve(
        &self,
        collection: &str,
        query: String,
        params: SearchParams,
    ) -> Result<Vec<Hit>, FakeError> {
        if self.missing_collection {
            return Err(FakeError::NotFound(collection.to_owned()));
        }
        lock(&self.searches).push((collection.to_owned(), query, params));
        Ok(self.hits.clone())
    }
    async fn ground(&self, answer: String, hits: Arc<Vec<Hit>>) -> Result<Grounding, FakeError> {
        // A claim is backed when it cites a passage that exists.
        let valid = |n: usize| n >= 1 && n <= hits.len();
        let claims: Vec<&str> = answer
            .split('.')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let unsupported = claims
            .iter()
            .filter(|c| !rag::cited(c).into_iter().any(valid))
            .map(|c| (*c).to_owned())
            .collect();
        Ok(Grounding {
            cited: rag::cited(&answer)
                .into_iter()
                .filter(|&n| valid(n))
                .collect(),
            claims: claims.len(),
            unsupported,
        })
    }
    async fn quote(&self, _query: String, hits: Arc<Vec<Hit>>) -> Result<Quote, FakeError> {
        Ok(Quote {
            text: hits
                .first()
                .map(|h| h.chunk.text.clone())
                .unwrap_or_default(),
            cited: vec![1],
            relevance: 0.8,
        })
    }
    async fn central(
        &self,
        _sentences: Vec<String>,
        _n: usize,
    ) -> Result<Option<Vec<usize>>, FakeError> {
        Ok(self.central.clone())
    }
    async fn classify(&self, classifier: &str, text: String) -> Result<Prediction, FakeError> {
        lock(&self.log).push(format!("classify {classifier}: {text}"));
        self.prediction
            .clone()
            .ok_or_else(|| FakeError::NotFound(classifier.to_owned()))
    }
    fn guard_off(&self, _policy: Option<&str>) -> Result<bool, FakeError> {
        Ok(matches!(self.guard, GuardVerdict::Off))
    }
    fn guard(&self, check: GuardCheck<'_>) -> Result<Option<(String, TextCheck)>, FakeError> {
        let stage = match check.stage {
            Stage::Input => "input",
            Stage::Output => "output",
        };
        let at = check
            .block_at
            .map(|b| format!(" at {b}"))
            .unwrap_or_default();
        lock(&self.log).push(format!("guard {stage}{at}: {}", check.text));
        let report = |flagged: bool, blocked: bool| json!({"policy": "default", "flagged": flagged, "blocked": blocked});
        let (text, vault, blocked) = match &self.guard {
            GuardVerdict::Off => return Ok(None),
            GuardVerdict::Clean => (check.text.to_owned(), None, None),
            GuardVerdict::Block(why) => (check.text.to_owned(), None, Some(why.clone())),
            GuardVerdict::Redact(value) => {
                let mut v = Vault::new();
                let p = v.placeholder(EntityType::Person, value, &[check.text]);
                (check.text.replace(value, &p), Some(v), None)
            }
        };
        let flagged = !matches!(self.guard, GuardVerdict::Clean);
        Ok(Some((
            "default".into(),
            TextCheck {
                text,
                vault,
                flagged,
                report: report(flagged, blocked.is_some()),
                blocked,
            },
        )))
    }
    async fn http_check(&self, url: &str, _allowed: &[String]) -> Result<(), FakeError> {
        lock(&self.log).push(format!("http_check {url}"));
        match self.denied_hosts.iter().any(|h| url.contains(h.as_str())) {
            true => Err(FakeError::Step(format!("host of {url} is not allowed"))),
            false => Ok(()),
        }
    }
    async fn http(&self, call: HttpCall) -> Result<HttpAnswer, FakeError> {
        let url = call.url.clone();
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let path = format!("/{}", path.split('?').next().unwrap_or_default());
        let shown = format!("{} {host}{path}", call.method);
        lock(&self.requests).push(call);
        Ok(HttpAnswer {
            status: self.http_status,
            body: json!({"ok": true}),
            bytes: 11,
            host: host.to_owned(),
            url: format!("https://{host}{path}"),
            shown,
        })
    }
}

/// A passage of document `doc`, chunk `id`, score 0.5 and no similarity.
pub(crate) fn hit(id: i64, doc: &str, text: &str) -> Hit {
    Hit {
        score: 0.5,
        similarity: None,
        chunk: ChunkView {
            id,
            document_id: id,
            source: doc.to_owned(),
            title: None,
            seq: 0,
            start: 0,
            end: text.len() as i64,
            page: None,
            heading_path: Vec::new(),
            text: text.to_owned(),
            meta: ChunkMeta::default(),
        },
    }
}

pub(crate) fn prediction(label: &str, confidence: f32, out_of_scope: bool) -> Prediction {
    Prediction {
        label: if out_of_scope {
            atalaya_classify::OUT_OF_SCOPE.to_owned()
        } else {
            label.to_owned()
        },
        best: label.to_owned(),
        confidence,
        margin: 0.3,
        out_of_scope,
        top: vec![(label.to_owned(), confidence)],
    }
}

fn input(v: Value) -> RunInput {
    let Value::Object(mut fields) = v else {
        return RunInput::default();
    };
    let text = match fields.remove("text") {
        Some(Value::String(s)) => s,
        _ => String::new(),
    };
    RunInput { text, fields }
}

fn parse(toml: &str) -> Pipeline {
    match Pipeline::parse(toml, false, "test") {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// Runs a pipeline of the TOML `toml` on `input` (`text` and the other fields).
pub(crate) async fn run_pipeline(
    host: &FakeHost,
    toml: &str,
    input_fields: Value,
) -> Result<RunOutcome, FakeError> {
    let p = parse(toml);
    execute(host, &Templates::new(), &p, input(input_fields), None).await
}

/// The same, streaming: the outcome and the pieces the sink received.
pub(crate) async fn run_pipeline_streaming(
    host: &FakeHost,
    toml: &str,
    input_fields: Value,
) -> Result<(RunOutcome, Vec<String>), FakeError> {
    let p = parse(toml);
    let templates = Templates::new();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let run = execute(host, &templates, &p, input(input_fields), Some(tx));
    let collect = async {
        let mut got = Vec::new();
        while let Some(s) = rx.recv().await {
            got.push(s);
        }
        got
    };
    let (outcome, got) = tokio::join!(run, collect);
    Ok((outcome?, got))
}

/// Runs one step (the TOML of its keys but `id`, which is `s`) as a pipeline of its own, and
/// returns its output.
pub(crate) async fn run_step(
    host: &FakeHost,
    step: &str,
    input_fields: Value,
) -> Result<Value, FakeError> {
    let toml = format!("name = \"t\"\n[[steps]]\nid = \"s\"\n{step}\n");
    let mut o = run_pipeline(host, &toml, input_fields).await?;
    Ok(o.steps.remove("s").unwrap_or(Value::Null))
}
