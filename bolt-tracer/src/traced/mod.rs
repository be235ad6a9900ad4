//! Traced neo4rs: wrappers that mirror `Graph`, `Txn` and the row streams name for name and
//! turn every query into a span (see `DESIGN.md` for the attributes), plus per-fingerprint
//! statistics and OpenTelemetry metrics.

mod graph;
mod instrument;
mod stats;
mod stream;
mod txn;

pub use graph::{TracedGraph, TracedGraphBuilder};
pub use stats::{OVERFLOW_FINGERPRINT, QueryStat, QueryStatistics};
pub use stream::{TracedDetachedRowStream, TracedRowStream};
pub use txn::TracedTxn;

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The parent of a new query span: the current `tracing` span's OpenTelemetry context when it
/// has one, so `#[instrument]`ed callers nest naturally, else the current OpenTelemetry context.
pub(crate) fn current_context() -> Context {
    let span = tracing::Span::current();
    if !span.is_disabled() {
        let cx = span.context();
        if cx.span().span_context().is_valid() {
            return cx;
        }
    }
    Context::current()
}
