//! Templates and conditions: minijinja over the pipeline's context (a JSON map, borrowed, holding
//! `input`, `vars`, `tenant`, `status` and each finished step's output under its id).
//!
//! Undefined values chain (`intent.label` is undefined, not an error, when the optional
//! `intent` step produced nothing), so conditions over optional steps stay simple. Templates
//! are checked when a pipeline loads and parsed again when rendered (microseconds).

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;

/// The template environment every pipeline shares.
pub struct Templates {
    env: Environment<'static>,
    /// The same, with every `{{ value }}` percent-encoded: for URLs, where a value must stay
    /// one path segment or query value (`../admin`, `@other-host` or `?x=` in a customer's
    /// text cannot change where a request goes). `| safe` opts a trusted value out.
    url_env: Environment<'static>,
}

/// Everything but RFC 3986's unreserved characters is encoded.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_keep_trailing_newline(true);
        // Text, not HTML: nothing is escaped.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        // `tojson` (minijinja's `json` feature) embeds values in prompts and HTTP bodies.
        let mut url_env = env.clone();
        url_env.set_formatter(|out, state, value| {
            if value.is_safe() || value.is_undefined() || value.is_none() {
                return minijinja::escape_formatter(out, state, value);
            }
            let text = value.to_string();
            out.write_str(&percent_encoding::utf8_percent_encode(&text, COMPONENT).to_string())
                .map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())
                })
        });
        Templates { env, url_env }
    }

    /// Renders the URL template `src` with `ctx`, each interpolated value percent-encoded
    /// except those under `vars` (the pipeline author's and the operator's, e.g. a base URL).
    pub fn render_url(
        &self,
        src: &str,
        ctx: &serde_json::Map<String, Value>,
    ) -> Result<String, String> {
        if !src.contains("{{") && !src.contains("{%") && !src.contains("{#") {
            return Ok(src.to_owned());
        }
        let ctx: std::collections::BTreeMap<&str, minijinja::Value> = ctx
            .iter()
            .map(|(k, v)| {
                let v = if k == "vars" {
                    trusted(v)
                } else {
                    minijinja::Value::from_serialize(v)
                };
                (k.as_str(), v)
            })
            .collect();
        contained(|| self.url_env.render_str(src, ctx).map_err(|e| describe(&e)))
    }

    /// Checks that `src` parses as a template.
    pub fn check_template(&self, src: &str) -> Result<(), String> {
        contained(|| {
            self.env
                .template_from_str(src)
                .map(|_| ())
                .map_err(|e| describe(&e))
        })
    }

    /// Checks that `src` parses as an expression.
    pub fn check_expr(&self, src: &str) -> Result<(), String> {
        contained(|| {
            self.env
                .compile_expression(src)
                .map(|_| ())
                .map_err(|e| describe(&e))
        })
    }

    /// Renders the template `src` with `ctx`.
    pub fn render(&self, src: &str, ctx: &impl Serialize) -> Result<String, String> {
        // A template without markup is its own rendering.
        if !src.contains("{{") && !src.contains("{%") && !src.contains("{#") {
            return Ok(src.to_owned());
        }
        contained(|| self.env.render_str(src, ctx).map_err(|e| describe(&e)))
    }

    /// Evaluates the expression `src` with `ctx`, as JSON (undefined is `null`).
    pub fn eval(&self, src: &str, ctx: &impl Serialize) -> Result<Value, String> {
        let expr = contained(|| self.env.compile_expression(src).map_err(|e| describe(&e)))?;
        let v = expr.eval(ctx).map_err(|e| describe(&e))?;
        if v.is_undefined() || v.is_none() {
            return Ok(Value::Null);
        }
        serde_json::to_value(&v).map_err(|e| e.to_string())
    }

    /// Evaluates a condition: its truthiness (undefined and `none` are false).
    pub fn truthy(&self, src: &str, ctx: &impl Serialize) -> Result<bool, String> {
        let expr = contained(|| self.env.compile_expression(src).map_err(|e| describe(&e)))?;
        expr.eval(ctx)
            .map(|v| v.is_true())
            .map_err(|e| describe(&e))
    }
}

