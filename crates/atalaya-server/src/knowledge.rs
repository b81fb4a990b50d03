//! The knowledge base's embedding model: the local embedding engine behind the knowledge
//! crate's `Embedder` trait, chosen from the configuration.

use std::{path::PathBuf, sync::Arc};

use atalaya_core::config::{Config, LocalModelConfig, LocalModelKind};
use atalaya_engine::embed::EmbedEngine;
use atalaya_knowledge::{chunk::estimate_tokens, service::Embedder};

/// The embedding model `make models` prepares, used when the configuration names none.
pub const DEFAULT_EMBEDDING_MODEL: &str = "all-minilm-l6-v2";
const DEFAULT_EMBEDDING_PATH: &str = "models/all-MiniLM-L6-v2/model.onnx";

pub struct EngineEmbedder {
    name: String,
    engine: Arc<EmbedEngine>,
}

impl EngineEmbedder {
    pub fn new(name: &str, engine: Arc<EmbedEngine>) -> EngineEmbedder {
        EngineEmbedder {
            name: name.to_owned(),
            engine,
        }
    }

    /// Loads the embedding model `name` of `[local_models]` (kind = "embedding"); without a
    /// name, the only embedding model configured, else the default one `make models` prepares.
    pub fn load(config: &Config, name: Option<&str>) -> Result<EngineEmbedder, String> {
        let embedding: Vec<(&String, &LocalModelConfig)> = config
            .local_models
            .iter()
            .filter(|(_, m)| m.kind == LocalModelKind::Embedding)
            .collect();
        let (name, cfg) = match name {
            Some(n) => match embedding.iter().find(|(k, _)| k.as_str() == n) {
                Some((k, m)) => ((*k).clone(), (*m).clone()),
                None if n == DEFAULT_EMBEDDING_MODEL => default_model(),
                None => {
                    return Err(format!(
                        "no embedding model '{n}' in [local_models] (configured: {:?})",
                        embedding
                            .iter()
                            .map(|(k, _)| k.as_str())
                            .collect::<Vec<_>>()
                    ))
                }
            },
            None => match embedding.as_slice() {
                [(k, m)] => ((*k).clone(), (*m).clone()),
                [] => default_model(),
                many => {
                    return Err(format!(
                        "several embedding models are configured ({:?}): name one",
                        many.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()
                    ))
                }
            },
        };
        let engine = EmbedEngine::load(&name, &cfg, &config.onnxruntime.library, None)
            .map_err(|e| e.to_string())?;
        Ok(EngineEmbedder::new(&name, Arc::new(engine)))
    }
}

fn default_model() -> (String, LocalModelConfig) {
    (
        DEFAULT_EMBEDDING_MODEL.to_owned(),
        LocalModelConfig {
            kind: LocalModelKind::Embedding,
            path: PathBuf::from(DEFAULT_EMBEDDING_PATH),
            ..LocalModelConfig::default()
        },
    )
}

impl Embedder for EngineEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    /// Blocking: call from a thread that is not an async runtime's (the CLI, or
    /// `spawn_blocking`).
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        self.engine
            .embed_blocking(texts)
            .map(|o| o.vectors)
            .map_err(|e| e.to_string())
    }

    /// The model's own tokens, without [CLS] and [SEP], and not truncated.
    fn count_tokens(&self, text: &str) -> usize {
        self.engine
            .count_tokens(text)
            .unwrap_or_else(|_| estimate_tokens(text))
    }

    fn max_tokens(&self) -> usize {
        self.engine.max_input_tokens()
    }
}
