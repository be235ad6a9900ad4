//! The name of every attribute a query or transaction span carries, and the vocabularies of the
//! attributes whose values are words of ours. The workspace's `DESIGN.md` says what each means;
//! the traced wrappers and `bolt-proxy` both name their attributes from here and nowhere else.

/// `db.system.name`: always [`SYSTEM_NAME`](super::SYSTEM_NAME).
pub const DB_SYSTEM_NAME: &str = "db.system.name";
/// `db.system`: the name `db.system.name` had before the database conventions became stable,
/// which some backends still read (Datadog's span type); only with
/// `OTEL_SEMCONV_STABILITY_OPT_IN=database/dup` (see [`system_attributes`](super::system_attributes)).
pub const DB_SYSTEM: &str = "db.system";
/// `db.namespace`: the database the query ran on.
pub const DB_NAMESPACE: &str = "db.namespace";
/// `db.query.text`: the normalised text (no literal, no parameter value), cut at a length limit.
pub const DB_QUERY_TEXT: &str = "db.query.text";
/// `db.query.summary`: the graph clauses and the labels and relationship types they name.
pub const DB_QUERY_SUMMARY: &str = "db.query.summary";
/// `db.operation.name`: the first clause (`MATCH`, `CALL db.labels`, `CREATE INDEX`).
pub const DB_OPERATION_NAME: &str = "db.operation.name";
/// `db.collection.name`: the one label or relationship type of the query, when it has one.
pub const DB_COLLECTION_NAME: &str = "db.collection.name";
/// `db.query.fingerprint`: 16 hex digits, the same for every query with the same normalised text.
pub const DB_QUERY_FINGERPRINT: &str = "db.query.fingerprint";
/// `db.query.type`: the server's `r`, `w`, `rw` or `s`.
pub const DB_QUERY_TYPE: &str = "db.query.type";
/// `db.query.slow`: `true` on a query slower than the configured threshold.
pub const DB_QUERY_SLOW: &str = "db.query.slow";
/// `db.response.returned_rows`: the records the client received.
pub const DB_RESPONSE_RETURNED_ROWS: &str = "db.response.returned_rows";
/// `db.response.status_code`: the Neo4j status code of a server failure.
pub const DB_RESPONSE_STATUS_CODE: &str = "db.response.status_code";
/// `resource.name`: the normalised text again, which Datadog shows as the span's resource.
pub const RESOURCE_NAME: &str = "resource.name";
/// `network.protocol.name`: always [`PROTOCOL_NAME`](super::PROTOCOL_NAME).
pub const NETWORK_PROTOCOL_NAME: &str = "network.protocol.name";
/// The general names, defined once in `telemetry` (published as `hop-telemetry`) with the
/// workspace's other non-database ones: `error.type` (what failed; a Neo4j status code for a
/// server failure), `server.address` and `server.port` (the database server's),
/// `network.protocol.version` (the Bolt version the client speaks, where known: `5.8`).
pub use telemetry::attribute::{ERROR_TYPE, NETWORK_PROTOCOL_VERSION, SERVER_ADDRESS, SERVER_PORT};
/// `neo4j.server.t_first_ms`: the server's time to the first record.
pub const NEO4J_SERVER_T_FIRST_MS: &str = "neo4j.server.t_first_ms";
/// `neo4j.server.t_last_ms`: the server's time from the first record to the last.
pub const NEO4J_SERVER_T_LAST_MS: &str = "neo4j.server.t_last_ms";
/// `neo4j.gql_status`: the GQLSTATUS of a server failure (Bolt 5.7+), five letters or digits.
pub const NEO4J_GQL_STATUS: &str = "neo4j.gql_status";
/// `neo4j.result.ending`: how a result ended when nothing normal ended it; see [`ResultEnding`].
pub const NEO4J_RESULT_ENDING: &str = "neo4j.result.ending";
/// `neo4j.transaction.outcome`, on a transaction span; see [`TransactionOutcome`].
pub const NEO4J_TRANSACTION_OUTCOME: &str = "neo4j.transaction.outcome";
/// `neo4j.bolt.upstream_version`: the Bolt version between `bolt-proxy` and the server.
pub const NEO4J_BOLT_UPSTREAM_VERSION: &str = "neo4j.bolt.upstream_version";
/// `neo4j.bolt.translated`: whether `bolt-proxy` translated between two Bolt versions.
pub const NEO4J_BOLT_TRANSLATED: &str = "neo4j.bolt.translated";
/// The prefix of `db.query.parameter.<name>`, a parameter value the caller allowed to record.
pub const DB_QUERY_PARAMETER_PREFIX: &str = "db.query.parameter.";
/// `duration_ms`, on the slow-query event: how long the query took.
pub const DURATION_MS: &str = "duration_ms";
/// `threshold_ms`, on the slow-query event: the configured threshold.
pub const THRESHOLD_MS: &str = "threshold_ms";

