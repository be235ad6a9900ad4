//! The query-span conventions, one definition for the traced neo4rs wrappers and `bolt-proxy`
//! alike (the proxy depends on this crate without the wrappers), as the workspace's `DESIGN.md`
//! describes them:
//!
//! - [`attribute`]: the name of every span attribute, and the vocabularies of ours
//!   ([`ResultEnding`], [`TransactionOutcome`], the [`UpdateCounter`]s);
//! - [`metric`]: the query histograms and their names;
//! - [`QueryCache`]: per query text, one entry holding its normalised form, its span name and
//!   its prepared attributes ([`PreparedQuery`]);
//! - [`Instruments`]: the tracer and meter they are recorded with, taken from OpenTelemetry's
//!   global providers when a span starts unless the caller gives its own.

pub mod attribute;
mod instruments;
pub mod metric;
mod query;

pub use attribute::{ResultEnding, TransactionOutcome, UpdateCounter, stats_attribute};
pub use instruments::Instruments;
pub use metric::QueryMetrics;
pub use query::{PreparedQuery, QueryCache};

/// `db.system.name` of every span and metric point.
pub const SYSTEM_NAME: &str = "neo4j";

/// `network.protocol.name` of every span.
pub const PROTOCOL_NAME: &str = "bolt";

/// The name of a transaction's span (wrappers).
pub const TRANSACTION_SPAN_NAME: &str = "transaction";

/// The name of the event on a query slower than the configured threshold (wrappers).
pub const SLOW_QUERY_EVENT: &str = "slow query";

/// Default longest `db.query.text`, in bytes.
pub const DEFAULT_MAX_TEXT_LEN: usize = 2048;

/// Default byte budget of a [`QueryCache`].
pub const DEFAULT_CACHE_BYTES: usize = 4 << 20;

/// Attributes a typical query span gets after it starts: returned rows, the server's
/// `t_first` and `t_last`, the query type, and one update counter. Spans are created with room
/// for them, as growing a span's attribute vector showed in per-query profiles.
pub const ATTRS_ADDED_AT_END: usize = 5;
