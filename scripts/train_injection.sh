#!/usr/bin/env bash
# Trains the prompt-injection classifiers of crates/atalaya-guard (see scripts/train_injection.py
# and crates/atalaya-guard/models/README.md). Creates, idempotently, a private venv with the pinned
# numpy / scipy / scikit-learn from PyPI, then runs the trainer with any arguments given.
#   scripts/train_injection.sh [--data-dir DIR] [--out-dir DIR] [--parity FILE]
# Data: ${ATALAYA_DATA:-../shared/data} (deepset prompt-injections, BIPIA, Banking77, CLINC150).
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${ATALAYA_CACHE:-$HOME/.cache/atalaya}"
venv="$cache/venvs/train"
py_pkgs=(numpy==2.4.6 scipy==1.17.1 scikit-learn==1.9.1)
check='from importlib.metadata import version as v; import sys; sys.exit(0 if (v("numpy"), v("scipy"), v("scikit-learn")) == ("2.4.6", "1.17.1", "1.9.1") else 1)'
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "$check" 2>/dev/null; then
  mkdir -p "$cache/venvs"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${py_pkgs[@]}"
fi
# One thread: liblinear is single-threaded anyway; keeps BLAS from adding nondeterminism.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0
exec "$venv/bin/python" scripts/train_injection.py "$@"
