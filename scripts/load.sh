#!/usr/bin/env bash
# The pipeline's load run, every figure of the closing note in one command:
#   1. the ingestor alone under wrk (-t1 -c64 -d20s), tracing off and on: throughput, p50/p99,
#      CPU per request, peak memory, the throughput tracing costs (scripts/load-ingestor.sh);
#   2. end to end, HTTP accept to verdict, for 10,000 transactions posted at a steady 50 per
#      second through the built ingestor and analyzer (traced, exported over OTLP): p50/p90/p99;
#   3. the analyzer's throughput from a backlog: 10,000 transactions posted as fast as possible,
#      verdicts per second, with tracing off and on.
# Steps 2 and 3 run on each stack of STACKS, side by side: the real one (Neo4j + Apache Kafka)
# and the embedded one (FalkorDB + MockCluster). Each starts with WARMUP transactions that are
# not measured: a fresh Neo4j's JIT compiler needs a few thousand to reach its steady state.
#
# Usage: scripts/load.sh
#   ROUNDS=3 scripts/load.sh          (the ingestor's modes alternate three times: medians)
#   TRANSACTIONS=5000 RATE=30 WARMUP=1000 scripts/load.sh
#   STACKS="neo4j:apache"             (graph:kafka pairs, as devstack's --graph and --kafka)
#   STEPS="ingestor e2e backlog"      (the default; any subset)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
STEPS=${STEPS:-"ingestor e2e backlog"}
TRANSACTIONS=${TRANSACTIONS:-10000}
RATE=${RATE:-50}
WARMUP=${WARMUP:-3000}
STACKS=${STACKS:-"neo4j:apache falkordb:mock"}

bash scripts/tools.sh >&2
cargo build --release --locked -p ingestor -p analyzer --bins >&2
cargo build --release --locked -p fixtures --features demo --bin e2e-load >&2
E2E="$ROOT/target/release/e2e-load"

RESULTS=()
for step in $STEPS; do
    case "$step" in
    ingestor)
        echo "== ingestor under wrk" >&2
        bash scripts/load-ingestor.sh | tee /dev/stderr | grep -E '^(  |tracing cost)' >"${TMPDIR:-/tmp}/load-ingestor.$$"
        while IFS= read -r line; do RESULTS+=("ingestor:$line"); done <"${TMPDIR:-/tmp}/load-ingestor.$$"
        rm -f "${TMPDIR:-/tmp}/load-ingestor.$$"
        ;;
    e2e)
        for stack in $STACKS; do
            args=(--graph "${stack%%:*}" --kafka "${stack##*:}" --warmup "$WARMUP")
            echo "== end to end on $stack: $TRANSACTIONS transactions at $RATE/s, traced" >&2
            RESULTS+=("e2e: $("$E2E" "${args[@]}" --transactions "$TRANSACTIONS" --rate "$RATE" | grep '^RESULT')")
        done
        ;;
    backlog)
        for stack in $STACKS; do
            args=(--graph "${stack%%:*}" --kafka "${stack##*:}" --warmup "$WARMUP")
            for mode in untraced traced; do
                echo "== analyzer on $stack from a backlog: $TRANSACTIONS transactions, $mode" >&2
                flag=()
                [ "$mode" = untraced ] && flag=(--untraced)
                RESULTS+=("backlog: $("$E2E" "${args[@]}" --transactions "$TRANSACTIONS" --rate 0 "${flag[@]}" | grep '^RESULT')")
            done
        done
        ;;
    *)
        echo "unknown step $step (ingestor, e2e, backlog)" >&2
        exit 2
        ;;
    esac
done

echo
echo "LOAD SUMMARY"
for r in "${RESULTS[@]}"; do echo "  $r"; done
