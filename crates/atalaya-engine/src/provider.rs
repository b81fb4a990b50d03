//! The local engines as gateway providers: requests in the gateway's domain types, responses
//! as OpenAI-compatible JSON (the same bytes a remote upstream would send), errors as
//! `UpstreamFailure`s so routing (retries, fallback on a full queue) treats local and remote
//! targets alike.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use atalaya_core::{
    config::{GatewaySections, LocalModelKind},
    domain::{
        ChatCompletion, ChatRequest, Content, EmbeddingRequest, Embeddings, StreamChunk, Usage,
    },
    metrics::LocalMetrics,
    provider::{Call, ChatStream, Provider, UpstreamFailure},
};
use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Map, Value};

use crate::{
    chat::{ChatEngine, Event, Finish, GenerateParams, Sampling},
    embed::EmbedEngine,
    Error,
};

impl From<Error> for UpstreamFailure {
    fn from(e: Error) -> Self {
        match e {
            Error::ContextLengthExceeded(m) => UpstreamFailure::ContextLengthExceeded(m),
            Error::InvalidRequest { message, .. } | Error::Template(message) => {
                UpstreamFailure::Status {
                    status: 400,
                    message,
                    retry_after: None,
                }
            }
            e @ Error::QueueFull { retry_after, .. } => UpstreamFailure::Status {
                status: 429,
                message: e.to_string(),
                retry_after: Some(retry_after),
            },
            e @ (Error::Stopped(_) | Error::ModelFile { .. } | Error::Load { .. }) => {
                UpstreamFailure::Status {
                    status: 503,
                    message: e.to_string(),
                    retry_after: None,
                }
            }
            e @ Error::Decode { .. } => UpstreamFailure::Status {
                status: 500,
                message: e.to_string(),
                retry_after: None,
            },
        }
    }
}

fn bad_request(message: impl Into<String>) -> UpstreamFailure {
    UpstreamFailure::Status {
        status: 400,
        message: message.into(),
        retry_after: None,
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Builds the engines of every `[local_models]` entry. Loading happens here, at start-up: a
/// missing or corrupt file is a configuration error naming the model's key, never a crash.
pub fn build_local_providers(
    config: GatewaySections<'_>,
    metrics: Option<LocalMetrics>,
) -> Result<HashMap<String, Arc<dyn Provider>>, atalaya_core::Error> {
    build_local(config, metrics).map(|l| l.providers)
}

/// The local models, as providers for the gateway and, for embedding models, as engines for
/// the knowledge base (which shares them rather than loading them twice).
pub struct LocalModels {
    pub providers: HashMap<String, Arc<dyn Provider>>,
    pub embedders: HashMap<String, Arc<EmbedEngine>>,
}

pub fn build_local(
    config: GatewaySections<'_>,
    metrics: Option<LocalMetrics>,
) -> Result<LocalModels, atalaya_core::Error> {
    let mut out = LocalModels {
        providers: HashMap::new(),
        embedders: HashMap::new(),
    };
    for (name, cfg) in config.local_models {
        let built: Result<Arc<dyn Provider>, Error> = match cfg.kind {
            LocalModelKind::Chat => ChatEngine::load(name, cfg, metrics.clone())
                .map(|e| Arc::new(LocalChat::new(Arc::new(e))) as Arc<dyn Provider>),
            LocalModelKind::Embedding => {
                EmbedEngine::load(name, cfg, &config.onnxruntime.library, metrics.clone()).map(
                    |e| {
                        let e = Arc::new(e);
                        out.embedders.insert(name.clone(), e.clone());
                        Arc::new(LocalEmbed::new(e)) as Arc<dyn Provider>
                    },
                )
            }
        };
        let provider = built.map_err(|e| {
            atalaya_core::Error::config(
                format!("local_models.{}", atalaya_core::config::quote_key(name)),
                e.to_string(),
            )
        })?;
        out.providers.insert(name.clone(), provider);
    }
    Ok(out)
}

/// A local chat model as a provider.
pub struct LocalChat {
    engine: Arc<ChatEngine>,
}

impl LocalChat {
    pub fn new(engine: Arc<ChatEngine>) -> LocalChat {
        LocalChat { engine }
    }

    pub fn engine(&self) -> &Arc<ChatEngine> {
        &self.engine
    }
}

/// The request's messages as template input: text content, tool calls with their arguments
/// as objects (what templates index into), tool results.
fn template_messages(req: &ChatRequest) -> Result<Vec<Value>, UpstreamFailure> {
    req.messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let content = match &m.content {
                Content::None => Value::Null,
                Content::Text(t) => Value::String(t.clone()),
                Content::Parts(parts) => {
                    if let Some(p) = parts.iter().find(|p| p.kind != "text") {
                        return Err(bad_request(format!(
                            "messages[{i}]: content parts of type '{}' are not supported by local models (text only)",
                            p.kind
                        )));
                    }
                    Value::String(m.text())
                }
            };
            let mut obj = Map::new();
            obj.insert("role".into(), Value::String(m.role.as_str().to_owned()));
            obj.insert("content".into(), content);
            if let Some(n) = &m.name {
                obj.insert("name".into(), Value::String(n.clone()));
            }
            if let Some(id) = &m.tool_call_id {
                obj.insert("tool_call_id".into(), Value::String(id.clone()));
            }
            if let Some(calls) = &m.tool_calls {
                let calls: Vec<Value> = calls
                    .iter()
                    .map(|c| {
                        let mut c = c.clone();
                        if let Some(f) = c.get_mut("function") {
                            if let Some(Value::String(args)) = f.get("arguments") {
                                if let Ok(parsed) = serde_json::from_str::<Value>(args) {
                                    f["arguments"] = parsed;
                                }
                            }
                        }
                        c
                    })
                    .collect();
                obj.insert("tool_calls".into(), Value::Array(calls));
            }
            Ok(Value::Object(obj))
        })
        .collect()
}

