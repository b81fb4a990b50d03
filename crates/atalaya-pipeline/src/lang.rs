//! Language detection for the `detect_language` step: whatlang (trigram profiles, no model
//! files) restricted to the languages a pipeline serves, reported as ISO 639-1 codes.

use whatlang::{Detector, Lang};

/// The ISO 639-1 codes a pipeline may list, with whatlang's language.
const CODES: &[(&str, Lang)] = &[
    ("en", Lang::Eng),
    ("es", Lang::Spa),
    ("pt", Lang::Por),
    ("fr", Lang::Fra),
    ("de", Lang::Deu),
    ("it", Lang::Ita),
    ("nl", Lang::Nld),
    ("ca", Lang::Cat),
    ("pl", Lang::Pol),
    ("ro", Lang::Ron),
    ("sv", Lang::Swe),
    ("da", Lang::Dan),
    ("fi", Lang::Fin),
    ("tr", Lang::Tur),
    ("ru", Lang::Rus),
    ("uk", Lang::Ukr),
    ("ar", Lang::Ara),
    ("hi", Lang::Hin),
    ("ja", Lang::Jpn),
    ("zh", Lang::Cmn),
    ("ko", Lang::Kor),
];

/// Whether `code` is a language the detector knows.
pub fn known(code: &str) -> bool {
    CODES.iter().any(|(c, _)| *c == code)
}

/// The codes the detector knows, for error messages.
pub fn known_codes() -> String {
    CODES.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
}

/// A detection.
#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    /// ISO 639-1 code.
    pub language: String,
    /// whatlang's confidence, 0..1 (0 when the default was used).
    pub confidence: f64,
    /// Whether the text said enough to tell (else the language is the default).
    pub reliable: bool,
}

/// A detector restricted to some languages.
pub struct LanguageDetector {
    detector: Detector,
    default: String,
    languages: Vec<String>,
}

/// Fewer letters than this and the default language is used: a greeting says little.
const MIN_LETTERS: usize = 12;
/// Below this confidence the default language wins.
const MIN_CONFIDENCE: f64 = 0.05;

impl LanguageDetector {
    /// A detector for `languages` (ISO 639-1 codes, checked by the pipeline's validation;
    /// unknown ones are ignored here) falling back to `default`.
    pub fn new(languages: &[String], default: &str) -> Self {
        let allow: Vec<Lang> = CODES
            .iter()
            .filter(|(c, _)| languages.iter().any(|l| l == c))
            .map(|(_, l)| *l)
            .collect();
        LanguageDetector {
            detector: Detector::with_allowlist(allow),
            default: default.to_owned(),
            languages: languages.to_vec(),
        }
    }

    pub fn detect(&self, text: &str) -> Detected {
        // E-mail addresses, URLs, handles and codes say nothing about the language (and a
        // name in an address can tip a short text).
        let words: Vec<&str> = text
            .split_whitespace()
            .filter(|w| {
                !w.contains('@')
                    && !w.contains("://")
                    && !w.starts_with("www.")
                    && !w.chars().any(|c| c.is_ascii_digit())
            })
            .collect();
        let cleaned = words.join(" ");
        let text = cleaned.as_str();
        let fallback = Detected {
            language: self.default.clone(),
            confidence: 0.0,
            reliable: false,
        };
        if text.chars().filter(|c| c.is_alphabetic()).count() < MIN_LETTERS {
            return fallback;
        }
        if let Some(d) = self.by_function_words(text) {
            return d;
        }
        let Some(info) = self.detector.detect(text) else {
            return fallback;
        };
        let Some((code, _)) = CODES.iter().find(|(_, l)| *l == info.lang()) else {
            return fallback;
        };
        if info.confidence() < MIN_CONFIDENCE {
            return fallback;
        }
        Detected {
            language: (*code).to_owned(),
            confidence: info.confidence(),
            reliable: info.is_reliable(),
        }
    }
}

