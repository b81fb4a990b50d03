//! Turning generated token pieces into streamed text: pieces are bytes (a token may hold half of
//! a UTF-8 character, especially with byte-fallback vocabularies), and stop strings must be cut
//! out even when they arrive split across tokens.

/// Incremental UTF-8 decoding: complete characters come out as soon as they are whole, invalid
/// bytes become U+FFFD, an incomplete tail waits for the next piece.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// Appends `bytes` and returns the text that is now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // The prefix is valid UTF-8 by construction.
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..valid + bad);
                        }
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                    }
                }
            }
        }
    }

    /// Ends the stream: an incomplete character left over becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        if self.pending.is_empty() {
            String::new()
        } else {
            self.pending.clear();
            "\u{FFFD}".to_owned()
        }
    }
}

/// Holds back text that could be the start of a stop string, and reports when one is complete.
#[derive(Debug)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

/// What `StopMatcher::push` decided.
#[derive(Debug, PartialEq, Eq)]
pub enum StopScan {
    /// Text that can be sent now; generation goes on.
    Continue(String),
    /// A stop string was found: the text before it is final, generation ends.
    Stopped(String),
}

impl StopMatcher {
    pub fn new(stops: &[String]) -> StopMatcher {
        StopMatcher {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> StopScan {
        if self.stops.is_empty() {
            return StopScan::Continue(text.to_owned());
        }
        self.held.push_str(text);
        // The earliest complete stop string wins.
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min()
        {
            let before = self.held[..at].to_owned();
            self.held.clear();
            return StopScan::Stopped(before);
        }
        // Keep the longest suffix that is a proper prefix of some stop string.
        let keep = self
            .held
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| {
                let tail = &self.held[i..];
                self.stops.iter().any(|s| s.starts_with(tail))
            })
            .unwrap_or(self.held.len());
        let out = self.held[..keep].to_owned();
        self.held.drain(..keep);
        StopScan::Continue(out)
    }

    /// Generation ended for another reason: whatever was held back is released.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn utf8_split_across_pieces() {
        let mut d = Utf8Stream::default();
        let bytes = "é😀".as_bytes();
        assert_eq!(d.push(&bytes[..1]), "");
        assert_eq!(d.push(&bytes[1..3]), "é");
        assert_eq!(d.push(&bytes[3..5]), "");
        assert_eq!(d.push(&bytes[5..]), "😀");
        assert_eq!(d.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut d = Utf8Stream::default();
        assert_eq!(d.push(b"a\xffb"), "a\u{FFFD}b");
        assert_eq!(d.push(b"\xe2\x82"), "");
        assert_eq!(d.finish(), "\u{FFFD}");
    }

    #[test]
    fn stop_string_split_across_tokens() {
        let mut m = StopMatcher::new(&["</answer>".to_owned()]);
        assert_eq!(m.push("Hello </an"), StopScan::Continue("Hello ".into()));
        assert_eq!(m.push("swer> tail"), StopScan::Stopped("".into()));
    }

    #[test]
    fn false_start_is_released() {
        let mut m = StopMatcher::new(&["STOP".to_owned()]);
        assert_eq!(m.push("ST"), StopScan::Continue("".into()));
        assert_eq!(m.push("ART"), StopScan::Continue("START".into()));
        assert_eq!(m.push("S"), StopScan::Continue("".into()));
        assert_eq!(m.finish(), "S");
    }

    #[test]
    fn earliest_of_several_stops() {
        let mut m = StopMatcher::new(&["bb".to_owned(), "a".to_owned()]);
        assert_eq!(m.push("xxbba"), StopScan::Stopped("xx".into()));
    }

    proptest! {
        /// Whatever the chunking, the emitted text is the input cut at the first stop string.
        #[test]
        fn chunking_does_not_change_the_result(
            text in "[ab\\u{e9} ]{0,40}",
            stop in "[ab]{1,3}",
            cuts in proptest::collection::vec(0usize..50, 0..8),
        ) {
            let expected = match text.find(&stop) { Some(i) => text[..i].to_owned(), None => text.clone() };
            let mut bounds: Vec<usize> = cuts.into_iter().filter(|&c| c < text.len() && text.is_char_boundary(c)).collect();
            bounds.sort_unstable();
            bounds.dedup();
            let mut m = StopMatcher::new(std::slice::from_ref(&stop));
            let mut out = String::new();
            let mut prev = 0;
            let mut stopped = false;
            for b in bounds.into_iter().chain(std::iter::once(text.len())) {
                match m.push(&text[prev..b]) {
                    StopScan::Continue(s) => out.push_str(&s),
                    StopScan::Stopped(s) => { out.push_str(&s); stopped = true; break; }
                }
                prev = b;
            }
            if !stopped { out.push_str(&m.finish()); }
            prop_assert_eq!(out, expected);
        }

        #[test]
        fn utf8_stream_matches_lossy_decoding(bytes in proptest::collection::vec(any::<u8>(), 0..64), cut in 0usize..64) {
            let cut = cut.min(bytes.len());
            let mut d = Utf8Stream::default();
            let mut out = d.push(&bytes[..cut]);
            out.push_str(&d.push(&bytes[cut..]));
            out.push_str(&d.finish());
            // Valid input round-trips exactly; invalid input never panics and keeps valid parts.
            if let Ok(s) = std::str::from_utf8(&bytes) { prop_assert_eq!(out, s); }
        }
    }
}
