#!/usr/bin/env bash
# Installs what building and testing Atalaya needs. Idempotent: a second run changes nothing.
#   - Debian packages: cmake and libclang-dev (llama.cpp is built from source by llama-cpp-sys-2),
#     python3-venv for the model tools
#   - the Rust toolchain's rustfmt and clippy
#   - the model files (scripts/models.sh): the embedding model and the test fixtures
#   - PostgreSQL 15 and pgvector (scripts/postgres.sh), for the Postgres backend's tests
#   - Redis 7 (redis-server) and nginx from Debian, for the shared limits' tests and the
#     cluster harness; the tests start their own throwaway servers on loopback ports, and the
#     packages' system services are not started (policy-rc.d during the install)
set -euo pipefail
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install the Rust toolchain (https://rustup.rs) first" >&2
  exit 1
fi
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null || missing+=(libclang-dev)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  # Packages with a service (redis-server, nginx) must not start it: the tests never use it.
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod +x "$policy"
    added_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  [ "$added_policy" = 0 ] || "${sudo_cmd[@]}" rm -f "$policy"
fi
for c in rustfmt clippy; do
  if ! cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$c"
  fi
done
"$(dirname "$0")/models.sh"
"$(dirname "$0")/postgres.sh"
