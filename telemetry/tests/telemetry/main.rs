//! The behaviour tests of `telemetry`, one module per claim, linked into one test binary.
//!
//! They share one process and run on parallel threads, so none of them may change what another
//! sees: the tests that need the global providers, propagator and `tracing` subscriber share
//! one installation (`support::kafka::spans`) and tell their spans and metrics apart by topic,
//! group and trace id; a test that needs a `tracing` subscriber of its own sets it for its
//! thread only; and what needs a process without providers, or `hop_telemetry::init`, which
//! reads the `OTEL_*` variables and installs everything for good, runs in child processes of
//! this binary (`support::child`).

mod support;

mod current_context_is_the_innermost_active_context;
mod datadog_propagation_round_trips;
mod garbage_headers_are_ignored_with_a_reason;
#[cfg(feature = "otlp")]
mod init_from_env_exports_over_otlp;
#[cfg(all(feature = "kafka", feature = "otlp"))]
mod kafka_enqueue_under_a_lock_then_await_the_delivery;
#[cfg(feature = "kafka")]
mod kafka_header_hygiene;
#[cfg(all(feature = "kafka", feature = "otlp"))]
mod kafka_messaging_metrics_follow_the_conventions;
#[cfg(all(feature = "kafka", feature = "otlp"))]
mod kafka_metrics_start_when_telemetry_is_installed;
#[cfg(all(feature = "kafka", feature = "otlp"))]
mod kafka_settle_span_links_the_transactions_records;
#[cfg(all(feature = "kafka", feature = "otlp"))]
mod kafka_spans_through_apache_kafka;
#[cfg(all(feature = "kafka", feature = "otlp"))]
mod kafka_spans_through_mock_cluster;
mod otel_propagators_list_is_parsed;
mod w3c_and_datadog_conflicts_follow_dd_trace;