fn number(req: &ChatRequest, key: &str, lo: f64, hi: f64) -> Result<Option<f64>, UpstreamFailure> {
    match req.passthrough.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(Some(x)),
            _ => Err(bad_request(format!(
                "'{key}' must be a number between {lo} and {hi}"
            ))),
        },
    }
}

impl LocalChat {
    fn params(&self, req: &ChatRequest) -> Result<GenerateParams, UpstreamFailure> {
        let p = &req.params;
        if p.n.is_some_and(|n| n > 1) {
            return Err(bad_request(
                "'n' greater than 1 is not supported by local models",
            ));
        }
        if p.logprobs == Some(true) {
            return Err(bad_request("'logprobs' is not supported by local models"));
        }
        if let Some(rf) = &req.response_format {
            if rf.get("type").and_then(Value::as_str).unwrap_or("text") != "text" {
                return Err(bad_request(
                    "'response_format' other than text is not supported by local models yet",
                ));
            }
        }
        let d = self.engine.default_sampling();
        let sampling = Sampling {
            temperature: p.temperature.map_or(d.temperature, |t| t as f32),
            top_p: p.top_p.map_or(d.top_p, |t| t as f32),
            top_k: number(req, "top_k", 0.0, 100_000.0)?.map_or(d.top_k, |k| k as u32),
            min_p: number(req, "min_p", 0.0, 1.0)?.map_or(d.min_p, |v| v as f32),
            repeat_penalty: number(req, "repeat_penalty", 0.0, 10.0)?
                .map_or(d.repeat_penalty, |v| v as f32),
            repeat_last_n: d.repeat_last_n,
            frequency_penalty: number(req, "frequency_penalty", -2.0, 2.0)?
                .map_or(d.frequency_penalty, |v| v as f32),
            presence_penalty: number(req, "presence_penalty", -2.0, 2.0)?
                .map_or(d.presence_penalty, |v| v as f32),
        };
        Ok(GenerateParams {
            sampling,
            // Any i64 seed maps to llama.cpp's 32-bit seed deterministically.
            seed: p.seed.map(|s| s.rem_euclid(1 << 32) as u32),
            max_tokens: p.max_completion_tokens.or(p.max_tokens),
            stop: p.stop.clone().unwrap_or_default(),
        })
    }

    fn start(&self, req: &ChatRequest) -> Result<(crate::chat::Generation, bool), UpstreamFailure> {
        let messages = template_messages(req)?;
        let tools_off = req.tool_choice.as_ref().and_then(Value::as_str) == Some("none");
        let tools = req.tools.as_deref().filter(|t| !t.is_empty() && !tools_off);
        let tokens = self.engine.prompt_tokens(&messages, tools)?;
        let params = self.params(req)?;
        let generation = self.engine.generate_tokens(tokens, params)?;
        Ok((generation, tools.is_some()))
    }
}

