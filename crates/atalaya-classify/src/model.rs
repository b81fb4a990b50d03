//! A trained classifier: its labels, featurizer, weights, out-of-scope threshold and the
//! record of how it was made (parameters, data hash, validation report). Saved as one file:
//! `ATLCLS01`, the length of a JSON header, the header, then the weights (f32, little-endian).

use std::{io::Write, path::Path};

use serde::{Deserialize, Serialize};

use crate::{
    data::{stratified_split, Example},
    features::{Featurizer, Sparse},
    metrics::{report, report_with_best, Report},
    train::{train, TrainParams, Weights},
    Error, Result,
};

/// The label of a prediction below the classifier's confidence threshold, and the label that
/// marks out-of-scope examples in training and evaluation data (`oos`, CLINC150's, also).
pub const OUT_OF_SCOPE: &str = "out_of_scope";

const MAGIC: &[u8; 8] = b"ATLCLS01";
/// Widest sentence embedding a saved classifier may declare.
const MAX_EMBEDDING_DIMS: usize = 65_536;

/// Computes sentence embeddings of texts (unit length or not), in order.
pub type EmbedFn<'a> = &'a dyn Fn(&[String]) -> std::result::Result<Vec<Vec<f32>>, String>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainOptions {
    pub params: TrainParams,
    /// N-grams kept: those in at least `min_df` training texts, at most `max_features`.
    pub min_df: usize,
    pub max_features: usize,
    /// Weight of the (unit-length) sentence embedding against the (unit-length) n-grams.
    pub embedding_weight: f32,
    /// Share of each label held out for validation when no validation file is given.
    pub validation_fraction: f64,
    /// With no out-of-scope examples to calibrate on, the threshold keeps this share of the
    /// correct validation predictions.
    pub keep_correct: f64,
    /// A fixed threshold instead of a calibrated one.
    pub threshold: Option<f32>,
    /// With at least this many out-of-scope training examples, they are learned as a class
    /// of their own (`out_of_scope`, the "oos-train" method of the CLINC150 paper) besides
    /// calibrating the threshold; with fewer, they only calibrate it.
    pub out_of_scope_class_min: usize,
    /// The share of out-of-scope messages expected in real traffic: with out-of-scope
    /// validation examples, the threshold maximises the accuracy expected at that share,
    /// `(1 - share) × in-scope accuracy + share × out-of-scope recall` (validation sets
    /// rarely hold out-of-scope examples in their real proportion, so it is not read off
    /// them). 0.5 weighs both alike.
    pub out_of_scope_share: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            params: TrainParams::default(),
            min_df: 2,
            max_features: 200_000,
            embedding_weight: 1.0,
            validation_fraction: 0.1,
            keep_correct: 0.97,
            threshold: None,
            out_of_scope_class_min: 20,
            out_of_scope_share: 0.2,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub name: String,
    pub labels: Vec<String>,
    pub featurizer: Featurizer,
    /// The embedding model whose vectors the classifier expects (`None`: n-grams only).
    pub embedding_model: Option<String>,
    /// Predictions with a lower top probability are `out_of_scope`. When the labels hold
    /// [`OUT_OF_SCOPE`] (learned from out-of-scope examples), a prediction is out of scope
    /// also when that class is more probable than the best in-scope label.
    pub threshold: f32,
    /// How the threshold was chosen.
    pub threshold_method: String,
    pub options: TrainOptions,
    /// SHA-256 of the training data file (and of the validation file, when one was given).
    pub data_sha256: Vec<String>,
    pub train_examples: usize,
    pub validation_examples: usize,
    /// Held-out validation scores, with the threshold applied.
    pub validation: Report,
    pub final_loss: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The best label, or [`OUT_OF_SCOPE`] below the threshold.
    pub label: String,
    /// The best in-scope label whatever the threshold.
    pub best: String,
    /// Its probability.
    pub confidence: f32,
    /// Its lead over the second label's probability.
    pub margin: f32,
    pub out_of_scope: bool,
    /// The three most probable labels.
    pub top: Vec<(String, f32)>,
}

pub struct Classifier {
    pub meta: Meta,
    weights: Weights,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("name", &self.meta.name)
            .field("labels", &self.meta.labels.len())
            .finish_non_exhaustive()
    }
}

fn is_oos(label: &str) -> bool {
    label == OUT_OF_SCOPE || label == "oos"
}

/// The label an example is scored against: its own, or [`OUT_OF_SCOPE`] for either spelling.
fn expected(label: &str) -> &str {
    if is_oos(label) {
        OUT_OF_SCOPE
    } else {
        label
    }
}

