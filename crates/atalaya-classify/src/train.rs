//! Multinomial logistic regression (softmax) on sparse features, trained with Adam on
//! mini-batches. Only the rows of features present in a batch are updated ("lazy" Adam, with
//! the L2 penalty applied to those rows), so an epoch costs in proportion to the non-zero
//! features, not to the vocabulary. Single-threaded and seeded: the same data and parameters
//! give the same weights, bit for bit.

use serde::{Deserialize, Serialize};

use crate::{data::Rng, features::Sparse, Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainParams {
    pub epochs: usize,
    pub learning_rate: f32,
    /// L2 penalty on the weights.
    pub l2: f32,
    pub batch_size: usize,
    pub seed: u64,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            epochs: 30,
            learning_rate: 0.01,
            l2: 1e-6,
            batch_size: 32,
            seed: 42,
        }
    }
}

impl TrainParams {
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.epochs > 10_000 {
            return Err(Error::Param("epochs must be 1..=10000".into()));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 10.0) {
            return Err(Error::Param("learning_rate must be in (0, 10]".into()));
        }
        if !(self.l2 >= 0.0 && self.l2 < 1.0) {
            return Err(Error::Param("l2 must be in [0, 1)".into()));
        }
        if self.batch_size == 0 {
            return Err(Error::Param("batch_size must be at least 1".into()));
        }
        Ok(())
    }
}

/// Weights, feature-major: the class weights of feature `f` are `w[f * classes..][..classes]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    pub classes: usize,
    pub dims: usize,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

impl Weights {
    pub fn zeros(classes: usize, dims: usize) -> Self {
        Weights {
            classes,
            dims,
            w: vec![0.0; classes * dims],
            b: vec![0.0; classes],
        }
    }

    /// Class probabilities of `x` into `out` (length `classes`).
    pub fn probabilities(&self, x: &Sparse, out: &mut [f32]) {
        out.copy_from_slice(&self.b);
        for &(f, v) in x {
            let f = f as usize;
            if f >= self.dims {
                continue;
            }
            let row = &self.w[f * self.classes..(f + 1) * self.classes];
            for (o, w) in out.iter_mut().zip(row) {
                *o += v * w;
            }
        }
        softmax(out);
    }
}

pub fn softmax(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    if sum > 0.0 {
        for v in z.iter_mut() {
            *v /= sum;
        }
    }
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPS: f32 = 1e-8;

/// One Adam step of weight `w` with moments `m`, `v` at step `t` (from 1).
fn adam(t: i32, lr: f32, w: &mut f32, m: &mut f32, v: &mut f32, g: f32) {
    *m = BETA1 * *m + (1.0 - BETA1) * g;
    *v = BETA2 * *v + (1.0 - BETA2) * g * g;
    let mh = *m / (1.0 - BETA1.powi(t));
    let vh = *v / (1.0 - BETA2.powi(t));
    *w -= lr * mh / (vh.sqrt() + EPS);
}

/// Trains on `xs` with class indices `ys` (each `< classes`); `on_epoch(epoch, mean loss)`
/// reports progress.
pub fn train(
    xs: &[Sparse],
    ys: &[usize],
    classes: usize,
    dims: usize,
    p: &TrainParams,
    mut on_epoch: impl FnMut(usize, f32),
) -> Result<Weights> {
    p.validate()?;
    if xs.len() != ys.len() || xs.is_empty() {
        return Err(Error::Data("no training examples".into()));
    }
    if classes < 2 {
        return Err(Error::Data(
            "at least two labels are needed to train a classifier".into(),
        ));
    }
    if let Some(y) = ys.iter().find(|y| **y >= classes) {
        return Err(Error::Data(format!("class index {y} out of range")));
    }
    let mut wt = Weights::zeros(classes, dims);
    let (mut wm, mut wv) = (vec![0.0f32; classes * dims], vec![0.0f32; classes * dims]);
    let mut t = 0i32;
    let (mut bm, mut bv) = (vec![0.0f32; classes], vec![0.0f32; classes]);
    let mut grad = vec![0.0f32; classes * dims];
    let mut touched: Vec<u32> = Vec::new();
    let mut is_touched = vec![false; dims];
    let mut gb = vec![0.0f32; classes];
    let mut probs = vec![0.0f32; classes];
    let mut order: Vec<usize> = (0..xs.len()).collect();
    let mut rng = Rng::new(p.seed);
    for epoch in 0..p.epochs {
        rng.shuffle(&mut order);
        let mut loss = 0.0f64;
        for batch in order.chunks(p.batch_size) {
            gb.iter_mut().for_each(|g| *g = 0.0);
            let scale = 1.0 / batch.len() as f32;
            for &i in batch {
                wt.probabilities(&xs[i], &mut probs);
                loss -= f64::from(probs[ys[i]].max(1e-12).ln());
                probs[ys[i]] -= 1.0;
                for (g, d) in gb.iter_mut().zip(&probs) {
                    *g += d * scale;
                }
                for &(f, v) in &xs[i] {
                    let fu = f as usize;
                    if fu >= dims {
                        continue;
                    }
                    if !is_touched[fu] {
                        is_touched[fu] = true;
                        touched.push(f);
                    }
                    let row = &mut grad[fu * classes..(fu + 1) * classes];
                    for (g, d) in row.iter_mut().zip(&probs) {
                        *g += v * d * scale;
                    }
                }
            }
            t = t.saturating_add(1);
            let lr = p.learning_rate;
            for f in touched.drain(..) {
                let fu = f as usize;
                is_touched[fu] = false;
                for c in 0..classes {
                    let k = fu * classes + c;
                    let g = grad[k] + p.l2 * wt.w[k];
                    grad[k] = 0.0;
                    adam(t, lr, &mut wt.w[k], &mut wm[k], &mut wv[k], g);
                }
            }
            for c in 0..classes {
                adam(t, lr, &mut wt.b[c], &mut bm[c], &mut bv[c], gb[c]);
            }
        }
        on_epoch(epoch + 1, (loss / xs.len() as f64) as f32);
    }
    Ok(wt)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two separable classes on two features are learnt; the same seed gives the same
    /// weights.
    #[test]
    fn learns_a_separable_problem_deterministically() {
        let xs: Vec<Sparse> = (0..40)
            .map(|i| {
                if i % 2 == 0 {
                    vec![(0, 1.0)]
                } else {
                    vec![(1, 1.0)]
                }
            })
            .collect();
        let ys: Vec<usize> = (0..40).map(|i| i % 2).collect();
        let p = TrainParams {
            epochs: 20,
            learning_rate: 0.05,
            ..TrainParams::default()
        };
        let mut losses = Vec::new();
        let w = train(&xs, &ys, 2, 2, &p, |_, l| losses.push(l)).unwrap();
        assert!(losses.last().unwrap() < &(losses[0] / 4.0), "{losses:?}");
        let mut pr = [0.0; 2];
        w.probabilities(&vec![(0, 1.0)], &mut pr);
        assert!(pr[0] > 0.9, "{pr:?}");
        w.probabilities(&vec![(1, 1.0)], &mut pr);
        assert!(pr[1] > 0.9, "{pr:?}");
        assert_eq!(train(&xs, &ys, 2, 2, &p, |_, _| {}).unwrap(), w);
        // Bad input is refused, not trained on.
        assert!(train(&xs, &ys, 1, 2, &p, |_, _| {}).is_err());
        let bad = TrainParams {
            epochs: 0,
            ..p.clone()
        };
        assert!(train(&xs, &ys, 2, 2, &bad, |_, _| {}).is_err());
    }
}
