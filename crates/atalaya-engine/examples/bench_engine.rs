//! In-process benchmarks of the local engine (no HTTP), printed as JSON lines. Used by
//! bench/local.sh next to the HTTP measurements.
//!
//!   bench_engine raw    MODEL.gguf --threads 2 --prompt 256 --tokens 128
//!       a bare llama.cpp loop (one sequence, no scheduler): prompt-processing and decode tok/s
//!   bench_engine chat   MODEL.gguf --threads 2 --prompt 256 --tokens 128 --streams 1,4,8,16 --agg-prompt 32
//!                       [--flash-attention auto|on|off]
//!       the ChatEngine (scheduler included): single-stream rates with a --prompt-token prompt,
//!       then aggregate tok/s with N concurrent generations of --agg-prompt-token prompts
//!   bench_engine embed  MODEL.onnx|MODEL.gguf --threads 2 --batches 1,16,64 --repeat 3
//!       sentences/s for short and long inputs (the texts of bench/embed_texts.py)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

use std::{num::NonZeroU32, path::PathBuf, time::Instant};

use atalaya_core::config::{FlashAttention, LocalModelConfig, LocalModelKind};
use atalaya_engine::{
    chat::{ChatEngine, Event, GenerateParams, Sampling},
    embed::EmbedEngine,
};
use llama_cpp_2::{
    context::params::LlamaContextParams, llama_backend::LlamaBackend, llama_batch::LlamaBatch,
    model::params::LlamaModelParams, model::LlamaModel, sampling::LlamaSampler,
};
use serde_json::json;

