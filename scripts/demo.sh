#!/usr/bin/env bash
# The demo pipeline: a dev stack, the tracing UI (Zipkin) with the loopback OTLP collector in
# front of it, the built ingestor and analyzer, fixture traffic with planted fraud rings, then
# verdicts, the trace of one flagged transaction, the top Cypher resources, and the UI's
# addresses of that trace (UI_TRACE=) and of the service dependency graph (UI_DEPENDENCIES=).
# The UI stays up until Ctrl-C; pass --no-wait to end at once (scripts, CI).
# By default on the real stack (Neo4j 5.26 and Apache Kafka from Maven Central); on a machine
# without a JDK and Maven it says so and runs the embedded stack (FalkorDB, Kafka MockCluster,
# bolt-proxy bridge) without the UI. Arguments go to the demo binary (e.g. --graph neo4j-latest,
# --kafka apache-cluster, --no-ui, --no-wait).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
stack=()
if command -v java >/dev/null && command -v javac >/dev/null && command -v mvn >/dev/null; then
  bash scripts/tools.sh python
  bash scripts/tools.sh jvm
else
  echo "demo: no JDK and Maven here (java, javac, mvn): running the embedded stack (FalkorDB, Kafka MockCluster) instead of Neo4j and Apache Kafka, and no tracing UI" >&2
  bash scripts/tools.sh python
  stack=(--graph falkordb --kafka mock --no-ui)
fi
cargo build --release --locked -p ingestor -p analyzer -p bolt-proxy --bins
cargo build --release --locked -p fixtures --features demo --bins
exec "$root/target/release/demo" "${stack[@]}" "$@"
