//! bolt-tracer's behaviour tests, one module per behaviour, in one binary: the traced neo4rs
//! wrappers against the run's shared Neo4j 5.26.
//!
//! The modules run in parallel threads of this one process. Each test records into a tracer
//! provider of its own ([`traced_support::Harness`]) and isolates its data by unique labels, so
//! nothing depends on another test; the one test that installs the global providers
//! ([`traced_graph_built_before_telemetry_init_still_records`]) is the only one whose graph
//! records through them.

mod traced_support;

mod traced_context_reaches_neo4j_show_transactions;
mod traced_failing_query_records_status_code;
mod traced_graph_built_before_telemetry_init_still_records;
mod traced_neo4j_failures_carry_their_status_codes;
mod traced_only_committed_transactions_leave_data;
mod traced_parameters_never_recorded_unless_allowed;
mod traced_queries_see_the_same_graph_as_untraced_ones;
mod traced_query_spans_carry_normalised_attributes;
mod traced_span_starts_when_the_query_is_handed_over;
mod traced_spans_nest_under_the_current_context;
mod traced_statistics_match_what_ran;
mod traced_stream_dropped_halfway_still_ends_span;
mod traced_transaction_spans_parent_their_queries;