/// Embeddings of `texts` (when the classifier uses them), checked for count and width.
fn embed_all(
    embed: Option<EmbedFn<'_>>,
    texts: &[String],
    width: Option<usize>,
) -> Result<Option<Vec<Vec<f32>>>> {
    let Some(embed) = embed else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(256) {
        let v = embed(chunk).map_err(|e| Error::Data(format!("embedding the examples: {e}")))?;
        if v.len() != chunk.len() {
            return Err(Error::Data(format!(
                "the embedding model returned {} vectors for {} texts",
                v.len(),
                chunk.len()
            )));
        }
        out.extend(v);
    }
    let width = width.or_else(|| out.first().map(Vec::len)).unwrap_or(0);
    if width == 0 || out.iter().any(|v| v.len() != width) {
        return Err(Error::Data(format!(
            "the embedding model returned vectors of different or zero widths (expected {width})"
        )));
    }
    Ok(Some(out))
}

impl Classifier {
    /// Trains a classifier named `name` on `examples`. Out-of-scope ones (labelled
    /// `out_of_scope` or `oos`) are learned as a class when there are at least
    /// [`TrainOptions::out_of_scope_class_min`] of them, else they only calibrate the
    /// threshold. `validation` defaults to a stratified share of `examples`. With `embed`,
    /// sentence embeddings of `embedding_model` join the n-grams.
    #[allow(clippy::too_many_arguments)]
    pub fn train(
        name: &str,
        examples: &[Example],
        validation: Option<&[Example]>,
        embed: Option<(&str, EmbedFn<'_>)>,
        options: &TrainOptions,
        data_sha256: Vec<String>,
        mut progress: impl FnMut(&str),
    ) -> Result<Classifier> {
        options.params.validate()?;
        if !(0.0..1.0).contains(&options.validation_fraction) {
            return Err(Error::Param("validation_fraction must be in [0, 1)".into()));
        }
        if options
            .threshold
            .is_some_and(|t| !(t.is_finite() && (0.0..=1.0).contains(&t)))
        {
            return Err(Error::Param(
                "threshold must be a probability in [0, 1]".into(),
            ));
        }
        if !(options.out_of_scope_share > 0.0 && options.out_of_scope_share < 1.0) {
            return Err(Error::Param("out_of_scope_share must be in (0, 1)".into()));
        }
        if !(options.embedding_weight.is_finite() && options.embedding_weight >= 0.0) {
            return Err(Error::Param(
                "embedding_weight must be a finite number ≥ 0".into(),
            ));
        }
        let (mut in_scope, oos): (Vec<Example>, Vec<Example>) =
            examples.iter().cloned().partition(|e| !is_oos(&e.label));
        let oos_class = oos.len() >= options.out_of_scope_class_min.max(1);
        let mut calibrate_only = Vec::new();
        if oos_class {
            in_scope.extend(oos.into_iter().map(|e| Example {
                label: OUT_OF_SCOPE.to_owned(),
                ..e
            }));
        } else {
            calibrate_only = oos;
        }
        let (train_set, mut val_set) = match validation {
            Some(v) => (in_scope, v.to_vec()),
            None => stratified_split(&in_scope, options.validation_fraction, options.params.seed),
        };
        val_set.extend(calibrate_only);
        let mut labels: Vec<String> = train_set.iter().map(|e| e.label.clone()).collect();
        labels.sort();
        labels.dedup();
        let n_in_scope = labels.iter().filter(|l| !is_oos(l)).count();
        if n_in_scope < 2 {
            return Err(Error::Data(format!(
                "at least two in-scope labels are needed (found {n_in_scope})"
            )));
        }
        let texts: Vec<String> = train_set.iter().map(|e| e.text.clone()).collect();
        let embed_fn = embed.map(|(_, f)| f);
        progress(&format!(
            "{} training examples, {} labels, {} validation examples",
            train_set.len(),
            labels.len(),
            val_set.len()
        ));
        let train_emb = embed_all(embed_fn, &texts, None)?;
        let dims = train_emb
            .as_ref()
            .and_then(|e| e.first())
            .map_or(0, Vec::len);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let featurizer = Featurizer::fit(
            &refs,
            options.min_df,
            options.max_features,
            dims,
            options.embedding_weight,
        );
        let xs: Vec<Sparse> = (0..texts.len())
            .map(|i| featurizer.transform(&texts[i], train_emb.as_ref().map(|e| e[i].as_slice())))
            .collect();
        let ys: Vec<usize> = train_set
            .iter()
            .map(|e| labels.binary_search(&e.label).unwrap_or(0))
            .collect();
        progress(&format!(
            "{} n-gram features{}",
            featurizer.lexical_dims(),
            if dims > 0 {
                format!(" + {dims}-dimensional embeddings")
            } else {
                String::new()
            }
        ));
        let mut final_loss = 0.0;
        let weights = train(
            &xs,
            &ys,
            labels.len(),
            featurizer.dims(),
            &options.params,
            |epoch, loss| {
                final_loss = loss;
                progress(&format!("epoch {epoch}: loss {loss:.4}"));
            },
        )?;
        let mut c = Classifier {
            meta: Meta {
                name: name.to_owned(),
                labels,
                featurizer,
                embedding_model: embed.map(|(m, _)| m.to_owned()),
                threshold: 0.0,
                threshold_method: String::new(),
                options: options.clone(),
                data_sha256,
                train_examples: train_set.len(),
                validation_examples: val_set.len(),
                validation: report(&[], OUT_OF_SCOPE),
                final_loss,
            },
            weights,
        };
        // Calibration on the validation examples.
        let val_texts: Vec<String> = val_set.iter().map(|e| e.text.clone()).collect();
        let val_emb = if val_texts.is_empty() {
            None
        } else {
            embed_all(embed_fn, &val_texts, Some(c.meta.featurizer.embedding_dims))?
        };
        let scored: Vec<(usize, f32, bool)> = val_texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let (best, conf, by_class) = c.best(t, val_emb.as_ref().map(|e| e[i].as_slice()));
                // Rejected by the out-of-scope class: below any threshold.
                let conf = if by_class { -1.0 } else { conf };
                (best, conf, is_oos(&val_set[i].label))
            })
            .collect();
        let (threshold, method) = match options.threshold {
            Some(t) => (t, "fixed".to_owned()),
            None => calibrate(&scored, &val_set, &c.meta.labels, options),
        };
        c.meta.threshold = threshold;
        c.meta.threshold_method = method;
        let predicted: Vec<&str> = scored
            .iter()
            .map(|&(best, conf, _)| {
                if conf < threshold {
                    OUT_OF_SCOPE
                } else {
                    c.meta.labels[best].as_str()
                }
            })
            .collect();
        let triples: Vec<(&str, &str, &str)> = val_set
            .iter()
            .zip(&predicted)
            .zip(&scored)
            .map(|((e, p), s)| (expected(&e.label), *p, c.meta.labels[s.0].as_str()))
            .collect();
        c.meta.validation = report_with_best(&triples, OUT_OF_SCOPE);
        Ok(c)
    }

    /// The best in-scope class index, its probability, and whether the out-of-scope class
    /// (when learned) is more probable.
    fn best(&self, text: &str, embedding: Option<&[f32]>) -> (usize, f32, bool) {
        let p = self.probabilities(text, embedding);
        let oos = self.oos_class();
        let (best, conf) = p
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != oos)
            .fold((0, f32::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
        (best, conf, oos.is_some_and(|o| p[o] > conf))
    }

    /// The index of the learned out-of-scope class, if any.
    fn oos_class(&self) -> Option<usize> {
        self.meta.labels.iter().position(|l| l == OUT_OF_SCOPE)
    }

    fn probabilities(&self, text: &str, embedding: Option<&[f32]>) -> Vec<f32> {
        let x = self.meta.featurizer.transform(text, embedding);
        let mut p = vec![0.0; self.meta.labels.len()];
        self.weights.probabilities(&x, &mut p);
        p
    }

    fn embedding_missing(&self) -> Error {
        Error::Param(format!(
            "classifier '{}' needs embeddings of '{}'",
            self.meta.name,
            self.meta.embedding_model.as_deref().unwrap_or("?")
        ))
    }

    /// Width of the embedding predictions need (0: none).
    pub fn embedding_dims(&self) -> usize {
        self.meta.featurizer.embedding_dims
    }

    /// Whether predictions need an embedding (of [`Meta::embedding_model`]).
    pub fn needs_embedding(&self) -> bool {
        self.meta.featurizer.embedding_dims > 0
    }

    pub fn predict(&self, text: &str, embedding: Option<&[f32]>) -> Result<Prediction> {
        if self.needs_embedding() {
            match embedding {
                None => return Err(self.embedding_missing()),
                Some(e) if e.len() != self.meta.featurizer.embedding_dims => {
                    return Err(Error::Param(format!(
                        "classifier '{}' expects {}-dimensional embeddings, got {}",
                        self.meta.name,
                        self.meta.featurizer.embedding_dims,
                        e.len()
                    )))
                }
                Some(_) => {}
            }
        }
        let p = self.probabilities(text, embedding);
        let oos = self.oos_class();
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|a, b| p[*b].total_cmp(&p[*a]));
        let mut in_scope = order.iter().copied().filter(|i| Some(*i) != oos);
        let best = in_scope.next().unwrap_or(0);
        let confidence = p[best];
        let second = in_scope.next().map_or(0.0, |i| p[i]);
        let out_of_scope =
            confidence < self.meta.threshold || oos.is_some_and(|o| p[o] > confidence);
        Ok(Prediction {
            label: if out_of_scope {
                OUT_OF_SCOPE.to_owned()
            } else {
                self.meta.labels[best].clone()
            },
            best: self.meta.labels[best].clone(),
            confidence,
            margin: confidence - second,
            out_of_scope,
            top: order
                .iter()
                .take(3)
                .map(|i| (self.meta.labels[*i].clone(), p[*i]))
                .collect(),
        })
    }

    /// Scores the classifier on labelled examples (embedding them with `embed` when it
    /// needs embeddings).
    pub fn evaluate(&self, examples: &[Example], embed: Option<EmbedFn<'_>>) -> Result<Report> {
        let texts: Vec<String> = examples.iter().map(|e| e.text.clone()).collect();
        let emb = if self.needs_embedding() {
            let f = embed.ok_or_else(|| self.embedding_missing())?;
            embed_all(Some(f), &texts, Some(self.meta.featurizer.embedding_dims))?
        } else {
            None
        };
        let mut predicted = Vec::with_capacity(texts.len());
        for (i, t) in texts.iter().enumerate() {
            predicted.push(self.predict(t, emb.as_ref().map(|e| e[i].as_slice()))?);
        }
        let triples: Vec<(&str, &str, &str)> = examples
            .iter()
            .zip(&predicted)
            .map(|(e, p)| (expected(&e.label), p.label.as_str(), p.best.as_str()))
            .collect();
        Ok(report_with_best(&triples, OUT_OF_SCOPE))
    }

    /// The classifier as bytes: a magic, the JSON header's length and the header, then the
    /// weights (little-endian f32). What [`Classifier::save`] writes and a database row holds.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let meta = serde_json::to_vec(&self.meta).map_err(|e| Error::Model {
            path: "(in memory)".into(),
            problem: e.to_string(),
        })?;
        let floats = self.weights.w.len() + self.weights.b.len();
        let mut out = Vec::with_capacity(MAGIC.len() + 8 + meta.len() + floats * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(meta.len() as u64).to_le_bytes());
        out.extend_from_slice(&meta);
        for v in self.weights.w.iter().chain(&self.weights.b) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        Ok(out)
    }

    /// Writes the classifier to `path` (through a temporary file and a rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let bytes = self.to_bytes()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }

    pub fn load(path: &Path) -> Result<Classifier> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Classifier::from_bytes(&bytes, &path.display().to_string())
    }

    /// Reads [`Classifier::to_bytes`]'s form, checking every size and number; `origin` names
    /// where the bytes came from in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Classifier> {
        let bad = |problem: &str| Error::Model {
            path: origin.to_owned(),
            problem: problem.to_owned(),
        };
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| bad("not an Atalaya classifier (wrong magic)"))?;
        let (len, rest) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| bad("truncated header"))?;
        let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| bad("bad header"))?;
        if rest.len() < len {
            return Err(bad("truncated header"));
        }
        let (meta, weights) = rest.split_at(len);
        let mut meta: Meta = serde_json::from_slice(meta).map_err(|e| bad(&e.to_string()))?;
        meta.featurizer.rebuild_index();
        let classes = meta.labels.len();
        if classes < 2 {
            return Err(bad("fewer than two labels"));
        }
        if meta.featurizer.embedding_dims > MAX_EMBEDDING_DIMS {
            return Err(bad("implausible embedding width"));
        }
        if meta.featurizer.idf.len() != meta.featurizer.vocabulary.len() {
            return Err(bad("vocabulary and IDF lengths differ"));
        }
        if !meta.threshold.is_finite()
            || !meta.featurizer.embedding_weight.is_finite()
            || meta.featurizer.idf.iter().any(|v| !v.is_finite())
        {
            return Err(bad("non-finite numbers in the header"));
        }
        let dims = meta.featurizer.dims();
        let want = classes
            .checked_mul(dims)
            .and_then(|n| n.checked_add(classes))
            .and_then(|n| n.checked_mul(4))
            .ok_or_else(|| bad("implausible sizes"))?;
        if weights.len() != want {
            return Err(bad(&format!(
                "{} bytes of weights, {want} expected for {classes} labels × {dims} features",
                weights.len()
            )));
        }
        let floats: Vec<f32> = weights
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        // A NaN or infinite weight would make every probability NaN.
        if floats.iter().any(|v| !v.is_finite()) {
            return Err(bad("non-finite weights"));
        }
        let (w, b) = floats.split_at(classes * dims);
        Ok(Classifier {
            meta,
            weights: Weights {
                classes,
                dims,
                w: w.to_vec(),
                b: b.to_vec(),
            },
        })
    }
}

