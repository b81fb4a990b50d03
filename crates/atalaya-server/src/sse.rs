//! A gateway stream as Server-Sent Events: each upstream chunk is forwarded unchanged as one
//! `data:` event, the stream ends with `data: [DONE]`, or, when it fails after starting, with
//! one error event in OpenAI's shape (and no `[DONE]`, so clients cannot mistake it for a
//! complete answer). Usage and a failure are recorded for the access log and metrics; a
//! usage-only chunk the client did not ask for (`stream_options.include_usage`) is dropped.

use std::convert::Infallible;

use atalaya_core::gateway::GatewayStream;
use axum::{
    body::Body,
    http::{header, HeaderValue, StatusCode},
    response::Response,
};
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;

use atalaya_service::call::Facts;

use crate::error::error_event;

/// One SSE event for `data`; every line gets its own `data:` prefix (an event whose data
/// spans lines must not leak unprefixed lines into the stream).
pub fn frame(data: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(data.len() + 8);
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        buf.put_slice(b"data: ");
        buf.put_slice(line);
        buf.put_slice(b"\n");
    }
    buf.put_slice(b"\n");
    buf.freeze()
}

pub fn sse_response(stream: GatewayStream, include_usage: bool, facts: Facts) -> Response {
    struct S {
        stream: GatewayStream,
        finished: bool,
        include_usage: bool,
        facts: Facts,
    }
    let state = S {
        stream,
        finished: false,
        include_usage,
        facts,
    };
    let events = futures::stream::unfold(state, |mut st| async move {
        loop {
            if st.finished {
                return None;
            }
            match st.stream.next().await {
                Some(Ok(chunk)) => {
                    if let Some(u) = chunk.usage {
                        st.facts.update(|f| f.usage = Some(u));
                    }
                    if chunk.usage_only && !st.include_usage {
                        continue;
                    }
                    return Some((Ok::<Bytes, Infallible>(frame(&chunk.data)), st));
                }
                Some(Err(e)) => {
                    st.finished = true;
                    // Counted and logged (with the request id) when the response ends.
                    let failure = (e.code(), e.to_string());
                    st.facts.update(|f| f.stream_error = Some(failure));
                    return Some((Ok(Bytes::from(error_event(&e))), st));
                }
                None => {
                    st.finished = true;
                    return Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), st));
                }
            }
        }
    });
    let mut r = Response::new(Body::from_stream(events));
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

#[cfg(test)]
mod tests {
    use super::frame;

    #[test]
    fn frames_every_line() {
        assert_eq!(&frame(b"{\"a\":1}")[..], b"data: {\"a\":1}\n\n");
        assert_eq!(
            &frame(b"l1\nl2\r\nl3")[..],
            b"data: l1\ndata: l2\ndata: l3\n\n"
        );
    }
}