/// How a query's result ended, when it did not end the normal way: read to its end, or ended by
/// the server, with its summary or with a FAILURE (then `error.type` says which). The value of
/// [`NEO4J_RESULT_ENDING`]; absent when the result ended normally.
///
/// The traced wrappers see what the application does with a result, `bolt-proxy` what travels
/// on the wire, so each sets the values it can observe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResultEnding {
    /// The application stopped reading with `finish()`; the server discarded the rest
    /// (wrappers). On the wire this is a DISCARD, which drivers also send to end results they
    /// never meant to read (neo4rs's `run`), so the proxy cannot tell it from a normal end.
    Finished,
    /// The stream or the query's future was dropped before the end (wrappers).
    Abandoned,
    /// The server answered IGNORED, after an earlier failure on the connection (proxy).
    Ignored,
    /// The client sent RESET with the result still open (proxy).
    Reset,
    /// COMMIT or ROLLBACK closed the transaction with the result still open (proxy).
    TransactionClosed,
    /// The client closed its connection with the result still open (proxy).
    ClientClosed,
    /// The connection to the server broke (proxy).
    UpstreamLost,
    /// The client broke the protocol and was disconnected (proxy).
    ProtocolError,
    /// The proxy shut down and its grace period ran out (proxy).
    ProxyShutdown,
}

impl ResultEnding {
    /// The attribute's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResultEnding::Finished => "finished",
            ResultEnding::Abandoned => "abandoned",
            ResultEnding::Ignored => "ignored",
            ResultEnding::Reset => "reset",
            ResultEnding::TransactionClosed => "transaction_closed",
            ResultEnding::ClientClosed => "client_closed",
            ResultEnding::UpstreamLost => "upstream_lost",
            ResultEnding::ProtocolError => "protocol_error",
            ResultEnding::ProxyShutdown => "proxy_shutdown",
        }
    }
}

/// How a transaction ended: the value of [`NEO4J_TRANSACTION_OUTCOME`] (traced wrappers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransactionOutcome {
    /// COMMIT succeeded.
    Committed,
    /// ROLLBACK succeeded.
    RolledBack,
    /// Dropped unfinished: the server rolls it back.
    Dropped,
    /// BEGIN (or attaching the trace context right after it) failed.
    BeginFailed,
    /// COMMIT failed.
    CommitFailed,
    /// ROLLBACK failed.
    RollbackFailed,
}

impl TransactionOutcome {
    /// The attribute's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            TransactionOutcome::Committed => "committed",
            TransactionOutcome::RolledBack => "rolled_back",
            TransactionOutcome::Dropped => "dropped",
            TransactionOutcome::BeginFailed => "begin_failed",
            TransactionOutcome::CommitFailed => "commit_failed",
            TransactionOutcome::RollbackFailed => "rollback_failed",
        }
    }
}

/// Declares the update counters from one table: the variant, the name in a result summary's
/// `stats` map, and the span attribute.
macro_rules! update_counters {
    ($($variant:ident => $wire:literal, $attribute:literal;)*) => {
        /// An update counter of a result summary. A query span carries each one that is not
        /// zero, as `neo4j.stats.<name>`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum UpdateCounter {
            $(
                #[doc = concat!("`", $wire, "`, recorded as `", $attribute, "`.")]
                $variant,
            )*
        }

        impl UpdateCounter {
            /// Every counter, in the order Neo4j documents them.
            pub const ALL: &[UpdateCounter] = &[$(UpdateCounter::$variant),*];

            /// The counter's name in a summary's `stats` map (Neo4j's and FalkorDB's alike).
            pub const fn wire(self) -> &'static str {
                match self {
                    $(UpdateCounter::$variant => $wire,)*
                }
            }

            /// The span attribute that records it.
            pub const fn attribute(self) -> &'static str {
                match self {
                    $(UpdateCounter::$variant => $attribute,)*
                }
            }
        }
    };
}

update_counters! {
    NodesCreated => "nodes-created", "neo4j.stats.nodes_created";
    NodesDeleted => "nodes-deleted", "neo4j.stats.nodes_deleted";
    RelationshipsCreated => "relationships-created", "neo4j.stats.relationships_created";
    RelationshipsDeleted => "relationships-deleted", "neo4j.stats.relationships_deleted";
    PropertiesSet => "properties-set", "neo4j.stats.properties_set";
    LabelsAdded => "labels-added", "neo4j.stats.labels_added";
    LabelsRemoved => "labels-removed", "neo4j.stats.labels_removed";
    IndexesAdded => "indexes-added", "neo4j.stats.indexes_added";
    IndexesRemoved => "indexes-removed", "neo4j.stats.indexes_removed";
    ConstraintsAdded => "constraints-added", "neo4j.stats.constraints_added";
    ConstraintsRemoved => "constraints-removed", "neo4j.stats.constraints_removed";
    SystemUpdates => "system-updates", "neo4j.stats.system_updates";
}

/// The prefix of every update counter's attribute.
const STATS_PREFIX: &str = "neo4j.stats.";

/// The span attribute for a counter of a summary's `stats` map, by its wire name: a known
/// counter's static name (so a write query's counters cost no allocation), else one built the
/// same way (`contains-updates` -> `neo4j.stats.contains_updates`).
pub fn stats_attribute(wire: &str) -> std::borrow::Cow<'static, str> {
    match UpdateCounter::ALL.iter().find(|c| c.wire() == wire) {
        Some(c) => c.attribute().into(),
        None => format!("{STATS_PREFIX}{}", wire.replace('-', "_")).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn every_counter_attribute_is_its_wire_name_under_the_prefix() {
        assert_eq!(UpdateCounter::ALL.len(), 12);
        for c in UpdateCounter::ALL {
            let built = format!("{STATS_PREFIX}{}", c.wire().replace('-', "_"));
            assert_eq!(c.attribute(), built);
            assert!(matches!(stats_attribute(c.wire()), Cow::Borrowed(_)));
        }
        assert_eq!(
            stats_attribute("contains-updates"),
            "neo4j.stats.contains_updates"
        );
    }
}
