//! The logistic-regression classifier over hashed word and character n-grams
//! ("atalaya-injection-v1", see `models/README.md`). Weights are committed files trained by
//! `scripts/train_injection.py`; this file only reads them and scores.

use crate::GuardError;

const MAGIC: &[u8; 8] = b"ATLINJ1\0";

pub struct Classifier {
    name: String,
    bias: f32,
    weights: Vec<f32>,
    mask: u32,
}

fn fnv1a(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for p in parts {
        for &b in *p {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

impl Classifier {
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Self, GuardError> {
        let bad = |reason: &str| GuardError::Model {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(bad("not an ATLINJ1 file"));
        }
        let dims = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if !dims.is_power_of_two() || bytes.len() != 16 + 4 * dims as usize {
            return Err(bad("size does not match its dimension"));
        }
        let bias = f32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
        let weights = bytes[16..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Classifier {
            name: name.to_string(),
            bias,
            weights,
            mask: dims - 1,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// P(injection) of a normalised text.
    pub fn score(&self, norm: &str, seen: &mut Seen) -> f32 {
        if norm.is_empty() {
            return sigmoid(self.bias);
        }
        seen.clear();
        let mut sum = 0f32;
        let mut add = |h: u32, seen: &mut Seen| {
            let i = h & self.mask;
            if seen.insert(i) {
                sum += self.weights[i as usize];
            }
        };
        let mut prev: Option<&str> = None;
        for t in norm.split(' ') {
            add(fnv1a(&[b"w:", t.as_bytes()]), seen);
            if let Some(p) = prev {
                add(fnv1a(&[b"b:", p.as_bytes(), b" ", t.as_bytes()]), seen);
            }
            prev = Some(t);
        }
        // Character n-grams (3..=5 code points) of " " + norm + " ": one FNV pass per start
        // position, read off after 3, 4 and 5 code points.
        let padded = format!(" {norm} ");
        let starts: Vec<usize> = padded
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(padded.len()))
            .collect();
        let pb = padded.as_bytes();
        let prefix = fnv1a(&[b"c:"]);
        let chars = starts.len() - 1;
        for i in 0..chars.saturating_sub(2) {
            let mut h = prefix;
            for k in 1..=5 {
                if i + k > chars {
                    break;
                }
                for &b in &pb[starts[i + k - 1]..starts[i + k]] {
                    h ^= u32::from(b);
                    h = h.wrapping_mul(0x0100_0193);
                }
                if k >= 3 {
                    add(h, seen);
                }
            }
        }
        let nnz = seen.len().max(1) as f32;
        sigmoid(self.bias + sum / nnz.sqrt())
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// A reusable set of bucket indices (a bitset plus the list of set bits to clear).
pub struct Seen {
    bits: Vec<u64>,
    set: Vec<u32>,
}

impl Seen {
    pub fn new(dims: usize) -> Self {
        Seen {
            bits: vec![0; dims.div_ceil(64)],
            set: Vec::with_capacity(4096),
        }
    }

    fn insert(&mut self, i: u32) -> bool {
        let (w, b) = ((i / 64) as usize, i % 64);
        let m = 1u64 << b;
        if self.bits[w] & m != 0 {
            return false;
        }
        self.bits[w] |= m;
        self.set.push(i);
        true
    }

    fn len(&self) -> usize {
        self.set.len()
    }

    fn clear(&mut self) {
        for &i in &self.set {
            self.bits[(i / 64) as usize] = 0;
        }
        self.set.clear();
    }
}

impl Classifier {
    pub fn dims(&self) -> usize {
        self.weights.len()
    }
}
