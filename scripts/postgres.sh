#!/usr/bin/env bash
# Installs what the Postgres backend and its tests need, idempotently; a second run changes
# nothing.
#   - PostgreSQL 15 from Debian (server, contrib, and the server headers to build pgvector);
#   - pgvector, which Debian bookworm does not package: its source tarball from Debian's own
#     archive (the pgvector source package of trixie), pinned by version and SHA-256, built
#     against PostgreSQL 15 and installed into its extension directory.
# The tests never use the system service: they run initdb in a temp directory and start a
# throwaway server on a loopback port (crates/atalaya-testkit/src/postgres.rs).
set -euo pipefail
cache="${ATALAYA_CACHE:-$HOME/.cache/atalaya}"
pg_major=15
pgvector_version="0.8.0"
pgvector_tarball="pgvector_${pgvector_version}.orig.tar.gz"
pgvector_sha256="867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0"
pgvector_url="${PGVECTOR_URL:-http://deb.debian.org/debian/pool/main/p/pgvector/$pgvector_tarball}"
pg_bin="/usr/lib/postgresql/$pg_major/bin"

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

missing=()
[ -x "$pg_bin/initdb" ] || missing+=("postgresql-$pg_major")
[ -f "/usr/share/postgresql/$pg_major/extension/unaccent.control" ] || missing+=(postgresql-contrib)
[ -x "$pg_bin/pg_config" ] || [ -x /usr/bin/pg_config ] || missing+=("postgresql-server-dev-$pg_major")
[ -d "/usr/include/postgresql/$pg_major/server" ] || missing+=("postgresql-server-dev-$pg_major")
command -v make >/dev/null 2>&1 || missing+=(make)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "postgres: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  # The Debian package would start a system cluster; the tests never use it.
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    "$(printf '%s\n' "${missing[@]}" | sort -u)" >/dev/null
fi

control="/usr/share/postgresql/$pg_major/extension/vector.control"
if [ -f "$control" ] && grep -q "default_version = '$pgvector_version'" "$control" \
  && [ -f "/usr/lib/postgresql/$pg_major/lib/vector.so" ]; then
  exit 0
fi
mkdir -p "$cache/src"
tarball="$cache/src/$pgvector_tarball"
if [ ! -f "$tarball" ] || ! echo "$pgvector_sha256  $tarball" | sha256sum --check --status; then
  echo "postgres: fetching $pgvector_tarball from Debian's archive"
  curl -fsSL --retry 3 -o "$tarball.part" "$pgvector_url"
  echo "$pgvector_sha256  $tarball.part" | sha256sum --check --status \
    || { echo "postgres: $pgvector_tarball does not match its pinned SHA-256" >&2; exit 1; }
  mv "$tarball.part" "$tarball"
fi
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
tar -xzf "$tarball" -C "$build"
src=$(find "$build" -mindepth 1 -maxdepth 1 -type d | head -1)
echo "postgres: building pgvector $pgvector_version for PostgreSQL $pg_major"
# OPTFLAGS="": no -march=native, so the build runs on any x86-64 machine it is copied to.
make -s -C "$src" PG_CONFIG="$pg_bin/pg_config" OPTFLAGS="" >/dev/null
"${sudo_cmd[@]}" make -s -C "$src" PG_CONFIG="$pg_bin/pg_config" OPTFLAGS="" install >/dev/null
echo "postgres: pgvector $pgvector_version installed"