fn usage(f: &Finish) -> Value {
    json!({
        "prompt_tokens": f.prompt_tokens,
        "completion_tokens": f.completion_tokens,
        "total_tokens": f.prompt_tokens + f.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": f.cached_tokens},
    })
}

fn domain_usage(f: &Finish) -> Usage {
    Usage {
        prompt_tokens: u64::from(f.prompt_tokens),
        completion_tokens: u64::from(f.completion_tokens),
        total_tokens: u64::from(f.prompt_tokens) + u64::from(f.completion_tokens),
    }
}

/// Tool calls in the Hermes/Qwen convention (`<tool_call>{"name": ..., "arguments": ...}
/// </tool_call>`), which most tool-trained open models emit. Returns the remaining text and
/// the calls in OpenAI's shape; text without valid calls is left as it is.
pub fn parse_tool_calls(text: &str, id_prefix: &str) -> (Option<String>, Vec<Value>) {
    const OPEN: &str = "<tool_call>";
    const CLOSE: &str = "</tool_call>";
    let mut calls = Vec::new();
    let mut rest = String::new();
    let mut s = text;
    while let Some(start) = s.find(OPEN) {
        let after = &s[start + OPEN.len()..];
        let Some(end) = after.find(CLOSE) else { break };
        let body = after[..end].trim();
        match serde_json::from_str::<Value>(body) {
            Ok(v) if v.get("name").and_then(Value::as_str).is_some() => {
                rest.push_str(&s[..start]);
                let args = match v.get("arguments") {
                    Some(Value::String(a)) => a.clone(),
                    Some(a) => a.to_string(),
                    None => "{}".to_owned(),
                };
                calls.push(json!({
                    "id": format!("{id_prefix}_{}", calls.len()),
                    "type": "function",
                    "function": {"name": v["name"], "arguments": args},
                }));
            }
            _ => rest.push_str(&s[..start + OPEN.len() + end + CLOSE.len()]),
        }
        s = &after[end + CLOSE.len()..];
    }
    rest.push_str(s);
    if calls.is_empty() {
        return (Some(text.to_owned()), calls);
    }
    let rest = rest.trim();
    ((!rest.is_empty()).then(|| rest.to_owned()), calls)
}

/// Builds a stream's `chat.completion.chunk` events.
struct ChunkWriter {
    id: String,
    model: String,
    created: u64,
    engine: String,
    call_prefix: String,
}

impl ChunkWriter {
    fn event(&self, choices: Value, usage: Option<Value>) -> Bytes {
        let mut v = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "atalaya-local",
            "choices": choices,
        });
        if let Some(u) = usage {
            v["usage"] = u;
        }
        Bytes::from(v.to_string())
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Bytes {
        self.event(
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]),
            None,
        )
    }

    /// The final usage-only event (`choices: []`), as OpenAI sends it.
    fn usage_chunk(&self, f: &Finish) -> Bytes {
        self.event(json!([]), Some(usage(f)))
    }
}

fn completion_id(request_id: &str) -> String {
    format!("chatcmpl-{request_id}")
}

