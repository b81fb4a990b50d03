//! `retrieve`: passages of a knowledge collection.

use std::sync::Arc;

use atalaya_knowledge::{
    index::{Filter, Lang},
    query,
    service::{fuse, Hit, Mode, SearchParams, RELEVANCE_FLOOR},
};
use serde::Deserialize;
use serde_json::json;

use super::{input_text, Check};
use crate::{
    confidence,
    host::{Host, HostError},
    state::{Outcome, State},
    PipelineError,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrieveStep {
    /// A template: the collection may depend on the tenant or the intent.
    pub collection: String,
    #[serde(default = "input_text")]
    pub query: String,
    #[serde(default = "five")]
    pub k: usize,
    /// `hybrid`, `dense` or `bm25`.
    #[serde(default = "hybrid")]
    pub mode: String,
    #[serde(default = "one_f32")]
    pub dense_weight: f32,
    #[serde(default = "one_f32")]
    pub bm25_weight: f32,
    /// Passages with one of these tags only.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Passages in these languages only (templates, e.g. `"{{ language.language }}"`).
    #[serde(default)]
    pub languages: Vec<String>,
    /// The customer's language (a template, e.g. `"{{ language.language }}"`): passages in it
    /// first, other languages only when none in it is relevant. Empty = no preference.
    #[serde(default)]
    pub prefer_language: Option<String>,
    /// With `prefer_language`: the cosine similarity under which passages in the customer's
    /// language count as not relevant (default 0.3).
    #[serde(default)]
    pub relevance_floor: Option<f32>,
    /// Search with the part of the query that carries the question: without greetings,
    /// sign-offs and signatures, reply prefixes, e-mails, URLs, placeholders and long numbers
    /// (for customers' messages; see `atalaya_knowledge::query::focus`).
    #[serde(default)]
    pub focus: bool,
    /// A missing collection gives no passages instead of an error.
    #[serde(default)]
    pub optional: bool,
}

fn five() -> usize {
    5
}
fn hybrid() -> String {
    "hybrid".into()
}
fn one_f32() -> f32 {
    1.0
}

impl RetrieveStep {
    pub(crate) fn check(&self, c: &Check<'_>) -> Result<(), String> {
        c.template("collection", &self.collection)?;
        c.template("query", &self.query)?;
        for l in &self.languages {
            c.template("languages", l)?;
        }
        if let Some(l) = &self.prefer_language {
            c.template("prefer_language", l)?;
        }
        if let Some(f) = self.relevance_floor {
            if !(0.0..=1.0).contains(&f) {
                return Err(c.err("relevance_floor", format!("must be 0 to 1, got {f}")));
            }
        }
        if !(1..=50).contains(&self.k) {
            return Err(c.err("k", format!("must be 1 to 50, got {}", self.k)));
        }
        if Mode::parse(&self.mode).is_err() {
            return Err(c.err(
                "mode",
                format!(
                    "must be \"hybrid\", \"dense\" or \"bm25\", got \"{}\"",
                    self.mode
                ),
            ));
        }
        for (k, w) in [
            ("dense_weight", self.dense_weight),
            ("bm25_weight", self.bm25_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(c.err(k, "must be a non-negative number"));
            }
        }
        Ok(())
    }

    pub(crate) async fn run<H: Host>(
        &self,
        host: &H,
        id: &str,
        run: &mut State<'_>,
    ) -> Result<Outcome, H::Error> {
        let collection = run.render("collection", &self.collection)?;
        let mut text = run.render("query", &self.query)?;
        if self.focus {
            text = query::focus(&text);
        }
        let mut languages = Vec::new();
        for l in &self.languages {
            let code = run.render("languages", l)?;
            if !code.trim().is_empty() {
                languages.push(Lang::from_code(code.trim()));
            }
        }
        let prefer_language = match &self.prefer_language {
            Some(t) => {
                let code = run.render("prefer_language", t)?;
                let code = code.trim();
                (!code.is_empty())
                    .then(|| Lang::from_code(code))
                    .filter(|l| *l != Lang::Other)
            }
            None => None,
        };
        // A focused ticket of several sentences is also searched by its questions alone, and
        // the two rankings fused.
        let asked = self.focus.then(|| query::questions(&text)).flatten();
        let input = json!({"collection": collection, "query": text, "k": self.k, "mode": self.mode,
            "prefer_language": prefer_language.map(Lang::code), "questions": asked});
        host.check_knowledge()?;
        let params = SearchParams {
            k: self.k,
            // Checked when the pipeline was loaded.
            mode: Mode::parse(&self.mode)
                .map_err(|e| PipelineError::Internal(format!("retrieve step mode {e}")))?,
            dense_weight: self.dense_weight,
            bm25_weight: self.bm25_weight,
            filter: Filter {
                tags: self.tags.clone(),
                languages,
                labels: Vec::new(),
            },
            prefer_language,
            relevance_floor: self.relevance_floor.unwrap_or(RELEVANCE_FLOOR),
        };
        let hits = if text.trim().is_empty() {
            Vec::new()
        } else {
            let mut lists = Vec::new();
            for q in std::iter::once(text).chain(asked) {
                match host.retrieve(&collection, q, params.clone()).await {
                    Ok(h) => lists.push(h),
                    Err(e) if self.optional && e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
            match lists.len() {
                0 => Vec::new(),
                1 => lists.pop().unwrap_or_default(),
                _ => fuse(lists, self.k),
            }
        };
        let out = passages(&collection, &hits);
        let decision = format!(
            "{} passages (best similarity {})",
            hits.len(),
            top_similarity(&hits).map_or("n/a".into(), |s| format!("{s:.2}"))
        );
        run.hits.insert(id.to_owned(), Arc::new(hits));
        Ok(Outcome::new(out, input, decision))
    }
}

fn top_similarity(hits: &[Hit]) -> Option<f32> {
    hits.iter()
        .filter_map(|h| h.similarity)
        .fold(None, |m: Option<f32>, s| Some(m.map_or(s, |m| m.max(s))))
}

/// The step's output: the passages as the context shows them.
fn passages(collection: &str, hits: &[Hit]) -> serde_json::Value {
    let round = |x: f32| confidence::round(f64::from(x));
    json!({
        "collection": collection,
        "count": hits.len(),
        "top_score": hits.first().map(|h| round(h.score)),
        "top_similarity": top_similarity(hits).map(round),
        "hits": hits.iter().enumerate().map(|(i, h)| json!({
            "n": i + 1, "doc": h.chunk.source, "chunk": h.chunk.id,
            "title": h.chunk.title, "score": round(h.score),
            "similarity": h.similarity.map(round),
            "text": h.chunk.text,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{hit, run_step, FakeError, FakeHost};

    #[tokio::test]
    async fn renders_the_search_and_records_the_passages() {
        let mut h = hit(7, "returns.md", "Devoluciones en 30 días.");
        h.similarity = Some(0.71);
        let host = FakeHost {
            hits: vec![h],
            ..FakeHost::default()
        };
        let o = run_step(
            &host,
            r#"
kind = "retrieve"
collection = "help-{{ tenant }}"
k = 3
languages = ["{{ input.language }}", ""]
prefer_language = "{{ input.language }}"
"#,
            json!({"text": "devolución", "language": "es"}),
        )
        .await
        .unwrap();
        assert_eq!(o["count"], 1);
        assert_eq!(o["collection"], "help-acme");
        assert_eq!(o["top_similarity"], 0.71);
        assert_eq!(o["hits"][0]["doc"], "returns.md");
        assert_eq!(o["hits"][0]["n"], 1);
        let calls = host.retrieved();
        assert_eq!(calls.len(), 1);
        let (collection, query, params) = &calls[0];
        assert_eq!(
            (collection.as_str(), query.as_str()),
            ("help-acme", "devolución")
        );
        assert_eq!(params.k, 3);
        assert_eq!(
            params.filter.languages.len(),
            1,
            "the empty code is dropped"
        );
        assert_eq!(params.prefer_language.map(|l| l.code()), Some("es"));
    }

    #[tokio::test]
    async fn an_empty_query_searches_nothing_and_a_missing_optional_collection_gives_nothing() {
        let host = FakeHost::default();
        let o = run_step(
            &host,
            "kind = \"retrieve\"\ncollection = \"help\"\nquery = \"{{ input.subject }}\"",
            json!({"text": "x"}),
        )
        .await
        .unwrap();
        assert_eq!(o["count"], 0);
        assert!(host.retrieved().is_empty());

        let missing = FakeHost {
            missing_collection: true,
            ..FakeHost::default()
        };
        let o = run_step(
            &missing,
            "kind = \"retrieve\"\ncollection = \"nope\"\noptional = true",
            json!({"text": "x"}),
        )
        .await
        .unwrap();
        assert_eq!(o["count"], 0);
        assert!(run_step(
            &missing,
            "kind = \"retrieve\"\ncollection = \"nope\"",
            json!({"text": "x"})
        )
        .await
        .is_err());
    }

    #[tokio::test]
    async fn a_focused_ticket_is_also_searched_by_its_questions() {
        let host = FakeHost::default();
        run_step(
            &host,
            "kind = \"retrieve\"\ncollection = \"help\"\nfocus = true",
            json!({"text": "Hi team, I bought a lamp last week and it arrived broken. Can I return it for free? Thanks, Ana"}),
        )
        .await
        .unwrap();
        let calls = host.retrieved();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(calls[1].1.contains("return it for free"), "{calls:?}");
    }

    #[tokio::test]
    async fn a_disabled_knowledge_base_fails_the_step_even_with_nothing_to_search() {
        let host = FakeHost {
            knowledge_disabled: true,
            ..FakeHost::default()
        };
        let e = run_step(
            &host,
            "kind = \"retrieve\"\ncollection = \"help\"\nquery = \"{{ input.subject }}\"",
            json!({"text": "x"}),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e, FakeError::Step(ref m) if m.contains("disabled")),
            "{e:?}"
        );
    }
}
