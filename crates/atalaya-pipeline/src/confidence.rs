//! The confidence of a drafted answer: a weighted mean of the signals a pipeline has —
//! how close the best retrieved passage is to the question, how sure the classifiers are, and
//! how grounded the answer is in its sources. Signals a run does not have (no classifier
//! trained, nothing generated) drop out and the other weights are renormalised.

use serde::{Deserialize, Serialize};

/// Weights of the three signals (any non-negative numbers, not all zero).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    pub retrieval: f64,
    pub classification: f64,
    pub answer: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            retrieval: 0.4,
            classification: 0.2,
            answer: 0.4,
        }
    }
}

/// Cosine similarity of the sentence-embedding model at which a passage counts as unrelated
/// (signal 0) and as a clear match (signal 1); linear in between. For all-MiniLM-L6-v2,
/// unrelated support texts sit around 0.1–0.25 and paraphrases above 0.6.
pub const SIMILARITY_FLOOR: f64 = 0.25;
pub const SIMILARITY_CEILING: f64 = 0.65;

/// A cosine similarity as a 0..1 signal.
pub fn similarity_signal(cosine: f64) -> f64 {
    ((cosine - SIMILARITY_FLOOR) / (SIMILARITY_CEILING - SIMILARITY_FLOOR)).clamp(0.0, 1.0)
}

/// The signals of one run, each 0..1 when present.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    pub retrieval: Option<f64>,
    pub classification: Option<f64>,
    pub answer: Option<f64>,
}

/// The weighted mean of the signals present (0 when none is: nothing supports an answer).
pub fn combine(s: &Signals, w: &Weights) -> f64 {
    let parts = [
        (s.retrieval, w.retrieval),
        (s.classification, w.classification),
        (s.answer, w.answer),
    ];
    let (num, den) = parts
        .iter()
        .filter_map(|(v, w)| v.map(|v| (v.clamp(0.0, 1.0) * w, *w)))
        .fold((0.0, 0.0), |(n, d), (x, w)| (n + x, d + w));
    if den <= 0.0 {
        0.0
    } else {
        num / den
    }
}

/// Rounds a score for output (4 decimals).
pub fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_mean_of_present_signals() {
        let w = Weights::default();
        let all = Signals {
            retrieval: Some(1.0),
            classification: Some(0.5),
            answer: Some(0.0),
        };
        assert!((combine(&all, &w) - (0.4 + 0.1) / 1.0).abs() < 1e-9);
        let no_class = Signals {
            retrieval: Some(1.0),
            classification: None,
            answer: Some(0.5),
        };
        assert!((combine(&no_class, &w) - (0.4 + 0.2) / 0.8).abs() < 1e-9);
        assert_eq!(combine(&Signals::default(), &w), 0.0);
        let out_of_range = Signals {
            retrieval: Some(7.0),
            ..Default::default()
        };
        assert_eq!(combine(&out_of_range, &w), 1.0);
    }

    #[test]
    fn similarity_maps_linearly_between_floor_and_ceiling() {
        assert_eq!(similarity_signal(0.1), 0.0);
        assert_eq!(similarity_signal(0.9), 1.0);
        let mid = (SIMILARITY_FLOOR + SIMILARITY_CEILING) / 2.0;
        assert!((similarity_signal(mid) - 0.5).abs() < 1e-9);
    }
}
