//! Any OpenAI-compatible upstream: `POST {base}/chat/completions` (plain and SSE) and
//! `POST {base}/embeddings`, over one pooled keep-alive client per upstream.

use std::time::Duration;

use async_trait::async_trait;
use atalaya_api::Usage;
use atalaya_core::{
    config::{quote_key, UpstreamConfig},
    domain::{
        ChatCompletion, ChatRequest, EmbeddingRequest, Embeddings, RerankRequest, Reranked,
        StreamChunk,
    },
    provider::{Call, ChatStream, Provider, UpstreamFailure},
    secret, ConfigIssue, Error,
};
use bytes::Bytes;
use futures::StreamExt;
use http::{header, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::sse::SseParser;

pub struct OpenAiCompatible {
    client: reqwest::Client,
    /// Parsed once: reqwest would otherwise parse a URL string on every request.
    chat_url: url::Url,
    embeddings_url: url::Url,
    rerank_url: url::Url,
    health_url: url::Url,
    headers: HeaderMap,
    stream_usage: bool,
}

impl OpenAiCompatible {
    pub fn new(
        name: &str,
        cfg: &UpstreamConfig,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let key = |k: &str| format!("upstreams.{}.{k}", quote_key(name));
        let mut issues = Vec::new();
        let mut headers = HeaderMap::new();
        if let Some(reference) = &cfg.api_key {
            match secret::resolve(reference, lookup).and_then(|s| {
                HeaderValue::from_str(&format!("Bearer {}", s.expose()))
                    .map_err(|_| "the key contains characters not allowed in a header".into())
            }) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    headers.insert(header::AUTHORIZATION, v);
                }
                Err(problem) => issues.push(ConfigIssue {
                    key: key("api_key"),
                    problem,
                }),
            }
        }
        for (h, v) in &cfg.headers {
            let value = if secret::is_reference(v) {
                secret::resolve(v, lookup).map(|s| s.expose().to_owned())
            } else {
                Ok(v.clone())
            };
            let parsed = value.and_then(|v| {
                let name = HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| "not a valid header name".to_owned())?;
                let mut value =
                    HeaderValue::from_str(&v).map_err(|_| "not a valid header value".to_owned())?;
                // Extra headers often carry credentials: keep them out of Debug output.
                value.set_sensitive(true);
                Ok((name, value))
            });
            match parsed {
                Ok((n, v)) => {
                    headers.insert(n, v);
                }
                Err(problem) => issues.push(ConfigIssue {
                    key: key(&format!("headers.{}", quote_key(h))),
                    problem,
                }),
            }
        }
        if !issues.is_empty() {
            return Err(Error::Config(issues));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms))
            .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
            .pool_idle_timeout(Duration::from_millis(cfg.pool_idle_timeout_ms))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::config(key("base_url"), format!("HTTP client: {e}")))?;
        let base = cfg.base_url.trim_end_matches('/');
        let parse = |path: &str| {
            url::Url::parse(&format!("{base}/{path}"))
                .map_err(|e| Error::config(key("base_url"), format!("not a valid URL: {e}")))
        };
        Ok(OpenAiCompatible {
            client,
            chat_url: parse("chat/completions")?,
            embeddings_url: parse("embeddings")?,
            rerank_url: parse("rerank")?,
            health_url: parse(cfg.health_check_path.trim_start_matches('/'))?,
            headers,
            stream_usage: cfg.stream_usage,
        })
    }

    /// Sends a request. `whole_body_timeout`: reqwest's timeout covers the response body too,
    /// which is right for plain responses and wrong for streams (the router bounds the first
    /// chunk, the gateway's deadline bounds the rest).
    async fn post(
        &self,
        url: &url::Url,
        call: Call<'_>,
        body: Vec<u8>,
        whole_body_timeout: bool,
    ) -> Result<reqwest::Response, UpstreamFailure> {
        let mut request = self
            .client
            .post(url.clone())
            .headers(self.headers.clone())
            .header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .header("x-request-id", call.request_id);
        if whole_body_timeout {
            request = request.timeout(call.timeout);
        }
        send(request.body(body)).await
    }
}

