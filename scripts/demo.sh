#!/usr/bin/env bash
# The demo pipeline: a dev stack, a loopback OTLP receiver, the built ingestor and analyzer,
# fixture traffic with planted fraud rings, then verdicts, the trace of one flagged transaction
# and the top Cypher resources. By default on the real stack (Neo4j 5.26 and Apache Kafka from
# Maven Central); on a machine without a JDK and Maven it says so and runs the embedded stack
# (FalkorDB, Kafka MockCluster, bolt-proxy bridge). Arguments go to the demo binary
# (e.g. --graph neo4j-latest, --kafka apache-cluster).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
stack=()
if command -v java >/dev/null && command -v javac >/dev/null && command -v mvn >/dev/null; then
  bash scripts/tools.sh
else
  echo "demo: no JDK and Maven here (java, javac, mvn): running the embedded stack (FalkorDB, Kafka MockCluster) instead of Neo4j and Apache Kafka" >&2
  bash scripts/tools.sh python
  stack=(--graph falkordb --kafka mock)
fi
cargo build --release --locked -p ingestor -p analyzer -p bolt-proxy --bins
cargo build --release --locked -p fixtures --features demo --bins
exec "$root/target/release/demo" "${stack[@]}" "$@"
