//! Command-line declarations only; `main.rs` does the wiring.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "atalaya",
    version,
    about = "Atalaya: a self-hosted LLM gateway"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// API key tools.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Local model files (GGUF).
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Knowledge bases: create, ingest documents, search.
    #[command(subcommand)]
    Kb(KbCommand),
    /// Guardrails: PII and prompt-injection detection, redaction (JSON Lines).
    #[command(subcommand)]
    Guard(GuardCommand),
}

#[derive(Subcommand)]
pub enum GuardCommand {
    /// Reads JSON Lines `{"id","text"[,"source":"user"|"document"]}` and writes one line per
    /// input: `{"id","pii":[{"type","start","end","score"}],"injection":{"score","flagged","reasons"}}`
    /// (offsets are Unicode scalar indices, end exclusive).
    Scan(GuardArgs),
    /// As `scan`, plus `"redacted"`: the text with the policy applied.
    Redact(GuardArgs),
}

#[derive(Args)]
pub struct GuardArgs {
    /// JSON Lines input; standard input when absent.
    #[arg(long, short = 'i')]
    pub input: Option<PathBuf>,
    /// A guard policy as TOML (the keys of `[guard.policies.NAME]`); built-in defaults when
    /// absent.
    #[arg(long, short = 'p')]
    pub policy: Option<PathBuf>,
}

/// Where the knowledge base lives and which embedding model it uses.
#[derive(Args, Clone)]
pub struct KbSource {
    /// TOML configuration (for [local_models] and [onnxruntime]); optional.
    #[arg(long, short = 'c', env = "ATALAYA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for persistent state (overrides server.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Tenant owning the collections.
    #[arg(long, default_value = "default")]
    pub tenant: String,
}

#[derive(Subcommand)]
pub enum KbCommand {
    /// Create a collection.
    Create {
        name: String,
        #[command(flatten)]
        source: KbSource,
        /// Embedding model (a [local_models] name; default: the configured one, else
        /// all-minilm-l6-v2 from `make models`).
        #[arg(long)]
        embedding_model: Option<String>,
        /// Default language of its documents (en, es, pt…).
        #[arg(long)]
        language: Option<String>,
        /// Token budget of a chunk.
        #[arg(long, default_value_t = 200)]
        max_tokens: usize,
        /// Tokens repeated between consecutive chunks of a section.
        #[arg(long, default_value_t = 32)]
        overlap_tokens: usize,
    },
    /// Ingest files and directories (recursively); one bad file never stops the others.
    Ingest {
        name: String,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        source: KbSource,
        /// Only files whose name matches one of these patterns (`*.md`, `faq-*.csv`).
        #[arg(long)]
        glob: Vec<String>,
        /// Language of these documents (default: the collection's).
        #[arg(long)]
        language: Option<String>,
        /// Tags, comma-separated.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        /// Access labels, comma-separated: only callers holding one may retrieve them.
        #[arg(long, value_delimiter = ',')]
        labels: Vec<String>,
        /// One JSON line per file instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Search a collection.
    Search {
        name: String,
        #[command(flatten)]
        source: KbSource,
        /// The query.
        #[arg(long, conflicts_with = "queries", required_unless_present = "queries")]
        query: Option<String>,
        /// JSON Lines of {"id","query"}: writes {"id","results":[{"doc","chunk","score"}]} lines.
        #[arg(long)]
        queries: Option<PathBuf>,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[arg(long, value_enum, default_value = "hybrid")]
        mode: KbMode,
        /// Caller's access labels, comma-separated.
        #[arg(long, value_delimiter = ',')]
        labels: Vec<String>,
        /// Only chunks with one of these tags.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List collections, or the documents of one.
    List {
        name: Option<String>,
        #[command(flatten)]
        source: KbSource,
        #[arg(long)]
        json: bool,
    },
    /// Delete a collection, or one document of it.
    Delete {
        name: String,
        #[command(flatten)]
        source: KbSource,
        /// The document's source (as listed) instead of the whole collection.
        #[arg(long)]
        document: Option<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum KbMode {
    Hybrid,
    Dense,
    Bm25,
}

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// List the configured local models and the GGUF files under a directory.
    List {
        /// Configuration whose [local_models] to list.
        #[arg(long, short = 'c', env = "ATALAYA_CONFIG")]
        config: Option<PathBuf>,
        /// Directory searched for *.gguf and *.onnx files.
        #[arg(long, default_value = "models")]
        dir: PathBuf,
        /// ONNX Runtime library for .onnx files (default: the configuration's, else
        /// $ATALAYA__ONNXRUNTIME__LIBRARY, else models/onnxruntime/libonnxruntime.so).
        #[arg(long)]
        onnxruntime: Option<PathBuf>,
        /// One JSON object per model instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Describe a GGUF file (architecture, parameters, quantization, context, template, memory)
    /// or an ONNX embedding model (loaded with its tokenizer.json: dimensions, sequence limit).
    Inspect {
        path: PathBuf,
        /// ONNX Runtime library for an .onnx file (default: $ATALAYA__ONNXRUNTIME__LIBRARY,
        /// else models/onnxruntime/libonnxruntime.so).
        #[arg(long)]
        onnxruntime: Option<PathBuf>,
        /// tokenizer.json of an .onnx file (default: beside it).
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        /// Context length per sequence for the memory estimate (default: the model's, at most
        /// 8192). GGUF only.
        #[arg(long)]
        context: Option<u64>,
        /// Parallel sequences for the memory estimate. GGUF only.
        #[arg(long, default_value_t = 4)]
        parallel: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Clone)]
pub struct ConfigSource {
    /// TOML configuration file (see atalaya.example.toml).
    #[arg(long, short = 'c', env = "ATALAYA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (overrides server.listen).
    #[arg(long)]
    pub listen: Option<String>,
    /// Directory for persistent state (overrides server.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Route --model to this OpenAI-compatible base URL (no config file needed).
    #[arg(long, requires = "model")]
    pub upstream: Option<String>,
    /// Model name served with --upstream (or the name of the --gguf model).
    #[arg(long)]
    pub model: Option<String>,
    /// Serve this GGUF chat model in-process (named by --model, or by the file name).
    #[arg(long, conflicts_with = "upstream")]
    pub gguf: Option<PathBuf>,
    /// Serve this embedding model in-process: an `.onnx` file (ONNX Runtime, with the
    /// tokenizer.json beside it) or a GGUF file (llama.cpp). Named by the file name, or by its
    /// directory for `model.onnx` (e.g. models/all-MiniLM-L6-v2/model.onnx, prepared by
    /// `make models`, is served as all-MiniLM-L6-v2).
    #[arg(long, alias = "embedding-gguf")]
    pub embedding_model: Option<PathBuf>,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub source: ConfigSource,
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective result (secrets masked).
    Check {
        #[command(flatten)]
        source: ConfigSource,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Print the `sha256:` form of a key (read from standard input) for auth.api_keys.
    Hash,
    /// Generate a new random client key and print it with its `sha256:` form.
    Generate,
}
