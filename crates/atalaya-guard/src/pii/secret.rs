//! Secrets: API keys and tokens by their known prefixes, private-key blocks, JWTs, and values
//! assigned to secret-like keys (`password=...`, `api_key: ...`) or standing alone when their
//! entropy says they are random.

use regex::Regex;
use regex_automata::{meta, Anchored, Input};

use super::{EntityType, Finding};
use crate::text::standalone;

pub(crate) struct Secrets {
    /// Every known prefix in one regex (one pass over the text)...
    any_known: Regex,
    /// ...and each alone, anchored, to name the match.
    known: Vec<(Regex, &'static str)>,
    /// `ASSIGNED`: searched anchored where a keyword starts, or over the whole text (see
    /// [`Secrets::scan_assigned`]).
    assigned: meta::Regex,
    pem: Regex,
}

const ASSIGNED: &str = r#"(?i)(?:api[_\- ]?key|apikey|secret(?:[_\- ]?key)?|access[_\- ]?token|auth[_\- ]?token|token|password|passwd|pwd|contraseña|contrasena|senha|clave|chave)["']?[ \t]*(?:[:=]| is | es | é )[ \t]*["']?([^\s"',;]{8,})"#;

/// A prefix of every alternative `ASSIGNED` starts with: each match starts where one of
/// these does.
const KEYWORDS: [&str; 11] = [
    "api", "secret", "access", "auth", "token", "pass", "pwd", "contrase", "senha", "clave",
    "chave",
];

/// Chars outside ASCII that Unicode simple case folding maps to a letter of `KEYWORDS` (KELVIN
/// SIGN ~ k, LATIN SMALL LETTER LONG S ~ s): `(?i)` matches them, an ASCII case-insensitive
/// keyword search would not.
const FOLDS_TO_ASCII: [char; 2] = ['\u{212A}', '\u{017F}'];

/// Longest text an `ASSIGNED` keyword alternative matches, in bytes (`access_token`).
const KEYWORD_MAX: usize = 12;

/// Where a separator of `ASSIGNED` starts (`:`, `=`, ` is `, ` es `, ` é `, any case), in
/// no particular order: the colons and equals signs, then the words found from their
/// `s`/`S` or the first byte of `é`/`É` (both rarer than the spaces around them).
fn separators(text: &str) -> impl Iterator<Item = usize> + '_ {
    let b = text.as_bytes();
    let signs = memchr::memchr2_iter(b':', b'=', b);
    let words = memchr::memchr3_iter(b's', b'S', 0xC3, b).filter_map(move |j| {
        if b[j] == 0xC3 {
            // ` é ` / ` É `: the separator starts at the space before.
            let ok = j >= 1
                && b[j - 1] == b' '
                && matches!(b.get(j + 1), Some(0xA9 | 0x89))
                && b.get(j + 2) == Some(&b' ');
            return ok.then(|| j - 1);
        }
        // ` is ` / ` es `, any case: the `s` is the separator's third byte.
        let ok = j >= 2
            && b[j - 2] == b' '
            && matches!(b[j - 1].to_ascii_lowercase(), b'i' | b'e')
            && b.get(j + 1) == Some(&b' ');
        ok.then(|| j - 2)
    });
    signs.chain(words)
}

