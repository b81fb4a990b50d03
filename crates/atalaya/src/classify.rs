//! `atalaya classify train|eval|predict|show`: trainable text classifiers over the local
//! embedding model, kept per tenant in the configured store: `<data_dir>/classifiers/TENANT/
//! NAME.atc`, or Postgres with `[storage] backend = "postgres"` (where every replica sees
//! them).

use std::{io::Write, sync::Arc, time::Instant};

use anyhow::Context;
use atalaya_classify::{
    data,
    model::{EmbedFn, TrainOptions},
    train::TrainParams,
    Classifier, ClassifierStore, FileClassifiers,
};
use atalaya_config::Config;
use atalaya_knowledge::service::Embedder;
use atalaya_service::{
    classify::{ClassifyService, MAX_INPUTS},
    knowledge::EngineEmbedder,
};
use serde_json::json;

use crate::cli::{ClassifyCommand, ClassifySource};

/// The configuration, the configured classifier store and where in it the classifier is.
struct Located {
    config: Config,
    store: Arc<dyn ClassifierStore>,
    /// The file, or the database.
    place: String,
    rt: tokio::runtime::Runtime,
}

fn locate(source: &ClassifySource) -> anyhow::Result<Located> {
    let config = crate::tool_config(
        source.scope.config.as_deref(),
        source.scope.data_dir.clone(),
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let lookup = |k: &str| std::env::var(k).ok();
    let storage = rt.block_on(atalaya_service::storage::Storage::open(&config, &lookup))?;
    let place = if storage.is_shared() {
        "postgres (storage.url)".to_owned()
    } else {
        FileClassifiers::new(&config.server.data_dir)
            .path(&source.scope.tenant, &source.name)?
            .display()
            .to_string()
    };
    Ok(Located {
        store: storage.classifiers(),
        config,
        place,
        rt,
    })
}

fn load(l: &Located, tenant: &str, name: &str) -> anyhow::Result<Classifier> {
    match l.rt.block_on(l.store.get(tenant, name))? {
        Some((_, c)) => Ok(c),
        None => anyhow::bail!(
            "no classifier '{name}' in {}: train it with `atalaya classify train --name {name} --data FILE`",
            l.place
        ),
    }
}

/// The embedding model a classifier was trained with.
fn embedder_for(config: &Config, c: &Classifier) -> anyhow::Result<Option<EngineEmbedder>> {
    match &c.meta.embedding_model {
        None => Ok(None),
        Some(m) => EngineEmbedder::load(config, Some(m))
            .map(Some)
            .map_err(|e| anyhow::anyhow!("embedding model of classifier '{}': {e}", c.meta.name)),
    }
}

pub fn run(cmd: ClassifyCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        ClassifyCommand::Train {
            source,
            data: data_path,
            validation,
            embedding_model,
            no_embeddings,
            epochs,
            learning_rate,
            embedding_weight,
            l2,
            validation_fraction,
            threshold,
            out_of_scope_class_min,
            out_of_scope_share,
            seed,
        } => {
            let located = locate(&source)?;
            let config = &located.config;
            let (examples, sha) = data::load(&data_path)?;
            let mut hashes = vec![sha];
            let val = match &validation {
                Some(p) => {
                    let (v, sha) = data::load(p)?;
                    hashes.push(sha);
                    Some(v)
                }
                None => None,
            };
            let embedder = if no_embeddings {
                None
            } else {
                Some(
                    EngineEmbedder::load(config, embedding_model.as_deref()).map_err(|e| {
                        anyhow::anyhow!("embedding model: {e} (or train with --no-embeddings)")
                    })?,
                )
            };
            let embed_texts = embedder
                .as_ref()
                .map(|e| (e.model(), |t: &[String]| e.embed(t)));
            let embed = embed_texts.as_ref().map(|(m, f)| (*m, f as EmbedFn<'_>));
            let options = TrainOptions {
                params: TrainParams {
                    epochs,
                    learning_rate,
                    l2,
                    seed,
                    ..TrainParams::default()
                },
                embedding_weight,
                validation_fraction,
                threshold,
                out_of_scope_class_min,
                out_of_scope_share,
                ..TrainOptions::default()
            };
            let started = Instant::now();
            let c = Classifier::train(
                &source.name,
                &examples,
                val.as_deref(),
                embed,
                &options,
                hashes,
                |m| {
                    // Progress on stderr; a closed stderr is not worth failing the training.
                    let _ = writeln!(
                        std::io::stderr(),
                        "[{:>6.1}s] {m}",
                        started.elapsed().as_secs_f64()
                    );
                },
            )?;
            let c = Arc::new(c);
            located
                .rt
                .block_on(
                    located
                        .store
                        .put(&source.scope.tenant, &source.name, c.clone()),
                )
                .with_context(|| format!("saving the classifier to {}", located.place))?;
            let v = &c.meta.validation;
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&json!({
                    "name": c.meta.name,
                    "path": located.place,
                    "labels": c.meta.labels.len(),
                    "features": c.meta.featurizer.dims(),
                    "embedding_model": c.meta.embedding_model,
                    "threshold": c.meta.threshold,
                    "threshold_method": c.meta.threshold_method,
                    "train_examples": c.meta.train_examples,
                    "validation_examples": c.meta.validation_examples,
                    "data_sha256": c.meta.data_sha256,
                    "train_seconds": started.elapsed().as_secs_f64(),
                    "validation": {
                        "accuracy": v.accuracy,
                        "macro_f1": v.macro_f1,
                        "out_of_scope_recall": v.out_of_scope_recall,
                        "in_scope_rejected": v.in_scope_rejected,
                        "accuracy_without_threshold": v.accuracy_without_threshold,
                        "macro_f1_without_threshold": v.macro_f1_without_threshold,
                    },
                }))?
            )?;
        }
        ClassifyCommand::Eval {
            source,
            data: data_path,
        } => {
            let located = locate(&source)?;
            let c = load(&located, &source.scope.tenant, &source.name)?;
            let (examples, sha) = data::load(&data_path)?;
            let embedder = embedder_for(&located.config, &c)?;
            let embed_texts = embedder.as_ref().map(|e| |t: &[String]| e.embed(t));
            let f = embed_texts.as_ref().map(|g| g as EmbedFn<'_>);
            let started = Instant::now();
            let r = c.evaluate(&examples, f)?;
            let secs = started.elapsed().as_secs_f64();
            let mut v = serde_json::to_value(&r)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("classifier".into(), json!(c.meta.name));
                o.insert("data_sha256".into(), json!(sha));
                o.insert("threshold".into(), json!(c.meta.threshold));
                o.insert("seconds".into(), json!(secs));
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        ClassifyCommand::Predict { source, text } => {
            let located = locate(&source)?;
            let c = load(&located, &source.scope.tenant, &source.name)?;
            // The same service as `POST /v1/classify`, with the one embedding model needed.
            let embedders = embedder_for(&located.config, &c)?
                .map(|e| (e.model().to_owned(), std::sync::Arc::new(e)))
                .into_iter()
                .collect();
            let svc = ClassifyService::new(located.store.clone(), embedders);
            let rt = &located.rt;
            let texts: Vec<String> = match text {
                Some(t) => vec![t],
                None => std::io::stdin()
                    .lines()
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .filter(|l| !l.trim().is_empty())
                    .collect(),
            };
            for chunk in texts.chunks(MAX_INPUTS) {
                let predictions =
                    rt.block_on(svc.classify(&source.scope.tenant, &source.name, chunk.to_vec()))?;
                for (t, p) in chunk.iter().zip(predictions) {
                    writeln!(
                        out,
                        "{}",
                        serde_json::to_string(&json!({"text": t, "prediction": p}))?
                    )?;
                }
            }
        }
        ClassifyCommand::Show { source } => {
            let located = locate(&source)?;
            let c = load(&located, &source.scope.tenant, &source.name)?;
            let m = &c.meta;
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&json!({
                    "name": m.name,
                    "labels": m.labels,
                    "embedding_model": m.embedding_model,
                    "ngram_features": m.featurizer.lexical_dims(),
                    "threshold": m.threshold,
                    "threshold_method": m.threshold_method,
                    "options": m.options,
                    "data_sha256": m.data_sha256,
                    "train_examples": m.train_examples,
                    "validation": m.validation,
                }))?
            )?;
        }
    }
    Ok(())
}
