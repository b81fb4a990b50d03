#!/usr/bin/env bash
# The whole test suite: unit, integration and end-to-end tests (the e2e tests start the real
# binary on random loopback ports against an in-process fake upstream).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo test --workspace --locked "$@"
./scripts/sdk-check.sh
./scripts/deploy-check.sh
./tests/cluster/run.sh
