//! `confidence`: the weighted mean of the signals (see [`crate::confidence`]).

use serde::Deserialize;
use serde_json::{json, Value};

use super::Check;
use crate::{
    confidence::{self, Signals, Weights},
    state::{Outcome, State},
    PipelineError,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfidenceStep {
    /// A `retrieve` step: its best passage's similarity to the question.
    pub retrieval: Option<String>,
    /// `classify` steps: their confidence (0 when out of scope).
    #[serde(default)]
    pub classification: Vec<String>,
    /// A `generate` step: its groundedness.
    pub answer: Option<String>,
    #[serde(default)]
    pub weights: Weights,
}

impl ConfidenceStep {
    pub(crate) fn check(&self, c: &Check<'_>) -> Result<(), String> {
        if let Some(r) = &self.retrieval {
            c.earlier("retrieval", r, &["retrieve"])?;
        }
        for k in &self.classification {
            c.earlier("classification", k, &["classify"])?;
        }
        if let Some(a) = &self.answer {
            c.earlier("answer", a, &["generate"])?;
        }
        if self.retrieval.is_none() && self.classification.is_empty() && self.answer.is_none() {
            return Err(c.err(
                "retrieval",
                "name at least one signal (retrieval, classification or answer)",
            ));
        }
        let w = self.weights;
        let all = [w.retrieval, w.classification, w.answer];
        if all.iter().any(|x| !x.is_finite() || *x < 0.0) || all.iter().sum::<f64>() <= 0.0 {
            return Err(c.err("weights", "non-negative numbers, not all zero"));
        }
        Ok(())
    }

    pub(crate) fn run<E: From<PipelineError>>(&self, run: &State<'_>) -> Result<Outcome, E> {
        // Passages without a similarity (BM25 only) give no signal; no passages, 0.
        let retrieval = self.retrieval.as_deref().and_then(|r| {
            let v = run.get(r);
            match v["top_similarity"].as_f64() {
                Some(s) => Some(confidence::similarity_signal(s)),
                None if v["count"].as_u64().unwrap_or(0) > 0 => None,
                None => Some(0.0),
            }
        });
        let class: Vec<f64> = self
            .classification
            .iter()
            .map(|k| run.get(k))
            .filter(|v| !v.is_null())
            .map(|v| {
                if v["out_of_scope"].as_bool() == Some(true) {
                    0.0
                } else {
                    v["confidence"].as_f64().unwrap_or(0.0)
                }
            })
            .collect();
        let classification =
            (!class.is_empty()).then(|| class.iter().sum::<f64>() / class.len() as f64);
        // A named answer step that did not run (nothing to draft from) is no support. An
        // answer grounded in passages unrelated to the question (the best one under the
        // similarity floor) supports nothing: quotes are grounded by construction, whatever
        // they say.
        let answer = self.answer.as_deref().map(|a| {
            let grounded = run.get(a)["groundedness"].as_f64().unwrap_or(0.0);
            if retrieval == Some(0.0) {
                0.0
            } else {
                grounded
            }
        });
        let signals = Signals {
            retrieval,
            classification,
            answer,
        };
        let score = confidence::round(confidence::combine(&signals, &self.weights));
        Ok(Outcome::new(
            json!({
                "score": score,
                "signals": {
                    "retrieval": signals.retrieval.map(confidence::round),
                    "classification": signals.classification.map(confidence::round),
                    "answer": signals.answer.map(confidence::round),
                },
            }),
            Value::Null,
            format!("{score:.2}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{hit, prediction, run_pipeline, FakeHost};

    const P: &str = r#"
name = "t"
[[steps]]
id = "intent"
kind = "classify"
classifier = "intents"
optional = true
[[steps]]
id = "docs"
kind = "retrieve"
collection = "help"
[[steps]]
id = "conf"
kind = "confidence"
retrieval = "docs"
classification = ["intent"]
"#;

    #[tokio::test]
    async fn no_passages_is_a_zero_signal_and_out_of_scope_a_zero_class() {
        let host = FakeHost {
            prediction: Some(prediction("billing", 0.9, true)),
            ..FakeHost::default()
        };
        let o = run_pipeline(&host, P, json!({"text": "x"})).await.unwrap();
        let c = &o.steps["conf"];
        assert_eq!(c["signals"]["retrieval"], 0.0);
        assert_eq!(c["signals"]["classification"], 0.0);
        assert_eq!(c["score"], 0.0);
    }

    #[tokio::test]
    async fn strong_signals_give_a_high_score_and_a_skipped_classifier_none() {
        let mut h = hit(1, "a.md", "Refunds take 5 days.");
        h.similarity = Some(0.9);
        let host = FakeHost {
            hits: vec![h],
            ..FakeHost::default()
        };
        let o = run_pipeline(&host, P, json!({"text": "refund"}))
            .await
            .unwrap();
        let c = &o.steps["conf"];
        assert!(c["signals"]["classification"].is_null(), "{c}");
        assert!(c["signals"]["retrieval"].as_f64().unwrap() > 0.8, "{c}");
        assert!(c["score"].as_f64().unwrap() > 0.8, "{c}");
    }
}
