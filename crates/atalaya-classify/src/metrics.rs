//! Classification metrics: accuracy, macro-F1, per-class precision/recall/F1, the most
//! frequent confusions, and out-of-scope figures when the data has out-of-scope examples.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    pub expected: String,
    pub predicted: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub examples: usize,
    /// Over in-scope examples: the share predicted with their label (an out-of-scope
    /// prediction counts as wrong).
    pub accuracy: f64,
    /// Mean of the per-class F1 over the in-scope labels expected or predicted.
    pub macro_f1: f64,
    /// Out-of-scope examples in the data, and the share of them predicted out of scope.
    pub out_of_scope_examples: usize,
    pub out_of_scope_recall: Option<f64>,
    /// In-scope examples predicted out of scope.
    pub in_scope_rejected: usize,
    /// Accuracy and macro-F1 of the best label, with no out-of-scope threshold (the figures
    /// published classifiers report), when the caller computed them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_without_threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macro_f1_without_threshold: Option<f64>,
    pub per_class: Vec<ClassScore>,
    /// The ten most frequent confusions (expected → predicted), out-of-scope examples taken for
    /// an intent and in-scope ones rejected included.
    pub confusions: Vec<Confusion>,
}

/// [`report`] of thresholded predictions, with the scores of the best labels alongside:
/// `triples` are (expected, predicted, best label whatever the threshold).
pub fn report_with_best(triples: &[(&str, &str, &str)], oos: &str) -> Report {
    let pairs: Vec<(&str, &str)> = triples.iter().map(|t| (t.0, t.1)).collect();
    let best: Vec<(&str, &str)> = triples.iter().map(|t| (t.0, t.2)).collect();
    let mut r = report(&pairs, oos);
    let b = report(&best, oos);
    r.accuracy_without_threshold = Some(b.accuracy);
    r.macro_f1_without_threshold = Some(b.macro_f1);
    r
}

/// Scores predictions against expectations. `oos` names the out-of-scope label: examples
/// expected with it are scored separately, and predicting it is never right for an in-scope
/// example.
pub fn report(pairs: &[(&str, &str)], oos: &str) -> Report {
    let mut labels: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new(); // tp, fp, fn
    let mut confusions: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let (mut correct, mut in_scope, mut oos_n, mut oos_hit, mut rejected) = (0, 0, 0, 0, 0);
    // Labels expected or predicted (as scikit-learn's macro average takes them).
    for &(expected, predicted) in pairs {
        for l in [expected, predicted] {
            if l != oos {
                labels.entry(l).or_default();
            }
        }
    }
    for &(expected, predicted) in pairs {
        if expected == oos {
            oos_n += 1;
            if predicted == oos {
                oos_hit += 1;
            } else {
                if let Some(s) = labels.get_mut(predicted) {
                    s.1 += 1;
                }
                // Out-of-scope taken for an intent: usually the costliest confusion.
                *confusions.entry((expected, predicted)).or_default() += 1;
            }
            continue;
        }
        in_scope += 1;
        if expected == predicted {
            correct += 1;
            if let Some(s) = labels.get_mut(expected) {
                s.0 += 1;
            }
            continue;
        }
        if predicted == oos {
            rejected += 1;
        } else if let Some(s) = labels.get_mut(predicted) {
            s.1 += 1;
        }
        if let Some(s) = labels.get_mut(expected) {
            s.2 += 1;
        }
        *confusions.entry((expected, predicted)).or_default() += 1;
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let per_class: Vec<ClassScore> = labels
        .iter()
        .map(|(l, &(tp, fp, fnn))| {
            let precision = ratio(tp, tp + fp);
            let recall = ratio(tp, tp + fnn);
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            ClassScore {
                label: (*l).to_owned(),
                precision,
                recall,
                f1,
                support: tp + fnn,
            }
        })
        .collect();
    let macro_f1 = if per_class.is_empty() {
        0.0
    } else {
        per_class.iter().map(|c| c.f1).sum::<f64>() / per_class.len() as f64
    };
    let mut conf: Vec<Confusion> = confusions
        .into_iter()
        .map(|((e, p), count)| Confusion {
            expected: e.to_owned(),
            predicted: p.to_owned(),
            count,
        })
        .collect();
    conf.sort_by_key(|c| std::cmp::Reverse(c.count));
    conf.truncate(10);
    Report {
        examples: pairs.len(),
        accuracy: ratio(correct, in_scope),
        macro_f1,
        out_of_scope_examples: oos_n,
        out_of_scope_recall: (oos_n > 0).then(|| ratio(oos_hit, oos_n)),
        in_scope_rejected: rejected,
        accuracy_without_threshold: None,
        macro_f1_without_threshold: None,
        per_class,
        confusions: conf,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_by_hand() {
        // a: 2 right, 1 predicted b; b: 1 right; c: 1 rejected; 2 oos, 1 caught, 1 taken for a.
        let pairs = [
            ("a", "a"),
            ("a", "a"),
            ("a", "b"),
            ("b", "b"),
            ("c", "oos"),
            ("oos", "oos"),
            ("oos", "a"),
        ];
        let r = report(&pairs, "oos");
        assert_eq!(r.examples, 7);
        assert!((r.accuracy - 3.0 / 5.0).abs() < 1e-12);
        let f = |l: &str| r.per_class.iter().find(|c| c.label == l).unwrap().clone();
        // a: tp 2, fp 1 (the oos one), fn 1 -> p 2/3, r 2/3.
        assert!((f("a").f1 - 2.0 / 3.0).abs() < 1e-12);
        // b: tp 1, fp 1 -> p 1/2, r 1 -> f1 2/3.
        assert!((f("b").f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(f("c").f1, 0.0);
        assert!((r.macro_f1 - (4.0 / 9.0)).abs() < 1e-12);
        assert_eq!(r.out_of_scope_recall, Some(0.5));
        assert_eq!(r.in_scope_rejected, 1);
        // a→b, c→oos and oos→a.
        assert_eq!(r.confusions.len(), 3);
    }
}
