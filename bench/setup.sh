#!/usr/bin/env bash
# Installs what the benchmarks need; safe to run again (each step is skipped when already done).
#   - wrk (Debian). It is also the fixed-rate load tool, via bench/lua/fixed_rate.lua (LuaJIT ffi).
#   - nginx-light (Debian), the reference proxy of bench/proxy.sh; its system service is not
#     started (a policy-rc.d refuses it during the install) and is never used.
#   - a Python venv with aiohttp (+ uvloop) under ${BENCH_HOME:-~/.cache/atalaya-bench}/venv
#   - the peers (LiteLLM, Portkey) through ../shared/peers/*.sh install, unless SKIP_PEERS=1
# Needs root or sudo for apt-get. Talks only to the package registries (apt, PyPI, npm).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

sudo=
[ "$(id -u)" = 0 ] || sudo=sudo

apt_pkgs=()
command -v wrk >/dev/null || apt_pkgs+=(wrk)
command -v curl >/dev/null || apt_pkgs+=(curl)
[ -x /usr/sbin/nginx ] || apt_pkgs+=(nginx-light)
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_pkgs+=(python3-venv)
if [ "${SKIP_PEERS:-0}" != 1 ]; then
  command -v node >/dev/null || apt_pkgs+=(nodejs)
  command -v npm >/dev/null || apt_pkgs+=(npm)
fi
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  log "apt-get install ${apt_pkgs[*]}"
  $sudo apt-get update -q
  # No package may start a system service here (nginx would take port 80).
  policy=/usr/sbin/policy-rc.d
  placed=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    placed=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${apt_pkgs[@]}"
  [ "$placed" = 0 ] || $sudo rm -f "$policy"
else
  log "wrk, curl, nginx, python3-venv already present"
fi
ldd "$(command -v wrk)" | grep -q luajit \
  || log "warning: this wrk is not linked with LuaJIT; bench/lua/fixed_rate.lua needs its ffi module"

venv=$BENCH_HOME/venv
if ! "$venv/bin/python" -c 'import aiohttp, uvloop' 2>/dev/null; then
  log "creating $venv (aiohttp, uvloop)"
  mkdir -p "$BENCH_HOME"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q aiohttp uvloop
else
  log "venv ready: $venv"
fi

if [ "${SKIP_PEERS:-0}" != 1 ]; then
  [ -x "$PEERS_DIR/litellm.sh" ] || die "peer scripts not found in $PEERS_DIR (set PEERS_DIR, or SKIP_PEERS=1)"
  "$PEERS_DIR/litellm.sh" install
  "$PEERS_DIR/portkey.sh" install
fi
log "setup done"
