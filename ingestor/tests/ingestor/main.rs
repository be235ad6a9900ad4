//! The ingestor's behaviours, one module per claim, named as the claim, in one test binary: each
//! binary links rdkafka, OpenTelemetry and the OTLP stack, so one binary instead of one per file
//! saves most of the suite's link time and disk.
//!
//! The tests share this process and run on parallel threads, so none of them owns process-wide
//! state. Telemetry is installed once for the whole binary ([`support::telemetry`]), exporting
//! to one loopback collector, and every test that reads spans picks out its own by trace id or
//! parent span id; a test that needs its own telemetry set-up, environment or signals runs the
//! ingestor binary as a child process. No test sets an environment variable of this process, and
//! every topic, consumer group and broker it stops or pauses is its own.

mod support;

mod a_stalled_broker_never_queues_requests_past_the_in_flight_cap;
mod accepted_only_after_broker_ack;
mod amount_is_a_positive_decimal_string_or_number_read_exactly;
mod body_over_64_kib_is_413;
mod broker_stopped_under_load_never_loses_a_202;
mod broker_unreachable_is_503_never_202;
mod cluster_leader_loss_never_answers_202_unreplicated;
mod currency_must_be_an_active_iso_4217_code;
mod health_and_readiness;
mod ids_must_be_1_to_64_safe_characters;
mod logs_carry_trace_ids_never_values;
mod missing_fields_are_named;
mod non_json_bodies_are_refused;
mod refusals_never_echo_values;
mod server_span_continues_datadog_headers;
mod server_span_continues_w3c_traceparent;
mod server_span_records_the_outcome;
mod sigterm_drains_in_flight_and_exits_zero;
mod slow_headers_never_lock_out_paying_clients;
mod timestamp_beyond_the_future_margin_is_refused;
mod timestamp_must_be_rfc3339;
mod unknown_and_duplicate_fields_are_refused;
mod wrong_content_type_is_415;
mod wrong_json_types_are_named;