/// Function words that tell English, Spanish and Portuguese apart (words the languages share,
/// such as "que", "para", "como", "no", are left out).
const FUNCTION_WORDS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "the", "and", "is", "are", "my", "i", "i'm", "to", "of", "you", "your", "how", "what",
            "do", "does", "not", "have", "has", "it", "this", "that", "with", "for", "on", "in",
            "at", "me", "can", "please", "why", "when", "where", "was", "will", "be", "an", "from",
            "there", "would", "could", "don't", "it's", "can't", "we", "our", "they", "is", "am",
        ],
    ),
    (
        "es",
        &[
            "el", "la", "los", "las", "del", "y", "es", "mi", "mis", "una", "un", "cómo", "qué",
            "estoy", "puedo", "tengo", "hola", "gracias", "pero", "lo", "le", "su", "muy", "ya",
            "cuando", "dónde", "donde", "también", "hay", "usted", "ustedes", "quiero", "necesito",
            "pedido", "cuenta", "desde", "nuestro", "todavía", "hasta", "sí", "ni", "eso", "esto",
            "cuál", "entonces", "llegó", "mucho", "poco",
        ],
    ),
    (
        "pt",
        &[
            "o", "os", "as", "da", "do", "das", "dos", "e", "não", "meu", "minha", "uma", "um",
            "com", "é", "estou", "posso", "tenho", "olá", "obrigado", "obrigada", "mas", "você",
            "vocês", "seu", "sua", "muito", "já", "quando", "onde", "também", "há", "quero",
            "preciso", "pedido", "conta", "desde", "nosso", "ainda", "até", "sim", "nem", "isso",
            "isto", "qual", "então", "chegou", "ao", "na", "nas", "pelo", "pela", "foi",
        ],
    ),
];

impl LanguageDetector {
    /// English, Spanish or Portuguese told apart by function words and letters only one of
    /// them uses (ñ ¿ ¡ / ã õ ç), when the evidence is clear; trigram statistics are weak on
    /// the short texts support messages often are.
    fn by_function_words(&self, text: &str) -> Option<Detected> {
        let lower = text.to_lowercase();
        let mut score = [0.0f64; 3];
        for w in lower.split(|c: char| !(c.is_alphanumeric() || c == '\'')) {
            if w.is_empty() {
                continue;
            }
            for (i, (_, words)) in FUNCTION_WORDS.iter().enumerate() {
                if words.contains(&w) {
                    score[i] += 1.0;
                }
            }
        }
        for c in lower.chars() {
            match c {
                'ñ' | '¿' | '¡' => score[1] += 1.5,
                'ã' | 'õ' | 'ç' | 'ê' | 'ô' => score[2] += 1.5,
                _ => {}
            }
        }
        let mut order: Vec<usize> = (0..3)
            .filter(|&i| self.allowed(FUNCTION_WORDS[i].0))
            .collect();
        order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
        let best = *order.first()?;
        let second = order.get(1).map_or(0.0, |&i| score[i]);
        let total: f64 = order.iter().map(|&i| score[i]).sum();
        if score[best] < 2.0 || score[best] < 2.0 * second {
            return None;
        }
        Some(Detected {
            language: FUNCTION_WORDS[best].0.to_owned(),
            confidence: (score[best] / total).min(1.0),
            reliable: score[best] >= 3.0,
        })
    }

    fn allowed(&self, code: &str) -> bool {
        self.languages.iter().any(|l| l == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> LanguageDetector {
        LanguageDetector::new(&["en".into(), "es".into(), "pt".into()], "en")
    }

    #[test]
    fn support_messages_in_three_languages() {
        let cases = [
            ("My package has not arrived yet and the tracking page shows no updates since Monday.", "en"),
            ("Mi paquete todavía no ha llegado y la página de seguimiento no muestra cambios desde el lunes.", "es"),
            ("Meu pacote ainda não chegou e a página de rastreamento não mostra atualizações desde segunda-feira.", "pt"),
            ("How do I reset my password? The email with the link never came.", "en"),
            ("¿Cómo puedo cambiar la dirección de envío de mi pedido?", "es"),
            ("Como faço para cancelar a minha assinatura e pedir o reembolso?", "pt"),
            ("How do I reset my password? Write to me at ana.souza@example.com please.", "en"),
            ("My order 4411-2231 has not arrived, see https://shop.example.com/o/4411", "en"),
            ("Hola, mi pedido no llegó", "es"),
            ("Olá, o meu pedido não chegou", "pt"),
            ("Where is my order?", "en"),
            ("¿Dónde está mi pedido 12345? Soy María García, mi correo es maria@example.es", "es"),
        ];
        let det = d();
        for (text, want) in cases {
            assert_eq!(det.detect(text).language, want, "{text}");
        }
    }

    #[test]
    fn short_or_empty_text_falls_back_to_the_default() {
        let det = LanguageDetector::new(&["en".into(), "es".into(), "pt".into()], "es");
        let r = det.detect("ok");
        assert_eq!(r.language, "es");
        assert!(!r.reliable);
        assert_eq!(det.detect("").language, "es");
        assert_eq!(det.detect("12345 67890 !!!").language, "es");
    }

    #[test]
    fn codes_are_checked() {
        assert!(known("pt"));
        assert!(!known("xx"));
        assert!(known_codes().contains("es"));
    }
}
