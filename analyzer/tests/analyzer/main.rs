//! The analyzer's behaviours, one module per claim, named as the claim, in one test binary: each
//! binary links rdkafka, OpenTelemetry and neo4rs, so one binary instead of one per file saves
//! most of the suite's link time and disk.
//!
//! The tests share this process and run on parallel threads. The one global tracer provider
//! (installed once, exporting to an in-memory exporter: [`support::exporter`]) receives the spans
//! of every test, so a test reads only its own: those of its traces, or those under its own
//! consumer spans. No test sets an environment variable of this process (the binaries under test
//! get theirs through `Command`), and every topic, group and graph id is the test's own; a test
//! that kills or restarts a server starts a private one.

mod support;

mod a_crash_before_the_commit_leaves_one_verdict_per_record;
mod a_rolling_restart_of_static_members_moves_no_partitions;
mod an_undeliverable_verdict_goes_to_the_dlq_and_the_partition_moves_on;
mod broker_restart_resumes_from_committed_offsets_and_writes_nothing_twice;
mod database_restart_mid_run_retries_then_succeeds;
mod falkordb_gets_indexes_where_neo4j_gets_constraints;
mod fraud_rules_flag_planted_scenarios_and_nothing_else;
mod indexes_are_retried_until_the_database_answers;
mod messaging_metrics_and_lag_are_exported_over_otlp;
mod offset_is_committed_only_after_the_verdict_is_acknowledged;
mod one_trace_from_the_http_caller_to_every_cypher_query;
mod partitions_merging_the_same_card_at_once_create_it_once;
mod poison_record_goes_to_the_dlq_and_the_partition_moves_on;
mod redelivered_record_changes_nothing_in_the_graph;
mod sigterm_commits_flushes_and_exits_zero;
mod stats_endpoint_closes_slow_headers_and_caps_connections;
mod unknown_fields_are_ignored_and_future_timestamps_go_to_the_dlq;
mod verdict_is_published_in_the_producers_trace;