/// Sends a request; a non-2xx status becomes an `UpstreamFailure`.
async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, UpstreamFailure> {
    let response = request.send().await.map_err(request_failure)?;
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(status_failure(response).await)
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, UpstreamFailure> {
    serde_json::to_vec(value)
        .map_err(|e| UpstreamFailure::InvalidResponse(format!("could not encode the request: {e}")))
}

#[async_trait]
impl Provider for OpenAiCompatible {
    async fn health(&self, timeout: Duration) -> Result<(), UpstreamFailure> {
        let request = self
            .client
            .get(self.health_url.clone())
            .headers(self.headers.clone())
            .timeout(timeout);
        send(request).await.map(drop)
    }

    async fn infer(
        &self,
        call: Call<'_>,
        req: &ChatRequest,
    ) -> Result<ChatCompletion, UpstreamFailure> {
        let mut wire = req.to_wire(call.upstream_model, false);
        wire.stream = None;
        wire.stream_options = None;
        let response = self
            .post(&self.chat_url, call, encode(&wire)?, true)
            .await?;
        let body = read_limited(response, MAX_RESPONSE_BYTES).await?;
        let parsed: UsageOnly = serde_json::from_slice(&body).map_err(|e| {
            UpstreamFailure::InvalidResponse(format!("the body is not a JSON chat completion: {e}"))
        })?;
        Ok(ChatCompletion {
            body,
            usage: parsed.usage,
        })
    }

    async fn infer_stream(
        &self,
        call: Call<'_>,
        req: &ChatRequest,
    ) -> Result<ChatStream, UpstreamFailure> {
        let wire = req.to_wire(call.upstream_model, self.stream_usage);
        let response = self
            .post(&self.chat_url, call, encode(&wire)?, false)
            .await?;
        Ok(sse_chunks(response))
    }

    async fn embed(
        &self,
        call: Call<'_>,
        req: &EmbeddingRequest,
    ) -> Result<Embeddings, UpstreamFailure> {
        let wire = req.to_wire(call.upstream_model);
        let response = self
            .post(&self.embeddings_url, call, encode(&wire)?, true)
            .await?;
        let body = read_limited(response, MAX_RESPONSE_BYTES).await?;
        let parsed: UsageOnly = serde_json::from_slice(&body).map_err(|e| {
            UpstreamFailure::InvalidResponse(format!(
                "the body is not a JSON embeddings response: {e}"
            ))
        })?;
        Ok(Embeddings {
            body,
            usage: parsed.usage,
        })
    }

    async fn rerank(
        &self,
        call: Call<'_>,
        req: &RerankRequest,
    ) -> Result<Reranked, UpstreamFailure> {
        let wire = serde_json::json!({
            "model": call.upstream_model,
            "query": req.query,
            "documents": req.documents,
            "top_n": req.documents.len(),
            "return_documents": false,
        });
        let response = self
            .post(&self.rerank_url, call, encode(&wire)?, true)
            .await?;
        let body = read_limited(response, MAX_RESPONSE_BYTES).await?;
        parse_rerank(&body, req.documents.len())
    }
}

/// A `/rerank` response: Cohere, Jina and vLLM send `{"results":[{"index","relevance_score"}]}`,
/// Hugging Face TEI a bare `[{"index","score"}]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RerankWire {
    Results { results: Vec<RerankItem> },
    Bare(Vec<RerankItem>),
}

#[derive(Deserialize)]
struct RerankItem {
    index: usize,
    #[serde(alias = "score")]
    relevance_score: f32,
}

/// Parses a rerank response for `n` documents: every index in range, best first.
fn parse_rerank(body: &[u8], n: usize) -> Result<Reranked, UpstreamFailure> {
    let wire: RerankWire = serde_json::from_slice(body).map_err(|e| {
        UpstreamFailure::InvalidResponse(format!("the body is not a rerank response: {e}"))
    })?;
    let items = match wire {
        RerankWire::Results { results } => results,
        RerankWire::Bare(items) => items,
    };
    if let Some(bad) = items
        .iter()
        .find(|i| i.index >= n || !i.relevance_score.is_finite())
    {
        return Err(UpstreamFailure::InvalidResponse(format!(
            "the rerank response scores document {} of {n} as {}",
            bad.index, bad.relevance_score
        )));
    }
    let mut scores: Vec<(usize, f32)> = items
        .into_iter()
        .map(|i| (i.index, i.relevance_score))
        .collect();
    scores.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(Reranked { scores })
}

/// Largest upstream response body accepted (large embedding batches stay well under it).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// Largest error body read: only its message is used.
const MAX_ERROR_BYTES: usize = 64 * 1024;
/// After `[DONE]`, at most this much trailing data is read so the connection can be reused.
const MAX_DRAIN_BYTES: usize = 64 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_millis(200);

