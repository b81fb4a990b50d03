//! Offsets: detectors work on byte offsets of UTF-8 text; clients get Unicode scalar offsets
//! (the indices a Python `str` uses).

/// Converts byte offsets of one text into char offsets. Offsets must be queried in
/// non-decreasing order for the O(n) walk; earlier offsets restart the walk.
pub struct CharOffsets<'a> {
    text: &'a str,
    ascii: bool,
    byte: usize,
    chars: usize,
}

impl<'a> CharOffsets<'a> {
    pub fn new(text: &'a str) -> Self {
        CharOffsets {
            text,
            ascii: text.is_ascii(),
            byte: 0,
            chars: 0,
        }
    }

    /// The char offset of byte offset `b` (which must be a char boundary; otherwise the next
    /// boundary's offset).
    pub fn char_at(&mut self, b: usize) -> usize {
        let b = b.min(self.text.len());
        if self.ascii {
            return b;
        }
        if b < self.byte {
            self.byte = 0;
            self.chars = 0;
        }
        let bytes = self.text.as_bytes();
        while self.byte < b {
            // Count leading bytes only (continuation bytes are 0b10xxxxxx).
            if bytes[self.byte] & 0xC0 != 0x80 {
                self.chars += 1;
            }
            self.byte += 1;
        }
        // If `b` fell inside a char, move to its end.
        while self.byte < bytes.len() && bytes[self.byte] & 0xC0 == 0x80 {
            self.byte += 1;
        }
        self.chars
    }
}

/// True when the char before byte `i` is not alphanumeric (or `i` is the start).
pub fn boundary_before(text: &str, i: usize) -> bool {
    prev_char(text, i).is_none_or(|c| !c.is_alphanumeric())
}

/// True when the char at byte `i` is not alphanumeric (or `i` is the end).
pub fn boundary_after(text: &str, i: usize) -> bool {
    next_char(text, i).is_none_or(|c| !c.is_alphanumeric())
}

/// True when `text[s..e]` stands alone: no alphanumeric char touches it on either side.
pub fn standalone(text: &str, s: usize, e: usize) -> bool {
    boundary_before(text, s) && boundary_after(text, e)
}

/// The previous char before byte `i`.
pub fn prev_char(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

/// The char at byte `i`.
pub fn next_char(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

/// The lowercased window of up to `n` bytes before byte `i` (cut at a char boundary).
pub fn window_before(text: &str, i: usize, n: usize) -> String {
    let mut s = i.saturating_sub(n);
    while !text.is_char_boundary(s) {
        s += 1;
    }
    text[s..i].to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_offsets_match_python_indices() {
        let t = "ação 😀 x";
        let mut c = CharOffsets::new(t);
        let x = t.find('x').unwrap_or(0);
        assert_eq!(c.char_at(x), 7);
        assert_eq!(c.char_at(t.len()), 8);
        assert_eq!(c.char_at(0), 0);
    }
}
