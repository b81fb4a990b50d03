//! Reversible pseudonymization. A [`Vault`] lives for one request: it gives each distinct value
//! a typed placeholder (`[EMAIL_1]`, `[PERSON_2]`; the same value always the same placeholder),
//! and restores placeholders in the model's answer. Placeholders never collide with text the
//! client sent: a number whose placeholder already appears in the input is skipped.
//! [`StreamRestorer`] restores a streamed answer whose placeholders may be split across chunks.

use std::collections::HashMap;

use crate::{
    pii::{EntityType, Finding},
    policy::{Action, Policy},
    GuardError,
};

/// The longest placeholder: `[` + type (≤ 11) + `_` + number (≤ 10 digits) + `]`.
const MAX_PLACEHOLDER: usize = 24;

#[derive(Debug, Default, Clone)]
pub struct Vault {
    forward: HashMap<(EntityType, String), String>,
    back: HashMap<String, String>,
    next: HashMap<EntityType, u32>,
}

/// One replacement made in a text (for reports; the value itself is not kept here).
#[derive(Debug, Clone, PartialEq)]
pub struct Replacement {
    pub kind: EntityType,
    pub action: Action,
    /// Byte span in the original text.
    pub start: usize,
    pub end: usize,
}

impl Vault {
    pub fn new() -> Self {
        Vault::default()
    }

    /// The placeholder of `value`, made on first use. `inputs` are the texts of the request,
    /// whose literal contents a new placeholder must not equal.
    pub fn placeholder(&mut self, kind: EntityType, value: &str, inputs: &[&str]) -> String {
        if let Some(p) = self.forward.get(&(kind, value.to_string())) {
            return p.clone();
        }
        let n = self.next.entry(kind).or_insert(0);
        let p = loop {
            *n += 1;
            let p = format!("[{}_{}]", kind.as_str(), n);
            if !inputs.iter().any(|t| t.contains(&p)) {
                break p;
            }
        };
        self.forward.insert((kind, value.to_string()), p.clone());
        self.back.insert(p.clone(), value.to_string());
        p
    }

