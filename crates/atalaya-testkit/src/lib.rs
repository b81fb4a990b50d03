//! A scriptable, in-process, OpenAI-compatible fake upstream for tests and benchmarks.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use atalaya_testkit::{FakeUpstream, Reply};
//! let fake = FakeUpstream::start().await?;
//! fake.push(Reply::status(429).retry_after(1)); // first request: 429, Retry-After: 1
//! fake.push(Reply::chat("hello"));              // second: a completion
//! // point a gateway at fake.base_url() ...
//! # Ok(()) }
//! ```
//!
//! Replies are consumed in order, one per chat or embeddings request; when the script is
//! empty the fake answers normally (a completion, or a stream of `stream_chunks` chunks whose
//! contents are `t0 `, `t1 `, ...). Every request is recorded for assertions.

use std::{
    collections::VecDeque,
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::{body::Frame, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

type Body = BoxBody<Bytes, std::io::Error>;

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A chat completion with this content (or embeddings, for an embeddings request).
    Chat { content: String },
    /// An SSE stream of these pieces. `first_delay` before the first chunk (headers are sent
    /// at once), `delay` between chunks; `die_after`: the connection breaks after that many
    /// chunks; `error_event_after`: an `{"error":...}` event is sent after that many chunks.
    Stream {
        pieces: Vec<String>,
        first_delay: Duration,
        delay: Duration,
        die_after: Option<usize>,
        error_event_after: Option<usize>,
    },
    /// A non-streamed completion whose `choices[0].message` is this object as it is (for
    /// `refusal`, `reasoning_content`, tool calls).
    Message(Value),
    /// An SSE stream whose chunks carry these `choices[0]` objects as they are (for tool-call
    /// deltas and other shapes `Stream` does not write), then `[DONE]`.
    Choices(Vec<Value>),
    /// An error status with an OpenAI-shaped body.
    Status {
        status: u16,
        message: String,
        retry_after: Option<u64>,
    },
    /// The connection is closed without a response.
    Reset,
    /// 200 with a body that is not JSON.
    Garbage,
    /// `inner`, after sleeping `delay`.
    Delayed(Duration, Box<Reply>),
}

impl Reply {
    pub fn chat(content: &str) -> Reply {
        Reply::Chat {
            content: content.into(),
        }
    }
    pub fn stream(pieces: &[&str]) -> Reply {
        Reply::Stream {
            pieces: pieces.iter().map(|p| (*p).to_owned()).collect(),
            first_delay: Duration::ZERO,
            delay: Duration::ZERO,
            die_after: None,
            error_event_after: None,
        }
    }
    pub fn status(status: u16) -> Reply {
        Reply::Status {
            status,
            message: format!("fake upstream says {status}"),
            retry_after: None,
        }
    }
    /// Sets `Retry-After` (seconds) on a `Status` reply.
    pub fn retry_after(self, seconds: u64) -> Reply {
        match self {
            Reply::Status {
                status, message, ..
            } => Reply::Status {
                status,
                message,
                retry_after: Some(seconds),
            },
            other => other,
        }
    }
    pub fn delayed(self, d: Duration) -> Reply {
        Reply::Delayed(d, Box::new(self))
    }
    /// On a `Stream` reply: delay between chunks.
    pub fn every(mut self, d: Duration) -> Reply {
        if let Reply::Stream { delay, .. } = &mut self {
            *delay = d;
        }
        self
    }
    /// On a `Stream` reply: delay before the first chunk.
    pub fn first_after(mut self, d: Duration) -> Reply {
        if let Reply::Stream { first_delay, .. } = &mut self {
            *first_delay = d;
        }
        self
    }
    /// On a `Stream` reply: the connection breaks after `n` chunks.
    pub fn die_after(mut self, n: usize) -> Reply {
        if let Reply::Stream { die_after, .. } = &mut self {
            *die_after = Some(n);
        }
        self
    }
    /// On a `Stream` reply: an error event is sent after `n` chunks.
    pub fn error_event_after(mut self, n: usize) -> Reply {
        if let Reply::Stream {
            error_event_after, ..
        } = &mut self
        {
            *error_event_after = Some(n);
        }
        self
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Debug, Clone)]
pub struct FakeOptions {
    pub listen: SocketAddr,
    /// Chunks of a default stream.
    pub stream_chunks: usize,
    /// Delay between chunks of a default stream.
    pub chunk_delay: Duration,
    /// Keep every request for `requests()` (off for load tests).
    pub record: bool,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            stream_chunks: 5,
            chunk_delay: Duration::ZERO,
            record: true,
        }
    }
}

struct Shared {
    script: Mutex<VecDeque<Reply>>,
    recorded: Mutex<Vec<Recorded>>,
    count: std::sync::atomic::AtomicUsize,
    opts: FakeOptions,
    default_chat: Bytes,
}

pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FakeUpstream {
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(FakeOptions::default()).await
    }

    pub async fn start_with(opts: FakeOptions) -> std::io::Result<Self> {
        let listener = TcpListener::bind(opts.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            recorded: Mutex::new(Vec::new()),
            count: Default::default(),
            default_chat: Bytes::from(
                chat_body("fake-model", "Hello from the fake upstream.").to_string(),
            ),
            opts,
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = spawn(accept_loop(listener, shared.clone(), stop_rx));
        Ok(FakeUpstream {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues a reply for the next chat or embeddings request.
    pub fn push(&self, reply: Reply) {
        lock(&self.shared.script).push_back(reply);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.recorded).clone()
    }

    /// Chat and embeddings requests received.
    pub fn request_count(&self) -> usize {
        self.shared.count.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops accepting connections, drops the open ones, and waits for the accept loop to end.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[allow(clippy::disallowed_methods)] // test server: its tasks end with their connections
fn spawn<F>(f: F) -> JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(f)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let mut stopped = stop.clone();
                spawn(async move {
                    let service = service_fn(move |req| handle(req, shared.clone()));
                    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    // Stopping drops open connections too, as a dying upstream would.
                    tokio::select! {
                        _ = connection => {}
                        _ = stopped.changed() => {}
                    }
                });
            }
        }
    }
}

#[derive(Debug)]
struct Reset;
impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("scripted connection reset")
    }
}
impl std::error::Error for Reset {}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|e: Infallible| match e {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// A Cohere-shaped rerank response scoring each document by the share of the query's words
/// (three letters or more) it contains: deterministic, and a real ranking signal.
fn rerank_body(req: &Value) -> Value {
    let words = |t: &str| -> Vec<String> {
        t.split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 3)
            .map(str::to_lowercase)
            .collect()
    };
    let query = words(req.get("query").and_then(Value::as_str).unwrap_or(""));
    let docs = req
        .get("documents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut results: Vec<(usize, f64)> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let have = words(d.as_str().unwrap_or(""));
            let hit = query.iter().filter(|w| have.contains(w)).count();
            (i, hit as f64 / query.len().max(1) as f64)
        })
        .collect();
    results.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    json!({
        "id": "rerank-fake",
        "results": results.iter().map(|(i, s)| json!({"index": i, "relevance_score": s})).collect::<Vec<_>>(),
    })
}

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<Body>, Reset> {
    let path = req.uri().path().to_owned();
    let headers = req.headers().clone();
    if req.method() == http::Method::GET && path == "/v1/models" {
        return Ok(full(
            StatusCode::OK,
            json!({"object":"list","data":[{"id":"fake-model","object":"model","created":0,"owned_by":"fake"}]}).to_string(),
        ));
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Reset),
    };
    let is_chat = path == "/v1/chat/completions";
    let is_embed = path == "/v1/embeddings";
    let is_rerank = path == "/v1/rerank";
    if !(is_chat || is_embed || is_rerank) {
        return Ok(full(
            StatusCode::NOT_FOUND,
            json!({"error":{"message":"no such route","type":"invalid_request_error"}}).to_string(),
        ));
    }
    shared
        .count
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let stream = json.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = json
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let model = json
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model")
        .to_owned();
    if shared.opts.record {
        lock(&shared.recorded).push(Recorded {
            path: path.clone(),
            headers,
            body: json.clone(),
        });
    }
    let scripted = lock(&shared.script).pop_front();
    let mut reply = match scripted {
        Some(r) => r,
        None if is_embed || is_rerank => Reply::chat(""),
        None if stream => {
            return Ok(sse(
                (0..shared.opts.stream_chunks)
                    .map(|i| format!("t{i} "))
                    .collect(),
                &model,
                include_usage,
                Duration::ZERO,
                shared.opts.chunk_delay,
                None,
                None,
            ))
        }
        None => return Ok(full(StatusCode::OK, shared.default_chat.clone())),
    };
    loop {
        match reply {
            Reply::Delayed(d, inner) => {
                tokio::time::sleep(d).await;
                reply = *inner;
            }
            Reply::Reset => return Err(Reset),
            Reply::Garbage => return Ok(full(StatusCode::OK, "this is not json")),
            Reply::Status {
                status,
                message,
                retry_after,
            } => {
                let mut r = full(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    json!({"error":{"message":message,"type":"fake_error","code":null}})
                        .to_string(),
                );
                if let Some(s) = retry_after {
                    if let Ok(v) = http::HeaderValue::from_str(&s.to_string()) {
                        r.headers_mut().insert(http::header::RETRY_AFTER, v);
                    }
                }
                return Ok(r);
            }
            Reply::Chat { .. } if is_rerank => {
                return Ok(full(StatusCode::OK, rerank_body(&json).to_string()));
            }
            Reply::Chat { content } if is_embed => {
                let _ = content;
                return Ok(full(
                    StatusCode::OK,
                    embeddings_body(&model, &json).to_string(),
                ));
            }
            Reply::Chat { content } if stream => {
                return Ok(sse(
                    vec![content],
                    &model,
                    include_usage,
                    Duration::ZERO,
                    Duration::ZERO,
                    None,
                    None,
                ))
            }
            Reply::Message(message) => {
                let mut body = chat_body(&model, "");
                body["choices"][0]["message"] = message;
                return Ok(full(StatusCode::OK, body.to_string()));
            }
            Reply::Chat { content } => {
                return Ok(full(
                    StatusCode::OK,
                    chat_body(&model, &content).to_string(),
                ))
            }
            Reply::Choices(choices) => {
                let mut body = String::new();
                for c in choices {
                    let v = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                        "created": 0, "model": model, "choices": [c]});
                    body.push_str(&format!("data: {v}\n\n"));
                }
                body.push_str("data: [DONE]\n\n");
                let mut r = full(StatusCode::OK, body);
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/event-stream"),
                );
                return Ok(r);
            }
            Reply::Stream {
                pieces,
                first_delay,
                delay,
                die_after,
                error_event_after,
            } => {
                return Ok(sse(
                    pieces,
                    &model,
                    include_usage,
                    first_delay,
                    delay,
                    die_after,
                    error_event_after,
                ))
            }
        }
    }
}

