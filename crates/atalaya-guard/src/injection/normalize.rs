//! Normalisation shared with the training script (`scripts/train_injection.py`; the spec is
//! `models/README.md`, "atalaya-injection-v1"): zero-width characters dropped, NFKD without
//! combining marks, confusables mapped to Latin, lowercase, non-alphanumerics to single
//! spaces. Plus the de-obfuscation variants the rules also look at: leetspeak, spaced-out
//! letters, rot13 and base64 segments.

use std::{collections::HashMap, sync::OnceLock};

use base64::Engine as _;
use unicode_normalization::{
    char::{canonical_combining_class, is_combining_mark},
    UnicodeNormalization,
};

const CONFUSABLES: &str = include_str!("../../data/confusables.tsv");

fn confusables() -> &'static HashMap<char, String> {
    static MAP: OnceLock<HashMap<char, String>> = OnceLock::new();
    MAP.get_or_init(|| {
        CONFUSABLES
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let (k, v) = l.split_once('\t')?;
                let mut ks = k.chars();
                let c = ks.next()?;
                if ks.next().is_some() {
                    return None;
                }
                Some((c, v.trim_end_matches('\r').to_string()))
            })
            .collect()
    })
}

fn zero_width(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064
        | 0x2066..=0x2069 | 0xFEFF)
}

/// ASCII bytes as the normal form writes them: letters lowercased, digits kept, 0 for the
/// rest (separators).
const ASCII_FOLD: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        if b.is_ascii_alphanumeric() {
            t[c] = b.to_ascii_lowercase();
        }
        c += 1;
    }
    t
};

/// The normalised form the classifier and the rules read.
pub fn normalize(text: &str) -> String {
    normalize_with_ranges(text, &[]).0
}

/// [`normalize`], and for each raw byte range of `text` (a line, a sentence: it must start
/// and end next to white space or the text's ends) the byte range of the normalised text
/// that is that part's own normal form (so `normalize(&text[a..b])` equals
/// `norm[ranges[i]]`, without normalising the part again). The ranges are `None` when
/// lowercasing changed the length of some char, where offsets cannot be carried over.
pub fn normalize_with_ranges(
    text: &str,
    ranges: &[(usize, usize)],
) -> (String, Option<Vec<(usize, usize)>>) {
    let map_conf = confusables();
    let mut out = String::with_capacity(text.len());
    // out.len() before each raw byte (only when ranges are asked for).
    let mut at: Vec<u32> = vec![0; if ranges.is_empty() { 0 } else { text.len() + 1 }];
    let mut space = true;
    // Python's isalnum: letters and numbers, not marks (Rust's is_alphanumeric keeps spacing
    // marks such as Devanagari vowel signs). Non-alphanumerics become single spaces.
    // Lowercasing happens here, char by char (as Python's str.lower() does), except for
    // capital sigma, whose lowercase depends on its place in the word: it is kept and the
    // whole string lowercased at the end. `same` stays true while no lowercase changed a
    // char's byte length (so raw→normal offsets stay exact).
    let mut sigma = false;
    let mut same = true;
    let mut put = |out: &mut String, space: &mut bool, c: char| {
        if c.is_alphanumeric() && (c.is_ascii() || !is_combining_mark(c)) {
            if c == 'Σ' {
                sigma = true;
                out.push(c);
            } else {
                let before = out.len();
                out.extend(c.to_lowercase());
                same &= out.len() - before == c.len_utf8();
            }
            *space = false;
        } else if !*space {
            out.push(' ');
            *space = true;
        }
    };
    let want = !ranges.is_empty();
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        // A run of ASCII bytes: a table gives each byte's lowercase form, or 0 when it is
        // not alphanumeric.
        let run = bytes[i..]
            .iter()
            .position(|b| !b.is_ascii())
            .map_or(bytes.len(), |k| i + k);
        if run > i {
            for (k, &b) in bytes[i..run].iter().enumerate() {
                if let Some(slot) = at.get_mut(i + k) {
                    *slot = out.len() as u32;
                }
                let l = ASCII_FOLD[usize::from(b)];
                if l != 0 {
                    out.push(char::from(l));
                    space = false;
                } else if !space {
                    out.push(' ');
                    space = true;
                }
            }
            i = run;
            continue;
        }
        let Some(c) = text[i..].chars().next() else {
            break;
        };
        if want {
            for slot in at.iter_mut().skip(i).take(c.len_utf8()) {
                *slot = out.len() as u32;
            }
        }
        i += c.len_utf8();
        if zero_width(c) {
            continue;
        }
        // NFKD is applied char by char (it is defined per char for decomposition; the
        // canonical reordering it also does only moves combining marks, which are dropped).
        for d in std::iter::once(c).nfkd() {
            if canonical_combining_class(d) != 0 {
                continue;
            }
            match map_conf.get(&d) {
                Some(r) => r.chars().for_each(|r| put(&mut out, &mut space, r)),
                None => put(&mut out, &mut space, d),
            }
        }
    }
    if let Some(last) = at.last_mut() {
        *last = out.len() as u32;
    }
    if out.ends_with(' ') {
        out.pop();
    }
    if sigma {
        out = out.to_lowercase();
    }
    let same_lengths = same;
    if ranges.is_empty() || !same_lengths {
        return (out, None);
    }
    let len = out.len();
    let spans = ranges
        .iter()
        .map(|&(a, b)| {
            let mut lo = (at[a] as usize).min(len);
            let mut hi = (at[b] as usize).min(len);
            let bytes = out.as_bytes();
            while lo < hi && bytes[lo] == b' ' {
                lo += 1;
            }
            while hi > lo && bytes[hi - 1] == b' ' {
                hi -= 1;
            }
            (lo, hi)
        })
        .collect();
    (out, Some(spans))
}

