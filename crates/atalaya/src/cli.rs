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
    /// API keys: create, list, revoke, rotate (in the store); generate and hash.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Tenants: create, list, show, update, delete.
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// The tamper-evident audit log: verify the chain, export for a SIEM.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Data subjects (GDPR/LGPD): erase or export everything stored about one.
    #[command(subcommand)]
    Subjects(SubjectsCommand),
    /// Encryption at rest of the inference log.
    #[command(subcommand)]
    Encryption(EncryptionCommand),
    /// Local model files (GGUF).
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Knowledge bases: create, ingest documents, search.
    #[command(subcommand)]
    Kb(KbCommand),
    /// Guardrails: PII and prompt-injection detection, redaction (JSON Lines).
    #[command(subcommand)]
    Guard(GuardCommand),
    /// Text classifiers (intents, priorities): train, evaluate, predict.
    #[command(subcommand)]
    Classify(ClassifyCommand),
    /// Support tickets: batch triage through the tickets pipeline.
    #[command(subcommand)]
    Tickets(TicketsCommand),
    /// Declarative pipelines: list and check them.
    #[command(subcommand)]
    Pipelines(PipelinesCommand),
    /// The Postgres schema (`[storage] backend = "postgres"`): show or apply migrations.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Internal: parses one document from stdin under resource limits and writes it as JSON
    /// (the server and `kb ingest` run it as a child process for every document).
    #[command(hide = true)]
    ParseWorker(ParseWorkerArgs),
}

