#!/usr/bin/env bash
# Load run of the ingestor: wrk posts valid transactions (distinct ids) at concurrency 64 for 20 s
# against the release-built ingestor, backed by Apache Kafka (one KRaft node in its own JVM, a new
# one for each run), once with tracing off (no OTLP endpoint: spans get ids and travel in
# headers, nothing is exported) and once with tracing on (OTLP/HTTP to a loopback trace sink that
# decodes and counts every span). Reports throughput, p50/p99 latency, CPU time and peak resident
# memory (VmHWM) of the ingestor for each mode, and the throughput tracing costs. stack_cpu_s is
# the CPU of the trace sink and the broker together.
#
# Usage: scripts/load-ingestor.sh            (both modes, once each)
#   ROUNDS=3 scripts/load-ingestor.sh       (alternates the modes three times, reports medians:
#                                            use it on a machine shared with other work)
#   MODES="traced" DURATION=30s CONNECTIONS=64 THREADS=1 WARMUP=10s scripts/load-ingestor.sh
#   LOAD_KAFKA=mock scripts/load-ingestor.sh (librdkafka's in-process mock cluster instead: no
#                                            JDK needed, the stack of the earlier figures)
#   INGESTOR_LINGER_MS=... and other INGESTOR_* variables are passed to the ingestor.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MODES=${MODES:-"untraced traced"}
ROUNDS=${ROUNDS:-1}
DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
export LOAD_KAFKA=${LOAD_KAFKA:-apache}
# Each run starts a new broker: a JVM's JIT needs longer under load than the mock to settle.
if [ "$LOAD_KAFKA" = mock ]; then WARMUP=${WARMUP:-3s}; else WARMUP=${WARMUP:-10s}; fi
LUA="$ROOT/ingestor/benches/post_transactions.lua"

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (Debian package)" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq wrk >/dev/null
fi

cargo build --release -p ingestor --bin ingestor --example load_stack >&2
BIN="$ROOT/target/release/ingestor"
STACK="$ROOT/target/release/examples/load_stack"

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# wait_line FILE PREFIX [SECONDS]: prints the value after PREFIX= once the line appears (10 s at
# most unless SECONDS says otherwise).
wait_line() {
    local deadline=$((SECONDS + ${3:-10}))
    while ((SECONDS <= deadline)); do
        if grep -q "^$2=" "$1" 2>/dev/null; then
            grep "^$2=" "$1" | head -1 | cut -d= -f2-
            return 0
        fi
        sleep 0.05
    done
    echo "no $2= line in $1" >&2
    return 1
}

# cpu_seconds PID...: user + system CPU time of the processes so far, together.
cpu_seconds() {
    local pid
    for pid in "$@"; do cat "/proc/$pid/stat"; done |
        awk -v hz="$(getconf CLK_TCK)" '{ t += $14 + $15 } END { printf "%.2f", t / hz }'
}

