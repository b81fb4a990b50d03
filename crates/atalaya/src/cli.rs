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
    /// Model name served with --upstream.
    #[arg(long, requires = "upstream")]
    pub model: Option<String>,
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
