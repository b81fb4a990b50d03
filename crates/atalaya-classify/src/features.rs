//! Features of a text: TF-IDF over word unigrams and bigrams and over character 3–5-grams
//! taken inside words (scikit-learn's `char_wb`), with a vocabulary learnt from the training
//! data, L2-normalised; optionally followed by a sentence embedding (unit length, scaled).
//!
//! N-grams are identified by a 64-bit FNV-1a hash of their bytes (with the kind of n-gram
//! mixed in), so extracting them allocates nothing and the model file stores numbers, not
//! strings.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Sparse features: (index, value), indices ascending and unique.
pub type Sparse = Vec<(u32, f32)>;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

const fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// Seeds of word, bigram and character n-gram hashes (the kind mixed in).
const WORD_SEED: u64 = fnv(FNV_OFFSET, b"w");
const BIGRAM_SEED: u64 = fnv(FNV_OFFSET, b"b");
const CHAR_SEED: u64 = fnv(FNV_OFFSET, b"c");

/// Lower-cased words (letters and digits; everything else separates).
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            cur.extend(c.to_lowercase());
        } else if c == '\'' || c == '\u{2019}' {
            // "can't", "don't": kept whole.
            if !cur.is_empty() {
                cur.push('\'');
            }
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Calls `f` with the hash of every n-gram of `text`.
pub fn ngrams(text: &str, mut f: impl FnMut(u64)) {
    let ws = words(text);
    let mut prev: Option<u64> = None;
    let mut padded: Vec<u8> = Vec::new();
    let mut bounds: Vec<usize> = Vec::new();
    for w in &ws {
        let h = fnv(WORD_SEED, w.as_bytes());
        f(h);
        if let Some(p) = prev {
            // FNV runs byte by byte: hashing one half after the other is hashing both.
            f(fnv(fnv(BIGRAM_SEED, &p.to_le_bytes()), &h.to_le_bytes()));
        }
        prev = Some(h);
        // Character n-grams of " word ", on character (not byte) boundaries.
        padded.clear();
        padded.push(b' ');
        padded.extend_from_slice(w.as_bytes());
        padded.push(b' ');
        bounds.clear();
        let s = std::str::from_utf8(&padded).unwrap_or(" ");
        bounds.extend(s.char_indices().map(|(i, _)| i));
        bounds.push(padded.len());
        let chars = bounds.len() - 1;
        for n in 3..=5 {
            if chars < n {
                break;
            }
            for start in 0..=chars - n {
                f(fnv(
                    CHAR_SEED ^ n as u64,
                    &padded[bounds[start]..bounds[start + n]],
                ));
            }
        }
    }
}

/// The learnt vocabulary and document frequencies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Featurizer {
    /// N-gram hashes, in feature order.
    pub vocabulary: Vec<u64>,
    pub idf: Vec<f32>,
    /// Width of the sentence embedding appended (0 = none).
    pub embedding_dims: usize,
    /// Factor applied to the unit-length embedding (its weight against the n-grams).
    pub embedding_weight: f32,
    #[serde(skip)]
    index: HashMap<u64, u32>,
}

impl Featurizer {
    /// Learns the vocabulary from `texts`: n-grams in at least `min_df` texts, the
    /// `max_features` most frequent of them.
    pub fn fit(
        texts: &[&str],
        min_df: usize,
        max_features: usize,
        embedding_dims: usize,
        embedding_weight: f32,
    ) -> Featurizer {
        let mut df: HashMap<u64, u32> = HashMap::new();
        let mut seen: Vec<u64> = Vec::new();
        for t in texts {
            seen.clear();
            ngrams(t, |h| seen.push(h));
            seen.sort_unstable();
            seen.dedup();
            for h in &seen {
                *df.entry(*h).or_insert(0) += 1;
            }
        }
        let mut kept: Vec<(u64, u32)> = df
            .into_iter()
            .filter(|(_, n)| *n as usize >= min_df.max(1))
            .collect();
        // Most frequent first; ties by hash, so the order does not depend on the map's.
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        kept.truncate(max_features);
        let n = texts.len() as f32;
        let mut f = Featurizer {
            vocabulary: kept.iter().map(|(h, _)| *h).collect(),
            idf: kept
                .iter()
                .map(|(_, d)| ((1.0 + n) / (1.0 + *d as f32)).ln() + 1.0)
                .collect(),
            embedding_dims,
            embedding_weight,
            index: HashMap::new(),
        };
        f.rebuild_index();
        f
    }

