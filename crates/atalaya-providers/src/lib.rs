//! Provider implementations behind `atalaya_core::provider::Provider`.
//!
//! - [`openai`]: any OpenAI-compatible upstream (vLLM, TGI, Ollama, llama.cpp server, OpenAI,
//!   Mistral, ...), over a pooled keep-alive HTTP client.
//! - [`sse`]: the incremental Server-Sent Events parser the streaming path uses.
//!
//! [`build_providers`] turns the `[upstreams]` section into one provider per entry.

pub mod openai;
pub mod sse;

use std::{collections::HashMap, sync::Arc};

use atalaya_core::{config::GatewaySections, provider::Provider, Error};

/// One provider per configured upstream, keyed by the upstream's name.
pub fn build_providers(
    config: GatewaySections<'_>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<HashMap<String, Arc<dyn Provider>>, Error> {
    let mut out: HashMap<String, Arc<dyn Provider>> = HashMap::new();
    let mut issues = Vec::new();
    for (name, cfg) in config.upstreams {
        match openai::OpenAiCompatible::new(name, cfg, lookup) {
            Ok(p) => {
                out.insert(name.clone(), Arc::new(p));
            }
            Err(Error::Config(mut i)) => issues.append(&mut i),
            Err(other) => return Err(other),
        }
    }
    if issues.is_empty() {
        Ok(out)
    } else {
        Err(Error::Config(issues))
    }
}