#[async_trait]
impl Provider for LocalChat {
    async fn infer(
        &self,
        call: Call<'_>,
        req: &ChatRequest,
    ) -> Result<ChatCompletion, UpstreamFailure> {
        let (mut generation, tools) = self.start(req)?;
        let collect = async {
            let mut text = String::new();
            while let Some(ev) = generation.events.recv().await {
                match ev {
                    Event::Text(t) => text.push_str(&t),
                    Event::Done(f) => return Ok((text, f)),
                    Event::Failed(e) => return Err(UpstreamFailure::from(e)),
                }
            }
            Err(UpstreamFailure::Connect(format!(
                "local model '{}' stopped during the request",
                self.engine.name()
            )))
        };
        // On timeout the generation is dropped, which frees its slot.
        let (text, finish) =
            tokio::time::timeout(call.timeout, collect)
                .await
                .map_err(|_| {
                    UpstreamFailure::Timeout(format!(
                        "local model '{}' did not finish in time",
                        self.engine.name()
                    ))
                })??;
        let id = completion_id(call.request_id);
        let (content, calls) = if tools {
            parse_tool_calls(&text, &format!("call_{}", call.request_id))
        } else {
            (Some(text), Vec::new())
        };
        let mut message = json!({"role": "assistant", "content": content});
        let mut reason = finish.reason.as_str();
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls);
            reason = "tool_calls";
        }
        let body = json!({
            "id": id,
            "object": "chat.completion",
            "created": unix_now(),
            "model": call.upstream_model,
            "system_fingerprint": "atalaya-local",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": reason}],
            "usage": usage(&finish),
        });
        Ok(ChatCompletion {
            body: Bytes::from(body.to_string()),
            usage: Some(domain_usage(&finish)),
        })
    }

    async fn infer_stream(
        &self,
        call: Call<'_>,
        req: &ChatRequest,
    ) -> Result<ChatStream, UpstreamFailure> {
        let (generation, tools) = self.start(req)?;
        struct St {
            events: tokio::sync::mpsc::UnboundedReceiver<Event>,
            chunks: ChunkWriter,
            started: bool,
            done: bool,
            /// With tools, text is held until the end so tool calls can be parsed out whole.
            held: Option<String>,
            pending: std::collections::VecDeque<StreamChunk>,
        }
        let st = St {
            events: generation.events,
            chunks: ChunkWriter {
                id: completion_id(call.request_id),
                model: call.upstream_model.to_owned(),
                created: unix_now(),
                engine: self.engine.name().to_owned(),
                call_prefix: format!("call_{}", call.request_id),
            },
            started: false,
            done: false,
            held: tools.then(String::new),
            pending: Default::default(),
        };
        let plain = |data: Bytes, content: Option<&str>| StreamChunk {
            data,
            usage: None,
            usage_only: false,
            content: content.map(|c| vec![(0, c.to_owned())]).unwrap_or_default(),
        };
        // The state travels through `unfold`: nothing is cloned per chunk.
        let stream = futures::stream::unfold(st, move |mut st| async move {
            loop {
                if let Some(c) = st.pending.pop_front() {
                    return Some((Ok(c), st));
                }
                if st.done {
                    return None;
                }
                if !st.started {
                    st.started = true;
                    let first = st
                        .chunks
                        .chunk(json!({"role": "assistant", "content": ""}), None);
                    return Some((Ok(plain(first, Some(""))), st));
                }
                match st.events.recv().await {
                    Some(Event::Text(t)) => match st.held.as_mut() {
                        Some(h) => h.push_str(&t),
                        None => {
                            return Some((
                                Ok(plain(
                                    st.chunks.chunk(json!({"content": t}), None),
                                    Some(&t),
                                )),
                                st,
                            ))
                        }
                    },
                    Some(Event::Done(f)) => {
                        st.done = true;
                        let mut reason = f.reason.as_str();
                        if let Some(text) = st.held.take() {
                            let (content, calls) = parse_tool_calls(&text, &st.chunks.call_prefix);
                            if let Some(c) = content {
                                let data = st.chunks.chunk(json!({"content": c}), None);
                                st.pending.push_back(plain(data, Some(&c)));
                            }
                            if !calls.is_empty() {
                                reason = "tool_calls";
                                let indexed: Vec<Value> = calls
                                    .into_iter()
                                    .enumerate()
                                    .map(|(i, mut c)| {
                                        c["index"] = json!(i);
                                        c
                                    })
                                    .collect();
                                st.pending.push_back(plain(
                                    st.chunks.chunk(json!({"tool_calls": indexed}), None),
                                    None,
                                ));
                            }
                        }
                        st.pending
                            .push_back(plain(st.chunks.chunk(json!({}), Some(reason)), None));
                        st.pending.push_back(StreamChunk {
                            data: st.chunks.usage_chunk(&f),
                            usage: Some(domain_usage(&f)),
                            usage_only: true,
                            content: Vec::new(),
                        });
                    }
                    Some(Event::Failed(e)) => {
                        st.done = true;
                        return Some((Err(UpstreamFailure::StreamBroken(e.to_string())), st));
                    }
                    None => {
                        st.done = true;
                        return Some((
                            Err(UpstreamFailure::StreamBroken(format!(
                                "local model '{}' stopped during the stream",
                                st.chunks.engine
                            ))),
                            st,
                        ));
                    }
                }
            }
        });
        Ok(stream.boxed())
    }

    async fn embed(
        &self,
        _call: Call<'_>,
        _req: &EmbeddingRequest,
    ) -> Result<Embeddings, UpstreamFailure> {
        Err(bad_request(format!(
            "'{}' is a local chat model; embeddings need a route to an embedding model",
            self.engine.name()
        )))
    }

    fn describe(&self) -> Option<Value> {
        Some(self.engine.details().clone())
    }
}

/// A local embedding model as a provider.
pub struct LocalEmbed {
    engine: Arc<EmbedEngine>,
}

