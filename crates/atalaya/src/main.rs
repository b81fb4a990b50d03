//! The `atalaya` binary: parses the command line, loads configuration, wires the libraries.

mod admin;
mod classify;
mod cli;
mod guard;
mod kb;
mod logwriter;
mod tickets;

use std::{
    io::{Read, Write},
    process::ExitCode,
};

use anyhow::Context;
use atalaya_config::{auth::hash_key, CliOverrides, Config, LocalModelKind, LogFormat, QuickLocal};
use atalaya_core::{gateway::Gateway, Error};
use atalaya_engine::{embed, gguf::human_count, inspect};
use clap::Parser;
use rand::RngCore;
use tokio_util::sync::CancellationToken;

use cli::{Cli, Command, ConfigCommand, ConfigSource, GuardCommand, KeysCommand, ModelsCommand};

/// mimalloc: allocation is a measurable share of the gateway's CPU per request (see
/// docs/BENCHMARKS.md); glibc's malloc was the largest userland cost in the profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The demo key's prefix: visible in logs and dashboards as "not a production key".
const DEMO_KEY_PREFIX: &str = "atl_demo_";

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Documents are parsed by this binary re-executed as a worker (see `knowledge.parse_*`).
    if let Ok(me) = std::env::current_exe() {
        atalaya_knowledge::parse::register_worker(me, vec!["parse-worker".into()]);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            match e.downcast_ref::<Error>() {
                Some(Error::Config(_) | Error::ConfigSource(_)) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::ParseWorker(a) => {
            atalaya_knowledge::parse::serve_worker(
                &a.format,
                a.cpu_seconds,
                a.memory_bytes,
                std::io::stdin().lock(),
                std::io::stdout().lock(),
            )?;
            Ok(())
        }
        Command::Serve(args) => serve(args.source),
        Command::Config(ConfigCommand::Check { source }) => {
            let (config, _) = load(&source, false)?;
            // Build the providers too: header values, URLs and secrets are checked as `serve`
            // would check them.
            let lookup = |k: &str| std::env::var(k).ok();
            atalaya_providers::build_providers(config.gateway(), &lookup)?;
            // GGUF files are checked (header, truncation) without loading the weights; ONNX
            // models are loaded with their tokenizer and runtime, as serving would.
            for (name, m) in &config.local_models {
                let base = format!("local_models.{}", atalaya_config::quote_key(name));
                if embed::is_onnx(&m.path) {
                    // The message names the key at fault (tokenizer, context_length,
                    // onnxruntime.library) when it is not the file itself.
                    embed::describe_onnx(
                        &m.path,
                        m.tokenizer.as_deref(),
                        m.context_length,
                        &config.onnxruntime.library,
                    )
                    .map_err(|e| Error::config(base, e.to_string()))?;
                } else {
                    inspect::summarize(&m.path)
                        .map_err(|e| Error::config(format!("{base}.path"), e.to_string()))?;
                }
            }
            let mut out = std::io::stdout().lock();
            writeln!(out, "# configuration is valid; effective values follow")?;
            write!(out, "{}", config.to_masked_toml()?)?;
            Ok(())
        }
        Command::Keys(
            cmd @ (KeysCommand::Create { .. }
            | KeysCommand::List { .. }
            | KeysCommand::Revoke { .. }
            | KeysCommand::Rotate { .. }),
        ) => admin::keys(cmd),
        Command::Tenants(cmd) => admin::tenants(cmd),
        Command::Audit(cmd) => {
            if admin::audit(cmd)? {
                Ok(())
            } else {
                anyhow::bail!("the audit log failed verification (see above)")
            }
        }
        Command::Subjects(cmd) => admin::subjects(cmd),
        Command::Encryption(cmd) => admin::encryption(cmd),
        Command::Keys(KeysCommand::Hash) => {
            let mut key = String::new();
            std::io::stdin().read_to_string(&mut key)?;
            let key = key.trim();
            anyhow::ensure!(!key.is_empty(), "no key on standard input");
            writeln!(std::io::stdout(), "{}", hash_key(key))?;
            Ok(())
        }
        Command::Models(ModelsCommand::Inspect {
            path,
            onnxruntime,
            tokenizer,
            json,
            ..
        }) if embed::is_onnx(&path) => {
            let library = match onnxruntime {
                Some(l) => l,
                None => {
                    Config::load_for_tools(None, &env_vars(), &CliOverrides::default())?
                        .onnxruntime
                        .library
                }
            };
            let v = embed::describe_onnx(&path, tokenizer.as_deref(), 0, &library)?;
            let text = if json {
                serde_json::to_string_pretty(&v)?
            } else {
                render_onnx(&v)
            };
            writeln!(std::io::stdout().lock(), "{text}")?;
            Ok(())
        }
        Command::Models(ModelsCommand::Inspect {
            path,
            context,
            parallel,
            json,
            ..
        }) => {
            let summary = inspect::summarize(&path)?;
            let ctx = context.unwrap_or_else(|| summary.context_length.unwrap_or(2048).min(8192));
            let est = inspect::estimate(&path, ctx * parallel, 512)?;
            let mut out = std::io::stdout().lock();
            if json {
                let mut v = serde_json::to_value(&summary)?;
                v["memory_estimate"] = serde_json::json!({
                    "context": ctx, "parallel": parallel, "weights": est.weights,
                    "kv_cache": est.kv_cache, "compute": est.compute, "total": est.total(),
                });
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                write!(
                    out,
                    "{}",
                    inspect::render_text(&summary, &est, ctx, parallel)
                )?;
            }
            Ok(())
        }
        Command::Models(ModelsCommand::List {
            config,
            dir,
            onnxruntime,
            json,
        }) => models_list(config, &dir, onnxruntime, json),
        Command::Classify(cmd) => classify::run(cmd),
        Command::Tickets(cmd) => {
            if tickets::run(cmd)? {
                Ok(())
            } else {
                anyhow::bail!("some tickets could not be triaged (see their error lines)")
            }
        }
        Command::Pipelines(cmd) => tickets::pipelines(cmd),
        Command::Migrate(cmd) => admin::migrate(cmd),
        Command::Kb(cmd) => {
            if kb::run(cmd)? {
                Ok(())
            } else {
                anyhow::bail!("some files could not be ingested (listed above)")
            }
        }
        Command::Guard(cmd) => {
            let (args, redact) = match cmd {
                GuardCommand::Scan(a) => (a, false),
                GuardCommand::Redact(a) => (a, true),
            };
            if guard::run(args.input, args.policy, redact)? {
                Ok(())
            } else {
                anyhow::bail!("some input lines could not be scanned (see their error lines)")
            }
        }
        Command::Keys(KeysCommand::Generate) => {
            let key = atalaya_tenancy::keys::generate().secret;
            let mut out = std::io::stdout().lock();
            writeln!(out, "key:  {key}")?;
            writeln!(out, "hash: {}", hash_key(&key))?;
            Ok(())
        }
    }
}

