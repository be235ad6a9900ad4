//! Traced neo4rs: wrappers that mirror `Graph`, `Txn` and the row streams name for name and
//! turn every query into a span (see `DESIGN.md` for the attributes), plus per-fingerprint
//! statistics and OpenTelemetry metrics. A query or transaction span is the child of
//! [`telemetry::current_context`], the innermost active context, whether an entered `tracing`
//! span or an attached OpenTelemetry context.

mod graph;
mod instrument;
mod stats;
mod stream;
mod txn;

pub use graph::{TracedGraph, TracedGraphBuilder};
pub use stats::{OVERFLOW_FINGERPRINT, QueryStat, QueryStatistics};
pub use stream::{TracedDetachedRowStream, TracedRowStream};
pub use txn::TracedTxn;
