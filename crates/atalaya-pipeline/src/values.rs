//! Names and values the pipeline file and the step kinds share.

use serde_json::Value;

/// Pipeline names and step ids: a letter, then letters, digits or `_` (they are template
/// variables), at most 64.
pub fn valid_id(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && s.len() <= 64
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Pipeline names may also hold `-`.
pub fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphanumeric())
        && s.len() <= 64
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(crate) fn check_sampling(
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<u32>,
) -> Result<(), (&'static str, String)> {
    if let Some(t) = temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(("temperature", "must be 0 to 2".into()));
        }
    }
    if let Some(p) = top_p {
        if !(p > 0.0 && p <= 1.0) {
            return Err(("top_p", "must be in (0, 1]".into()));
        }
    }
    if max_tokens == Some(0) {
        return Err(("max_tokens", "must be at least 1".into()));
    }
    Ok(())
}

/// `v` with every string replaced by `f(string)`.
pub fn map_strings(
    v: &Value,
    f: &mut impl FnMut(&str) -> Result<String, String>,
) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(f(s)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| map_strings(x, f))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), map_strings(x, f)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}