    /// Rebuilds the lookup table (after deserialising).
    pub fn rebuild_index(&mut self) {
        self.index = self
            .vocabulary
            .iter()
            .enumerate()
            .map(|(i, h)| (*h, i as u32))
            .collect();
    }

    pub fn lexical_dims(&self) -> usize {
        self.vocabulary.len()
    }

    /// All features: the n-grams' and then the embedding's.
    pub fn dims(&self) -> usize {
        self.vocabulary.len() + self.embedding_dims
    }

    /// The features of one text (and its embedding, when the featurizer uses one).
    pub fn transform(&self, text: &str, embedding: Option<&[f32]>) -> Sparse {
        let mut counts: Vec<(u32, f32)> = Vec::new();
        ngrams(text, |h| {
            if let Some(&i) = self.index.get(&h) {
                counts.push((i, 1.0));
            }
        });
        counts.sort_unstable_by_key(|c| c.0);
        let mut out: Sparse = Vec::with_capacity(counts.len() + self.embedding_dims);
        for (i, c) in counts {
            match out.last_mut() {
                Some(last) if last.0 == i => last.1 += c,
                _ => out.push((i, c)),
            }
        }
        // Sublinear term frequency times IDF, then unit length.
        for (i, v) in &mut out {
            *v = (1.0 + v.ln()) * self.idf[*i as usize];
        }
        let norm = out.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (_, v) in &mut out {
                *v /= norm;
            }
        }
        if let Some(e) = embedding.filter(|_| self.embedding_dims > 0) {
            let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            let base = self.vocabulary.len() as u32;
            for (j, v) in e.iter().take(self.embedding_dims).enumerate() {
                out.push((base + j as u32, v / norm * self.embedding_weight));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_ngrams() {
        assert_eq!(
            words("Why can't I top-up my CARD? ¡Ayúdame!"),
            ["why", "can't", "i", "top", "up", "my", "card", "ayúdame"]
        );
        let mut n = 0;
        ngrams("card", |_| n += 1);
        // 1 word + " card " (6 chars): 4 trigrams, 3 four-grams, 2 five-grams.
        assert_eq!(n, 1 + 4 + 3 + 2);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        ngrams("top up", |h| a.push(h));
        ngrams("up top", |h| b.push(h));
        a.sort_unstable();
        b.sort_unstable();
        assert_ne!(a, b, "bigrams keep the order");
    }

    #[test]
    fn tf_idf_is_unit_length_and_rare_grams_weigh_more() {
        let texts = [
            "my card was declined",
            "my card is lost",
            "card declined again",
        ];
        let f = Featurizer::fit(&texts, 1, 10_000, 0, 1.0);
        let x = f.transform("my card was declined", None);
        let norm: f32 = x.iter().map(|(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(x.windows(2).all(|w| w[0].0 < w[1].0));
        let h = |w: &str| fnv(WORD_SEED, w.as_bytes());
        let idf = |w: &str| f.idf[f.index[&h(w)] as usize];
        assert!(idf("was") > idf("card"));
        // Unknown n-grams are ignored; an embedding is appended after the vocabulary.
        let f = Featurizer::fit(&texts, 2, 10_000, 3, 0.5);
        let x = f.transform("zzz", Some(&[3.0, 0.0, 4.0]));
        assert_eq!(
            x,
            vec![
                (f.lexical_dims() as u32, 0.3),
                (f.lexical_dims() as u32 + 1, 0.0),
                (f.lexical_dims() as u32 + 2, 0.4)
            ]
        );
    }
}
