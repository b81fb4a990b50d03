//! `atalaya-fake-upstream`: the fake upstream as a standalone server, for benchmarks and
//! manual tries. Listens on loopback by default; runs until Ctrl-C or SIGTERM.

use std::{net::SocketAddr, time::Duration};

use atalaya_testkit::{FakeOptions, FakeUpstream};
use clap::Parser;

#[derive(Parser)]
#[command(about = "A fast OpenAI-compatible fake upstream for benchmarks and demos")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1:18080")]
    listen: SocketAddr,
    /// Chunks per streamed reply (contents `t0 `, `t1 `, ...).
    #[arg(long, default_value_t = 200)]
    stream_chunks: usize,
    /// Microseconds between streamed chunks.
    #[arg(long, default_value_t = 0)]
    chunk_delay_us: u64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let fake = FakeUpstream::start_with(FakeOptions {
            listen: cli.listen,
            stream_chunks: cli.stream_chunks,
            chunk_delay: Duration::from_micros(cli.chunk_delay_us),
            record: false,
        })
        .await?;
        use std::io::Write;
        writeln!(std::io::stderr(), "fake upstream on {}", fake.base_url())?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        fake.stop().await;
        anyhow::Ok(())
    })
}
