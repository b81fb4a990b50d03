//! JSON Schema checks for `extract` steps (the `jsonschema` crate; no remote references).

use serde_json::Value;

/// A compiled schema.
pub struct Schema {
    validator: jsonschema::Validator,
}

impl Schema {
    /// Compiles `schema`; the error says what is wrong with it.
    pub fn compile(schema: &Value) -> Result<Schema, String> {
        jsonschema::validator_for(schema)
            .map(|validator| Schema { validator })
            .map_err(|e| e.to_string())
    }

    /// The instance's violations, each with its JSON pointer (at most 5).
    pub fn violations(&self, instance: &Value) -> Vec<String> {
        self.validator
            .iter_errors(instance)
            .take(5)
            .map(|e| {
                let at = e.instance_path.to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect()
    }
}

/// The JSON value in a model's answer: the whole text, else a fenced ```json block, else the
/// outermost `{...}` or `[...]`.
pub fn json_in(text: &str) -> Option<Value> {
    let t = text.trim();
    if let Ok(v) = serde_json::from_str(t) {
        return Some(v);
    }
    if let Some(start) = t.find("```") {
        let after = &t[start + 3..];
        let body = after.strip_prefix("json").unwrap_or(after);
        if let Some(end) = body.find("```") {
            if let Ok(v) = serde_json::from_str(body[..end].trim()) {
                return Some(v);
            }
        }
    }
    for (open, close) in [('{', '}'), ('[', ']')] {
        if let (Some(s), Some(e)) = (t.find(open), t.rfind(close)) {
            if s < e {
                if let Ok(v) = serde_json::from_str(&t[s..=e]) {
                    return Some(v);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validates_and_names_the_failing_path() {
        let s = Schema::compile(&json!({
            "type": "object",
            "required": ["order_id"],
            "properties": {"order_id": {"type": "string", "pattern": "^[0-9]+$"}}
        }))
        .unwrap();
        assert!(s.violations(&json!({"order_id": "123"})).is_empty());
        let v = s.violations(&json!({"order_id": "A1"}));
        assert_eq!(v.len(), 1);
        assert!(v[0].starts_with("/order_id"), "{v:?}");
        assert!(!s.violations(&json!({})).is_empty());
        assert!(Schema::compile(&json!({"type": "no-such-type"})).is_err());
    }

    #[test]
    fn finds_json_in_a_chatty_answer() {
        assert_eq!(json_in(r#"{"a":1}"#), Some(json!({"a": 1})));
        assert_eq!(
            json_in("Sure!\n```json\n{\"a\": 2}\n```\nDone."),
            Some(json!({"a": 2}))
        );
        assert_eq!(json_in("Here: {\"a\": 3} ok"), Some(json!({"a": 3})));
        assert_eq!(json_in("no json here"), None);
    }
}