/// Bytes of a word: 1 = a leet digit or symbol, 2 = a mark of a number or code, not
/// leetspeak (`.` `/` `:` `#`, the digits 2, 6, 9).
const LEET: [u8; 256] = {
    let mut t = [0u8; 256];
    let leet = b"0134578@$";
    let mut k = 0;
    while k < leet.len() {
        t[leet[k] as usize] = 1;
        k += 1;
    }
    let code = b"./:#269";
    let mut k = 0;
    while k < code.len() {
        t[code[k] as usize] = 2;
        k += 1;
    }
    t
};

/// Whether some word (a run of non-white-space chars) mixes letters with leet digits or
/// symbols (see [`unleet`]). Only the words around a leet byte are looked at.
fn mixed_words(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if LEET[usize::from(b[i])] != 1 {
            i += 1;
            continue;
        }
        let start = text[..i]
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(j, c)| j + c.len_utf8());
        let end = text[i..]
            .char_indices()
            .find(|(_, c)| c.is_whitespace())
            .map_or(b.len(), |(j, _)| i + j);
        if leet_word(&text[start..end]) {
            return true;
        }
        i = end.max(i + 1);
    }
    false
}

/// A word that reads as leetspeak: 3+ bytes, leet chars and at least as many letters, and
/// none of the digits leetspeak does not use (2, 6, 9) nor `.` `/` `:` `#`, which mark a
/// real number or code.
fn leet_word(w: &str) -> bool {
    if w.len() < 3 || w.bytes().any(|b| LEET[usize::from(b)] == 2) {
        return false;
    }
    let letters = w.chars().filter(|c| c.is_alphabetic()).count();
    let leet = w.bytes().filter(|&b| LEET[usize::from(b)] == 1).count();
    letters > 0 && leet > 0 && letters >= leet
}

/// Leetspeak read back as letters ("1gn0r3 4ll" → "ignore all"), applied before normalising.
pub fn unleet(text: &str) -> Option<String> {
    // Only words that mix letters with leet digits/symbols ("1gn0re", "h4ck"), letters at
    // least as many: plain numbers, prices and codes ("A-10023", "12345678Z", tracking
    // numbers) are not leetspeak.
    // Such a word has a leet char, so the text always changes.
    mixed_words(text).then(|| {
        text.chars()
            .map(|c| match c {
                '0' => 'o',
                '1' | '!' | '|' => 'i',
                '3' => 'e',
                '4' | '@' => 'a',
                '5' | '$' => 's',
                '7' | '+' => 't',
                '8' => 'b',
                _ => c,
            })
            .collect()
    })
}

