//! Trainable text classifiers: the `classify` step of support pipelines (intent, priority) and
//! `atalaya classify train|eval`.
//!
//! - [`data`]: labelled examples from CSV or JSON Lines, the data's SHA-256, splits.
//! - [`features`]: TF-IDF over word 1–2-grams and in-word character 3–5-grams (vocabulary
//!   learnt from the training data), optionally joined with a sentence embedding.
//! - [`train`]: multinomial logistic regression (softmax) trained with Adam, deterministic.
//! - [`metrics`]: accuracy, macro-F1, per-class F1, the most frequent confusions.
//! - [`model`]: the [`Classifier`]: prediction with confidence and margin, the out-of-scope
//!   threshold calibrated on validation data, saving and loading.
//! - [`store`]: where a tenant's classifiers are kept: the [`ClassifierStore`] trait;
//!   [`files`]: its file backend [`FileClassifiers`]; [`store_conformance`]: the suite every
//!   backend passes.
//!
//! The crate does no I/O beyond reading data files and its model files; embeddings are
//! computed by the caller (the CLI or the gateway) with the model named in the classifier.

pub mod data;
mod error;
pub mod features;
pub mod files;
pub mod metrics;
pub mod model;
pub mod postgres;
pub mod store;
pub mod store_conformance;
pub mod train;

pub use data::Example;
pub use error::{Error, Result};
pub use files::FileClassifiers;
pub use model::{Classifier, Prediction, TrainOptions, OUT_OF_SCOPE};
pub use postgres::PgClassifiers;
pub use store::{ClassifierStore, Version};