impl LocalEmbed {
    pub fn new(engine: Arc<EmbedEngine>) -> LocalEmbed {
        LocalEmbed { engine }
    }

    pub fn engine(&self) -> &Arc<EmbedEngine> {
        &self.engine
    }

    fn cannot_chat(&self) -> UpstreamFailure {
        bad_request(format!(
            "'{}' is a local embedding model; it cannot chat",
            self.engine.name()
        ))
    }
}

/// Most inputs one embeddings request may carry (OpenAI's limit).
const MAX_INPUTS: usize = 2048;

fn embedding_inputs(req: &EmbeddingRequest) -> Result<Vec<String>, UpstreamFailure> {
    let token_input =
        || bad_request("token-array input is not supported by local models; send text");
    match &req.input {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if items.is_empty() => Err(bad_request("'input' must not be empty")),
        Value::Array(items) if items.len() > MAX_INPUTS => Err(bad_request(format!(
            "'input' has {} items; at most {MAX_INPUTS} per request",
            items.len()
        ))),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(_) | Value::Array(_) => Err(token_input()),
                _ => Err(bad_request("'input' items must be strings")),
            })
            .collect(),
        _ => Err(bad_request(
            "'input' must be a string or an array of strings",
        )),
    }
}

#[async_trait]
impl Provider for LocalEmbed {
    async fn infer(
        &self,
        _call: Call<'_>,
        _req: &ChatRequest,
    ) -> Result<ChatCompletion, UpstreamFailure> {
        Err(self.cannot_chat())
    }

    async fn infer_stream(
        &self,
        _call: Call<'_>,
        _req: &ChatRequest,
    ) -> Result<ChatStream, UpstreamFailure> {
        Err(self.cannot_chat())
    }

    async fn embed(
        &self,
        call: Call<'_>,
        req: &EmbeddingRequest,
    ) -> Result<Embeddings, UpstreamFailure> {
        let inputs = embedding_inputs(req)?;
        let base64 = match req.passthrough.get("encoding_format") {
            None | Some(Value::Null) => false,
            Some(Value::String(f)) if f == "float" => false,
            Some(Value::String(f)) if f == "base64" => true,
            Some(_) => return Err(bad_request("'encoding_format' must be 'float' or 'base64'")),
        };
        match req.passthrough.get("dimensions") {
            None | Some(Value::Null) => {}
            Some(v) if v.as_u64() == Some(self.engine.dimensions() as u64) => {}
            Some(_) => {
                return Err(bad_request(format!(
                    "'dimensions' must be {} for this model (it cannot shorten its vectors)",
                    self.engine.dimensions()
                )))
            }
        }
        let out = tokio::time::timeout(call.timeout, self.engine.embed(&inputs))
            .await
            .map_err(|_| {
                UpstreamFailure::Timeout("the embedding did not finish in time".into())
            })??;
        let data: Vec<Value> = out
            .vectors
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let embedding = if base64 {
                    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
                } else {
                    json!(v)
                };
                json!({"object": "embedding", "index": i, "embedding": embedding})
            })
            .collect();
        let body = json!({
            "object": "list",
            "data": data,
            "model": call.upstream_model,
            "usage": {"prompt_tokens": out.tokens, "total_tokens": out.tokens},
        });
        Ok(Embeddings {
            body: Bytes::from(body.to_string()),
            usage: Some(Usage {
                prompt_tokens: out.tokens,
                completion_tokens: 0,
                total_tokens: out.tokens,
            }),
        })
    }

    fn describe(&self) -> Option<Value> {
        Some(self.engine.details().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hermes_tool_calls_are_parsed() {
        let (content, calls) = parse_tool_calls(
            "Let me check.<tool_call>\n{\"name\": \"get_order\", \"arguments\": {\"id\": \"A1\"}}\n</tool_call>",
            "call_x",
        );
        assert_eq!(content.as_deref(), Some("Let me check."));
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0]["function"]["name"], "get_order");
        assert_eq!(calls[0]["function"]["arguments"], "{\"id\":\"A1\"}");
        assert_eq!(calls[0]["id"], "call_x_0");
    }

    #[test]
    fn invalid_tool_call_text_is_kept() {
        let t = "<tool_call>not json</tool_call> done";
        let (content, calls) = parse_tool_calls(t, "c");
        assert!(calls.is_empty());
        assert_eq!(content.as_deref(), Some(t));
    }
}