/// Configured local models first (with their route names), then other GGUF files in `dir`.
fn models_list(
    config: Option<std::path::PathBuf>,
    dir: &std::path::Path,
    onnxruntime: Option<std::path::PathBuf>,
    json: bool,
) -> anyhow::Result<()> {
    let mut rows: Vec<(String, std::path::PathBuf)> = Vec::new();
    let mut settings = std::collections::HashMap::new();
    // Without a file, the environment layer still applies (ATALAYA__ONNXRUNTIME__LIBRARY).
    let c = Config::load_for_tools(config.as_deref(), &env_vars(), &CliOverrides::default())?;
    for (name, m) in &c.local_models {
        rows.push((name.clone(), m.path.clone()));
        settings.insert(m.path.clone(), (m.tokenizer.clone(), m.context_length));
    }
    let library = onnxruntime.unwrap_or(c.onnxruntime.library);
    for p in inspect::find_models(dir) {
        let same = |q: &std::path::PathBuf| q.canonicalize().ok() == p.canonicalize().ok();
        if !rows.iter().any(|(_, q)| same(q)) {
            rows.push(("-".into(), p));
        }
    }
    let mut out = std::io::stdout().lock();
    if !json {
        writeln!(
            out,
            "{}",
            table_row("NAME", "KIND", "ARCH", "PARAMS", "QUANT", "CTX", "PATH")
        )?;
    }
    for (name, path) in rows {
        // One row per model: its JSON object and its table line, or the reason it failed.
        let row = if embed::is_onnx(&path) {
            let (tokenizer, context) = settings.get(&path).cloned().unwrap_or_default();
            embed::describe_onnx(&path, tokenizer.as_deref(), context, &library).map(|v| {
                let line = table_row(
                    &name,
                    "embedding",
                    "onnx",
                    "-",
                    "-",
                    &v["max_seq_length"].to_string(),
                    v["path"].as_str().unwrap_or("-"),
                );
                (v, line)
            })
        } else {
            inspect::summarize(&path).and_then(|s| {
                let line = table_row(
                    &name,
                    s.kind,
                    s.architecture.as_deref().unwrap_or("-"),
                    &human_count(s.parameters),
                    &s.quantization,
                    &s.context_length
                        .map_or_else(|| "-".into(), |c| c.to_string()),
                    &s.path,
                );
                let mut v =
                    serde_json::to_value(&s).map_err(|e| atalaya_engine::Error::ModelFile {
                        path: s.path.clone(),
                        problem: e.to_string(),
                    })?;
                if let Some(o) = v.as_object_mut() {
                    o.remove("chat_template");
                }
                Ok((v, line))
            })
        };
        match row {
            Ok((mut v, _)) if json => {
                v["configured_as"] = serde_json::json!(name);
                writeln!(out, "{v}")?;
            }
            Ok((_, line)) => writeln!(out, "{line}")?,
            Err(e) if json => writeln!(
                out,
                "{}",
                serde_json::json!({"configured_as": name, "path": path, "error": e.to_string()})
            )?,
            Err(e) => writeln!(out, "{name:<22} error: {e}")?,
        }
    }
    Ok(())
}