#[derive(Subcommand)]
pub enum MigrateCommand {
    /// Each component's schema version: applied, known to this build, pending.
    Status {
        #[command(flatten)]
        store: StoreArgs,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Applies pending migrations, under an advisory lock (safe while replicas start).
    Up {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Copies a single-node installation (an sqlite data directory) into Postgres: platform
    /// records (the audit chain verbatim), knowledge, tickets and classifiers; then checks the
    /// counts and verifies the copied audit chain. Safe to run again.
    Copy {
        /// The data directory to copy from (the server using it should be stopped).
        #[arg(long)]
        from: PathBuf,
        /// The target database: `env:NAME`, `file:PATH` or a URL without a password
        /// (default: storage.url of the configuration).
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Args)]
pub struct ParseWorkerArgs {
    #[arg(long)]
    pub format: String,
    #[arg(long)]
    pub cpu_seconds: u64,
    #[arg(long)]
    pub memory_bytes: u64,
}

#[derive(Subcommand)]
pub enum TicketsCommand {
    /// Triage tickets: JSON Lines in (`{"id","subject","body"|"text","customer_id",
    /// "channel","language"}`), one JSON line out per ticket: `{"id","language","intent",
    /// "priority","confidence","status","reason","draft","citations":[{"doc","chunk","score"}]}`.
    Triage {
        #[command(flatten)]
        source: DataSource,
        /// Input file (default: standard input).
        #[arg(long)]
        input: Option<PathBuf>,
        /// Also store the tickets (as `POST /v1/tickets` does).
        #[arg(long)]
        store: bool,
        /// Add each run's step trace to its line.
        #[arg(long)]
        trace: bool,
        /// Tickets triaged at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
}

#[derive(Subcommand)]
pub enum PipelinesCommand {
    /// Load and validate the configured pipelines (and the built-in one); list them.
    Check {
        #[command(flatten)]
        source: DataSource,
    },
}

/// Where classifiers are kept (`<data_dir>/classifiers/TENANT/NAME.atc`) and which embedding
/// model computes their features.
#[derive(Args, Clone)]
pub struct ClassifySource {
    /// The classifier's name.
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub scope: DataSource,
}

#[derive(Subcommand)]
pub enum ClassifyCommand {
    /// Train on labelled examples (CSV with `text` and `label`/`intent`/`category` columns, or
    /// JSON Lines); examples labelled `out_of_scope` or `oos` calibrate the out-of-scope
    /// threshold and, when there are enough of them, are learned as a class. Prints the
    /// held-out validation report as JSON.
    Train {
        #[command(flatten)]
        source: ClassifySource,
        /// Training data.
        #[arg(long)]
        data: PathBuf,
        /// Validation data (default: a stratified share of the training data).
        #[arg(long)]
        validation: Option<PathBuf>,
        /// Embedding model whose sentence embeddings join the n-gram features (a
        /// [local_models] name; default: the configured one, else all-minilm-l6-v2).
        #[arg(long)]
        embedding_model: Option<String>,
        /// N-gram features only (no embedding model needed).
        #[arg(long, conflicts_with = "embedding_model")]
        no_embeddings: bool,
        #[arg(long, default_value_t = 30)]
        epochs: usize,
        #[arg(long, default_value_t = 0.01)]
        learning_rate: f32,
        /// Weight of the sentence embedding against the n-grams (both unit length).
        #[arg(long, default_value_t = 1.0)]
        embedding_weight: f32,
        /// L2 penalty on the weights.
        #[arg(long, default_value_t = 1e-6)]
        l2: f32,
        /// Share of each label held out for validation (without --validation).
        #[arg(long, default_value_t = 0.1)]
        validation_fraction: f64,
        /// A fixed out-of-scope threshold (probability) instead of a calibrated one.
        #[arg(long)]
        threshold: Option<f32>,
        /// With at least this many out-of-scope training examples, they are learned as a
        /// class of their own besides calibrating the threshold.
        #[arg(long, default_value_t = 20)]
        out_of_scope_class_min: usize,
        /// The share of out-of-scope messages expected in real traffic; the threshold
        /// maximises (1 - share) × in-scope accuracy + share × out-of-scope recall on the
        /// validation data.
        #[arg(long, default_value_t = 0.2)]
        out_of_scope_share: f64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Evaluate on labelled data: accuracy, macro-F1, per-class F1, the most frequent
    /// confusions and (with out-of-scope examples) out-of-scope recall, as JSON.
    Eval {
        #[command(flatten)]
        source: ClassifySource,
        #[arg(long)]
        data: PathBuf,
    },
    /// Classify texts: one per line of standard input (or --text); JSON Lines out.
    Predict {
        #[command(flatten)]
        source: ClassifySource,
        #[arg(long)]
        text: Option<String>,
    },
    /// Show a classifier: labels, threshold, training parameters, data hash, validation.
    Show {
        #[command(flatten)]
        source: ClassifySource,
    },
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

/// The configuration, data directory and tenant an offline subcommand works on.
#[derive(Args, Clone)]
pub struct DataSource {
    /// TOML configuration (models, [onnxruntime], pipelines); optional.
    #[arg(long, short = 'c', env = "ATALAYA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for persistent state (overrides server.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Tenant whose collections, classifiers and tickets are used.
    #[arg(long, default_value = "default")]
    pub tenant: String,
}

#[derive(Subcommand)]
pub enum KbCommand {
    /// Create a collection.
    Create {
        name: String,
        #[command(flatten)]
        source: DataSource,
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
        source: DataSource,
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
        source: DataSource,
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
        source: DataSource,
        #[arg(long)]
        json: bool,
    },
    /// Delete a collection, or one document of it.
    Delete {
        name: String,
        #[command(flatten)]
        source: DataSource,
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
    /// Generate a new random key (not stored) and print it with its `sha256:` form: for
    /// auth.api_keys or ATALAYA_ADMIN_KEY.
    Generate,
    /// Create a key in the store; the key is printed once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// admin, member or viewer.
        #[arg(long, default_value = "member")]
        role: String,
        /// Days until the key expires.
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List keys (prefix, name, role, created, last used), of one tenant or all.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key by id: it is refused from the next request on.
    Revoke {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Replace a key by a new one with the same settings; the old one stops after the grace
    /// period.
    Rotate {
        id: String,
        #[arg(long, default_value_t = 0)]
        grace_seconds: u64,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where the platform store is: the config (for server.data_dir and secrets) and overrides.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// TOML configuration; optional.
    #[arg(long, short = 'c', env = "ATALAYA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for persistent state (overrides server.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Limits of a tenant or key (absent = unchanged on update, none on create).
#[derive(Args, Clone, Default)]
pub struct LimitArgs {
    #[arg(long)]
    pub requests_per_minute: Option<u32>,
    #[arg(long)]
    pub burst_requests: Option<u32>,
    #[arg(long)]
    pub tokens_per_minute: Option<u64>,
    #[arg(long)]
    pub max_concurrent: Option<u32>,
    #[arg(long)]
    pub tokens_per_day: Option<u64>,
    #[arg(long)]
    pub tokens_per_month: Option<u64>,
    #[arg(long)]
    pub cost_per_day: Option<f64>,
    #[arg(long)]
    pub cost_per_month: Option<f64>,
}

#[derive(Subcommand)]
pub enum TenantsCommand {
    Create {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Models the tenant may call (comma-separated); none = all.
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Store requests and answers, encrypted (needs encryption.master_key).
        #[arg(long)]
        log_inference: bool,
        #[arg(long)]
        retention_days: Option<u32>,
        /// A [guard.policies] name (or "off") for all the tenant's requests.
        #[arg(long)]
        guard_policy: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    Show {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Change a tenant; limits given replace the tenant's limits as a whole.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_delimiter = ',')]
        models: Option<Vec<String>>,
        #[arg(long)]
        log_inference: Option<bool>,
        #[arg(long)]
        retention_days: Option<u32>,
        /// A [guard.policies] name, "off", or "route" (each route's own policy again).
        #[arg(long)]
        guard_policy: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete a tenant with its keys, usage and inference log.
    Delete {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and its signed anchors; exits 1 naming every modified, deleted
    /// or reordered entry.
    Verify {
        #[arg(long)]
        json: bool,
        /// Anchors exported by `audit.anchor_sink` (JSON Lines): each must still be in the
        /// database, unchanged (catches a cut-off end together with its anchors).
        #[arg(long, value_name = "FILE")]
        anchors: Option<std::path::PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Write every entry as JSON Lines with Elastic Common Schema field names.
    Export {
        /// Output file; standard output when absent.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum SubjectsCommand {
    /// Delete every stored record of a subject: inference-log rows (its `user` /
    /// `x-atalaya-subject` id) and tickets (their `customer_id`) with their feedback.
    Erase {
        id: String,
        /// Only in this tenant (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print everything stored about a subject as JSON.
    Export {
        id: String,
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum EncryptionCommand {
    /// Re-wrap every data key under encryption.master_key (after moving the old master key
    /// to encryption.previous_master_keys) and start a new data key for new rows.
    Rotate {
        #[command(flatten)]
        store: StoreArgs,
    },
}
