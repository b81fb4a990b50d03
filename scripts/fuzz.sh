#!/usr/bin/env bash
# Coverage-guided fuzzing of every target in fuzz/ (cargo-fuzz + libFuzzer), SECONDS each
# (default 120), one job per target, one target at a time. The working corpus lives in
# ~/.cache/atalaya/fuzz-corpus/<target>/ (seeded from fuzz/corpus/); after the runs, a merge
# keeps in fuzz/corpus/<target>/ the inputs of at most 2 KiB that add coverage (commit them:
# `make test` replays that corpus). Crashes go to fuzz/artifacts/<target>/. cargo-fuzz is installed under ~/.cache/atalaya/tools on first use.
# libFuzzer's instrumentation flags need RUSTC_BOOTSTRAP on a stable toolchain; no sanitizer
# (`-s none`): Rust's own checks catch memory errors in safe code.
#   scripts/fuzz.sh            # every target, 120 s each
#   scripts/fuzz.sh 600 guard  # one target, 10 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
shift || true
tools="$HOME/.cache/atalaya/tools"
export PATH="$tools/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --version 0.13.2 --locked --root "$tools"
fi
export RUSTC_BOOTSTRAP=1
target_dir="$HOME/.cache/atalaya/fuzz-target"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -s none --target-dir "$target_dir"
work="$HOME/.cache/atalaya/fuzz-corpus"
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "$work/$t"
  echo "== $t ($seconds s)"
  cargo fuzz run -s none --target-dir "$target_dir" "$t" "$work/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=10 -print_final_stats=1 \
    2>&1 | grep -E "^(stat::|==|#[0-9]+ *DONE|SUMMARY|Done)" || true
  cargo fuzz run -s none --target-dir "$target_dir" "$t" "fuzz/corpus/$t" "$work/$t" -- \
    -merge=1 -max_len=2048 -rss_limit_mb=2048 -timeout=10 2>&1 | grep -E "MERGE-OUTER: .* new files" || true
done
