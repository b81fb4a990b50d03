//! `prompt`: messages rendered from the context, for `generate`, `extract` or `summarize`.

use atalaya_knowledge::rag;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Check;
use crate::{state::Outcome, state::State, PipelineError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptStep {
    pub system: Option<String>,
    pub user: String,
    /// A `retrieve` step whose passages are appended to the system message, numbered from 1.
    pub sources: Option<String>,
}

impl PromptStep {
    pub(crate) fn check(&self, c: &Check<'_>) -> Result<(), String> {
        if let Some(sys) = &self.system {
            c.template("system", sys)?;
        }
        c.template("user", &self.user)?;
        if let Some(src) = &self.sources {
            c.earlier("sources", src, &["retrieve"])?;
        }
        Ok(())
    }

    pub(crate) fn run<E: From<PipelineError>>(&self, run: &State<'_>) -> Result<Outcome, E> {
        let mut system = match &self.system {
            Some(s) => run.render("system", s)?,
            None => String::new(),
        };
        if let Some(src) = &self.sources {
            let hits = run.hits.get(src).map(|h| h.as_slice()).unwrap_or_default();
            system.push_str(&rag::sources_block(hits));
        }
        let user = run.render("user", &self.user)?;
        let mut messages = Vec::new();
        if !system.trim().is_empty() {
            messages.push(json!({"role": "system", "content": system.trim_start()}));
        }
        messages.push(json!({"role": "user", "content": user}));
        let chars: usize = messages
            .iter()
            .filter_map(|m| m["content"].as_str())
            .map(|c| c.chars().count())
            .sum();
        Ok(Outcome::new(
            json!({"messages": messages}),
            Value::Null,
            format!("{} messages, {chars} characters", messages.len()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{hit, run_pipeline, FakeHost};

    #[tokio::test]
    async fn numbers_the_passages_of_its_retrieve_step_in_the_system_message() {
        let host = FakeHost {
            hits: vec![
                hit(1, "returns.md", "Returns are accepted within 30 days."),
                hit(2, "shipping.md", "Parcels ship in 2 days."),
            ],
            ..FakeHost::default()
        };
        let o = run_pipeline(
            &host,
            r#"
name = "t"
[[steps]]
id = "docs"
kind = "retrieve"
collection = "help"
[[steps]]
id = "ask"
kind = "prompt"
system = "Answer from the sources."
user = "Q: {{ input.text }}"
sources = "docs"
"#,
            json!({"text": "can I return it?"}),
        )
        .await
        .unwrap();
        let m = o.steps["ask"]["messages"].as_array().unwrap();
        assert_eq!(m.len(), 2);
        let sys = m[0]["content"].as_str().unwrap();
        assert!(sys.starts_with("Answer from the sources."), "{sys}");
        assert!(
            sys.contains("[1]") && sys.contains("Returns are accepted within 30 days."),
            "{sys}"
        );
        assert!(sys.contains("[2]") && sys.contains("Parcels ship"), "{sys}");
        assert_eq!(
            m[1],
            json!({"role": "user", "content": "Q: can I return it?"})
        );
    }

    #[tokio::test]
    async fn no_system_message_when_there_is_nothing_to_say() {
        let host = FakeHost::default();
        let o = run_pipeline(
            &host,
            "name = \"t\"\n[[steps]]\nid = \"ask\"\nkind = \"prompt\"\nuser = \"{{ input.text }}\"",
            json!({"text": "hola"}),
        )
        .await
        .unwrap();
        assert_eq!(
            o.steps["ask"]["messages"],
            json!([{"role": "user", "content": "hola"}])
        );
    }
}
