//! Property tests: redaction followed by restoration gives back the original text, for any
//! input (emoji, combining characters, text that already looks like a placeholder), and a
//! streamed answer restores the same at any chunk boundaries.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code

use atalaya_guard::{
    pseudo::{redact, StreamRestorer, Vault},
    PiiDetector, Policy,
};
use proptest::prelude::*;

fn detector() -> &'static PiiDetector {
    static D: std::sync::OnceLock<PiiDetector> = std::sync::OnceLock::new();
    D.get_or_init(|| PiiDetector::new().unwrap_or_else(|e| panic!("{e}")))
}

/// Text pieces: PII of every type, placeholder look-alikes, emoji, combining marks, CJK.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ana.lopez@example.es".to_string()),
        Just("+34 612 345 678".to_string()),
        Just("4111 1111 1111 1111".to_string()),
        Just("ES91 2100 0418 4502 0005 1332".to_string()),
        Just("12345678Z".to_string()),
        Just("X1234567L".to_string()),
        Just("529.982.247-25".to_string()),
        Just("11.222.333/0001-81".to_string()),
        Just("123-45-6789".to_string()),
        Just("192.168.1.20".to_string()),
        Just("me llamo Itziar Goikoetxea".to_string()),
        Just("sk-proj-abcdEFGH1234ijklMNOP5678qrst".to_string()),
        Just("[EMAIL_1]".to_string()),
        Just("[PERSON_".to_string()),
        Just("😀👍🏽".to_string()),
        Just("e\u{301}\u{302}".to_string()),
        Just("中文".to_string()),
        "[ a-zA-Z0-9.,:@\\-\\[\\]_]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(8).collect()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..10).prop_map(|v| v.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn redaction_then_restoration_is_identity(t in text()) {
        let findings = detector().scan(&t);
        let mut vault = Vault::new();
        let (red, _) = redact(&t, &findings, &Policy::default(), &mut vault, &[&t])
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(vault.restore(&red), t);
    }

    #[test]
    fn streamed_restoration_matches_whole_restoration(t in text(), cuts in prop::collection::vec(0usize..400, 0..8)) {
        let findings = detector().scan(&t);
        let mut vault = Vault::new();
        let (red, _) = redact(&t, &findings, &Policy::default(), &mut vault, &[&t])
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Split the redacted answer at arbitrary char boundaries.
        let bounds: Vec<usize> = red.char_indices().map(|(i, _)| i).chain([red.len()]).collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| bounds[c % bounds.len()]).collect();
        points.sort_unstable();
        points.dedup();
        let mut r = StreamRestorer::new();
        let mut out = String::new();
        let mut at = 0;
        for p in points {
            out.push_str(&r.push(&vault, &red[at..p]));
            at = p;
        }
        out.push_str(&r.push(&vault, &red[at..]));
        out.push_str(&r.finish(&vault));
        prop_assert_eq!(out, t);
    }

    #[test]
    fn scanning_never_panics_and_spans_are_char_boundaries(t in any::<String>()) {
        for f in detector().scan(&t) {
            prop_assert!(t.is_char_boundary(f.start) && t.is_char_boundary(f.end) && f.start < f.end);
        }
    }
}
