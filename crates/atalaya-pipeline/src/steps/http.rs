//! `http`: an external API (order status, CRM), its JSON answer bound into the context. The
//! host decides where a step may connect (allowed hosts, no internal addresses) and reads
//! the answer, bounded.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::Check;
use crate::{
    host::{Header, Host, HttpCall},
    state::{Outcome, State},
    values::map_strings,
    PipelineError,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    /// A template; its host must be allowed.
    pub url: String,
    #[serde(default = "get")]
    pub method: String,
    /// Values are templates; `env:NAME` is read from the environment (secrets).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON; its strings are templates.
    pub body: Option<Value>,
    #[serde(default = "five_seconds")]
    pub timeout_ms: u64,
    /// Hosts this step may call (besides `pipelines.http_allowed_hosts`).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    #[serde(default = "one_mib")]
    pub max_response_bytes: usize,
    /// Record the response body in the run's trace (off: the trace shows its status and size;
    /// the body still reaches the steps that use it).
    #[serde(default)]
    pub trace_body: bool,
}

fn get() -> String {
    "GET".into()
}
fn five_seconds() -> u64 {
    5000
}
fn one_mib() -> usize {
    1 << 20
}

impl HttpStep {
    pub(crate) fn check(&self, c: &Check<'_>) -> Result<(), String> {
        c.template("url", &self.url)?;
        if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&self.method.as_str()) {
            return Err(c.err(
                "method",
                format!(
                    "must be GET, POST, PUT, PATCH or DELETE, got \"{}\"",
                    self.method
                ),
            ));
        }
        for (k, v) in &self.headers {
            if v.strip_prefix("env:").is_none() {
                c.template("headers", v)?;
            }
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(c.err("headers", format!("'{k}' is not a header name")));
            }
        }
        if let Some(b) = &self.body {
            map_strings(b, &mut |s| {
                c.templates.check_template(s).map(|()| String::new())
            })
            .map_err(|e| c.err("body", e))?;
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return Err(c.err("timeout_ms", "must be 1 to 60000"));
        }
        if self.max_response_bytes == 0 || self.max_response_bytes > 16 << 20 {
            return Err(c.err("max_response_bytes", "must be 1 to 16 MiB"));
        }
        Ok(())
    }

    pub(crate) async fn run<H: Host>(
        &self,
        host: &H,
        run: &State<'_>,
    ) -> Result<Outcome, H::Error> {
        let url = run
            .templates
            .render_url(&self.url, &run.ctx)
            .map_err(|e| PipelineError::invalid(format!("'url': {e}"), None))?;
        host.http_check(&url, &self.allowed_hosts).await?;
        let mut headers = Vec::with_capacity(self.headers.len());
        for (k, v) in &self.headers {
            let h = match v.strip_prefix("env:") {
                Some(var) => Header::Env(var.to_owned()),
                None => Header::Value(run.render("headers", v)?),
            };
            headers.push((k.clone(), h));
        }
        let body = match &self.body {
            Some(b) => Some(
                map_strings(b, &mut |s| run.templates.render(s, &run.ctx))
                    .map_err(|e| PipelineError::invalid(format!("'body': {e}"), None))?,
            ),
            None => None,
        };
        let a = host
            .http(HttpCall {
                method: self.method.clone(),
                url,
                headers,
                body,
                timeout_ms: self.timeout_ms,
                max_response_bytes: self.max_response_bytes,
                allowed_hosts: self.allowed_hosts.clone(),
            })
            .await?;
        if !(200..300).contains(&a.status) {
            return Err(PipelineError::Upstream {
                target: a.host,
                detail: format!("{} answered {}", a.shown, a.status),
            }
            .into());
        }
        let mut o = Outcome::new(
            json!({"status": a.status, "body": a.body}),
            json!({"method": self.method, "url": a.url}),
            format!("{} → {}", a.shown, a.status),
        );
        if !self.trace_body {
            o.traced = Some(json!({"status": a.status, "body_bytes": a.bytes}));
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{
        host::Header,
        testing::{run_pipeline, run_step, FakeError, FakeHost},
    };

    const STEP: &str = r#"
kind = "http"
url = "https://crm.example.com/orders/{{ input.order }}?lang={{ vars.lang }}"
method = "POST"
headers = { Authorization = "env:CRM_TOKEN", X-Customer = "{{ input.customer }}" }
body = { note = "{{ input.text }}", n = 3 }
"#;

    #[tokio::test]
    async fn renders_the_request_with_url_values_encoded_and_secrets_by_name() {
        let host = FakeHost::default();
        let o = run_step(
            &host,
            STEP,
            json!({"text": "late", "order": "../admin?x=1", "customer": "env:HOME"}),
        )
        .await
        .unwrap();
        assert_eq!(o["status"], 200);
        assert_eq!(o["body"], json!({"ok": true}));
        let sent = host.http_calls();
        assert_eq!(sent.len(), 1);
        let c = &sent[0];
        assert_eq!(
            c.url,
            "https://crm.example.com/orders/..%2Fadmin%3Fx%3D1?lang="
        );
        assert_eq!(
            c.headers[0],
            ("Authorization".into(), Header::Env("CRM_TOKEN".into()))
        );
        // A customer's text that looks like a secret reference stays a value.
        assert_eq!(
            c.headers[1],
            ("X-Customer".into(), Header::Value("env:HOME".into()))
        );
        assert_eq!(c.body, Some(json!({"note": "late", "n": 3})));
    }

    #[tokio::test]
    async fn the_body_stays_out_of_the_trace_unless_asked_and_errors_are_upstream() {
        let host = FakeHost::default();
        let o = run_pipeline(
            &host,
            "name = \"t\"\n[[steps]]\nid = \"crm\"\nkind = \"http\"\nurl = \"https://crm.example.com/x\"",
            json!({"text": "x"}),
        )
        .await
        .unwrap();
        assert_eq!(
            o.trace[0]["output"],
            json!({"status": 200, "body_bytes": 11})
        );
        assert_eq!(o.steps["crm"]["body"], json!({"ok": true}));
        let failing = FakeHost {
            http_status: 503,
            ..FakeHost::default()
        };
        let e = run_step(
            &failing,
            "kind = \"http\"\nurl = \"https://crm.example.com/x\"",
            json!({"text": "x"}),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e, FakeError::Step(ref m) if m.contains("GET crm.example.com/x answered 503")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn the_host_is_checked_before_headers_and_body_are_rendered() {
        let host = FakeHost {
            denied_hosts: vec!["intranet.local".into()],
            ..FakeHost::default()
        };
        // The body cannot render ('a' + 1), but the refused host is what the caller hears.
        let e = run_step(
            &host,
            "kind = \"http\"\nurl = \"https://intranet.local/x\"\nmethod = \"POST\"\nbody = { x = \"{{ 'a' + 1 }}\" }",
            json!({"text": "x"}),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e, FakeError::Step(ref m) if m.contains("not allowed")),
            "{e:?}"
        );
        assert!(host.http_calls().is_empty());
    }
}
