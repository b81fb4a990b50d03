//! `atalaya kb …`: the knowledge base from the command line, over the same service functions
//! as the HTTP API. Output is stable (evaluation scripts read it).

use std::{
    io::{BufRead, Write},
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;
use atalaya_config::Config;
use atalaya_knowledge::{
    chunk::ChunkConfig,
    doc::Format,
    index::{Filter, Lang},
    service::{DocumentMeta, Ingested, KnowledgeBase, Mode, SearchParams},
};
use atalaya_service::knowledge::EngineEmbedder;
use serde::Deserialize;
use serde_json::json;

use crate::cli::{DataSource, KbCommand, KbMode};

fn open(source: &DataSource) -> anyhow::Result<(Config, KnowledgeBase)> {
    let config = crate::tool_config(source.config.as_deref(), source.data_dir.clone())?;
    if config.storage.backend == atalaya_config::storage::Backend::Postgres {
        // Writing to this node's files would go unseen by every replica.
        anyhow::bail!(
            "`atalaya kb` works on the embedded knowledge base (storage.backend = \"sqlite\"); with storage.backend = \"postgres\" use the HTTP API (/v1/knowledge), which every replica shares"
        );
    }
    let mut kb = KnowledgeBase::open(&config.server.data_dir).with_context(|| {
        format!(
            "cannot open the knowledge base in {}",
            config.server.data_dir.display()
        )
    })?;
    kb.set_parser(atalaya_service::knowledge::parser(&config.knowledge));
    Ok((config, kb))
}

fn embedder(config: &Config, name: Option<&str>) -> anyhow::Result<EngineEmbedder> {
    EngineEmbedder::load(config, name).map_err(|e| anyhow::anyhow!("embedding model: {e}"))
}

pub fn run(cmd: KbCommand) -> anyhow::Result<bool> {
    let mut out = std::io::stdout().lock();
    match cmd {
        KbCommand::Create {
            name,
            source,
            embedding_model,
            language,
            max_tokens,
            overlap_tokens,
        } => {
            let (config, kb) = open(&source)?;
            let e = embedder(&config, embedding_model.as_deref())?;
            let c = kb.create_collection(
                &source.tenant,
                &name,
                &e,
                language.as_deref(),
                ChunkConfig {
                    max_tokens,
                    overlap_tokens,
                },
            )?;
            writeln!(
                out,
                "created collection '{}' (embedding model {}, chunks of {} tokens)",
                c.name, c.embedding_model, c.chunking.max_tokens
            )?;
            Ok(true)
        }
        KbCommand::Ingest {
            name,
            paths,
            source,
            glob,
            language,
            tags,
            labels,
            json,
        } => {
            let (config, kb) = open(&source)?;
            let c = kb.collection(&source.tenant, &name)?;
            let e = embedder(&config, Some(&c.embedding_model))?;
            let files = collect_files(&paths, &glob)?;
            let meta = DocumentMeta {
                language,
                tags,
                labels,
            };
            let started = Instant::now();
            let (mut ok, mut failed, mut chunks) = (0usize, 0usize, 0usize);
            for (n, path) in files.iter().enumerate() {
                // The document's source: the path as given, without `./` parts, so that
                // `docs/a.md` and `./docs/a.md` are the same document.
                let shown = path
                    .components()
                    .filter(|c| !matches!(c, std::path::Component::CurDir))
                    .collect::<PathBuf>()
                    .display()
                    .to_string();
                let result = match Format::from_path(path) {
                    None => Err(anyhow::anyhow!(
                        "unsupported file type (supported: .txt .md .html .pdf .docx .csv .jsonl)"
                    )),
                    Some(format) => std::fs::read(path)
                        .with_context(|| "cannot read the file".to_owned())
                        .and_then(|bytes| {
                            kb.ingest(&c, &e, &shown, format, &bytes, &meta)
                                .map_err(anyhow::Error::from)
                        }),
                };
                let line = match &result {
                    Ok(Ingested::Indexed {
                        chunks: k, version, ..
                    }) => {
                        ok += 1;
                        chunks += k;
                        json!({"file": shown, "status": "indexed", "chunks": k, "version": version})
                    }
                    Ok(Ingested::Unchanged { .. }) => {
                        ok += 1;
                        json!({"file": shown, "status": "unchanged"})
                    }
                    Err(err) => {
                        failed += 1;
                        json!({"file": shown, "status": "failed", "error": format!("{err:#}")})
                    }
                };
                if json {
                    writeln!(out, "{line}")?;
                } else {
                    let status = line["status"].as_str().unwrap_or("");
                    let detail = match &result {
                        Ok(Ingested::Indexed { chunks: k, .. }) => format!("{k} chunks"),
                        Ok(Ingested::Unchanged { .. }) => "unchanged".into(),
                        Err(err) => format!("{err:#}"),
                    };
                    writeln!(out, "{status:<9} {shown}: {detail}")?;
                }
                progress(n + 1, files.len(), chunks, started);
            }
            eprintln_progress_done();
            // The next open loads the HNSW graph instead of rebuilding it.
            kb.persist().context("saving the vector index")?;
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            let summary = format!(
                "{ok} of {} files ingested, {failed} failed; {chunks} chunks; {:.1} documents/s, {:.1} chunks/s",
                files.len(),
                files.len() as f64 / secs,
                chunks as f64 / secs
            );
            let mut err = std::io::stderr().lock();
            writeln!(err, "{summary}")?;
            Ok(failed == 0)
        }
        KbCommand::Search {
            name,
            source,
            query,
            queries,
            k,
            mode,
            labels,
            tags,
            json,
        } => {
            let (config, kb) = open(&source)?;
            let c = kb.collection(&source.tenant, &name)?;
            let mode = match mode {
                KbMode::Hybrid => Mode::Hybrid,
                KbMode::Dense => Mode::Dense,
                KbMode::Bm25 => Mode::Bm25,
            };
            let e = match mode {
                Mode::Bm25 => None,
                _ => Some(embedder(&config, Some(&c.embedding_model))?),
            };
            let params = SearchParams {
                k,
                mode,
                filter: Filter {
                    tags,
                    labels,
                    languages: Vec::<Lang>::new(),
                },
                ..SearchParams::default()
            };
            let search = |q: &str| {
                kb.search(
                    &c,
                    e.as_ref()
                        .map(|e| e as &dyn atalaya_knowledge::service::Embedder),
                    q,
                    &params,
                )
            };
            if let Some(file) = queries {
                let f = std::fs::File::open(&file)
                    .with_context(|| format!("cannot open {}", file.display()))?;
                #[derive(Deserialize)]
                struct Q {
                    id: serde_json::Value,
                    query: String,
                }
                for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
                    let line = line?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let q: Q = serde_json::from_str(&line)
                        .with_context(|| format!("{} line {}", file.display(), n + 1))?;
                    let hits = search(&q.query)?;
                    let results: Vec<_> = hits
                        .iter()
                        .map(|h| json!({"doc": h.chunk.source, "chunk": h.chunk.seq, "score": h.score}))
                        .collect();
                    writeln!(out, "{}", json!({"id": q.id, "results": results}))?;
                }
                return Ok(true);
            }
            let hits = search(query.as_deref().unwrap_or_default())?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&hits)?)?;
            } else {
                for (i, h) in hits.iter().enumerate() {
                    let snippet: String = h.chunk.text.chars().take(160).collect();
                    writeln!(
                        out,
                        "{:>2}. {:.4}  {} #{}  {}\n    {}",
                        i + 1,
                        h.score,
                        h.chunk.source,
                        h.chunk.seq,
                        h.chunk.heading_path.join(" > "),
                        snippet.replace('\n', " ")
                    )?;
                }
            }
            Ok(true)
        }
        KbCommand::List { name, source, json } => {
            let (_, kb) = open(&source)?;
            match name {
                None => {
                    for c in kb.store().collections(&source.tenant)? {
                        if json {
                            writeln!(out, "{}", serde_json::to_string(&c)?)?;
                        } else {
                            writeln!(out, "{}\t{}", c.name, c.embedding_model)?;
                        }
                    }
                }
                Some(n) => {
                    let c = kb.collection(&source.tenant, &n)?;
                    for d in kb.store().documents(c.id)? {
                        if json {
                            writeln!(out, "{}", serde_json::to_string(&d)?)?;
                        } else {
                            writeln!(out, "{}\tv{}\t{} chunks", d.source, d.version, d.chunks)?;
                        }
                    }
                }
            }
            Ok(true)
        }
        KbCommand::Delete {
            name,
            source,
            document,
        } => {
            let (_, kb) = open(&source)?;
            match document {
                Some(d) => {
                    let c = kb.collection(&source.tenant, &name)?;
                    kb.delete_document(&c, &d)?;
                    writeln!(out, "deleted document '{d}' from '{name}'")?;
                }
                None => {
                    kb.delete_collection(&source.tenant, &name)?;
                    writeln!(out, "deleted collection '{name}'")?;
                }
            }
            Ok(true)
        }
    }
}

