//! `extract`: JSON from a model, checked against a JSON Schema; an invalid answer is sent
//! back (`retries` times) with the violations.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{chat, chat_body, input_text, Check};
use crate::{
    host::Host,
    schema::{json_in, Schema},
    state::{Outcome, State},
    values::{check_sampling, map_strings},
    PipelineError,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractStep {
    pub model: String,
    /// The `prompt` step to send; unset = `text` with an instruction to answer in JSON.
    pub prompt: Option<String>,
    #[serde(default = "input_text")]
    pub text: String,
    pub schema: Value,
    #[serde(default = "one_u32")]
    pub retries: u32,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
}

fn one_u32() -> u32 {
    1
}

impl ExtractStep {
    pub(crate) fn check(&self, c: &Check<'_>) -> Result<(), String> {
        if self.model.trim().is_empty() {
            return Err(c.err("model", "name a model route"));
        }
        c.template("model", &self.model)?;
        match &self.prompt {
            Some(p) => c.earlier("prompt", p, &["prompt"])?,
            None => c.template("text", &self.text)?,
        }
        Schema::compile(&self.schema).map_err(|e| c.err("schema", e))?;
        if self.retries > 3 {
            return Err(c.err("retries", "at most 3"));
        }
        check_sampling(self.temperature, None, self.max_tokens).map_err(|(k, m)| c.err(k, m))
    }

    pub(crate) async fn run<H: Host>(
        &self,
        host: &H,
        run: &mut State<'_>,
    ) -> Result<Outcome, H::Error> {
        let model = run.render("model", &self.model)?;
        host.check_model(&model)?;
        let schema = Schema::compile(&self.schema)
            .map_err(|e| PipelineError::Internal(format!("schema: {e}")))?;
        let instruction = format!(
            "Answer with one JSON value only, no prose, matching this JSON Schema:\n{}",
            self.schema
        );
        let mut messages: Vec<Value> = match &self.prompt {
            Some(p) => run.prompt_messages(p).cloned().unwrap_or_default(),
            None => vec![json!({"role": "user", "content": run.render("text", &self.text)?})],
        };
        messages.insert(0, json!({"role": "system", "content": instruction}));
        let mut problems = Vec::new();
        for attempt in 0..=self.retries {
            let body = chat_body(
                &model,
                messages.clone(),
                self.temperature,
                self.max_tokens,
                None,
            );
            let (text, _) = chat(host, run, body).await?;
            let (value, found) = match json_in(&text) {
                Some(v) => {
                    let found = schema.violations(&v);
                    (Some(v), found)
                }
                None => (None, vec!["the answer holds no JSON".to_owned()]),
            };
            if let (Some(v), true) = (value, found.is_empty()) {
                let v = match &run.vault {
                    Some(vault) => map_strings(&v, &mut |s| Ok(vault.restore(s))).unwrap_or(v),
                    None => v,
                };
                return Ok(Outcome::new(
                    v,
                    json!({"model": model, "attempts": attempt + 1}),
                    format!("valid JSON after {} attempt(s)", attempt + 1),
                ));
            }
            problems = found;
            messages.push(json!({"role": "assistant", "content": text}));
            messages.push(json!({"role": "user", "content": format!(
                "That answer does not match the schema: {}. Answer again with the corrected JSON only.",
                problems.join("; ")
            )}));
        }
        Err(PipelineError::Upstream {
            target: model,
            detail: format!(
                "the answer did not match the schema after {} attempt(s): {}",
                self.retries + 1,
                problems.join("; ")
            ),
        }
        .into())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{run_step, FakeError, FakeHost};

    const STEP: &str = r#"
kind = "extract"
model = "small"
schema = { type = "object", required = ["order"], properties = { order = { type = "string" } } }
"#;

    #[tokio::test]
    async fn sends_an_invalid_answer_back_with_its_violations() {
        let host = FakeHost {
            answers: vec![
                "Sure! {\"order\": 42}".into(),
                "```json\n{\"order\": \"A-42\"}\n```".into(),
            ]
            .into(),
            ..FakeHost::default()
        };
        let o = run_step(&host, STEP, json!({"text": "order A-42 never came"}))
            .await
            .unwrap();
        assert_eq!(o, json!({"order": "A-42"}));
        let calls = host.calls();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(calls[1].contains("does not match the schema"), "{calls:?}");
    }

    #[tokio::test]
    async fn gives_up_after_its_retries_as_an_upstream_failure() {
        let host = FakeHost {
            answers: vec!["no".into(), "still no".into()].into(),
            ..FakeHost::default()
        };
        let e = run_step(&host, STEP, json!({"text": "x"}))
            .await
            .unwrap_err();
        assert!(
            matches!(e, FakeError::Step(ref m) if m.contains("after 2 attempt(s)") && m.contains("holds no JSON")),
            "{e:?}"
        );
    }
}