    /// Replaces every known placeholder in `text` by its value.
    pub fn restore(&self, text: &str) -> String {
        if self.back.is_empty() || !text.contains('[') {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find('[') {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            match placeholder_len(tail).and_then(|l| self.back.get(&tail[..l]).map(|v| (l, v))) {
                Some((l, v)) => {
                    out.push_str(v);
                    rest = &tail[l..];
                }
                None => {
                    out.push('[');
                    rest = &tail[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// Length of a well-formed placeholder at the start of `s` (`[TYPE_N]`).
fn placeholder_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let close = b.iter().take(MAX_PLACEHOLDER).position(|&c| c == b']')?;
    let inner = &s[1..close];
    let (kind, num) = inner.rsplit_once('_')?;
    let ok = !kind.is_empty()
        && kind.bytes().all(|c| c.is_ascii_uppercase() || c == b'_')
        && !num.is_empty()
        && num.bytes().all(|c| c.is_ascii_digit());
    ok.then_some(close + 1)
}

/// Could `s` (starting with `[`, no `]`) still grow into a placeholder?
fn placeholder_prefix(s: &str) -> bool {
    s.len() < MAX_PLACEHOLDER
        && s[1..]
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c == b'_' || c.is_ascii_digit())
}

/// Applies a policy to the findings of one text: placeholders, masks, or a block error.
/// `inputs` are all texts of the request (for placeholder collisions).
pub fn redact(
    text: &str,
    findings: &[Finding],
    policy: &Policy,
    vault: &mut Vault,
    inputs: &[&str],
) -> Result<(String, Vec<Replacement>), GuardError> {
    let mut out = String::with_capacity(text.len());
    let mut reps = Vec::new();
    let mut at = 0;
    for f in findings {
        if f.score < policy.pii.min_score || f.start < at {
            continue;
        }
        let action = policy.action(f.kind);
        let value = &text[f.start..f.end];
        let replacement = match action {
            Action::Allow => continue,
            Action::Block => return Err(GuardError::BlockedEntity(f.kind)),
            Action::Mask => f.kind.mask(),
            Action::Pseudonymize => vault.placeholder(f.kind, value, inputs),
        };
        out.push_str(&text[at..f.start]);
        out.push_str(&replacement);
        at = f.end;
        reps.push(Replacement {
            kind: f.kind,
            action,
            start: f.start,
            end: f.end,
        });
    }
    out.push_str(&text[at..]);
    Ok((out, reps))
}

/// Restores placeholders in a streamed answer. Text that could be the start of a placeholder
/// (`[EMA`) is held back until the next chunk shows whether it is one.
#[derive(Debug, Default)]
pub struct StreamRestorer {
    pending: String,
}

impl StreamRestorer {
    pub fn new() -> Self {
        StreamRestorer::default()
    }

    /// Takes a chunk, returns what can be shown now.
    pub fn push(&mut self, vault: &Vault, chunk: &str) -> String {
        self.pending.push_str(chunk);
        let cut = match self.pending.rfind('[') {
            Some(i) if placeholder_prefix(&self.pending[i..]) => i,
            _ => self.pending.len(),
        };
        let ready: String = self.pending.drain(..cut).collect();
        vault.restore(&ready)
    }

    /// The held-back rest, at the end of the stream.
    pub fn finish(&mut self, vault: &Vault) -> String {
        let rest = std::mem::take(&mut self.pending);
        vault.restore(&rest)
    }

    pub fn holding(&self) -> bool {
        !self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pii::PiiDetector;

    #[test]
    fn same_value_same_placeholder_and_no_collision_with_input() {
        let mut v = Vault::new();
        let input = "I wrote [EMAIL_1] literally";
        assert_eq!(
            v.placeholder(EntityType::Email, "a@b.co", &[input]),
            "[EMAIL_2]"
        );
        assert_eq!(
            v.placeholder(EntityType::Email, "a@b.co", &[input]),
            "[EMAIL_2]"
        );
        assert_eq!(
            v.placeholder(EntityType::Email, "c@d.co", &[input]),
            "[EMAIL_3]"
        );
        assert_eq!(
            v.restore("to [EMAIL_2] and [EMAIL_1]"),
            "to a@b.co and [EMAIL_1]"
        );
    }

    #[test]
    fn redact_and_restore() {
        let d = PiiDetector::new().unwrap_or_else(|e| unreachable!("{e}"));
        let text = "Soy Ana Beltrán, mi correo es ana@example.es y mi DNI 12345678Z";
        let mut v = Vault::new();
        let (r, reps) = redact(text, &d.scan(text), &Policy::default(), &mut v, &[text])
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(
            !r.contains("ana@example.es") && !r.contains("12345678Z"),
            "{r}"
        );
        assert!(reps.len() >= 2);
        assert_eq!(v.restore(&r), text);
    }

    #[test]
    fn block_names_type_not_value() {
        let d = PiiDetector::new().unwrap_or_else(|e| unreachable!("{e}"));
        let mut p = Policy::default();
        p.pii.entities.insert("CREDIT_CARD".into(), Action::Block);
        let text = "card 4111 1111 1111 1111";
        let e = redact(text, &d.scan(text), &p, &mut Vault::new(), &[text])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("CREDIT_CARD") && !e.contains("4111"), "{e}");
    }

    #[test]
    fn streamed_placeholders_split_across_chunks() {
        let mut v = Vault::new();
        let p = v.placeholder(EntityType::Email, "ana@example.es", &[]);
        assert_eq!(p, "[EMAIL_1]");
        let answer = "Escribiremos a [EMAIL_1] hoy [no es] [EMAIL_";
        for split in 0..=answer.len() {
            let mut r = StreamRestorer::new();
            let mut out = r.push(&v, &answer[..split]);
            out.push_str(&r.push(&v, &answer[split..]));
            out.push_str(&r.finish(&v));
            assert_eq!(out, v.restore(answer), "split at {split}");
        }
    }
}
