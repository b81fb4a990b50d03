#!/usr/bin/env bash
# The cluster harness: three replicas behind nginx (round robin) on one Postgres and one
# Redis, everything on loopback with its files in temp directories, then the checks of
# tests/cluster/cluster.py (exact limits, tokens and budgets, revocation, a replica killed
# during an upload, a rolling restart under load, one audit chain, Redis stopped mid-run).
# Prints one JSON line per check; exits non-zero when one fails. Run by `make test`.
# Needs what scripts/setup.sh installs (Postgres, pgvector, Redis, nginx, the models).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/atalaya/target}"
# PROFILE=release for measurements (bench/cluster.sh); the checks use the debug build.
profile=${PROFILE:-debug}
if [ "$profile" = release ]; then
  cargo build -q --release --locked --bin atalaya --bin atalaya-fake-upstream
else
  cargo build -q --locked --bin atalaya --bin atalaya-fake-upstream
fi
exec python3 tests/cluster/cluster.py --bin "$CARGO_TARGET_DIR/$profile" --models "$(pwd)/models" "$@"
