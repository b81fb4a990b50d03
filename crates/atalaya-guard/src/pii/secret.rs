//! Secrets: API keys and tokens by their known prefixes, private-key blocks, JWTs, and values
//! assigned to secret-like keys (`password=...`, `api_key: ...`) or standing alone when their
//! entropy says they are random.

use regex::Regex;

use super::{EntityType, Finding};
use crate::text::standalone;

pub(crate) struct Secrets {
    /// Every known prefix in one regex (one pass over the text)...
    any_known: Regex,
    /// ...and each alone, anchored, to name the match.
    known: Vec<(Regex, &'static str)>,
    assigned: Regex,
    standalone: Regex,
    pem: Regex,
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
            assigned: Regex::new(
                r#"(?i)(?:api[_\- ]?key|apikey|secret(?:[_\- ]?key)?|access[_\- ]?token|auth[_\- ]?token|token|password|passwd|pwd|contraseña|contrasena|senha|clave|chave)["']?[ \t]*(?:[:=]| is | es | é )[ \t]*["']?([^\s"',;]{8,})"#,
            )?,
            standalone: Regex::new(r"[A-Za-z0-9+/_\-]{32,}={0,2}")?,
            pem: Regex::new(
                r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z]+ )*PRIVATE KEY-----",
            )?,
        })
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
        for c in self.assigned.captures_iter(text) {
            let Some(v) = c.get(1) else { continue };
            let val = v.as_str();
            // A real secret is not a word: mixed classes or high entropy.
            if (classes(val) >= 2 && entropy(val) >= 2.5) || entropy(val) >= 3.5 {
                out.push(Finding::new(
                    EntityType::Secret,
                    v.start(),
                    v.end(),
                    0.85,
                    "assigned_secret",
                ));
            }
        }
        for m in self.standalone.find_iter(text) {
            let s = m.as_str();
            if !standalone(text, m.start(), m.end()) {
                continue;
            }
            // Random tokens: all three classes and ≥ 4.3 bits per char (hex digests and UUIDs,
            // lowercase only, stay below).
            if classes(s) == 3 && entropy(s) >= 4.3 {
                out.push(Finding::new(
                    EntityType::Secret,
                    m.start(),
                    m.end(),
                    0.7,
                    "high_entropy",
                ));
            }
        }
    }
}