struct Args {
    cmd: String,
    model: PathBuf,
    threads: u32,
    prompt: usize,
    tokens: u32,
    streams: Vec<usize>,
    batches: Vec<usize>,
    repeat: usize,
    batch_tokens: u32,
    agg_prompt: usize,
    flash_attention: FlashAttention,
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().expect("command: raw | chat | embed");
    let model = PathBuf::from(it.next().expect("model path"));
    let mut a = Args {
        cmd,
        model,
        threads: 2,
        prompt: 256,
        tokens: 128,
        streams: vec![1, 4, 8, 16],
        batches: vec![1, 16, 64],
        repeat: 3,
        batch_tokens: 512,
        agg_prompt: 32,
        flash_attention: FlashAttention::Auto,
    };
    while let Some(flag) = it.next() {
        let v = it.next().expect("flag value");
        let list = |v: &str| {
            v.split(',')
                .map(|x| x.parse().unwrap())
                .collect::<Vec<usize>>()
        };
        match flag.as_str() {
            "--threads" => a.threads = v.parse().unwrap(),
            "--prompt" => a.prompt = v.parse().unwrap(),
            "--tokens" => a.tokens = v.parse().unwrap(),
            "--streams" => a.streams = list(&v),
            "--batches" => a.batches = list(&v),
            "--repeat" => a.repeat = v.parse().unwrap(),
            "--batch-tokens" => a.batch_tokens = v.parse().unwrap(),
            "--agg-prompt" => a.agg_prompt = v.parse().unwrap(),
            "--flash-attention" => {
                a.flash_attention = match v.as_str() {
                    "on" => FlashAttention::On,
                    "off" => FlashAttention::Off,
                    _ => FlashAttention::Auto,
                }
            }
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// A prompt of exactly `n` tokens of ordinary text (cycled).
fn prompt_text() -> String {
    "The customer wrote to support because the parcel with the new card reader arrived late and damaged; they ask for a replacement and a refund of the shipping costs. ".repeat(64)
}

fn raw(a: &Args) {
    let backend = LlamaBackend::init().unwrap();
    let model =
        LlamaModel::load_from_file(&backend, &a.model, &LlamaModelParams::default()).unwrap();
    let n_ctx = (a.prompt + a.tokens as usize + 8) as u32;
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(512)
        .with_n_threads(a.threads as i32)
        .with_n_threads_batch(a.threads as i32);
    let mut ctx = model.new_context(&backend, params).unwrap();
    let mut toks = model
        .vocab()
        .tokenize(prompt_text().as_bytes(), true, false);
    toks.truncate(a.prompt);
    let mut batch = LlamaBatch::new(512, 1);
    let t0 = Instant::now();
    for (chunk_i, chunk) in toks.chunks(512).enumerate() {
        batch.clear();
        for (j, t) in chunk.iter().enumerate() {
            let pos = chunk_i * 512 + j;
            batch
                .add(*t, pos as i32, &[0], pos + 1 == toks.len())
                .unwrap();
        }
        ctx.decode(&mut batch).unwrap();
    }
    let pp = t0.elapsed();
    let mut sampler = LlamaSampler::greedy();
    let mut last = batch.n_tokens() - 1;
    let t1 = Instant::now();
    for pos in toks.len()..toks.len() + a.tokens as usize {
        let t = sampler.sample(&ctx, last);
        batch.clear();
        batch.add(t, pos as i32, &[0], true).unwrap();
        ctx.decode(&mut batch).unwrap();
        last = 0;
    }
    let tg = t1.elapsed();
    println!(
        "{}",
        json!({"bench": "raw", "prompt_tokens": toks.len(), "pp_tok_s": toks.len() as f64 / pp.as_secs_f64(),
               "decode_tokens": a.tokens, "decode_tok_s": f64::from(a.tokens) / tg.as_secs_f64()})
    );
}

fn greedy(tokens: u32) -> GenerateParams {
    GenerateParams {
        sampling: Sampling {
            temperature: 0.0,
            ..Sampling::default()
        },
        seed: None,
        max_tokens: Some(tokens),
        stop: Vec::new(),
    }
}

/// Runs one generation: (time to first token, completion tokens, decode seconds after it).
async fn one(
    e: &ChatEngine,
    tokens: Vec<llama_cpp_2::token::LlamaToken>,
    max: u32,
) -> (f64, u32, f64) {
    let t0 = Instant::now();
    let mut g = e.generate_tokens(tokens, greedy(max)).unwrap();
    let mut first = None;
    loop {
        match g.events.recv().await.unwrap() {
            Event::Text(_) => {
                first.get_or_insert_with(|| t0.elapsed().as_secs_f64());
            }
            Event::Done(f) => {
                let ttft = first.unwrap_or_else(|| t0.elapsed().as_secs_f64());
                return (ttft, f.completion_tokens, t0.elapsed().as_secs_f64() - ttft);
            }
            Event::Failed(e) => panic!("{e}"),
        }
    }
}

fn chat(a: &Args) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let max_streams = *a.streams.iter().max().unwrap_or(&1) as u32;
    let cfg = LocalModelConfig {
        path: a.model.clone(),
        context_length: (a.prompt + a.tokens as usize + 64) as u32,
        parallel: max_streams,
        threads: a.threads,
        queue_size: 256,
        flash_attention: a.flash_attention,
        ..LocalModelConfig::default()
    };
    let e = ChatEngine::load("bench", &cfg, None).unwrap();
    let mut toks = e.tokenize(&prompt_text());
    toks.truncate(a.prompt);
    rt.block_on(async {
        // Warm-up, then single stream: prompt processing (time to first token) and decode.
        one(&e, toks.clone(), 8).await;
        // Distinct prompts per run so the prefix cache does not skip the prefill.
        let mut variant = 0u32;
        let mut fresh = |toks: &Vec<llama_cpp_2::token::LlamaToken>| {
            variant += 1;
            let mut t = toks.clone();
            t[1] = llama_cpp_2::token::LlamaToken(100 + variant as i32);
            t
        };
        let (ttft, n, decode) = one(&e, fresh(&toks), a.tokens).await;
        println!(
            "{}",
            json!({"bench": "engine_single", "prompt_tokens": toks.len(), "pp_tok_s": toks.len() as f64 / ttft,
                   "decode_tokens": n, "decode_tok_s": f64::from(n.saturating_sub(1)) / decode})
        );
        let mut short = toks.clone();
        short.truncate(a.agg_prompt.max(2));
        for &s in &a.streams {
            let prompts: Vec<_> = (0..s).map(|_| fresh(&short)).collect();
            let t0 = Instant::now();
            let runs = futures::future::join_all(prompts.into_iter().map(|p| one(&e, p, a.tokens))).await;
            let wall = t0.elapsed().as_secs_f64();
            let total: u32 = runs.iter().map(|r| r.1).sum();
            let mut ttfts: Vec<f64> = runs.iter().map(|r| r.0).collect();
            ttfts.sort_by(f64::total_cmp);
            println!(
                "{}",
                json!({"bench": "engine_aggregate", "streams": s, "prompt_tokens": short.len(), "completion_tokens": total,
                       "aggregate_tok_s": f64::from(total) / wall, "ttft_p50_s": ttfts[ttfts.len() / 2],
                       "ttft_max_s": ttfts[ttfts.len() - 1]})
            );
        }
    });
}

fn embed(a: &Args) {
    let cfg = LocalModelConfig {
        kind: LocalModelKind::Embedding,
        path: a.model.clone(),
        threads: a.threads,
        batch_size: a.batch_tokens,
        batch_window_ms: 0,
        queue_size: 256,
        ..LocalModelConfig::default()
    };
    let library = std::env::var("ORT_LIBRARY")
        .unwrap_or_else(|_| "models/onnxruntime/libonnxruntime.so".into());
    let e = EmbedEngine::load("bench", &cfg, std::path::Path::new(&library), None).unwrap();
    let engine = e.details()["engine"].clone();
    let texts: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::env::var("EMBED_TEXTS").expect("EMBED_TEXTS=path to texts.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for kind in ["short", "long"] {
        let pool: Vec<String> = texts[kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let tokens: usize = pool
            .iter()
            .map(|t| e.tokenize(t).unwrap().len())
            .sum::<usize>()
            / pool.len();
        e.embed_blocking(&pool[..4]).unwrap(); // warm-up
        for &b in &a.batches {
            let mut rates = Vec::new();
            for _ in 0..a.repeat {
                let t0 = Instant::now();
                let mut done = 0;
                for chunk in pool.chunks(b) {
                    e.embed_blocking(chunk).unwrap();
                    done += chunk.len();
                }
                rates.push(done as f64 / t0.elapsed().as_secs_f64());
            }
            rates.sort_by(f64::total_cmp);
            println!(
                "{}",
                json!({"bench": "embed", "engine": "atalaya", "backend": engine, "kind": kind, "batch": b, "mean_tokens": tokens,
                       "sentences_per_s": rates[rates.len() / 2]})
            );
        }
    }
}

fn main() {
    let a = args();
    match a.cmd.as_str() {
        "raw" => raw(&a),
        "chat" => chat(&a),
        "embed" => embed(&a),
        other => panic!("unknown command {other}"),
    }
}
