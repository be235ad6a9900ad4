//! The crate's error type: what can stop the analyzer from starting or from running.
//!
//! Failures of single messages are not errors of this kind: they are retried, then
//! dead-lettered, and the partition moves on (see `pipeline`).

use rdkafka::error::KafkaError;

/// Why the analyzer could not start or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An environment variable or setting is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A Kafka client could not be created or a consumer-group call failed.
    #[error("Kafka {operation} failed")]
    Kafka {
        /// What was being done.
        operation: &'static str,
        /// The rdkafka error.
        #[source]
        source: KafkaError,
    },
    /// The transactional producer failed for good: typically fenced, because another process
    /// started with the same instance id (`ANALYZER_INSTANCE_ID`). This process must not
    /// publish anything more.
    #[error("transactional producer failed for good ({error_type})")]
    Transactions {
        /// The low-cardinality name of the error.
        error_type: String,
    },
    /// The graph client could not be configured.
    #[error("graph client configuration failed")]
    Graph(#[source] neo4rs::Error),
    /// The statistics endpoint could not be bound or served.
    #[error("statistics endpoint failed")]
    Stats(#[source] std::io::Error),
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn kafka(operation: &'static str) -> impl FnOnce(KafkaError) -> Error {
        move |source| Error::Kafka { operation, source }
    }
}
