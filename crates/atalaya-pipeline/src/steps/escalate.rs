//! `escalate`: the run's status becomes `needs_human` with a reason.

use serde::Deserialize;
use serde_json::{json, Value};

use super::Check;
use crate::{state::Outcome, state::State, PipelineError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalateStep {
    /// A template.
    pub reason: String,
    /// End the run here (else later steps still run, e.g. to draft for the agent).
    #[serde(default = "yes")]
    pub stop: bool,
}

fn yes() -> bool {
    true
}

impl EscalateStep {
    pub(crate) fn check(&self, c: &Check<'_>) -> Result<(), String> {
        c.template("reason", &self.reason)
    }

    pub(crate) fn run<E: From<PipelineError>>(&self, run: &State<'_>) -> Result<Outcome, E> {
        let why = run.render("reason", &self.reason)?;
        let mut o = Outcome::new(
            json!({"reason": why}),
            Value::Null,
            format!("needs_human: {why}"),
        );
        o.escalate = Some((why, self.stop));
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{run_pipeline, FakeHost};

    #[tokio::test]
    async fn escalates_with_the_rendered_reason_and_stops_unless_told_not_to() {
        let host = FakeHost::default();
        let o = run_pipeline(
            &host,
            r#"
name = "t"
[[steps]]
id = "out"
kind = "escalate"
reason = "customer asked for {{ input.text }}"
[[steps]]
id = "after"
kind = "set"
values = { ran = "true" }
"#,
            json!({"text": "a human"}),
        )
        .await
        .unwrap();
        assert_eq!(o.status, "needs_human");
        assert_eq!(o.reason.as_deref(), Some("customer asked for a human"));
        assert!(o.steps["after"].is_null());
        assert_eq!(o.trace[0]["status"], "escalated");

        let go_on = run_pipeline(
            &host,
            r#"
name = "t"
[[steps]]
id = "out"
kind = "escalate"
reason = "first"
stop = false
[[steps]]
id = "more"
kind = "escalate"
reason = "second"
[[steps]]
id = "after"
kind = "set"
values = { ran = "true" }
"#,
            json!({"text": "x"}),
        )
        .await
        .unwrap();
        // The first reason is kept; the second escalation stops the run.
        assert_eq!(go_on.reason.as_deref(), Some("first"));
        assert_eq!(go_on.steps["more"]["reason"], "second");
        assert!(go_on.steps["after"].is_null());
    }
}