fn chat_body(model: &str, content: &str) -> Value {
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
        "system_fingerprint": "fake"
    })
}

/// Deterministic 8-dimensional embeddings, one per input item.
fn embeddings_body(model: &str, req: &Value) -> Value {
    let items: Vec<String> = match req.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().map(|v| v.to_string()).collect(),
        _ => vec![],
    };
    let data: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let v: Vec<f64> = (0..8)
                .map(|d| {
                    let h = s.bytes().fold(d as u64 + 1, |a, b| {
                        a.wrapping_mul(31).wrapping_add(u64::from(b))
                    });
                    (h % 1000) as f64 / 1000.0
                })
                .collect();
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": items.len() * 3, "total_tokens": items.len() * 3}})
}

fn sse(
    pieces: Vec<String>,
    model: &str,
    include_usage: bool,
    first_delay: Duration,
    delay: Duration,
    die_after: Option<usize>,
    error_event_after: Option<usize>,
) -> Response<Body> {
    let model = model.to_owned();
    let n = pieces.len();
    let events = futures::stream::unfold(0usize, move |i| {
        let pieces = pieces.clone();
        let model = model.clone();
        async move {
            let wait = if i == 0 { first_delay } else { delay };
            if !wait.is_zero() && i <= n {
                tokio::time::sleep(wait).await;
            }
            if die_after == Some(i) {
                return Some((
                    Err(std::io::Error::other("scripted stream death")),
                    usize::MAX,
                ));
            }
            if i == usize::MAX {
                return None;
            }
            if error_event_after == Some(i) {
                let ev = json!({"error": {"message": "fake upstream failed mid-stream", "type": "server_error"}});
                return Some((
                    Ok(Frame::data(Bytes::from(format!("data: {ev}\n\n")))),
                    usize::MAX,
                ));
            }
            let text = if i < n {
                let delta = if i == 0 {
                    json!({"role": "assistant", "content": pieces[i]})
                } else {
                    json!({"content": pieces[i]})
                };
                chunk(&model, delta, Value::Null, None)
            } else if i == n {
                chunk(&model, json!({}), json!("stop"), None)
            } else if i == n + 1 && include_usage {
                let u = json!({"prompt_tokens": 9, "completion_tokens": n, "total_tokens": 9 + n});
                format!(
                    "data: {}\n\n",
                    json!({"id":"chatcmpl-fake","object":"chat.completion.chunk","created":0,"model":model,"choices":[],"usage":u})
                )
            } else if i <= n + 2 {
                return Some((
                    Ok(Frame::data(Bytes::from_static(b"data: [DONE]\n\n"))),
                    usize::MAX,
                ));
            } else {
                return None;
            };
            let next = if i == n && !include_usage {
                n + 2
            } else {
                i + 1
            };
            Some((Ok(Frame::data(Bytes::from(text))), next))
        }
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(events)));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    r
}

fn chunk(model: &str, delta: Value, finish: Value, usage: Option<Value>) -> String {
    let mut v = json!({
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    });
    if let Some(u) = usage {
        v["usage"] = u;
    }
    format!("data: {v}\n\n")
}
