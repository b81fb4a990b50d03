#!/usr/bin/env bash
# Compatibility check with the official OpenAI Python SDK (pinned), in a venv cached outside
# the clone. Called by scripts/test.sh after the Rust tests.
set -euo pipefail
cd "$(dirname "$0")/.."
OPENAI_SDK_VERSION=3.57.0
venv="${ATALAYA_CACHE:-$HOME/.cache/atalaya}/venv-sdk"
if ! "$venv/bin/python" -c "import openai,sys; sys.exit(openai.__version__ != '$OPENAI_SDK_VERSION')" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "openai==$OPENAI_SDK_VERSION"
fi
cargo build --locked --bins
"$venv/bin/python" tests/sdk/openai_compat.py "${CARGO_TARGET_DIR:-target}/debug"
