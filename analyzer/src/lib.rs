//! analyzer: the consumer group that turns transactions into fraud verdicts, traced end to end.
//!
//! Per record of `transactions.new`, in its own CONSUMER span (child of the producer's
//! context): validate the payload ([`PayloadReader`], the workspace's one transaction reader
//! with the topic's policy), write the transaction and
//! its card, device, account and merchant to the graph ([`FraudGraph::record`], idempotent),
//! ask the fraud [`Rule`]s through bolt-tracer's `TracedGraph` (each query a span), mark the
//! transaction, and publish a [`Verdict`] to `transactions.verdicts`. Transient failures are
//! retried with exponential backoff and full jitter, each failed attempt a span; poison
//! records, and records out of retries, go to `transactions.dlq` with `dlq.*` headers
//! ([`dlq`]). Offsets are committed only once the verdict or DLQ record is acknowledged.
//! Partitions run in parallel, each in order ([`Analyzer`]). `GET /stats` serves the query
//! statistics.
//!
//! Configuration comes from the environment ([`Config::from_env`]); `main.rs` only wires
//! telemetry, configuration and the shutdown signal together.

mod config;
mod consumer;
mod counters;
pub mod dlq;
mod error;
mod graph;
mod group;
mod partition;
mod pipeline;
mod rules;
mod settle;
mod stats;
mod transaction;
mod verdict;

pub use config::{Config, Delivery, KafkaSettings, Neo4jSettings, RetryPolicy};
pub use consumer::{Analyzer, shutdown_signal};
pub use counters::{Counters, Counts};
pub use error::{Error, Result};
pub use graph::{FraudGraph, Prepared, Recorded};
pub use group::PartitionLag;
pub use partition::{HIGH_WATER, LOW_WATER};
pub use rules::Rule;
pub use stats::StatsReport;
pub use transaction::{Amount, Field, Invalid, PayloadReader, Transaction};
pub use verdict::Verdict;

/// The instrumentation scope of the spans and metrics the analyzer makes itself (attempts,
/// transaction aborts, partition lag).
pub(crate) const SCOPE: &str = "analyzer";
