//! `atalaya tickets triage` and `atalaya pipelines check`: the server's pipeline service,
//! built in-process from the configuration (no listener), on JSON Lines.

use std::{
    io::{BufRead, Write},
    path::PathBuf,
    sync::Arc,
};

use anyhow::Context;
use atalaya_core::{
    config::{CliOverrides, Config, LocalModelConfig, LocalModelKind},
    context::RequestContext,
};
use atalaya_server::{
    knowledge::{DEFAULT_EMBEDDING_MODEL, DEFAULT_EMBEDDING_PATH},
    pipeline::TicketInput,
};
use atalaya_tenancy::Principal;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use crate::cli::{PipelineSource, PipelinesCommand, TicketsCommand};

/// The configuration of an offline run: requests come from the local operator (no API keys),
/// and the default embedding model is used when none is configured and its file exists.
fn config(source: &PipelineSource) -> anyhow::Result<Config> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let cli = CliOverrides {
        data_dir: source.data_dir.clone(),
        ..CliOverrides::default()
    };
    let mut config = Config::load_for_tools(source.config.as_deref(), &env, &cli)?;
    config.auth.enabled = false;
    let has_embedding = config
        .local_models
        .values()
        .any(|m| m.kind == LocalModelKind::Embedding);
    if !has_embedding && std::path::Path::new(DEFAULT_EMBEDDING_PATH).exists() {
        config.local_models.insert(
            DEFAULT_EMBEDDING_MODEL.to_owned(),
            LocalModelConfig {
                kind: LocalModelKind::Embedding,
                path: PathBuf::from(DEFAULT_EMBEDDING_PATH),
                ..LocalModelConfig::default()
            },
        );
    }
    Ok(config)
}

/// One input line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: Option<Value>,
    subject: Option<String>,
    body: Option<String>,
    text: Option<String>,
    customer_id: Option<String>,
    channel: Option<String>,
    language: Option<String>,
    metadata: Option<Map<String, Value>>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Triage; false when some line failed (each failure is its own output line).
pub fn run(cmd: TicketsCommand) -> anyhow::Result<bool> {
    let TicketsCommand::Triage {
        source,
        input,
        store,
        trace,
        concurrency,
    } = cmd;
    let config = config(&source)?;
    let reader: Box<dyn BufRead> = match &input {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).with_context(|| format!("reading {}", p.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let lines: Vec<(usize, String)> = reader
        .lines()
        .enumerate()
        .map(|(i, l)| l.map(|l| (i + 1, l)))
        .collect::<Result<_, _>>()
        .context("reading the input")?;
    runtime()?.block_on(async move {
        let lookup = |k: &str| std::env::var(k).ok();
        let server =
            atalaya_server::Server::build(&config, &lookup, CancellationToken::new()).await?;
        let svc = server.pipelines().clone();
        let mut principal = Principal::operator("tickets");
        principal.tenant = source.tenant.clone();
        let ctx = Arc::new(RequestContext {
            request_id: "cli-triage".into(),
            principal,
            received_at: tokio::time::Instant::now(),
        });
        let mut ok = true;
        let mut out = std::io::stdout().lock();
        let results = futures::stream::iter(lines.into_iter().filter(|(_, l)| !l.trim().is_empty()))
            .map(|(n, l)| {
                let (svc, ctx) = (svc.clone(), ctx.clone());
                async move {
                    let parsed: Line = match serde_json::from_str(&l) {
                        Ok(p) => p,
                        Err(e) => {
                            return json!({"line": n, "error": {"code": "invalid_request", "message": format!("line {n}: {e}")}})
                        }
                    };
                    let id = parsed.id.clone().unwrap_or(json!(n));
                    let body = parsed.body.or(parsed.text).unwrap_or_default();
                    let t = TicketInput {
                        subject: parsed.subject,
                        body,
                        customer_id: parsed.customer_id,
                        channel: parsed.channel,
                        language: parsed.language,
                        thread: Vec::new(),
                        metadata: parsed.metadata,
                    };
                    let r = if store {
                        svc.create_ticket(&ctx, t).await
                    } else {
                        svc.triage(&ctx, t).await
                    };
                    match r {
                        Ok((ticket, outcome)) => {
                            let mut v = json!({
                                "id": id,
                                "language": ticket.language,
                                "intent": ticket.intent,
                                "priority": ticket.priority,
                                "confidence": ticket.confidence,
                                "status": ticket.status,
                                "reason": ticket.reason,
                                "draft": ticket.draft,
                                "citations": ticket.citations,
                            });
                            if store {
                                v["ticket"] = json!(ticket.id);
                            }
                            if trace {
                                v["trace"] = json!(outcome.trace);
                                v["elapsed_ms"] = json!(outcome.elapsed_ms);
                            }
                            v
                        }
                        Err(e) => json!({"id": id, "error": {"code": e.code().as_str(), "message": e.public_message()}}),
                    }
                }
            })
            .buffered(concurrency.clamp(1, 64));
        futures::pin_mut!(results);
        while let Some(v) = results.next().await {
            ok &= v.get("error").is_none();
            writeln!(out, "{v}")?;
        }
        out.flush()?;
        anyhow::Ok(ok)
    })
}

/// `atalaya pipelines check`: loads and validates; lists what loaded.
pub fn pipelines(cmd: PipelinesCommand) -> anyhow::Result<()> {
    let PipelinesCommand::Check { source } = cmd;
    let config = config(&source)?;
    let loaded = atalaya_server::pipeline::load_pipelines(&config)?;
    let mut names: Vec<_> = loaded.values().collect();
    names.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = std::io::stdout().lock();
    for p in names {
        let steps: Vec<String> = p
            .steps
            .iter()
            .map(|s| format!("{}:{}", s.id, s.kind.name()))
            .collect();
        writeln!(
            out,
            "{} v{} ({}): {}",
            p.name,
            p.version,
            p.source,
            steps.join(" → ")
        )?;
    }
    Ok(())
}