/// Runs a template-engine call, turning a panic inside it into an error: minijinja 2.24
/// panics ("empty lexer stack") on some malformed sources, e.g. the expression `}}}`, found by
/// fuzzing. A pipeline file with one is then refused with a message, not a crashed process.
fn contained<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err("the template engine could not parse this (it failed internally); check the braces and quotes".into())
    })
}

/// `v` with its strings marked safe (not encoded by the URL formatter).
fn trusted(v: &Value) -> minijinja::Value {
    match v {
        Value::String(s) => minijinja::Value::from_safe_string(s.clone()),
        Value::Array(a) => a.iter().map(trusted).collect::<Vec<_>>().into(),
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| (k.clone(), trusted(x)))
            .collect::<std::collections::BTreeMap<_, _>>()
            .into(),
        other => minijinja::Value::from_serialize(other),
    }
}

/// A minijinja error with its detail and line, in one line.
fn describe(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    if let Some(d) = e.detail() {
        if !s.contains(d) {
            s = format!("{s}: {d}");
        }
    }
    s
}

#[cfg(test)]
mod url_tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::Templates;

    #[test]
    fn malformed_sources_are_errors_not_panics() {
        let t = Templates::new();
        let ctx = json!({});
        for src in ["}}}", "{{", "{% for %}", "{{ }}}"] {
            let _ = t.check_template(src);
            assert!(t.check_expr(src).is_err(), "{src}");
            assert!(t.truthy(src, &ctx).is_err(), "{src}");
            assert!(t.eval(src, &ctx).is_err(), "{src}");
        }
    }

    #[test]
    fn url_values_stay_one_component() {
        let t = Templates::new();
        let ctx = json!({"x": {"id": "../admin?all=1#@evil.example"}, "n": 42,
            "input": {"base": "https://evil.example"},
            "vars": {"shop": "https://api.example.com", "paths": ["a/b"]}});
        let ctx = ctx.as_object().unwrap();
        assert_eq!(
            t.render_url("{{ vars.shop }}/orders/{{ x.id }}?n={{ n }}", ctx)
                .unwrap(),
            "https://api.example.com/orders/..%2Fadmin%3Fall%3D1%23%40evil.example?n=42"
        );
        // Values from anywhere but `vars` cannot become the host; `| safe` opts one out;
        // undefined stays empty.
        assert_eq!(
            t.render_url("{{ input.base }}/{{ vars.paths[0] }}/{{ missing.id }}", ctx)
                .unwrap(),
            "https%3A%2F%2Fevil.example/a/b/"
        );
        assert_eq!(
            t.render_url("{{ input.base | safe }}/x", ctx).unwrap(),
            "https://evil.example/x"
        );
        // Other templates are not encoded.
        assert_eq!(
            t.render("{{ x.id }}", &ctx).unwrap(),
            "../admin?all=1#@evil.example"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_evaluates_and_chains_undefined() {
        let t = Templates::new();
        let ctx = json!({"input": {"text": "hola <b>"}, "intent": null, "conf": {"score": 0.4}});
        assert_eq!(
            t.render("Q: {{ input.text }}", &ctx).unwrap(),
            "Q: hola <b>"
        );
        assert!(t.truthy("conf.score < 0.5", &ctx).unwrap());
        assert!(!t.truthy("intent.label == 'legal'", &ctx).unwrap());
        assert!(!t.truthy("missing.deeper.still", &ctx).unwrap());
        assert_eq!(t.eval("conf.score * 2", &ctx).unwrap(), json!(0.8));
        assert_eq!(t.eval("nothing.here", &ctx).unwrap(), Value::Null);
        assert_eq!(
            t.eval("intent.label if intent else 'normal'", &ctx)
                .unwrap(),
            json!("normal")
        );
        assert_eq!(t.render("plain text", &ctx).unwrap(), "plain text");
    }

    #[test]
    fn syntax_errors_are_reported() {
        let t = Templates::new();
        assert!(t.check_template("{{ input.text ").is_err());
        assert!(t.check_expr("a ==").is_err());
        assert!(t.check_expr("a in ['x', 'y']").is_ok());
        let e = t.render("{{ 1 + }}", &json!({})).unwrap_err();
        assert!(!e.is_empty());
    }
}
