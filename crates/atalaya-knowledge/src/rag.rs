//! Grounded answers: the prompt with numbered sources, citations parsed out of the model's
//! answer, the support check that flags claims the sources do not back, and the extractive
//! answer used when no generative model is configured. Pure functions over retrieved hits;
//! the service crate wires them to retrieval and the gateway.

use std::collections::HashSet;

use crate::{sentences, service::Hit};

/// Instructions of the answering model. Sources follow, numbered from 1.
const INSTRUCTIONS: &str = "You are a support assistant. Answer the question using only the numbered sources below. \
After every sentence, cite the sources it comes from by number in square brackets, e.g. [1] or [2][3]. \
If the sources do not contain the answer, say that you do not know; never invent facts. \
Answer in the language of the question.";

/// The system message: instructions, then each source with its title and heading path.
pub fn sources_prompt(hits: &[Hit]) -> String {
    let mut out = String::from(INSTRUCTIONS);
    out.push_str(&sources_block(hits));
    out
}

/// `Sources:` and each hit numbered from 1, with its title, heading path and source.
pub fn sources_block(hits: &[Hit]) -> String {
    let mut out = String::from("\n\nSources:\n");
    for (i, h) in hits.iter().enumerate() {
        let mut where_ = Vec::new();
        if let Some(t) = &h.chunk.title {
            where_.push(t.as_str());
        }
        for p in &h.chunk.heading_path {
            if Some(p.as_str()) != h.chunk.title.as_deref() {
                where_.push(p.as_str());
            }
        }
        out.push_str(&format!(
            "\n[{}] {} ({})\n{}\n",
            i + 1,
            where_.join(" > "),
            h.chunk.source,
            h.chunk.text.trim()
        ));
    }
    out
}

/// The citation marker at the start of `s` (`[1]`, `[2, 3]`, `[4; 5]`): its numbers and its
/// length in bytes. Anything else in brackets (`[note]`, `[]`) is not a marker.
fn marker(s: &str) -> Option<(Vec<usize>, usize)> {
    let inner = s.strip_prefix('[')?;
    let close = inner.find(']')?;
    let nums: Vec<usize> = inner[..close]
        .split([',', ';'])
        .map(|p| p.trim().parse::<usize>().ok())
        .collect::<Option<_>>()?;
    Some((nums, close + 2))
}

/// `text` split into plain runs and citation markers, in order.
fn markers(text: &str, mut each: impl FnMut(&str, Option<Vec<usize>>)) {
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        match marker(&rest[open..]) {
            Some((nums, len)) => {
                each(&rest[..open], Some(nums));
                rest = &rest[open + len..];
            }
            None => {
                each(&rest[..=open], None);
                rest = &rest[open + 1..];
            }
        }
    }
    each(rest, None);
}

/// The source numbers cited in `text` (`[1]`, `[2, 3]`, `[1][4]`), in order of first
/// appearance, without repeats.
pub fn cited(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    markers(text, |_, nums| {
        for n in nums.into_iter().flatten() {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    });
    out
}

/// `text` without its citation markers.
fn strip_citations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    markers(text, |plain, _| out.push_str(plain));
    for p in [".", ",", ";", ":", "!", "?"] {
        out = out.replace(&format!(" {p}"), p);
    }
    out
}

/// Frequent function words of English, Spanish and Portuguese: they say nothing about whether
/// a source supports a claim.
const STOPWORDS: &[&str] = &[
    "the", "and", "for", "are", "you", "your", "can", "with", "that", "this", "from", "have",
    "has", "not", "but", "was", "were", "will", "its", "into", "than", "then", "also", "our",
    "los", "las", "del", "con", "por", "para", "una", "uno", "que", "sus", "como", "más", "mas",
    "son", "está", "esta", "este", "puede", "usted", "dos", "das", "nos", "nas", "com", "uma",
    "não", "sua", "seu", "pode", "você", "são", "pelo", "pela", "ser", "all", "any",
];

fn content_words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// Why a sentence of an answer is not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    /// It cites nothing.
    NoCitation,
    /// It cites a number no source has.
    UnknownSource,
    /// The sources it cites do not contain what it says.
    NotInSources,
}

impl Unsupported {
    pub fn as_str(self) -> &'static str {
        match self {
            Unsupported::NoCitation => "no_citation",
            Unsupported::UnknownSource => "unknown_source",
            Unsupported::NotInSources => "not_in_sources",
        }
    }
}

