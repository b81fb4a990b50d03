//! Incremental Server-Sent Events parsing (the subset OpenAI-compatible servers use):
//! events are separated by a blank line; `data:` lines of one event are joined with `\n`;
//! `event:`, `id:`, `retry:` and `:` comment lines are ignored. Bytes may arrive split at any
//! point, including inside a line or a UTF-8 sequence.

use bytes::{Bytes, BytesMut};

#[derive(Default)]
pub struct SseParser {
    buf: BytesMut,
    /// Bytes of `buf` already searched for a newline (so long lines are not rescanned).
    scanned: usize,
    data: Vec<Bytes>,
}

/// Longest event accepted; a larger one means a broken or hostile upstream.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the data of every event completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Bytes>, String> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(off) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let pos = self.scanned + off;
            self.scanned = 0;
            let mut line = self.buf.split_to(pos + 1).freeze();
            line.truncate(pos);
            if line.last() == Some(&b'\r') {
                line.truncate(pos - 1);
            }
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push(self.take_event());
                }
            } else if let Some(rest) = line.strip_prefix(b"data:") {
                let start = line.len() - rest.len() + usize::from(rest.first() == Some(&b' '));
                self.data.push(line.slice(start..));
            }
        }
        self.scanned = self.buf.len();
        let pending: usize = self.buf.len() + self.data.iter().map(Bytes::len).sum::<usize>();
        if pending > MAX_EVENT_BYTES {
            return Err(format!("an event exceeded {MAX_EVENT_BYTES} bytes"));
        }
        Ok(events)
    }

    /// At end of input: the last event, if the stream did not end with a blank line.
    pub fn finish(&mut self) -> Option<Bytes> {
        if !self.buf.is_empty() {
            self.scanned = 0;
            let line = self.buf.split().freeze();
            if let Some(rest) = line.strip_prefix(b"data:") {
                let start = line.len() - rest.len() + usize::from(rest.first() == Some(&b' '));
                self.data.push(line.slice(start..));
            }
        }
        (!self.data.is_empty()).then(|| self.take_event())
    }

    fn take_event(&mut self) -> Bytes {
        if self.data.len() == 1 {
            return self.data.pop().unwrap_or_default();
        }
        let joined = self.data.join(&b'\n');
        self.data.clear();
        Bytes::from(joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(input: &[u8], cuts: &[usize]) -> Vec<Bytes> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let mut last = 0;
        for &c in cuts {
            out.extend(p.push(&input[last..c]).unwrap());
            last = c;
        }
        out.extend(p.push(&input[last..]).unwrap());
        out.extend(p.finish());
        out
    }

    #[test]
    fn parses_openai_style_stream() {
        let s = b": keep-alive\n\ndata: {\"a\":1}\n\nevent: x\ndata:{\"b\":2}\r\n\r\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n";
        let ev = all(s, &[]);
        assert_eq!(
            ev,
            vec![
                Bytes::from_static(b"{\"a\":1}"),
                Bytes::from_static(b"{\"b\":2}"),
                Bytes::from_static(b"line1\nline2"),
                Bytes::from_static(b"[DONE]"),
            ]
        );
    }

    #[test]
    fn unterminated_last_event_is_kept() {
        assert_eq!(all(b"data: x", &[]), vec![Bytes::from_static(b"x")]);
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(
            payloads in proptest::collection::vec("[a-zA-Z0-9 {}\":,é😀]{0,40}", 1..8),
            cuts in proptest::collection::vec(0usize..1000, 0..6),
            crlf in any::<bool>(),
        ) {
            let nl = if crlf { "\r\n" } else { "\n" };
            let text: String = payloads.iter().map(|p| format!("data: {p}{nl}{nl}")).collect();
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let expected: Vec<Bytes> = payloads
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| Bytes::from(p.clone()))
                .collect();
            // An empty payload still makes an event ("data: " with empty data).
            let got: Vec<Bytes> = all(bytes, &cuts).into_iter().filter(|b| !b.is_empty()).collect();
            prop_assert_eq!(got, expected);
        }
    }
}