/// Reads a body up to `limit` bytes; a larger body is an invalid response.
async fn read_limited(response: reqwest::Response, limit: usize) -> Result<Bytes, UpstreamFailure> {
    let mut body = response.bytes_stream();
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(body_failure)?;
        if buf.len() + chunk.len() > limit {
            return Err(UpstreamFailure::InvalidResponse(format!(
                "the response body exceeds {limit} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

#[derive(Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ChunkLite {
    #[serde(default)]
    choices: Option<Vec<ChoiceLite>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ChoiceLite {
    #[serde(default, deserialize_with = "lenient")]
    index: Option<u64>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    delta: Option<DeltaLite>,
}

#[derive(Deserialize)]
struct DeltaLite {
    #[serde(default, deserialize_with = "lenient")]
    content: Option<String>,
}

/// A field of the shape expected, else `None`: an upstream that sends something unusual
/// (content as an array of parts, a null index) still streams; only the copy of the text
/// kept with the chunk is missing.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

/// Turns an SSE response into chunks. `[DONE]` ends the stream; an end of input without
/// `[DONE]` or a finish reason, an `error` event, or a lost connection is an error item.
fn sse_chunks(response: reqwest::Response) -> ChatStream {
    struct S {
        body: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
        parser: SseParser,
        ready: std::collections::VecDeque<Bytes>,
        finished: bool,
        saw_finish_reason: bool,
        done: bool,
    }
    let state = S {
        body: response.bytes_stream().boxed(),
        parser: SseParser::new(),
        ready: Default::default(),
        finished: false,
        saw_finish_reason: false,
        done: false,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            if let Some(data) = st.ready.pop_front() {
                if data.as_ref() == b"[DONE]" {
                    // Read what trails (normally nothing) so the connection returns to the
                    // keep-alive pool instead of being closed.
                    let drain = async {
                        let mut drained = 0usize;
                        while let Some(Ok(rest)) = st.body.next().await {
                            drained += rest.len();
                            if drained > MAX_DRAIN_BYTES {
                                break;
                            }
                        }
                    };
                    let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
                    return None;
                }
                let chunk: ChunkLite = match serde_json::from_slice(&data) {
                    Ok(c) => c,
                    Err(e) => {
                        st.done = true;
                        return Some((
                            Err(UpstreamFailure::StreamBroken(format!(
                                "an event is not JSON: {e}"
                            ))),
                            st,
                        ));
                    }
                };
                if let Some(err) = chunk.error {
                    st.done = true;
                    let message = err
                        .get("message")
                        .and_then(|m| m.as_str())
                        .map(|m| truncate(m, 300))
                        .unwrap_or_else(|| "error event".into());
                    return Some((
                        Err(UpstreamFailure::StreamBroken(format!(
                            "upstream sent an error event: {message}"
                        ))),
                        st,
                    ));
                }
                let choices = chunk.choices.unwrap_or_default();
                if choices.iter().any(|c| c.finish_reason.is_some()) {
                    st.saw_finish_reason = true;
                }
                let usage_only = choices.is_empty() && chunk.usage.is_some();
                let content = choices
                    .into_iter()
                    .filter_map(|c| Some((c.index.unwrap_or(0), c.delta?.content?)))
                    .collect();
                return Some((
                    Ok(StreamChunk {
                        data,
                        usage: chunk.usage,
                        usage_only,
                        content,
                    }),
                    st,
                ));
            }
            if st.finished {
                st.done = true;
                if st.saw_finish_reason {
                    return None;
                }
                return Some((
                    Err(UpstreamFailure::StreamBroken(
                        "the upstream closed the stream before [DONE]".into(),
                    )),
                    st,
                ));
            }
            match st.body.next().await {
                Some(Ok(bytes)) => match st.parser.push(&bytes) {
                    Ok(events) => st.ready.extend(events),
                    Err(e) => {
                        st.done = true;
                        return Some((Err(UpstreamFailure::StreamBroken(e)), st));
                    }
                },
                Some(Err(e)) => {
                    st.done = true;
                    return Some((
                        Err(UpstreamFailure::StreamBroken(format!(
                            "connection lost: {}",
                            describe(&e)
                        ))),
                        st,
                    ));
                }
                None => {
                    st.finished = true;
                    st.ready.extend(st.parser.finish());
                }
            }
        }
    }))
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A reqwest error as text, without the URL (which may carry credentials in userinfo).
fn describe(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() {
        "request failed".into()
    } else {
        parts.join(": ")
    }
}

fn request_failure(e: reqwest::Error) -> UpstreamFailure {
    if e.is_timeout() {
        UpstreamFailure::Timeout("no response before the attempt timeout".into())
    } else {
        UpstreamFailure::Connect(describe(&e))
    }
}

fn body_failure(e: reqwest::Error) -> UpstreamFailure {
    if e.is_timeout() {
        UpstreamFailure::Timeout(
            "the response body did not arrive before the attempt timeout".into(),
        )
    } else {
        UpstreamFailure::Connect(format!("reading the response failed: {}", describe(&e)))
    }
}

/// Reads an error response: status, `Retry-After`, and the upstream's message.
async fn status_failure(response: reqwest::Response) -> UpstreamFailure {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    if status == 401 || status == 403 {
        // Providers' 401 messages quote part of the key they were sent: never relay them.
        return UpstreamFailure::Status {
            status,
            message: "the upstream rejected the gateway's credentials (check upstreams.*.api_key)"
                .into(),
            retry_after,
        };
    }
    let body = read_limited(response, MAX_ERROR_BYTES)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("error")
                .and_then(|e| e.get("message").or(Some(e)))
                .and_then(|m| m.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
    let message = if message.is_empty() {
        http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error")
            .to_owned()
    } else {
        truncate(&message, 300)
    };
    UpstreamFailure::Status {
        status,
        message,
        retry_after,
    }
}

/// `retry-after-ms` (OpenAI) or `retry-after` in seconds.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && (0.0..86_400_000.0).contains(v))
    {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && (0.0..86_400.0).contains(v))
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_chunk_choices_still_parse() {
        let parse =
            |t: &str| serde_json::from_str::<ChunkLite>(t).map(|c| c.choices.unwrap_or_default());
        let ok = parse(r#"{"choices":[{"index":0,"delta":{"content":"Hola"}}]}"#).unwrap();
        assert_eq!(ok[0].index, Some(0));
        assert_eq!(
            ok[0].delta.as_ref().and_then(|d| d.content.as_deref()),
            Some("Hola")
        );
        // Content as parts, a null index, a delta that is not an object: still a chunk.
        let odd = parse(
            r#"{"choices":[{"index":null,"delta":{"content":[{"type":"text","text":"x"}]},"finish_reason":null},{"delta":"?"}]}"#,
        )
        .unwrap();
        assert_eq!(odd.len(), 2);
        assert!(odd[0].index.is_none());
        assert!(odd[0].delta.as_ref().is_some_and(|d| d.content.is_none()));
        assert!(odd[1].delta.is_none());
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
        // Absurd values are ignored, never a panic.
        for v in ["1e30", "-5", "NaN", "inf"] {
            let mut h = HeaderMap::new();
            h.insert("retry-after-ms", HeaderValue::from_static(v));
            h.insert("retry-after", HeaderValue::from_static(v));
            assert_eq!(retry_after(&h), None, "{v}");
        }
    }

    #[test]
    fn literal_key_is_a_config_error_naming_the_key() {
        let cfg = UpstreamConfig {
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key: Some("sk-plain".into()),
            ..Default::default()
        };
        let Err(Error::Config(issues)) = OpenAiCompatible::new("up", &cfg, &|_| None) else {
            panic!("expected a config error");
        };
        assert_eq!(issues[0].key, "upstreams.up.api_key");
        assert!(!issues[0].problem.contains("sk-plain"));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("ééé", 3), "é…");
    }

    #[test]
    fn rerank_responses_of_every_known_shape() {
        let cohere = br#"{"id":"x","results":[{"index":1,"relevance_score":0.2},{"index":0,"relevance_score":0.9}],"meta":{}}"#;
        assert_eq!(
            parse_rerank(cohere, 2).unwrap().scores,
            vec![(0, 0.9), (1, 0.2)]
        );
        let tei = br#"[{"index":1,"score":0.7},{"index":0,"score":0.1}]"#;
        assert_eq!(
            parse_rerank(tei, 2).unwrap().scores,
            vec![(1, 0.7), (0, 0.1)]
        );
        assert!(matches!(
            parse_rerank(br#"{"results":[{"index":5,"relevance_score":0.2}]}"#, 2),
            Err(UpstreamFailure::InvalidResponse(_))
        ));
        assert!(parse_rerank(b"not json", 2).is_err());
    }
}
