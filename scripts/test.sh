#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the tools the tests need into .tools/
# (idempotent), checks formatting and lints, then runs every test of the workspace against the
# real services the tests start themselves (FalkorDB, Kafka MockCluster, bolt-proxy, an OTLP
# receiver). Nothing is skipped: a service that cannot start fails its tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# A one-shot run gains nothing from incremental compilation, which would add gigabytes to target/.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
bash scripts/tools.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
# Two cores: two test threads per binary; the services the tests start are small.
# Libraries, binaries, integration tests and doctests:
cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-2}"
# Every benchmark once, in criterion's test mode (they take no libtest arguments):
cargo test --workspace --benches --locked
