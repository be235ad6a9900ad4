#!/usr/bin/env bash
# The pipeline's load run, every figure of the closing note in one command:
#   1. the ingestor alone under wrk (-t1 -c64 -d20s), tracing off and on: throughput, p50/p99,
#      CPU per request, peak memory, the throughput tracing costs (scripts/load-ingestor.sh);
#   2. end to end, HTTP accept to verdict, for 20,000 transactions posted at a steady 100 per
#      second through the built ingestor and analyzer (traced, exported over OTLP): p50/p90/p99;
#   3. the analyzer's throughput from a backlog: 20,000 transactions posted as fast as possible,
#      verdicts per second, with tracing off and on.
#
# Usage: scripts/load.sh
#   ROUNDS=3 scripts/load.sh          (the ingestor's modes alternate three times: medians)
#   TRANSACTIONS=5000 RATE=200 scripts/load.sh
#   STEPS="ingestor e2e backlog"      (the default; any subset)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
STEPS=${STEPS:-"ingestor e2e backlog"}
TRANSACTIONS=${TRANSACTIONS:-20000}
RATE=${RATE:-100}

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
        echo "== end to end: $TRANSACTIONS transactions at $RATE/s, traced" >&2
        RESULTS+=("e2e: $("$E2E" --transactions "$TRANSACTIONS" --rate "$RATE" | grep '^RESULT')")
        ;;
    backlog)
        for mode in untraced traced; do
            echo "== analyzer from a backlog: $TRANSACTIONS transactions, $mode" >&2
            flag=()
            [ "$mode" = untraced ] && flag=(--untraced)
            RESULTS+=("backlog: $("$E2E" --transactions "$TRANSACTIONS" --rate 0 "${flag[@]}" | grep '^RESULT')")
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