/// Where a keyword of `ASSIGNED` may start: for each separator, the keywords (ASCII
/// case-insensitive) that end where the optional quote and blanks before the separator
/// begin. In order, without repeats.
fn keyword_starts(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let mut out: Vec<usize> = Vec::new();
    for q in separators(text) {
        // Back over `[ \t]*` and `["']?`.
        let mut r = q;
        while r > 0 && matches!(b[r - 1], b' ' | b'\t') {
            r -= 1;
        }
        // A keyword ends at `r`, or before a quote there: it starts in this window (a
        // superset; the anchored search decides).
        for i in r.saturating_sub(KEYWORD_MAX + 1)..r {
            if KEYWORDS.iter().any(|k| {
                b.get(i..i + k.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(k.as_bytes()))
            }) {
                out.push(i);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Shortest random-looking token [`Secrets::scan`] considers.
const STANDALONE_MIN: usize = 32;

/// `[A-Za-z0-9+/_\-]`, by byte.
static TOKEN_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-');
        i += 1;
    }
    t
};

/// The matches of `[A-Za-z0-9+/_\-]{32,}={0,2}` (leftmost, greedy), by hand: each maximal
/// run of token bytes 32 or more long, with up to two `=` after it. A run that long covers
/// the byte 31 past any of its first positions, so the search probes that byte and skips
/// 32 at a time when it cannot be in a run (as in Boyer-Moore).
fn standalone_tokens(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let tok = |i: usize| TOKEN_BYTE[b[i] as usize];
    let mut out = Vec::new();
    let mut i = 0;
    while i + STANDALONE_MIN <= b.len() {
        let probe = i + STANDALONE_MIN - 1;
        if !tok(probe) {
            i = probe + 1;
            continue;
        }
        // The run through `probe` starts after the last non-token byte before it.
        let mut start = probe;
        while start > i && tok(start - 1) {
            start -= 1;
        }
        if start > i {
            // `b[start - 1]` is not a token byte: no run reaches back before `start`.
            i = start;
            continue;
        }
        // `[i, probe]` are token bytes and `i` starts a run (it is 0, follows a non-token
        // byte, or follows a match whose next byte is not a token byte): find its end.
        let mut end = probe + 1;
        while end < b.len() && tok(end) {
            end += 1;
        }
        let run_end = end;
        while end < b.len() && end - run_end < 2 && b[end] == b'=' {
            end += 1;
        }
        out.push((i, end));
        i = end;
    }
    out
}

/// Shannon entropy in bits per char.
fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        counts[b as usize] += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

fn classes(s: &str) -> usize {
    [
        s.bytes().any(|b| b.is_ascii_lowercase()),
        s.bytes().any(|b| b.is_ascii_uppercase()),
        s.bytes().any(|b| b.is_ascii_digit()),
    ]
    .iter()
    .filter(|&&x| x)
    .count()
}

impl Secrets {
    pub(crate) fn new() -> Result<Self, regex::Error> {
        let known = [
            (
                r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
                "openai_key",
            ),
            (r"sk-ant-[A-Za-z0-9_\-]{20,}", "anthropic_key"),
            (r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}", "github_token"),
            (r"github_pat_[A-Za-z0-9_]{40,}", "github_token"),
            (r"glpat-[A-Za-z0-9_\-]{20,}", "gitlab_token"),
            (
                r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}",
                "aws_access_key",
            ),
            (r"xox[baprs]-[0-9A-Za-z\-]{10,}", "slack_token"),
            (
                r"https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}",
                "slack_webhook",
            ),
            (r"AIza[0-9A-Za-z_\-]{35}", "google_api_key"),
            (r"(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}", "stripe_key"),
            (r"hf_[A-Za-z0-9]{30,}", "huggingface_token"),
            (r"atl_[A-Za-z0-9_\-]{20,}", "atalaya_key"),
            (
                r"SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}",
                "sendgrid_key",
            ),
            (
                r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
                "jwt",
            ),
        ];
        let any_known = Regex::new(
            &known
                .iter()
                .map(|(p, _)| format!("(?:{p})"))
                .collect::<Vec<_>>()
                .join("|"),
        )?;
        let known = known
            .into_iter()
            .map(|(p, name)| Regex::new(&format!("^(?:{p})$")).map(|r| (r, name)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Secrets {
            any_known,
            known,
            assigned: meta::Regex::new(ASSIGNED)
                .map_err(|e| regex::Error::Syntax(e.to_string()))?,
            pem: Regex::new(
                r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z]+ )*PRIVATE KEY-----",
            )?,
        })
    }

    /// The secret value spans (group 1) of `ASSIGNED`'s matches, as `captures_iter` gives
    /// them, but searched only where a keyword starts: every match starts with one, so the
    /// leftmost match at or after a position is the first keyword start, in order, where an
    /// anchored search succeeds.
    fn scan_assigned(&self, text: &str) -> Vec<(usize, usize)> {
        if FOLDS_TO_ASCII.iter().any(|c| {
            let mut buf = [0u8; 4];
            memchr::memmem::find(text.as_bytes(), c.encode_utf8(&mut buf).as_bytes()).is_some()
        }) {
            return self
                .assigned
                .captures_iter(text)
                .filter_map(|c| c.get_group(1).map(|v| (v.start, v.end)))
                .collect();
        }
        let mut caps = self.assigned.create_captures();
        let mut out = Vec::new();
        let mut from = 0;
        for s in keyword_starts(text) {
            if s < from {
                continue;
            }
            let input = Input::new(text).range(s..).anchored(Anchored::Yes);
            self.assigned.search_captures(&input, &mut caps);
            if let (Some(m), Some(v)) = (caps.get_match(), caps.get_group(1)) {
                out.push((v.start, v.end));
                from = m.end();
            }
        }
        out
    }

    pub(crate) fn scan(&self, text: &str, out: &mut Vec<Finding>) {
        if text.contains("-----BEGIN") {
            for m in self.pem.find_iter(text) {
                out.push(Finding::new(
                    EntityType::Secret,
                    m.start(),
                    m.end(),
                    0.99,
                    "private_key",
                ));
            }
        }
        for m in self.any_known.find_iter(text) {
            if standalone(text, m.start(), m.end()) {
                let name = self
                    .known
                    .iter()
                    .find(|(re, _)| re.is_match(m.as_str()))
                    .map_or("api_key", |(_, n)| n);
                out.push(Finding::new(
                    EntityType::Secret,
                    m.start(),
                    m.end(),
                    0.98,
                    name,
                ));
            }
        }
        for (vs, ve) in self.scan_assigned(text) {
            let val = &text[vs..ve];
            // A real secret is not a word: mixed classes or high entropy.
            if (classes(val) >= 2 && entropy(val) >= 2.5) || entropy(val) >= 3.5 {
                out.push(Finding::new(
                    EntityType::Secret,
                    vs,
                    ve,
                    0.85,
                    "assigned_secret",
                ));
            }
        }
        for (ms, me) in standalone_tokens(text) {
            let s = &text[ms..me];
            if !standalone(text, ms, me) {
                continue;
            }
            // Random tokens: all three classes and ≥ 4.3 bits per char (hex digests and UUIDs,
            // lowercase only, stay below).
            if classes(s) == 3 && entropy(s) >= 4.3 {
                out.push(Finding::new(
                    EntityType::Secret,
                    ms,
                    me,
                    0.7,
                    "high_entropy",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9+/_=-]{1,40}",
            "[ \t\n:=,;'\"]{1,3}",
            Just("password".to_string()),
            Just("API_KEY".to_string()),
            Just("secretoken".to_string()),
            Just("Contraseña".to_string()),
            Just("CONTRASEÑA".to_string()),
            Just(" es ".to_string()),
            Just(" é ".to_string()),
            Just(" É ".to_string()),
            Just(" IS ".to_string()),
            Just("\"  \t".to_string()),
            Just("access token".to_string()),
            Just("'".to_string()),
            Just(" is ".to_string()),
            Just("senha".to_string()),
            Just("\u{212A}ey".to_string()),
            Just("ſecret".to_string()),
            "[ñéçã😀]",
        ]
    }

    static SECRETS: std::sync::LazyLock<Secrets> =
        std::sync::LazyLock::new(|| Secrets::new().unwrap_or_else(|e| unreachable!("{e}")));
    /// The oracles: the regexes the fast paths stand for.
    static ASSIGNED_RE: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(ASSIGNED).unwrap_or_else(|e| unreachable!("{e}")));
    static TOKENS: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"[A-Za-z0-9+/_\-]{32,}={0,2}").unwrap_or_else(|e| unreachable!("{e}"))
    });

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The keyword-anchored search and the hand-written token scan find exactly what
        /// the regexes find.
        #[test]
        fn fast_paths_equal_the_regexes(parts in prop::collection::vec(piece(), 0..24)) {
            let text = parts.concat();
            let s = &*SECRETS;
            let want: Vec<(usize, usize)> = ASSIGNED_RE
                .captures_iter(&text)
                .filter_map(|c| c.get(1).map(|v| (v.start(), v.end())))
                .collect();
            prop_assert_eq!(s.scan_assigned(&text), want);
            let want: Vec<(usize, usize)> = TOKENS.find_iter(&text).map(|m| (m.start(), m.end())).collect();
            prop_assert_eq!(standalone_tokens(&text), want);
        }
    }

    #[test]
    fn assigned_values_are_found_after_every_keyword() {
        let s = Secrets::new().unwrap_or_else(|e| unreachable!("{e}"));
        let text = "x secretoken=abcdefgh12 and Contraseña: Xy7#pq9!zz, API-KEY is k3yk3yk3y";
        let found: Vec<&str> = s
            .scan_assigned(text)
            .into_iter()
            .map(|(a, b)| &text[a..b])
            .collect();
        assert_eq!(found, ["abcdefgh12", "Xy7#pq9!zz", "k3yk3yk3y"]);
    }
}
