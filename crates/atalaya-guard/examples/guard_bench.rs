//! Speed of the detectors on one core: `cargo run --release -p atalaya-guard --example
//! guard_bench [ITERATIONS]`. Prints JSON: per-message latency percentiles (µs) for a 2 KB
//! support message through all detectors (PII + injection), PII-only throughput (MB/s) on a
//! corpus of support messages, and injection-only throughput. Run by `bench/guard_speed.sh`.
//! `guard_bench N corpus FILE.jsonl` instead measures PII-only and injection-only throughput
//! over the texts of a JSON Lines file (`{"text": ...}` per line), N passes.
#![allow(clippy::print_stdout)] // a benchmark tool: its report is its output

use std::time::Instant;

use atalaya_guard::{Guard, Policy, Source};

/// A realistic ~2 KB support message in three languages with several PII entities.
fn message() -> String {
    let base = "Hello, my name is Ana Beltrán and I am writing about order #A-10023, which \
arrived damaged on 2024-03-12. I paid 1.299,00 € with my card 4111 1111 1111 1111 and I \
would like a refund to my IBAN ES91 2100 0418 4502 0005 1332. You can reach me at \
ana.beltran@example.es or on +34 612 345 678 in the afternoon. Hola, soy Ana: el pedido \
llegó roto y la caja estaba abierta; mi DNI es 12345678Z por si lo necesitan para la \
factura. Olá, também tenho uma conta no Brasil, CPF 529.982.247-25, e o telefone (11) \
98765-4321. The tracking number was 1Z999AA10123456784 and the app version is 10.0.19045. \
I already tried the troubleshooting steps in your help center twice: restarting the \
device, reinstalling the app, and resetting the password. Nothing worked, and the chat \
assistant kept sending me to the same article. Please ignore my previous email about the \
delivery address; the right one is the one on the account. ";
    let mut s = String::new();
    while s.len() < 2048 {
        s.push_str(base);
    }
    let mut cut = 2048;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    if std::env::args().nth(2).as_deref() == Some("corpus") {
        return corpus(n, &std::env::args().nth(3).unwrap_or_default());
    }
    // `guard_bench N pii|injection`: one detector in a loop, for a profiler.
    if let Some(which) = std::env::args().nth(2) {
        let guard = Guard::new()?;
        let msg = message();
        for _ in 0..n {
            if which == "pii" {
                std::hint::black_box(guard.pii.scan(&msg));
            } else {
                std::hint::black_box(guard.injection.scan(&msg, Source::User, 0.5));
            }
        }
        return Ok(());
    }
    let guard = Guard::new()?;
    let policy = Policy::default();
    let msg = message();
    // Warm-up.
    for _ in 0..200 {
        std::hint::black_box(guard.scan(&msg, Source::User, &policy));
    }
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(guard.scan(&msg, Source::User, &policy));
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat.sort_by(f64::total_cmp);
    let bytes = msg.len() as f64;
    // PII only and injection only, same message.
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(guard.pii.scan(&msg));
    }
    let pii_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(guard.injection.scan(&msg, Source::User, 0.5));
    }
    let inj_secs = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "message_bytes": msg.len(),
            "iterations": n,
            "all_detectors_us": {"p50": percentile(&lat, 0.5), "p90": percentile(&lat, 0.9), "p99": percentile(&lat, 0.99), "max": lat[lat.len() - 1]},
            "all_detectors_mb_per_s": bytes * n as f64 / lat.iter().sum::<f64>(),
            "pii_mb_per_s": bytes * n as f64 / pii_secs / 1e6,
            "pii_us_per_message": pii_secs * 1e6 / n as f64,
            "injection_mb_per_s": bytes * n as f64 / inj_secs / 1e6,
            "injection_us_per_message": inj_secs * 1e6 / n as f64,
        })
    );
    Ok(())
}

/// PII-only and injection-only throughput over a corpus of texts, `passes` times.
fn corpus(passes: usize, path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let texts: Vec<String> = std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .map(|v| v["text"].as_str().unwrap_or_default().to_string())
        })
        .collect::<Result<_, _>>()?;
    let guard = Guard::new()?;
    let bytes: usize = texts.iter().map(String::len).sum();
    let run = |f: &dyn Fn(&str)| {
        let t = Instant::now();
        for _ in 0..passes {
            for text in &texts {
                f(text);
            }
        }
        (bytes * passes) as f64 / t.elapsed().as_secs_f64() / 1e6
    };
    let pii = run(&|t| {
        std::hint::black_box(guard.pii.scan(t));
    });
    let injection = run(&|t| {
        std::hint::black_box(guard.injection.scan(t, Source::User, 0.5));
    });
    println!(
        "{}",
        serde_json::json!({
            "corpus": path,
            "texts": texts.len(),
            "mean_bytes": bytes as f64 / texts.len().max(1) as f64,
            "passes": passes,
            "pii_mb_per_s": pii,
            "injection_mb_per_s": injection,
        })
    );
    Ok(())
}
