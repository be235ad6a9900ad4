#!/usr/bin/env bash
# The demo pipeline on the embedded default stack: dev stack (FalkorDB + Kafka MockCluster +
# bolt-proxy), ingestor and analyzer, fixture traffic with planted fraud rings, then verdicts,
# the trace of one flagged transaction and the top Cypher resources.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/tools.sh
cargo build --release --locked -p ingestor -p analyzer -p bolt-tracer --bins
cargo build --release --locked -p fixtures --features demo --bins
exec "$root/target/release/demo" "$@"
