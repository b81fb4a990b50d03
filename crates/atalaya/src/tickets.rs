//! `atalaya tickets triage` and `atalaya pipelines check`: the pipeline service, built
//! in-process from the configuration (no listener), on JSON Lines.

use std::{
    io::{BufRead, Write},
    sync::Arc,
};

use anyhow::Context;
use atalaya_api::pipeline::CreateTicket;
use atalaya_config::{Config, LocalModelKind};
use atalaya_service::context::RequestContext;
use atalaya_service::{knowledge, wire::ticket_input, Services};
use atalaya_tenancy::Principal;
use futures::StreamExt;
use serde_json::{json, Map, Value};

use crate::cli::{DataSource, PipelinesCommand, TicketsCommand};

/// The configuration of an offline run: requests come from the local operator (no API keys),
/// and the default embedding model is used when none is configured and its file exists.
fn config(source: &DataSource) -> anyhow::Result<Config> {
    let mut config = crate::tool_config(source.config.as_deref(), source.data_dir.clone())?;
    config.auth.enabled = false;
    let has_embedding = config
        .local_models
        .values()
        .any(|m| m.kind == LocalModelKind::Embedding);
    let (name, model) = knowledge::default_model();
    if !has_embedding && model.path.exists() {
        config.local_models.insert(name, model);
    }
    Ok(config)
}

/// One input line: a ticket as `POST /v1/tickets` takes it (`text` is accepted for `body`),
/// plus an `id` echoed in the output.
fn parse_line(line: &str) -> Result<(Option<Value>, CreateTicket), String> {
    let mut v: Map<String, Value> = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let id = v.remove("id");
    if !v.contains_key("body") {
        if let Some(t) = v.remove("text") {
            v.insert("body".into(), t);
        }
    }
    let t = serde_json::from_value(Value::Object(v)).map_err(|e| e.to_string())?;
    Ok((id, t))
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
        let services = Services::build(&config, &lookup).await?;
        let svc = services.pipelines.clone();
        let mut principal = Principal::operator("tickets");
        principal.tenant = source.tenant.clone();
        let ctx = Arc::new(RequestContext::new(
            "cli-triage".into(),
            principal,
            tokio::time::Instant::now(),
        ));
        let mut ok = true;
        let mut out = std::io::stdout().lock();
        let results = futures::stream::iter(lines.into_iter().filter(|(_, l)| !l.trim().is_empty()))
            .map(|(n, l)| {
                let (svc, ctx) = (svc.clone(), ctx.clone());
                async move {
                    let (id, t) = match parse_line(&l) {
                        Ok(p) => p,
                        Err(e) => {
                            return json!({"line": n, "error": {"code": "invalid_request", "message": format!("line {n}: {e}")}})
                        }
                    };
                    let id = id.unwrap_or(json!(n));
                    let t = ticket_input(t);
                    let r = if store {
                        svc.create_ticket(&ctx, t, None).await
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
    let loaded = atalaya_service::pipeline::load_pipelines(&config)?;
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