/// Files under `paths` (directories recursively, sorted), filtered by name patterns.
fn collect_files(paths: &[PathBuf], globs: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(d) = stack.pop() {
                let entries = std::fs::read_dir(&d)
                    .with_context(|| format!("cannot list {}", d.display()))?;
                for e in entries.flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if matches(&path, globs) {
                        out.push(path);
                    }
                }
            }
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            anyhow::bail!("{} does not exist", p.display());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn matches(path: &Path, globs: &[String]) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    globs.is_empty() || globs.iter().any(|g| wildcard(g, &name))
}

/// `*` (any run) and `?` (one character) matching on a file name.
fn wildcard(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A progress line on stderr (when it is a terminal): done/total, throughput, ETA.
fn progress(done: usize, total: usize, chunks: usize, started: Instant) {
    use std::io::IsTerminal;
    let mut err = std::io::stderr();
    if !err.is_terminal() {
        return;
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let rate = done as f64 / secs;
    let eta = (total - done) as f64 / rate.max(1e-9);
    let width = 30;
    let filled = width * done / total.max(1);
    let _ = write!(
        err,
        "\r[{}{}] {done}/{total}  {rate:.1} docs/s  {:.0} chunks/s  ETA {eta:.0}s ",
        "#".repeat(filled),
        "-".repeat(width - filled),
        chunks as f64 / secs
    );
    let _ = err.flush();
}

fn eprintln_progress_done() {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        let _ = writeln!(std::io::stderr());
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards() {
        assert!(wildcard("*.md", "guide.md"));
        assert!(!wildcard("*.md", "guide.mdx"));
        assert!(wildcard("faq-??.csv", "faq-es.csv"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("a*b", "ac"));
    }
}
