//! `detect_language`: the customer's language (a language given with the input wins).

use serde::Deserialize;
use serde_json::{json, Value};

use super::{input_text, Check};
use crate::{
    confidence, lang, lang::LanguageDetector, state::Outcome, state::State, PipelineError,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectLanguage {
    #[serde(default = "input_text")]
    pub text: String,
    /// ISO 639-1 codes the pipeline serves.
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    /// Used when the text is too short to tell or in another language.
    #[serde(default = "default_language")]
    pub default: String,
}

fn default_languages() -> Vec<String> {
    vec!["en".into(), "es".into(), "pt".into()]
}
fn default_language() -> String {
    "en".into()
}

/// A language's name as a prompt says it.
fn language_name(code: &str) -> &'static str {
    match code {
        "en" => "English",
        "es" => "Spanish (español)",
        "pt" => "Portuguese (português)",
        "fr" => "French",
        "de" => "German",
        "it" => "Italian",
        "nl" => "Dutch",
        "ca" => "Catalan",
        _ => "the customer's language",
    }
}

impl DetectLanguage {
    pub(crate) fn check(&self, c: &Check<'_>) -> Result<(), String> {
        c.template("text", &self.text)?;
        if self.languages.is_empty() {
            return Err(c.err("languages", "list at least one language"));
        }
        for l in self.languages.iter().chain(std::iter::once(&self.default)) {
            if !lang::known(l) {
                return Err(c.err(
                    "languages",
                    format!("unknown language '{l}' (known: {})", lang::known_codes()),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn run<E: From<PipelineError>>(&self, run: &State<'_>) -> Result<Outcome, E> {
        let text = run.render("text", &self.text)?;
        let declared = run
            .get("input")
            .get("language")
            .and_then(Value::as_str)
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| self.languages.iter().any(|l| l == s));
        let (lang, conf, source) = match declared {
            Some(l) => (l, 1.0, "declared"),
            None => {
                let r = LanguageDetector::new(&self.languages, &self.default).detect(&text);
                let source = if r.reliable || r.confidence > 0.0 {
                    "detected"
                } else {
                    "default"
                };
                (r.language, r.confidence, source)
            }
        };
        Ok(Outcome::new(
            json!({
                "language": lang, "name": language_name(&lang),
                "confidence": confidence::round(conf), "source": source,
            }),
            json!({"chars": text.chars().count()}),
            format!("{lang} ({source})"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{run_step, FakeHost};

    #[tokio::test]
    async fn a_declared_language_wins_over_detection() {
        let host = FakeHost::default();
        let o = run_step(
            &host,
            r#"kind = "detect_language""#,
            json!({"text": "Hello, my order never arrived and I want a refund", "language": "PT"}),
        )
        .await
        .unwrap();
        assert_eq!(o["language"], "pt");
        assert_eq!(o["source"], "declared");
        assert_eq!(o["name"], "Portuguese (português)");
    }

    #[tokio::test]
    async fn detects_spanish_and_falls_back_on_nothing() {
        let host = FakeHost::default();
        let es = run_step(
            &host,
            r#"kind = "detect_language""#,
            json!({"text": "Hola, ¿cuál es la política de devoluciones para productos comprados en tienda física?"}),
        )
        .await
        .unwrap();
        assert_eq!(es["language"], "es");
        assert_eq!(es["source"], "detected");
        let none = run_step(
            &host,
            "kind = \"detect_language\"\ndefault = \"pt\"",
            json!({"text": "!!!"}),
        )
        .await
        .unwrap();
        assert_eq!(none["language"], "pt");
        assert_eq!(none["source"], "default");
        // A declared language the pipeline does not serve is ignored.
        let other = run_step(
            &host,
            "kind = \"detect_language\"\nlanguages = [\"en\", \"es\"]",
            json!({"text": "Where is my parcel? It was due on Monday.", "language": "de"}),
        )
        .await
        .unwrap();
        assert_eq!(other["language"], "en");
    }
}