/// Chooses the out-of-scope threshold from validation predictions `(best, confidence,
/// expected out of scope)`. With out-of-scope examples: the threshold that maximises the
/// accuracy expected when a share `out_of_scope_share` of the traffic is out of scope.
/// Without: the highest threshold that keeps `keep_correct` of the correct predictions.
fn calibrate(
    scored: &[(usize, f32, bool)],
    val: &[Example],
    labels: &[String],
    options: &TrainOptions,
) -> (f32, String) {
    let (keep_correct, share) = (options.keep_correct, options.out_of_scope_share);
    let in_scope = scored.iter().filter(|s| !s.2).count();
    let oos = scored.len() - in_scope;
    if in_scope == 0 {
        return (
            0.0,
            "no in-scope validation examples to calibrate on: none rejected".into(),
        );
    }
    // Confidences of the correct in-scope predictions and of the out-of-scope examples,
    // sorted, so each candidate threshold is scored with two binary searches.
    let mut right: Vec<f32> = scored
        .iter()
        .zip(val)
        .filter(|((best, _, o), e)| !*o && labels[*best] == e.label)
        .map(|((_, c, _), _)| *c)
        .collect();
    right.sort_by(f32::total_cmp);
    if oos > 0 {
        let mut outs: Vec<f32> = scored.iter().filter(|s| s.2).map(|s| s.1).collect();
        outs.sort_by(f32::total_cmp);
        let mut candidates: Vec<f32> = scored.iter().map(|s| s.1).filter(|c| *c >= 0.0).collect();
        candidates.push(0.0);
        candidates.sort_by(f32::total_cmp);
        candidates.dedup();
        let mut best = (0.0f32, f64::MIN);
        for &t in &candidates {
            let kept = right.len() - right.partition_point(|c| *c < t);
            let rejected = outs.partition_point(|c| *c < t);
            let score = (1.0 - share) * kept as f64 / in_scope as f64
                + share * rejected as f64 / oos as f64;
            if score > best.1 {
                best = (t, score);
            }
        }
        return (
            best.0,
            format!("maximises (1 - {share}) × in-scope accuracy + {share} × out-of-scope recall on {in_scope} + {oos} validation examples"),
        );
    }
    if right.is_empty() {
        return (
            0.0,
            "no correct validation predictions: none rejected".into(),
        );
    }
    let drop = ((1.0 - keep_correct.clamp(0.0, 1.0)) * right.len() as f64).floor() as usize;
    let t = right[drop.min(right.len() - 1)].max(0.0);
    (
        t,
        format!(
            "keeps {:.0}% of the {} correct validation predictions",
            keep_correct * 100.0,
            right.len()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_follows_the_expected_out_of_scope_share() {
        let labels = vec!["a".to_owned()];
        let ex = |l: &str| Example {
            text: String::new(),
            label: l.to_owned(),
        };
        // Correct in-scope predictions at 0.9, 0.8, 0.6, 0.4; out-of-scope ones at 0.5,
        // 0.3, and one rejected by the out-of-scope class (-1).
        let scored = [
            (0, 0.9, false),
            (0, 0.8, false),
            (0, 0.6, false),
            (0, 0.4, false),
            (0, 0.5, true),
            (0, 0.3, true),
            (0, -1.0, true),
        ];
        let val: Vec<Example> = scored
            .iter()
            .map(|s| ex(if s.2 { "oos" } else { "a" }))
            .collect();
        let at = |share: f64| {
            let o = TrainOptions {
                out_of_scope_share: share,
                ..TrainOptions::default()
            };
            calibrate(&scored, &val, &labels, &o).0
        };
        // Half the traffic out of scope: 0.6 keeps 3/4 and rejects all 3.
        assert_eq!(at(0.5), 0.6);
        // A tenth: 0.4 keeps every correct one and rejects 2/3.
        assert_eq!(at(0.1), 0.4);
    }
}