/// A sentence of the answer to check, with what it cites.
#[derive(Debug, Clone)]
pub struct Claim {
    pub text: String,
    pub cites: Vec<usize>,
    words: HashSet<String>,
}

/// The answer's claims: its sentences with at least three content words (greetings and
/// one-word lines are not claims). A sentence's citations are the markers inside it or
/// right after it (before the next sentence).
pub fn claims(answer: &str) -> Vec<Claim> {
    let mut out = Vec::new();
    for (s, e) in sentences::split(answer) {
        let raw = &answer[s..e];
        // Markers before the sentence's first word ("…days. [1] Thanks!") close the previous
        // sentence.
        let lead = leading_markers(raw);
        let (leading, body) = raw.split_at(lead);
        if let Some(last) = out.last_mut() {
            let last: &mut Claim = last;
            for n in cited(leading) {
                if !last.cites.contains(&n) {
                    last.cites.push(n);
                }
            }
        }
        let text = strip_citations(body).trim().to_owned();
        let words = content_words(&text);
        if words.len() < 3 {
            continue;
        }
        out.push(Claim {
            text,
            cites: cited(body),
            words,
        });
    }
    out
}

/// The length of the citation markers (and whitespace) that start `text`.
fn leading_markers(text: &str) -> usize {
    let mut at = 0;
    loop {
        let rest = &text[at..];
        at += rest.len() - rest.trim_start().len();
        match marker(&text[at..]) {
            Some((_, len)) => at += len,
            None => return at,
        }
    }
}

/// The numbers written in `text` ("24", "5,99", "15").
fn numbers(text: &str) -> HashSet<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
        .map(|t| t.trim_matches([',', '.']))
        .filter(|t| t.chars().any(|c| c.is_ascii_digit()))
        .map(str::to_owned)
        .collect()
}

/// Share of a claim's content words found in a source: the lexical support measure.
pub fn containment(claim: &Claim, source: &str) -> f32 {
    if claim.words.is_empty() {
        return 1.0;
    }
    let src = content_words(source);
    let found = claim.words.iter().filter(|w| src.contains(*w)).count();
    found as f32 / claim.words.len() as f32
}

/// A claim is supported when it cites a source that contains at least this share of its
/// content words…
pub const MIN_CONTAINMENT: f32 = 0.5;
/// …or whose embedding is at least this close to the claim's (a paraphrase).
pub const MIN_COSINE: f32 = 0.75;

/// Checks a claim against the sources it cites. `similarity(i)` is the cosine between the
/// claim and source `i` (0-based), when embeddings are available.
pub fn check(
    claim: &Claim,
    hits: &[Hit],
    similarity: &dyn Fn(usize) -> Option<f32>,
) -> Option<Unsupported> {
    if claim.cites.is_empty() {
        return Some(Unsupported::NoCitation);
    }
    let valid: Vec<usize> = claim
        .cites
        .iter()
        .filter(|&&n| n >= 1 && n <= hits.len())
        .map(|n| n - 1)
        .collect();
    if valid.is_empty() {
        return Some(Unsupported::UnknownSource);
    }
    // Numbers are where a fluent answer most easily goes wrong ("48 hours" for "24 hours"):
    // each one the claim states must appear in the source that supports it.
    let supported = valid.iter().any(|&i| {
        let text = &hits[i].chunk.text;
        let numbers_ok = numbers(&claim.text).is_subset(&numbers(text));
        numbers_ok
            && (containment(claim, text) >= MIN_CONTAINMENT
                || similarity(i).is_some_and(|c| c >= MIN_COSINE))
    });
    if supported {
        None
    } else {
        Some(Unsupported::NotInSources)
    }
}