/// A line of the `models list` table.
fn table_row(
    name: &str,
    kind: &str,
    arch: &str,
    params: &str,
    quant: &str,
    ctx: &str,
    path: &str,
) -> String {
    format!("{name:<22} {kind:<10} {arch:<10} {params:>8} {quant:<8} {ctx:>7}  {path}")
}

/// `models inspect` of an ONNX model: its `/v1/models` details as `key: value` lines.
fn render_onnx(v: &serde_json::Value) -> String {
    let mut out = String::new();
    if let Some(map) = v.as_object() {
        for (k, val) in map {
            let shown = match val {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            };
            out.push_str(&format!("{:<16}{shown}\n", format!("{k}:")));
        }
    }
    out.pop();
    out
}

fn new_key(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// A route name from a model file: `models/all-MiniLM-L6-v2.gguf` → `all-minilm-l6-v2`.
fn file_stem(path: &std::path::Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_else(|| "local".into())
}

/// An embedding model's route name: its file's, or its directory's when the file is the
/// conventional `model.onnx` (`models/all-MiniLM-L6-v2/model.onnx` → `all-minilm-l6-v2`).
fn model_name(path: &std::path::Path) -> String {
    let generic = path
        .file_stem()
        .is_some_and(|s| s.eq_ignore_ascii_case("model"));
    match path.parent().filter(|p| generic && p.file_name().is_some()) {
        Some(dir) => file_stem(dir),
        None => file_stem(path),
    }
}

fn env_vars() -> Vec<(String, String)> {
    std::env::vars().collect()
}

/// The configuration of an offline subcommand (`kb`, `classify`, `tickets`, `tenants`...):
/// the file, `ATALAYA__*` variables and `--data-dir`, validated as [`Config::load_for_tools`]
/// does.
pub(crate) fn tool_config(
    file: Option<&std::path::Path>,
    data_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<Config> {
    let cli = CliOverrides {
        data_dir,
        ..CliOverrides::default()
    };
    Ok(Config::load_for_tools(file, &env_vars(), &cli)?)
}

/// Loads the configuration. In quick mode (`--upstream/--model`, no file) the client key is
/// `ATALAYA_API_KEY`, or a generated demo key when `make_demo_key` allows it.
fn load(source: &ConfigSource, make_demo_key: bool) -> anyhow::Result<(Config, Option<String>)> {
    let mut quick_local = Vec::new();
    if let Some(path) = &source.gguf {
        quick_local.push(QuickLocal {
            name: source.model.clone().unwrap_or_else(|| file_stem(path)),
            path: path.clone(),
            kind: LocalModelKind::Chat,
        });
    } else if source.model.is_some() && source.upstream.is_none() {
        anyhow::bail!("--model needs --upstream URL or --gguf PATH");
    }
    if let Some(path) = &source.embedding_model {
        quick_local.push(QuickLocal {
            name: model_name(path),
            path: path.clone(),
            kind: LocalModelKind::Embedding,
        });
    }
    let mut cli = CliOverrides {
        listen: source.listen.clone(),
        data_dir: source.data_dir.clone(),
        quick_route: source.upstream.clone().zip(source.model.clone()),
        api_keys: Vec::new(),
        quick_local,
    };
    let mut demo_key = None;
    if source.config.is_none() && (cli.quick_route.is_some() || !cli.quick_local.is_empty()) {
        if std::env::var("ATALAYA_API_KEY").is_ok_and(|k| !k.is_empty()) {
            cli.api_keys.push("env:ATALAYA_API_KEY".into());
        } else if make_demo_key {
            let key = new_key(DEMO_KEY_PREFIX);
            cli.api_keys.push(hash_key(&key));
            demo_key = Some(key);
        } else {
            // `config check` without a key: validate with a placeholder hash.
            cli.api_keys.push(hash_key("placeholder"));
        }
    }
    let config = Config::load(source.config.as_deref(), &env_vars(), &cli)?;
    Ok((config, demo_key))
}

/// Logging for `serve`: lines go to stderr in batches (see [`logwriter`]); the returned guard
/// writes what is left when dropped, at exit.
fn init_logging(config: &Config) -> anyhow::Result<logwriter::LogGuard> {
    // llama.cpp logs every tensor while loading, ONNX Runtime every session option: only
    // their warnings, unless asked for. tantivy's segment manager warns whenever the purge
    // after a deletion asks to merge segments its own merge policy merged a moment before
    // (the purge then has nothing left to do): only its errors.
    let mut level = config.log.level.clone();
    for (noisy, floor) in [
        ("llama_cpp_2", "warn"),
        ("ort", "warn"),
        ("tantivy::indexer::segment_manager", "error"),
    ] {
        if !level.contains(&format!("{noisy}=")) {
            level.push_str(&format!(",{noisy}={floor}"));
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .with_context(|| format!("log.level '{}'", config.log.level))?;
    let (writer, guard) = logwriter::batched_stderr().context("starting the log writer")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let result = match config.log.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("logging: {e}"))?;
    Ok(guard)
}

fn serve(source: ConfigSource) -> anyhow::Result<()> {
    let (config, demo_key) = load(&source, true)?;
    let _log = init_logging(&config)?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.server.worker_threads > 0 {
        builder.worker_threads(config.server.worker_threads);
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let lookup = |k: &str| std::env::var(k).ok();
        let shutdown = CancellationToken::new();
        let server = atalaya_server::Server::build(&config, &lookup, shutdown.clone()).await?;
        let addr = config.listen_addr()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (server.listen / --listen)"))?;
        let local = listener.local_addr()?;
        announce(&local, server.gateway(), demo_key.as_deref())?;
        tracing::info!(listen = %local, models = server.gateway().models().len(), "atalaya started");

        let signals = shutdown.clone();
        let watcher = tokio_util::task::TaskTracker::new();
        watcher.spawn(async move {
            tokio::select! {
                () = wait_for_signal() => {
                    tracing::info!("shutdown requested; finishing in-flight requests");
                    signals.cancel();
                }
                () = signals.cancelled() => {}
            }
        });
        watcher.close();
        // `run` cancels the token when serving ends, which also ends the signal task.
        let outcome = server.run(listener).await;
        watcher.wait().await;
        let outcome = outcome?;
        tracing::info!(?outcome, "atalaya stopped");
        anyhow::Ok(())
    })
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

/// The start-up banner on standard output: where to connect, and the demo key once.
fn announce(
    local: &std::net::SocketAddr,
    gateway: &Gateway,
    demo_key: Option<&str>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "Atalaya listening on http://{local}")?;
    let infos = gateway.models();
    let models: Vec<&str> = infos.iter().map(|m| m.id.as_str()).collect();
    writeln!(out, "Models: {}", models.join(", "))?;
    if let Some(key) = demo_key {
        // The example is a chat request: pick a model that is not an embedding model.
        let is_embedding = |m: &&atalaya_core::gateway::ModelInfo| {
            m.details.as_ref().is_some_and(|d| d["kind"] == "embedding")
        };
        let model = infos
            .iter()
            .find(|m| !is_embedding(m))
            .map_or("MODEL", |m| m.id.as_str());
        writeln!(
            out,
            "Demo API key (shown once; set ATALAYA_API_KEY to choose your own): {key}"
        )?;
        writeln!(out, "Try it:")?;
        writeln!(
            out,
            "  curl http://{local}/v1/chat/completions -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' -d '{{\"model\":\"{model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello!\"}}]}}'"
        )?;
    }
    out.flush()?;
    Ok(())
}