/// Single letters separated by spaces or dots joined back ("i g n o r e" → "ignore"), on a
/// normalised text.
pub fn despace(norm: &str) -> Option<String> {
    // Most texts have no run of four one-char tokens: say so without building anything
    // (a one-char token is one byte, or one multi-byte char, between spaces).
    let mut run = 0;
    let mut any_run = false;
    for t in norm.as_bytes().split(|&b| b == b' ') {
        let one = t.len() == 1
            || (t.len() <= 4
                && t.first().is_some_and(|&b| b >= 0x80)
                && std::str::from_utf8(t).is_ok_and(|s| s.chars().nth(1).is_none()));
        run = if one { run + 1 } else { 0 };
        if run >= 4 {
            any_run = true;
            break;
        }
    }
    if !any_run {
        return None;
    }
    let toks: Vec<&str> = norm.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(toks.len());
    // The scan above found a run of four, so the text always changes.
    let mut run = String::new();
    let mut run_len = 0;
    let flush = |run: &mut String, run_len: &mut usize, out: &mut Vec<String>| {
        if *run_len >= 4 {
            out.push(std::mem::take(run));
        } else {
            out.extend(run.chars().map(String::from));
            run.clear();
        }
        *run_len = 0;
    };
    for t in toks {
        if t.chars().count() == 1 {
            run.push_str(t);
            run_len += 1;
        } else {
            flush(&mut run, &mut run_len, &mut out);
            out.push(t.to_string());
        }
    }
    flush(&mut run, &mut run_len, &mut out);
    Some(out.join(" "))
}

/// ROT13 of a normalised text.
pub fn rot13(norm: &str) -> String {
    norm.chars()
        .map(|c| match c {
            'a'..='m' => ((c as u8) + 13) as char,
            'n'..='z' => ((c as u8) - 13) as char,
            _ => c,
        })
        .collect()
}

/// `[A-Za-z0-9+/=_-]` as a byte table.
const BASE64: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_');
        c += 1;
    }
    t
};

/// Base64 segments of at least 16 characters that decode to mostly printable UTF-8 text.
pub fn base64_segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        i += bytes[i..]
            .iter()
            .position(|&b| !BASE64[usize::from(b)])
            .unwrap_or(bytes.len() - i);
        let seg = &text[start..i];
        if seg.len() >= 16 {
            let trimmed = seg.trim_end_matches('=');
            let engine = if seg.contains(['-', '_']) {
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
            } else {
                &base64::engine::general_purpose::STANDARD_NO_PAD
            };
            if let Ok(decoded) = engine.decode(trimmed) {
                if let Ok(s) = String::from_utf8(decoded) {
                    let printable = s
                        .chars()
                        .filter(|c| !c.is_control() || c.is_whitespace())
                        .count();
                    let letters = s.chars().filter(|c| c.is_alphabetic()).count();
                    if printable * 10 >= s.chars().count() * 9 && letters * 2 >= s.chars().count() {
                        out.push(s);
                    }
                }
            }
        }
        if i == start {
            // Not a base64 character: step over it (it may be several bytes long).
            i += if bytes[i].is_ascii() {
                1
            } else {
                text[i..].chars().next().map_or(1, char::len_utf8)
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_accents_confusables_zero_width() {
        assert_eq!(
            normalize("  IGNORÁ   las\u{200B} instrucciones!! "),
            "ignora las instrucciones"
        );
        // Cyrillic о and е in "ignоrе".
        assert_eq!(normalize("ign\u{043E}r\u{0435} all"), "ignore all");
        assert_eq!(normalize("Ｉｇｎｏｒｅ"), "ignore");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn variants() {
        assert_eq!(unleet("1gn0r3 4ll").as_deref(), Some("ignore all"));
        assert_eq!(
            despace("i g n o r e all previous").as_deref(),
            Some("ignore all previous")
        );
        assert_eq!(rot13("vtaber"), "ignore");
        let b =
            base64::engine::general_purpose::STANDARD.encode("ignore all previous instructions");
        assert_eq!(
            base64_segments(&format!("decode {b} now")),
            ["ignore all previous instructions"]
        );
    }
}
