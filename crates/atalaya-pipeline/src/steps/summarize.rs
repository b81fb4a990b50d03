//! `summarize`: a long thread in a few sentences — by a model, or extractively (the
//! sentences closest to the thread's centroid, in order) without one.

use atalaya_knowledge::sentences;
use serde::Deserialize;
use serde_json::json;

use super::{chat, chat_body, model_of, Check};
use crate::{
    host::Host,
    state::{Outcome, State},
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummarizeStep {
    #[serde(default = "thread_text")]
    pub text: String,
    /// A model route (template); empty or unset = extractive.
    pub model: Option<String>,
    #[serde(default = "three")]
    pub max_sentences: usize,
    /// Texts shorter than this (in characters) are their own summary.
    #[serde(default = "min_summary_chars")]
    pub min_chars: usize,
}

fn thread_text() -> String {
    "{{ input.thread_text or input.text }}".into()
}
fn three() -> usize {
    3
}
fn min_summary_chars() -> usize {
    600
}

impl SummarizeStep {
    pub(crate) fn check(&self, c: &Check<'_>) -> Result<(), String> {
        c.template("text", &self.text)?;
        if let Some(m) = &self.model {
            c.template("model", m)?;
        }
        if !(1..=20).contains(&self.max_sentences) {
            return Err(c.err("max_sentences", "must be 1 to 20"));
        }
        Ok(())
    }

    pub(crate) async fn run<H: Host>(
        &self,
        host: &H,
        run: &mut State<'_>,
    ) -> Result<Outcome, H::Error> {
        let text = run.render("text", &self.text)?;
        let chars = text.chars().count();
        let input = json!({"chars": chars});
        if chars < self.min_chars {
            return Ok(Outcome::new(
                json!({"summary": text.trim(), "method": "short", "sentences": null}),
                input,
                "short enough: kept whole",
            ));
        }
        if let Some(model) = model_of(host, self.model.as_deref(), run)? {
            let messages = vec![
                json!({"role": "system", "content": format!("Summarise this customer support thread in at most {} sentences, in the thread's language. Keep order numbers, amounts, dates, what the customer wants and what was already tried. No preamble.", self.max_sentences)}),
                json!({"role": "user", "content": text}),
            ];
            let body = chat_body(&model, messages, Some(0.2), Some(300), None);
            let (summary, _) = chat(host, run, body).await?;
            let summary = run.restore(summary);
            return Ok(Outcome::new(
                json!({"summary": summary.trim(), "method": "model", "model": model}),
                input,
                format!("summarised by {model}"),
            ));
        }
        // Extractive: the sentences nearest the thread's centroid, in their order.
        let all: Vec<String> = sentences::split(&text)
            .into_iter()
            .map(|(a, b)| text[a..b].trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect();
        let n = self.max_sentences;
        let central = if all.len() > n {
            host.central(all.clone(), n).await?
        } else {
            None
        };
        let picked: Vec<usize> = central.unwrap_or_else(|| (0..all.len().min(n)).collect());
        let summary = picked
            .iter()
            .filter_map(|&i| all.get(i))
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Outcome::new(
            json!({"summary": summary, "method": "extractive", "sentences": picked}),
            input,
            format!("extractive: {} of {} sentences", picked.len(), all.len()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{run_step, FakeHost};

    fn thread() -> String {
        (1..=8)
            .map(|i| format!("Message number {i} of the customer about order A-{i} that is late."))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[tokio::test]
    async fn short_texts_are_their_own_summary() {
        let host = FakeHost::default();
        let o = run_step(
            &host,
            "kind = \"summarize\"",
            json!({"text": "  where is my order?  "}),
        )
        .await
        .unwrap();
        assert_eq!(o["summary"], "where is my order?");
        assert_eq!(o["method"], "short");
    }

    #[tokio::test]
    async fn extractive_keeps_the_central_sentences_in_order() {
        let host = FakeHost {
            central: Some(vec![1, 5]),
            ..FakeHost::default()
        };
        let o = run_step(
            &host,
            "kind = \"summarize\"\nmax_sentences = 2\nmin_chars = 10",
            json!({"text": thread()}),
        )
        .await
        .unwrap();
        assert_eq!(o["method"], "extractive");
        assert_eq!(o["sentences"], json!([1, 5]));
        assert_eq!(
            o["summary"],
            "Message number 2 of the customer about order A-2 that is late. Message number 6 of the customer about order A-6 that is late."
        );
        // Without an embedding model: the first sentences.
        let plain = FakeHost::default();
        let o = run_step(
            &plain,
            "kind = \"summarize\"\nmax_sentences = 2\nmin_chars = 10",
            json!({"text": thread()}),
        )
        .await
        .unwrap();
        assert_eq!(o["sentences"], json!([0, 1]));
    }

    #[tokio::test]
    async fn a_model_summarises_when_one_is_named() {
        let host = FakeHost {
            answers: vec![" The customer's order A-1 is late. ".into()].into(),
            ..FakeHost::default()
        };
        let o = run_step(
            &host,
            "kind = \"summarize\"\nmodel = \"small\"\nmin_chars = 10",
            json!({"text": thread()}),
        )
        .await
        .unwrap();
        assert_eq!(o["summary"], "The customer's order A-1 is late.");
        assert_eq!(o["model"], "small");
    }
}
