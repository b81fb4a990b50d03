//! ANN benchmark: Atalaya's HNSW index ([`atalaya_knowledge::ann::Ann`]) on the vectors of
//! `bench/ann/vectors.py`, with the same parameters as the faiss peer. Builds on
//! `--build-threads` threads, then searches one query at a time on one thread (as a request
//! does), `--repeat` times; prints one JSON line with recall@k against exact search and the
//! median queries per second.
//!
//! usage: ann_bench DIR [--m 16] [--ef-construction 128] [--ef-search 64] [--k 10]
//!        [--repeat 5] [--build-threads 2]
#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark's report

use std::{collections::HashSet, path::PathBuf, time::Instant};

use atalaya_knowledge::ann::{Ann, AnnParams};

fn read_f32(path: &PathBuf) -> Result<Vec<f32>, String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: ann_bench DIR [options]")?);
    let mut p = AnnParams::default();
    let (mut k, mut repeat, mut threads, mut oversample) = (10usize, 5usize, 2usize, 1usize);
    while let Some(flag) = args.next() {
        if flag == "--quantization" {
            let q = args.next().unwrap_or_default();
            p.quantization = atalaya_knowledge::ann::Quantization::parse(&q)
                .ok_or(format!("--quantization f32|f16|i8, not {q}"))?;
            continue;
        }
        let v: usize = args
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or(format!("{flag} needs a number"))?;
        match flag.as_str() {
            "--m" => p.m = v,
            "--ef-construction" => p.ef_construction = v,
            "--ef-search" => p.ef_search = v,
            "--k" => k = v,
            "--repeat" => repeat = v,
            "--build-threads" => threads = v,
            "--oversample" => oversample = v.max(1),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("meta.json")).map_err(|e| format!("meta.json: {e}"))?,
    )
    .map_err(|e| e.to_string())?;
    let dims = meta["dims"].as_u64().ok_or("meta.json: dims")? as usize;
    let base = read_f32(&dir.join("base.f32"))?;
    let queries = read_f32(&dir.join("queries.f32"))?;
    let gt_bytes = std::fs::read(dir.join("groundtruth.i64")).map_err(|e| e.to_string())?;
    let gt: Vec<u64> = gt_bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    let nq = queries.len() / dims;
    let gt_k = gt.len() / nq;
    let ann = Ann::new(dims, p).map_err(|e| e.to_string())?;
    let items: Vec<(u64, &[f32])> = base
        .chunks_exact(dims)
        .enumerate()
        .map(|(i, v)| (i as u64, v))
        .collect();
    let t0 = Instant::now();
    ann.add(&items, threads).map_err(|e| e.to_string())?;
    let build_s = t0.elapsed().as_secs_f64();
    let mut rates = Vec::new();
    let mut hits = 0;
    for r in 0..repeat {
        let t0 = Instant::now();
        let mut found = 0;
        for (qi, q) in queries.chunks_exact(dims).enumerate() {
            // As VectorIndex does with a quantized graph: more candidates, re-scored on the
            // full-precision vectors.
            let mut res = ann
                .search(q, k * oversample, None)
                .map_err(|e| e.to_string())?;
            if oversample > 1 {
                for (id, score) in res.iter_mut() {
                    let row = &base[*id as usize * dims..(*id as usize + 1) * dims];
                    *score = row.iter().zip(q).map(|(a, b)| a * b).sum();
                }
                res.sort_by(|a, b| b.1.total_cmp(&a.1));
                res.truncate(k);
            }
            if r == 0 {
                let want: HashSet<u64> = gt[qi * gt_k..qi * gt_k + k.min(gt_k)]
                    .iter()
                    .copied()
                    .collect();
                found += res.iter().filter(|(id, _)| want.contains(id)).count();
            }
        }
        rates.push(nq as f64 / t0.elapsed().as_secs_f64());
        if r == 0 {
            hits = found;
        }
    }
    let mut sorted = rates.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    eprintln!(
        "usearch SIMD compiled: {} / available: {}",
        usearch::hardware_acceleration_compiled(),
        usearch::hardware_acceleration_available()
    );
    let report = serde_json::json!({
        "engine": format!("atalaya HNSW (usearch {})", usearch::version()),
        "quantization": p.quantization.as_str(),
        "oversample": oversample,
        "base": items.len(), "queries": nq, "dims": dims, "m": p.m,
        "ef_construction": p.ef_construction, "ef_search": p.ef_search, "k": k,
        "build_threads": threads, "build_s": (build_s * 1000.0).round() / 1000.0,
        format!("recall@{k}"): (hits as f64 / (nq * k) as f64 * 10000.0).round() / 10000.0,
        "qps_1_thread_median": (median * 10.0).round() / 10.0,
        "qps_runs": rates.iter().map(|r| (r * 10.0).round() / 10.0).collect::<Vec<_>>(),
    });
    println!("{report}");
    Ok(())
}
