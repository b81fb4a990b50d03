//! Sentence boundaries for English, Spanish and Portuguese: Unicode's sentence rules (UAX #29,
//! via unicode-segmentation), corrected for the common abbreviations of the three languages
//! ("Dr.", "Sra.", "p.ex.") after which UAX #29 would wrongly break.

use unicode_segmentation::UnicodeSegmentation;

/// Lower-cased abbreviations without their final period.
const ABBREVIATIONS: &[&str] = &[
    // English
    "mr", "mrs", "ms", "dr", "prof", "st", "vs", "e.g", "i.e", "approx", "no", "inc", "ltd", "jr",
    "sr", "fig", "dept", "min", "max", "est", // Spanish
    "sra", "srta", "dra", "ud", "uds", "núm", "pág", "aprox", "p.ej", "av", "avda", "tel", "dto",
    "admón", // Portuguese
    "exmo", "exma", "nº", "n.º", "p.ex", "ex", "dto", "lda", "sto", "sta",
];

/// Byte ranges of the sentences of `text`, in order, covering it entirely (trailing
/// whitespace stays with its sentence).
pub fn split(text: &str) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (start, s) in text.split_sentence_bound_indices() {
        let end = start + s.len();
        match out.last_mut() {
            Some(last) if ends_with_abbreviation(&text[last.0..last.1]) => last.1 = end,
            _ => out.push((start, end)),
        }
    }
    out
}

fn ends_with_abbreviation(sentence: &str) -> bool {
    let t = sentence.trim_end();
    let Some(body) = t.strip_suffix('.') else {
        return false;
    };
    let word = body
        .rsplit(|c: char| c.is_whitespace() || c == '(' || c == '"' || c == '¿' || c == '¡')
        .next()
        .unwrap_or("");
    let lower = word.to_lowercase();
    // Single letters ("J. Smith") and known abbreviations.
    (lower.chars().count() == 1 && lower.chars().all(char::is_alphabetic))
        || ABBREVIATIONS.contains(&lower.as_str())
}

#[cfg(test)]
mod tests {
    use super::split;

    fn sentences(t: &str) -> Vec<&str> {
        split(t).into_iter().map(|(a, b)| t[a..b].trim()).collect()
    }

    #[test]
    fn splits_en_es_pt_and_keeps_abbreviations() {
        assert_eq!(
            sentences("Call Dr. Smith today. He answers fast! Ok?"),
            ["Call Dr. Smith today.", "He answers fast!", "Ok?"]
        );
        assert_eq!(
            sentences("La Sra. García llamó. ¿Puede ayudarla? Gracias."),
            ["La Sra. García llamó.", "¿Puede ayudarla?", "Gracias."]
        );
        assert_eq!(
            sentences("Use o cartão, p.ex. Visa. O reembolso leva 5 dias."),
            ["Use o cartão, p.ex. Visa.", "O reembolso leva 5 dias."]
        );
        assert_eq!(
            sentences("Version 2.5 costs $3.50. Done."),
            ["Version 2.5 costs $3.50.", "Done."]
        );
    }

    #[test]
    fn ranges_cover_the_text() {
        let t = "One. Two.  Three";
        let r = split(t);
        assert_eq!(r.first().map(|x| x.0), Some(0));
        assert_eq!(r.last().map(|x| x.1), Some(t.len()));
        assert!(r.windows(2).all(|w| w[0].1 == w[1].0));
    }
}
