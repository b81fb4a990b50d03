//! `set`: values computed from the context (expressions).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::Check;
use crate::{state::Outcome, state::State, values::valid_id, PipelineError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStep {
    pub values: BTreeMap<String, String>,
}

impl SetStep {
    pub(crate) fn check(&self, c: &Check<'_>) -> Result<(), String> {
        if self.values.is_empty() {
            return Err(c.err("values", "set at least one value"));
        }
        for (k, e) in &self.values {
            if !valid_id(k) {
                return Err(c.err("values", format!("'{k}' is not a valid name")));
            }
            c.expression("values", e)?;
        }
        Ok(())
    }

    pub(crate) fn run<E: From<PipelineError>>(&self, run: &State<'_>) -> Result<Outcome, E> {
        let mut out = Map::new();
        for (k, e) in &self.values {
            out.insert(k.clone(), run.eval(&format!("values.{k}"), e)?);
        }
        let decision = out
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Outcome::new(Value::Object(out), Value::Null, decision))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{run_step, FakeError, FakeHost};

    #[tokio::test]
    async fn evaluates_each_value_over_the_context() {
        let host = FakeHost::default();
        let o = run_step(
            &host,
            r#"
kind = "set"
values = { priority = "'high' if 'urgent' in input.text else 'normal'", n = "input.text | length" }
"#,
            json!({"text": "urgent: card charged twice"}),
        )
        .await
        .unwrap();
        assert_eq!(o, json!({"priority": "high", "n": 26}));
    }

    #[tokio::test]
    async fn a_failing_expression_names_its_key() {
        let host = FakeHost::default();
        let e = run_step(
            &host,
            r#"
kind = "set"
values = { bad = "'a' + 1" }
"#,
            json!({"text": "x"}),
        )
        .await
        .unwrap_err();
        let FakeError::Step(m) = e else {
            panic!("{e:?}")
        };
        assert!(m.contains("'values.bad'"), "{m}");
    }
}
