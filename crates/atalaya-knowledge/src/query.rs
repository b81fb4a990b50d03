//! Search queries out of customers' messages: a ticket's greeting, sign-off, signature block,
//! reply prefixes, contact details, order numbers and PII placeholders say nothing about what
//! the customer asks, but they pull retrieval towards any passage that shares them ("router"
//! in a signature, "Hola buenas" matching every Spanish article a little). [`focus`] keeps the
//! words that carry the question, in en/es/pt.

/// Words that open a greeting line ("Hola buenas,", "Hi team", "Olá, boa tarde").
const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "dear",
    "good",
    "morning",
    "afternoon",
    "evening",
    "hola",
    "buenas",
    "buenos",
    "estimado",
    "estimada",
    "estimados",
    "olá",
    "ola",
    "oi",
    "bom",
    "boa",
    "prezado",
    "prezada",
    "prezados",
    "caro",
    "cara",
];

/// Words that a greeting line may hold besides the greeting.
const GREETING_REST: &[&str] = &[
    "team", "there", "all", "support", "nimbo", "tardes", "días", "dias", "noches", "tarde", "dia",
    "noite", "equipo", "equipe", "senhores", "señores", "sir", "madam", "folks", "everyone",
    "tudo", "bem", "que", "tal", "qué", "buenas", "again",
];

/// Sign-offs: a short line holding one of these ends the message; what follows is a
/// signature (name, phone, contract number).
const CLOSINGS: &[&str] = &[
    "thanks",
    "thank you",
    "thx",
    "regards",
    "kind regards",
    "best",
    "best regards",
    "cheers",
    "sincerely",
    "saludos",
    "un saludo",
    "muchas gracias",
    "gracias",
    "atentamente",
    "cordialmente",
    "atte",
    "obrigado",
    "obrigada",
    "muito obrigado",
    "muito obrigada",
    "atenciosamente",
    "cumprimentos",
    "abraços",
    "abracos",
    "abrazos",
    "att",
    "valeu",
    "un abrazo",
    "um abraço",
    "besos",
    "beijos",
];

fn words(line: &str) -> Vec<String> {
    line.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A line that only greets: a greeting word first and nothing but greeting words after it.
fn greeting_line(line: &str) -> bool {
    let w = words(line);
    !w.is_empty()
        && w.len() <= 5
        && GREETINGS.contains(&w[0].as_str())
        && w[1..]
            .iter()
            .all(|x| GREETINGS.contains(&x.as_str()) || GREETING_REST.contains(&x.as_str()))
}

/// A sign-off line: a closing phrase, maybe followed by a name ("Saludos, Marta").
fn closing_line(line: &str) -> bool {
    let w = words(line);
    if w.is_empty() || w.len() > 5 {
        return false;
    }
    let joined = w.join(" ");
    CLOSINGS
        .iter()
        .any(|c| joined == *c || joined.starts_with(&format!("{c} ")))
}

/// A token that identifies rather than asks: an e-mail, a URL, a placeholder (`[PERSON_1]`),
/// or a code holding three digits or more (orders, contracts, phones, invoices).
fn noise_token(tok: &str) -> bool {
    let t = tok.trim_matches(|c: char| !c.is_alphanumeric() && c != '[' && c != ']');
    t.contains('@')
        || t.contains("://")
        || t.starts_with("www.")
        || (t.starts_with('[') && t.ends_with(']') && t.len() > 2)
        || t.chars().filter(char::is_ascii_digit).count() >= 3
}

/// The part of a customer's message that carries the question: without greeting lines,
/// reply prefixes (`Re:`, `Fwd:`), the sign-off and everything after it, e-mails, URLs,
/// placeholders and long numbers. Falls back to the whole text when nothing would be left.
pub fn focus(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut kept: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() || greeting_line(line) {
            continue;
        }
        // A sign-off after some content ends the message ("Gracias" alone as the first line
        // is content).
        if closing_line(line) && !kept.is_empty() && i > 0 {
            break;
        }
        let mut l = *line;
        loop {
            let lower = l.to_ascii_lowercase();
            let Some(rest) = ["re:", "fwd:", "fw:", "rv:", "enc:"]
                .iter()
                .find_map(|p| lower.starts_with(p).then(|| &l[p.len()..]))
            else {
                break;
            };
            l = rest.trim_start();
        }
        let clean: Vec<&str> = l.split_whitespace().filter(|t| !noise_token(t)).collect();
        if !clean.is_empty() {
            kept.push(clean.join(" "));
        }
    }
    let out = kept.join("\n");
    if out.chars().filter(|c| c.is_alphabetic()).count() < 3 {
        text.trim().to_owned()
    } else {
        out
    }
}

/// The questions of a message of several sentences (those with `?`), when they are not the
/// whole of it: searched on their own as well, since in a long ticket one sentence usually
/// carries what the customer asks ("… me mudo al extranjero. ¿Qué hago con el router?" asks
/// about the router, "Quiero dar de baja mi contrato" about the cancellation: both count).
pub fn questions(text: &str) -> Option<String> {
    let mut sentences: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?' | '\n') {
            let s = text[start..i + c.len_utf8()].trim();
            if !s.is_empty() {
                sentences.push(s);
            }
            start = i + c.len_utf8();
        }
    }
    let tail = text[start..].trim();
    if !tail.is_empty() {
        sentences.push(tail);
    }
    let asked: Vec<&str> = sentences
        .iter()
        .copied()
        .filter(|s| s.contains('?') && s.split_whitespace().count() >= 3)
        .collect();
    (!asked.is_empty() && asked.len() < sentences.len()).then(|| asked.join(" "))
}

#[cfg(test)]
mod tests {
    use super::{focus, questions};

    #[test]
    fn the_questions_of_a_long_ticket() {
        assert_eq!(
            questions(
                "Me mudo a Alemania en julio. ¿Con cuánto tiempo aviso? ¿Y qué hago con el router?"
            )
            .as_deref(),
            Some("¿Con cuánto tiempo aviso? ¿Y qué hago con el router?")
        );
        assert_eq!(questions("How do I reset my password?"), None);
        assert_eq!(questions("My wifi is slow. Please help."), None);
        assert_eq!(questions("Slow wifi. Why?"), None);
    }

    #[test]
    fn a_ticket_keeps_its_question() {
        let t = "Re: Re: Baja\n\nHola buenas,\n\nQuiero dar de baja mi contrato 88-5027 porque me \
                 mudo. ¿Qué hago con el router?\n\nSaludos,\nAndrea Vidal\nTel. 646 227 694";
        assert_eq!(
            focus(t),
            "Baja\nQuiero dar de baja mi contrato porque me mudo. ¿Qué hago con el router?"
        );
    }

    #[test]
    fn contact_details_and_placeholders_go() {
        assert_eq!(
            focus("Olá, boa tarde\nSou [PERSON_1], escrevam para ana@example.com ou www.x.pt sobre a fatura nº 2024-0012"),
            "Sou escrevam para ou sobre a fatura nº"
        );
    }

    #[test]
    fn short_or_empty_messages_stay_whole() {
        assert_eq!(focus("Gracias"), "Gracias");
        assert_eq!(focus("  hi  "), "hi");
        assert_eq!(focus(""), "");
        assert_eq!(
            focus("thanks, the wifi works now"),
            "thanks, the wifi works now"
        );
    }
}
