//! Chat templates: the Jinja template a GGUF file carries (`tokenizer.chat_template`, as
//! Hugging Face writes it) or one from the configuration, rendered with minijinja and Python
//! string-method compatibility. Tools and tool messages are passed to the template, so models
//! whose template knows tools see them exactly as they were trained to.

use minijinja::{Environment, Error as JinjaError, ErrorKind, Value as JValue};
use serde_json::Value;

use crate::Error;

/// ChatML, used when a model carries no template and none is configured.
pub const CHATML: &str = "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").finish_non_exhaustive()
    }
}

fn raise_exception(msg: String) -> Result<JValue, JinjaError> {
    Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
}

fn strftime_now(fmt: String) -> String {
    // Templates use it for "today's date" lines; a fixed, explicit format keeps prompts stable
    // within a day (prefix caching) and avoids a time-zone database.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = now / 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let month = MONTHS[(m as usize).saturating_sub(1).min(11)];
    fmt.replace("%Y", &y.to_string())
        .replace("%m", &format!("{m:02}"))
        .replace("%d", &format!("{d:02}"))
        .replace("%B", month)
        .replace("%b", &month[..3])
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's method).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl ChatTemplate {
    /// Compiles `source`. `bos`/`eos` are the model's special-token texts, which many templates
    /// print themselves (`{{ bos_token }}`).
    pub fn new(source: &str, bos: &str, eos: &str) -> Result<ChatTemplate, Error> {
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_template_owned("chat", source.to_owned())
            .map_err(|e| Error::Template(format!("the chat template does not compile: {e}")))?;
        Ok(ChatTemplate {
            env,
            bos: bos.to_owned(),
            eos: eos.to_owned(),
        })
    }

    /// Renders the conversation into the prompt text, ending with the assistant's turn.
    /// `messages` are OpenAI-shaped message objects; `tools` the request's tool list.
    pub fn render(&self, messages: &[Value], tools: Option<&[Value]>) -> Result<String, Error> {
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| Error::Template(e.to_string()))?;
        let ctx = minijinja::context! {
            messages => JValue::from_serialize(messages),
            tools => tools.map(JValue::from_serialize),
            add_generation_prompt => true,
            bos_token => self.bos.as_str(),
            eos_token => self.eos.as_str(),
        };
        tmpl.render(ctx).map_err(|e| {
            // The template's own `raise_exception` messages explain what it rejects (e.g.
            // "Conversation roles must alternate user/assistant"): they are the client's error.
            Error::InvalidRequest {
                message: format!("the model's chat template rejected the conversation: {e}"),
                param: Some("messages".into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chatml_default() {
        let t = ChatTemplate::new(CHATML, "<s>", "</s>").unwrap();
        let p = t
            .render(
                &[
                    json!({"role": "system", "content": "Be brief."}),
                    json!({"role": "user", "content": "Hi"}),
                ],
                None,
            )
            .unwrap();
        assert_eq!(
            p,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn hugging_face_idioms_work() {
        // A Llama-2-style template: bos_token, raise_exception, .strip(), loop.index0.
        let src = "{{ bos_token }}{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'].strip() + ' [/INST]' }}{% else %}{{ ' ' + m['content'].strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
        let t = ChatTemplate::new(src, "<s>", "</s>").unwrap();
        let p = t
            .render(&[json!({"role": "user", "content": "  hello "})], None)
            .unwrap();
        assert_eq!(p, "<s>[INST] hello [/INST]");
        let e = t
            .render(
                &[
                    json!({"role": "user", "content": "a"}),
                    json!({"role": "user", "content": "b"}),
                ],
                None,
            )
            .unwrap_err();
        assert!(e.to_string().contains("must alternate"), "{e}");
    }

    #[test]
    fn tools_reach_the_template() {
        let src = "{% if tools %}{% for t in tools %}{{ t | tojson }}\n{% endfor %}{% endif %}{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}";
        let t = ChatTemplate::new(src, "", "").unwrap();
        let tools = [
            json!({"type": "function", "function": {"name": "get_order", "parameters": {"type": "object"}}}),
        ];
        let p = t
            .render(
                &[json!({"role": "user", "content": "where is my order?"})],
                Some(&tools),
            )
            .unwrap();
        assert!(p.contains("\"name\":\"get_order\""), "{p}");
    }

    #[test]
    fn broken_template_is_a_clear_error() {
        let e = ChatTemplate::new("{% for %}", "", "").unwrap_err();
        assert!(e.to_string().contains("does not compile"), "{e}");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_418), (2025, 11, 26));
    }
}