/// An extractive answer: up to `max` sentences of the sources, the most similar to the query
/// first, each followed by its source number. `score(i, sentence)` rates a sentence of source
/// `i` (0-based). Sentences rated below `min_score` are left out; nothing is generated.
pub fn extractive(
    hits: &[Hit],
    max: usize,
    min_score: f32,
    score: &dyn Fn(usize, &str) -> f32,
) -> (String, Vec<usize>) {
    let mut scored: Vec<(f32, usize, String)> = Vec::new();
    for (i, h) in hits.iter().enumerate() {
        for (s, e) in sentences::split(&h.chunk.text) {
            let sentence = h.chunk.text[s..e].trim();
            if content_words(sentence).len() < 3 {
                continue;
            }
            scored.push((score(i, sentence), i, sentence.to_owned()));
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut seen = HashSet::new();
    let mut parts = Vec::new();
    let mut used = Vec::new();
    for (s, i, sentence) in scored {
        if parts.len() >= max || s < min_score {
            break;
        }
        if !seen.insert(sentence.clone()) {
            continue;
        }
        // One line per sentence, so a list item's text stays readable.
        let clean = sentence.trim_start_matches(['-', '*', '•', ' ']).trim();
        parts.push(format!("{clean} [{}]", i + 1));
        if !used.contains(&(i + 1)) {
            used.push(i + 1);
        }
    }
    (parts.join("\n"), used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ChunkView;

    fn hit(text: &str) -> Hit {
        Hit {
            similarity: None,
            score: 1.0,
            chunk: ChunkView {
                id: 1,
                document_id: 1,
                source: "a.md".into(),
                title: Some("Billing".into()),
                seq: 0,
                start: 0,
                end: text.chars().count() as i64,
                page: None,
                heading_path: vec!["Billing".into(), "Refunds".into()],
                text: text.into(),
                meta: Default::default(),
            },
        }
    }

    #[test]
    fn citations_are_parsed_in_order_without_repeats() {
        assert_eq!(
            cited("a [2] b [1, 3] c [2][4] [x] [] [10]"),
            vec![2, 1, 3, 4, 10]
        );
        assert_eq!(
            strip_citations("Refunds take 5 days [1][2]. See [note]."),
            "Refunds take 5 days. See [note]."
        );
    }

    #[test]
    fn unsupported_claims_are_flagged_with_a_reason() {
        let hits = [hit(
            "Refunds are paid within five business days to the original card.",
        )];
        let none = |_: usize| None;
        let c = claims("Refunds are paid within five business days [1]. Refunds include a free gift voucher [1]. Refunds arrive by pigeon. Done [7].");
        assert_eq!(c.len(), 3, "{c:?}");
        assert_eq!(check(&c[0], &hits, &none), None);
        assert_eq!(check(&c[1], &hits, &none), Some(Unsupported::NotInSources));
        assert_eq!(check(&c[2], &hits, &none), Some(Unsupported::NoCitation));
        // A changed number is not supported, however many words match.
        let hits2 = [hit("We send a reset link valid for 24 hours.")];
        let c = claims("We send a reset link valid for 48 hours [1].");
        assert_eq!(
            check(&c[0], &hits2, &|_| Some(0.95)),
            Some(Unsupported::NotInSources)
        );
        let c = claims("The reset link is valid for 24 hours [1].");
        assert_eq!(check(&c[0], &hits2, &none), None);
        let c = claims("Refunds are paid within five days [9].");
        assert_eq!(check(&c[0], &hits, &none), Some(Unsupported::UnknownSource));
        // A paraphrase the embedding recognises is supported.
        let c = claims("Money goes back onto your card in under a week [1].");
        assert_eq!(check(&c[0], &hits, &none), Some(Unsupported::NotInSources));
        assert_eq!(check(&c[0], &hits, &|_| Some(0.8)), None);
    }

    #[test]
    fn a_citation_split_off_joins_its_sentence() {
        let c = claims("Refunds are paid within five business days. [1] Thanks!");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].cites, vec![1]);
    }

    #[test]
    fn extractive_answers_quote_and_cite_the_best_sentences() {
        let hits = [
            hit("Invoices are emailed monthly. Refunds are paid within five business days."),
            hit("Our office dog is called Rex. Refund requests need the order number."),
        ];
        let score = |_: usize, s: &str| if s.contains("Refund") { 0.9 } else { 0.1 };
        let (answer, used) = extractive(&hits, 3, 0.3, &score);
        assert_eq!(
            answer,
            "Refunds are paid within five business days. [1]\nRefund requests need the order number. [2]"
        );
        assert_eq!(used, vec![1, 2]);
        // Nothing relevant enough: no answer rather than an invented one.
        let (answer, used) = extractive(&hits, 3, 0.95, &score);
        assert!(answer.is_empty() && used.is_empty());
        assert!(sources_prompt(&hits).contains("[2] Billing > Refunds (a.md)\nOur office dog"));
    }
}