SUMMARY=()
run_mode() {
    local mode=$1
    "$STACK" >"$WORK/stack.out" 2>"$WORK/stack.err" </dev/null &
    local stack_pid=$!
    PIDS+=("$stack_pid")
    local brokers endpoint kafka_pids
    # A JVM takes 5-15 s to start on two idle cores, more on busy ones.
    brokers=$(wait_line "$WORK/stack.out" KAFKA_BROKERS 300) || { cat "$WORK/stack.err" >&2; return 1; }
    kafka_pids=$(wait_line "$WORK/stack.out" KAFKA_PIDS)
    endpoint=$(wait_line "$WORK/stack.out" OTEL_EXPORTER_OTLP_ENDPOINT)
    local stack_pids=("$stack_pid") kafka_list=()
    if [ -n "$kafka_pids" ]; then
        IFS=, read -r -a kafka_list <<<"$kafka_pids"
        stack_pids+=("${kafka_list[@]}")
    fi

    local otel=()
    # The SDK's default span queue (2048) overflows in scheduling hiccups at ~50k spans/s on two
    # shared cores, and a full queue drops spans: give it room so every span is exported.
    [ "$mode" = traced ] && otel=(OTEL_EXPORTER_OTLP_ENDPOINT="$endpoint"
        OTEL_BSP_MAX_QUEUE_SIZE="${OTEL_BSP_MAX_QUEUE_SIZE:-8192}")
    env -u OTEL_EXPORTER_OTLP_ENDPOINT -u OTEL_EXPORTER_OTLP_TRACES_ENDPOINT \
        INGESTOR_ADDR=127.0.0.1:0 KAFKA_BROKERS="$brokers" KAFKA_TOPIC=transactions.new \
        RUST_LOG="${RUST_LOG:-warn}" OTEL_SERVICE_NAME=ingestor "${otel[@]}" \
        "$BIN" >"$WORK/ingestor.out" 2>"$WORK/ingestor.err" &
    local pid=$!
    PIDS+=("$pid")
    local addr
    addr=$(wait_line "$WORK/ingestor.out" INGESTOR_ADDR)
    for _ in $(seq 1 100); do
        curl -fs "http://$addr/readyz" >/dev/null && break
        sleep 0.1
    done
    curl -fs "http://$addr/readyz" >/dev/null || { echo "ingestor not ready" >&2; cat "$WORK/ingestor.err" >&2; return 1; }

    echo "== $mode: warm-up $WARMUP, then wrk -t$THREADS -c$CONNECTIONS -d$DURATION" >&2
    LOAD_RUN_ID="$mode-warm-$$" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$LUA" \
        "http://$addr/transactions" >"$WORK/warm.out"
    local cpu_before stack_before
    cpu_before=$(cpu_seconds "$pid")
    stack_before=$(cpu_seconds "${stack_pids[@]}")
    LOAD_RUN_ID="$mode-$$-$(date +%s)" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
        -s "$LUA" "http://$addr/transactions" | tee "$WORK/wrk.out" >&2
    local cpu_after stack_after hwm rss
    cpu_after=$(cpu_seconds "$pid")
    stack_after=$(cpu_seconds "${stack_pids[@]}")
    hwm=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
    rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")

    kill -TERM "$pid"
    local code=0
    wait "$pid" || code=$?
    kill -TERM "$stack_pid"
    wait "$stack_pid" || true
    local result spans
    result=$(grep '^WRK' "$WORK/wrk.out" | sed 's/^WRK //')
    spans=$(grep -o 'spans_received=[0-9]*' "$WORK/stack.out" | cut -d= -f2)
    local cpu stack_cpu requests warm per_request
    cpu=$(awk -v a="$cpu_before" -v b="$cpu_after" 'BEGIN { printf "%.1f", b - a }')
    stack_cpu=$(awk -v a="$stack_before" -v b="$stack_after" 'BEGIN { printf "%.1f", b - a }')
    requests=$(echo "$result" | grep -o 'requests=[0-9]*' | cut -d= -f2)
    warm=$(grep -o 'requests=[0-9]*' "$WORK/warm.out" | cut -d= -f2)
    # CPU microseconds the ingestor spent per request, and spans exported per request served
    # (warm-up included: its spans are exported too; 2 = server span + producer span).
    per_request=$(awk -v c="$cpu" -v r="$requests" 'BEGIN { printf "%.1f", c * 1e6 / r }')
    local spans_per_request
    spans_per_request=$(awk -v s="${spans:-0}" -v r="$requests" -v w="$warm" 'BEGIN { printf "%.3f", s / (r + w) }')
    local line="mode=$mode kafka=$LOAD_KAFKA $result cpu_s=$cpu cpu_us_per_request=$per_request vmhwm_mib=$hwm vmrss_mib=$rss stack_cpu_s=$stack_cpu spans_exported=$spans spans_per_request=$spans_per_request exit=$code"
    echo "RESULT $line"
    SUMMARY+=("$line")
}

for round in $(seq 1 "$ROUNDS"); do
    for mode in $MODES; do
        run_mode "$mode"
    done
done

field() { echo "$1" | grep -o " $2=[^ ]*" | cut -d= -f2; }
# median MODE FIELD: the median of FIELD over the runs of MODE.
median() {
    for line in "${SUMMARY[@]}"; do
        case "$line" in "mode=$1 "*) field " $line" "$2" ;; esac
    done | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# maximum MODE FIELD: the largest FIELD over the runs of MODE.
maximum() {
    for line in "${SUMMARY[@]}"; do
        case "$line" in "mode=$1 "*) field " $line" "$2" ;; esac
    done | sort -g | tail -1
}
echo
echo "SUMMARY (median of $ROUNDS round(s), wrk -t$THREADS -c$CONNECTIONS -d$DURATION, Kafka: $LOAD_KAFKA)"
for mode in $MODES; do
    echo "  $mode: rps=$(median "$mode" rps) p50_ms=$(median "$mode" p50_ms) p99_ms=$(median "$mode" p99_ms)" \
        "cpu_us_per_request=$(median "$mode" cpu_us_per_request) max_vmhwm_mib=$(maximum "$mode" vmhwm_mib)" \
        "spans_per_request=$(median "$mode" spans_per_request)"
done
if [[ " $MODES " == *" untraced "* && " $MODES " == *" traced "* ]]; then
    off=$(median untraced rps)
    on=$(median traced rps)
    off_cpu=$(median untraced cpu_us_per_request)
    on_cpu=$(median traced cpu_us_per_request)
    awk -v off="$off" -v on="$on" -v oc="$off_cpu" -v tc="$on_cpu" 'BEGIN {
        printf "tracing cost: %.1f%% of throughput (%.0f -> %.0f req/s), %.1f%% more CPU per request\n",
            (off - on) * 100 / off, off, on, (tc - oc) * 100 / oc }'
fi
