//! The gateway's own request and response types, and their explicit conversion from the wire
//! types of `atalaya-api`. Validation that the type system cannot express (roles, ranges,
//! non-empty lists) happens here, with the offending field named.

use std::fmt;

use atalaya_api as api;
use bytes::Bytes;
use serde_json::{Map, Value};

pub use api::Usage;

use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Function,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Function => "function",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "system" => Role::System,
            "developer" => Role::Developer,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            "function" => Role::Function,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    None,
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContentPart {
    pub kind: String,
    pub text: Option<String>,
    /// Everything else of the part (image_url, input_audio, ...), passed through.
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: Content,
    pub name: Option<String>,
    pub tool_calls: Option<Vec<Value>>,
    pub tool_call_id: Option<String>,
    pub extra: Map<String, Value>,
}

impl ChatMessage {
    /// The message's text (string content, or the text parts joined), for guards and logs.
    pub fn text(&self) -> String {
        match &self.content {
            Content::None => String::new(),
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Generation parameters Atalaya understands; other fields travel in `ChatRequest::passthrough`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerationParams {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub stop: Option<Vec<String>>,
    /// Whether `stop` was a single string on the wire (so it is sent back the same way).
    pub stop_is_single: bool,
    pub seed: Option<i64>,
    pub n: Option<u32>,
    pub logprobs: Option<bool>,
    pub top_logprobs: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The route name the client asked for.
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub params: GenerationParams,
    pub tools: Option<Vec<Value>>,
    pub tool_choice: Option<Value>,
    pub response_format: Option<Value>,
    pub user: Option<String>,
    pub stream: bool,
    /// The client asked for a final usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    /// Other `stream_options` fields, passed through.
    pub stream_options_extra: Map<String, Value>,
    /// Unknown top-level fields, passed through to the upstream unchanged.
    pub passthrough: Map<String, Value>,
}

/// A non-streaming completion. The upstream's JSON is kept as bytes (forwarded unchanged, so
/// fields Atalaya does not know survive); what the gateway needs is parsed out beside it.
#[derive(Debug, Clone)]
pub struct ChatCompletion {
    pub body: Bytes,
    pub usage: Option<Usage>,
}

/// One chunk of a streamed completion: the upstream's `data:` JSON, forwarded unchanged.
#[derive(Debug, Clone)]
pub struct StreamChunk {
    pub data: Bytes,
    pub usage: Option<Usage>,
    /// This chunk carries only usage (no choices).
    pub usage_only: bool,
    /// The content text of each choice in `data` (choice index, text), as the client
    /// receives it. Whoever makes or rewrites a chunk sets it (the provider that parsed the
    /// upstream's event, the guard that rewrote it), so that the features reading the answer
    /// (the inference log, pipeline steps) never parse `data` again.
    pub content: Vec<(u64, String)>,
}

impl StreamChunk {
    /// A chunk of `data` whose choices are `choices` (a JSON array of chunk choices): its
    /// content read from their deltas.
    pub fn with_choices(data: Bytes, choices: &Value) -> StreamChunk {
        StreamChunk {
            data,
            usage: None,
            usage_only: false,
            content: contents(choices),
        }
    }
}

/// The `delta.content` text of each choice of a chunk's `choices` array.
pub fn contents(choices: &Value) -> Vec<(u64, String)> {
    choices
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| {
                    let text = c.get("delta")?.get("content")?.as_str()?;
                    let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
                    Some((index, text.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: Value,
    pub passthrough: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub struct Embeddings {
    pub body: Bytes,
    pub usage: Option<Usage>,
}

/// Reranking: how relevant each document is to the query (a cross-encoder behind a
/// `/rerank` endpoint: TEI, vLLM, Jina, Cohere).
#[derive(Debug, Clone, PartialEq)]
pub struct RerankRequest {
    /// The route name.
    pub model: String,
    pub query: String,
    pub documents: Vec<String>,
}

/// Relevance scores by document index, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Reranked {
    pub scores: Vec<(usize, f32)>,
}

fn check_range(v: Option<f64>, lo: f64, hi: f64, field: &str) -> Result<(), Error> {
    match v {
        Some(x) if !(lo..=hi).contains(&x) => Err(Error::invalid(
            format!("'{field}' must be between {lo} and {hi}, got {x}"),
            Some(field),
        )),
        _ => Ok(()),
    }
}

impl TryFrom<api::ChatCompletionRequest> for ChatRequest {
    type Error = Error;

    fn try_from(w: api::ChatCompletionRequest) -> Result<Self, Error> {
        if w.model.trim().is_empty() {
            return Err(Error::invalid("'model' must not be empty", Some("model")));
        }
        if w.messages.is_empty() {
            return Err(Error::invalid(
                "'messages' must contain at least one message",
                Some("messages"),
            ));
        }
        check_range(w.temperature, 0.0, 2.0, "temperature")?;
        check_range(w.top_p, 0.0, 1.0, "top_p")?;
        if let Some(n) = w.n {
            if !(1..=128).contains(&n) {
                return Err(Error::invalid("'n' must be between 1 and 128", Some("n")));
            }
        }
        let messages = w
            .messages
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                let role = Role::parse(&m.role).ok_or_else(|| {
                    Error::invalid(
                        format!(
                            "messages[{i}].role: '{}' is not one of system, developer, user, assistant, tool, function",
                            m.role
                        ),
                        Some(&format!("messages[{i}].role")),
                    )
                })?;
                let content = match m.content {
                    None => Content::None,
                    Some(api::MessageContent::Text(t)) => Content::Text(t),
                    Some(api::MessageContent::Parts(parts)) => Content::Parts(
                        parts
                            .into_iter()
                            .map(|p| ContentPart {
                                kind: p.kind,
                                text: p.text,
                                extra: p.extra,
                            })
                            .collect(),
                    ),
                };
                if content == Content::None && role != Role::Assistant {
                    return Err(Error::invalid(
                        format!("messages[{i}].content is required for role '{role}'"),
                        Some(&format!("messages[{i}].content")),
                    ));
                }
                Ok(ChatMessage {
                    role,
                    content,
                    name: m.name,
                    tool_calls: m.tool_calls,
                    tool_call_id: m.tool_call_id,
                    extra: m.extra,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let (stop, stop_is_single) = match w.stop {
            None => (None, false),
            Some(api::Stop::One(s)) => (Some(vec![s]), true),
            Some(api::Stop::Many(v)) => (Some(v), false),
        };
        let stream = w.stream.unwrap_or(false);
        let (include_usage, stream_options_extra) = match w.stream_options {
            Some(o) => (o.include_usage.unwrap_or(false), o.extra),
            None => (false, Map::new()),
        };
        Ok(ChatRequest {
            model: w.model,
            messages,
            params: GenerationParams {
                temperature: w.temperature,
                top_p: w.top_p,
                max_tokens: w.max_tokens,
                max_completion_tokens: w.max_completion_tokens,
                stop,
                stop_is_single,
                seed: w.seed,
                n: w.n,
                logprobs: w.logprobs,
                top_logprobs: w.top_logprobs,
            },
            tools: w.tools,
            tool_choice: w.tool_choice,
            response_format: w.response_format,
            user: w.user,
            stream,
            include_usage,
            stream_options_extra,
            passthrough: w.extra,
        })
    }
}

impl ChatRequest {
    /// The wire form sent to an OpenAI-compatible upstream, with the upstream's model name.
    /// `force_usage` asks a stream for its usage chunk even when the client did not.
    pub fn to_wire(&self, upstream_model: &str, force_usage: bool) -> api::ChatCompletionRequest {
        let p = &self.params;
        let stream_options = if self.stream
            && (self.include_usage || force_usage || !self.stream_options_extra.is_empty())
        {
            Some(api::StreamOptions {
                include_usage: (self.include_usage || force_usage).then_some(true),
                extra: self.stream_options_extra.clone(),
            })
        } else {
            None
        };
        api::ChatCompletionRequest {
            model: upstream_model.to_owned(),
            messages: self
                .messages
                .iter()
                .map(|m| api::Message {
                    role: m.role.as_str().to_owned(),
                    content: match &m.content {
                        Content::None => None,
                        Content::Text(t) => Some(api::MessageContent::Text(t.clone())),
                        Content::Parts(parts) => Some(api::MessageContent::Parts(
                            parts
                                .iter()
                                .map(|p| api::ContentPart {
                                    kind: p.kind.clone(),
                                    text: p.text.clone(),
                                    extra: p.extra.clone(),
                                })
                                .collect(),
                        )),
                    },
                    name: m.name.clone(),
                    tool_calls: m.tool_calls.clone(),
                    tool_call_id: m.tool_call_id.clone(),
                    extra: m.extra.clone(),
                })
                .collect(),
            stream: self.stream.then_some(true),
            stream_options,
            temperature: p.temperature,
            top_p: p.top_p,
            max_tokens: p.max_tokens,
            max_completion_tokens: p.max_completion_tokens,
            stop: p
                .stop
                .as_ref()
                .map(|s| match (p.stop_is_single, s.as_slice()) {
                    (true, [one]) => api::Stop::One(one.clone()),
                    _ => api::Stop::Many(s.clone()),
                }),
            seed: p.seed,
            n: p.n,
            user: self.user.clone(),
            logprobs: p.logprobs,
            top_logprobs: p.top_logprobs,
            tools: self.tools.clone(),
            tool_choice: self.tool_choice.clone(),
            response_format: self.response_format.clone(),
            extra: self.passthrough.clone(),
        }
    }
}

impl TryFrom<api::EmbeddingRequest> for EmbeddingRequest {
    type Error = Error;

    fn try_from(w: api::EmbeddingRequest) -> Result<Self, Error> {
        if w.model.trim().is_empty() {
            return Err(Error::invalid("'model' must not be empty", Some("model")));
        }
        let ok = match &w.input {
            Value::String(s) => !s.is_empty(),
            Value::Array(items) => {
                !items.is_empty()
                    && (items.iter().all(Value::is_string)
                        || items.iter().all(Value::is_number)
                        || items.iter().all(|i| {
                            i.as_array()
                                .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_number))
                        }))
            }
            _ => false,
        };
        if !ok {
            return Err(Error::invalid(
                "'input' must be a non-empty string, an array of strings, or token arrays",
                Some("input"),
            ));
        }
        Ok(EmbeddingRequest {
            model: w.model,
            input: w.input,
            passthrough: w.extra,
        })
    }
}

impl EmbeddingRequest {
    pub fn to_wire(&self, upstream_model: &str) -> api::EmbeddingRequest {
        api::EmbeddingRequest {
            model: upstream_model.to_owned(),
            input: self.input.clone(),
            extra: self.passthrough.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_content_is_read_from_each_choice_delta() {
        let choices = serde_json::json!([
            {"index": 0, "delta": {"content": "Hola"}},
            {"index": 1, "delta": {"role": "assistant"}},
            {"index": 2, "delta": {"content": ""}, "finish_reason": "stop"},
            {"delta": {"content": "sin índice"}},
        ]);
        let c = StreamChunk::with_choices(Bytes::from_static(b"{}"), &choices);
        assert_eq!(
            c.content,
            vec![
                (0, "Hola".to_owned()),
                (2, String::new()),
                (0, "sin índice".to_owned())
            ]
        );
        assert!(contents(&serde_json::json!({"not": "an array"})).is_empty());
    }

    fn wire(json: &str) -> api::ChatCompletionRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let raw = r#"{"model":"alias","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"http://x"}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"1","content":"42"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"auto","response_format":{"type":"json_object"},"temperature":0.5,"top_p":0.9,"max_tokens":7,"max_completion_tokens":8,"stop":"END","seed":1,"n":1,"user":"u1","logprobs":true,"top_logprobs":2,"stream":true,"stream_options":{"include_usage":true},"vendor":{"x":[1,2]}}"#;
        let domain = ChatRequest::try_from(wire(raw)).unwrap();
        assert!(domain.stream && domain.include_usage);
        let back = serde_json::to_value(domain.to_wire("alias", false)).unwrap();
        let orig: Value = serde_json::from_str(raw).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn upstream_model_and_forced_usage() {
        let d = ChatRequest::try_from(wire(
            r#"{"model":"a","messages":[{"role":"user","content":"x"}],"stream":true}"#,
        ))
        .unwrap();
        let w = d.to_wire("upstream-name", true);
        assert_eq!(w.model, "upstream-name");
        assert_eq!(w.stream_options.unwrap().include_usage, Some(true));
        assert!(d.to_wire("u", false).stream_options.is_none());
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            (
                r#"{"model":"","messages":[{"role":"user","content":"x"}]}"#,
                "model",
            ),
            (r#"{"model":"m","messages":[]}"#, "messages"),
            (
                r#"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#,
                "messages[0].role",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}]}"#,
                "messages[0].content",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}"#,
                "temperature",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"top_p":-1}"#,
                "top_p",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}"#,
                "n",
            ),
        ];
        for (raw, field) in cases {
            let err = ChatRequest::try_from(wire(raw)).unwrap_err();
            assert_eq!(err.param(), Some(field), "{raw}: {err}");
        }
    }

    #[test]
    fn embedding_input_shapes() {
        let ok = [r#""a""#, r#"["a","b"]"#, "[1,2]", "[[1],[2,3]]"];
        for input in ok {
            let w: api::EmbeddingRequest =
                serde_json::from_str(&format!(r#"{{"model":"e","input":{input}}}"#)).unwrap();
            assert!(EmbeddingRequest::try_from(w).is_ok(), "{input}");
        }
        let bad = [r#""""#, "[]", r#"["a",1]"#, "{}", "null", "[[]]"];
        for input in bad {
            let w: api::EmbeddingRequest =
                serde_json::from_str(&format!(r#"{{"model":"e","input":{input}}}"#)).unwrap();
            let e = EmbeddingRequest::try_from(w).unwrap_err();
            assert_eq!(e.param(), Some("input"), "{input}");
        }
    }
}
