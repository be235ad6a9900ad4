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

/// The attributes naming the database system on every span: `db.system.name`, and also the
/// older `db.system` when the environment variable `OTEL_SEMCONV_STABILITY_OPT_IN` lists
/// `database/dup`, OpenTelemetry's switch for emitting both names while backends migrate.
/// The variable is read once per process.
pub fn system_attributes() -> Vec<opentelemetry::KeyValue> {
    static DUPLICATE: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
        duplicates_database_names(
            std::env::var("OTEL_SEMCONV_STABILITY_OPT_IN")
                .ok()
                .as_deref(),
        )
    });
    let mut attributes = vec![opentelemetry::KeyValue::new(
        attribute::DB_SYSTEM_NAME,
        SYSTEM_NAME,
    )];
    if *DUPLICATE {
        attributes.push(opentelemetry::KeyValue::new(
            attribute::DB_SYSTEM,
            SYSTEM_NAME,
        ));
    }
    attributes
}

/// Whether an `OTEL_SEMCONV_STABILITY_OPT_IN` value (a comma-separated list) asks for the old
/// database attribute names beside the new ones.
fn duplicates_database_names(opt_in: Option<&str>) -> bool {
    opt_in.is_some_and(|v| v.split(',').any(|item| item.trim() == "database/dup"))
}

/// Default longest `db.query.text`, in bytes.
pub const DEFAULT_MAX_TEXT_LEN: usize = 2048;

/// Default byte budget of a [`QueryCache`].
pub const DEFAULT_CACHE_BYTES: usize = 4 << 20;

/// Attributes a typical query span gets after it starts: returned rows, the server's
/// `t_first` and `t_last`, the query type, and one update counter. Spans are created with room
/// for them, as growing a span's attribute vector showed in per-query profiles.
pub const ATTRS_ADDED_AT_END: usize = 5;

#[cfg(test)]
mod tests {
    use super::duplicates_database_names;

    #[test]
    fn only_database_dup_duplicates_the_system_name() {
        assert!(duplicates_database_names(Some("database/dup")));
        assert!(duplicates_database_names(Some("http, database/dup")));
        assert!(!duplicates_database_names(Some("database")));
        assert!(!duplicates_database_names(Some("http/dup")));
        assert!(!duplicates_database_names(Some("")));
        assert!(!duplicates_database_names(None));
    }
}
