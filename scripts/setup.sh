#!/usr/bin/env bash
# Installs what building and testing Atalaya needs. Idempotent: a second run changes nothing.
# Today that is only the Rust toolchain's components; model files and fixtures arrive with the
# local engine.
set -euo pipefail
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install the Rust toolchain (https://rustup.rs) first" >&2
  exit 1
fi
for c in rustfmt clippy; do
  if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$c"
  fi
done
