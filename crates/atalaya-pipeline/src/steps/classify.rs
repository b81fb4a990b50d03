//! `classify`: a trained classifier of the tenant (`atalaya classify train`).

use serde::Deserialize;
use serde_json::{json, Value};

use super::{input_text, Check};
use crate::{
    confidence,
    host::{Host, HostError},
    state::{Outcome, State},
    values::valid_name,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyStep {
    pub classifier: String,
    #[serde(default = "input_text")]
    pub text: String,
    /// A missing classifier gives `null` instead of an error.
    #[serde(default)]
    pub optional: bool,
}

impl ClassifyStep {
    pub(crate) fn check(&self, c: &Check<'_>) -> Result<(), String> {
        c.template("text", &self.text)?;
        if !valid_name(&self.classifier) {
            return Err(c.err("classifier", "1–64 letters, digits, '-' or '_'"));
        }
        Ok(())
    }

    pub(crate) async fn run<H: Host>(
        &self,
        host: &H,
        run: &State<'_>,
    ) -> Result<Outcome, H::Error> {
        let text = run.render("text", &self.text)?;
        let input = json!({"classifier": self.classifier});
        let pr = match host.classify(&self.classifier, text).await {
            Err(e) if self.optional && e.is_not_found() => {
                return Ok(Outcome::new(
                    Value::Null,
                    input,
                    format!(
                        "no classifier '{}' for this tenant: skipped",
                        self.classifier
                    ),
                ))
            }
            r => r?,
        };
        let decision = if pr.out_of_scope {
            format!("out_of_scope (best {} {:.2})", pr.best, pr.confidence)
        } else {
            format!("{} ({:.2})", pr.label, pr.confidence)
        };
        let round = |x: f32| confidence::round(f64::from(x));
        Ok(Outcome::new(
            json!({
                "label": pr.label, "best": pr.best,
                "confidence": round(pr.confidence),
                "margin": round(pr.margin),
                "out_of_scope": pr.out_of_scope,
                "top": pr.top.iter().map(|(l, s)| json!({"label": l, "score": round(*s)})).collect::<Vec<_>>(),
            }),
            input,
            decision,
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{prediction, run_step, FakeError, FakeHost};

    #[tokio::test]
    async fn records_the_prediction_and_what_was_asked() {
        let host = FakeHost {
            prediction: Some(prediction("billing", 0.8123, false)),
            ..FakeHost::default()
        };
        let o = run_step(
            &host,
            "kind = \"classify\"\nclassifier = \"intents\"",
            json!({"text": "charged twice"}),
        )
        .await
        .unwrap();
        assert_eq!(o["label"], "billing");
        assert_eq!(o["confidence"], 0.8123);
        assert_eq!(o["out_of_scope"], false);
        assert_eq!(host.calls(), vec!["classify intents: charged twice"]);
    }

    #[tokio::test]
    async fn a_missing_classifier_is_null_only_when_optional() {
        let host = FakeHost::default();
        let o = run_step(
            &host,
            "kind = \"classify\"\nclassifier = \"intents\"\noptional = true",
            json!({"text": "x"}),
        )
        .await
        .unwrap();
        assert!(o.is_null());
        let e = run_step(
            &host,
            "kind = \"classify\"\nclassifier = \"intents\"",
            json!({"text": "x"}),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, FakeError::NotFound(_)), "{e:?}");
    }
}
