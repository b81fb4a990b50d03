//! `branch`: jumps forward to the first case whose condition holds (`end` ends the run).

use serde::Deserialize;
use serde_json::{json, Value};

use super::Check;
use crate::{
    state::{Jump, Outcome, State},
    PipelineError,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchStep {
    pub cases: Vec<Case>,
    /// Where to go when no case holds; unset = the next step.
    #[serde(rename = "else")]
    pub otherwise: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub when: String,
    pub goto: String,
}

impl BranchStep {
    pub(crate) fn check(&self, c: &Check<'_>) -> Result<(), String> {
        if self.cases.is_empty() {
            return Err(c.err("cases", "list at least one case"));
        }
        for case in &self.cases {
            c.expression("when", &case.when)?;
        }
        let targets = self
            .cases
            .iter()
            .map(|c| c.goto.as_str())
            .chain(self.otherwise.as_deref());
        for target in targets {
            c.later("goto", target)?;
        }
        Ok(())
    }

    pub(crate) fn run<E: From<PipelineError>>(&self, run: &State<'_>) -> Result<Outcome, E> {
        for c in &self.cases {
            if run.truthy("when", &c.when)? {
                return Ok(goto(run, &c.goto, format!("{} → {}", c.when, c.goto)));
            }
        }
        Ok(match &self.otherwise {
            Some(t) => goto(run, t, format!("no case held → {t}")),
            None => Outcome::new(
                json!({"taken": null}),
                Value::Null,
                "no case held → next step",
            ),
        })
    }
}

fn goto(run: &State<'_>, target: &str, decision: String) -> Outcome {
    let mut o = Outcome::new(json!({"taken": target}), Value::Null, decision);
    o.jump = Some(match run.position(target) {
        Some(j) => Jump::To(j),
        None => Jump::End,
    });
    o
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{run_pipeline, FakeHost};

    const P: &str = r#"
name = "t"
[[steps]]
id = "route"
kind = "branch"
cases = [{ when = "'refund' in input.text", goto = "refund" }, { when = "input.text == 'bye'", goto = "end" }]
[[steps]]
id = "general"
kind = "set"
values = { queue = "'general'" }
[[steps]]
id = "refund"
kind = "set"
values = { queue = "'refunds'" }
"#;

    #[tokio::test]
    async fn jumps_to_the_first_case_that_holds() {
        let host = FakeHost::default();
        let o = run_pipeline(&host, P, json!({"text": "I want a refund"}))
            .await
            .unwrap();
        assert_eq!(o.steps["route"]["taken"], "refund");
        assert!(o.steps["general"].is_null());
        assert_eq!(o.steps["refund"]["queue"], "refunds");
    }

    #[tokio::test]
    async fn falls_through_or_ends() {
        let host = FakeHost::default();
        let o = run_pipeline(&host, P, json!({"text": "where is my parcel"}))
            .await
            .unwrap();
        assert!(o.steps["route"]["taken"].is_null());
        assert_eq!(o.steps["general"]["queue"], "general");
        let end = run_pipeline(&host, P, json!({"text": "bye"}))
            .await
            .unwrap();
        assert_eq!(end.steps["route"]["taken"], "end");
        assert!(end.steps["general"].is_null() && end.steps["refund"].is_null());
        assert_eq!(end.status, "ok");
    }
}
