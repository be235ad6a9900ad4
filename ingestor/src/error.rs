//! The crate's error type.

/// What can go wrong in the ingestor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An environment variable is missing or malformed.
    #[error("configuration: {variable}: {reason}")]
    Config {
        /// The variable.
        variable: &'static str,
        /// What is expected.
        reason: String,
    },
    /// The Kafka client failed (creation, metadata, flush).
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A record was not acknowledged by the broker.
    #[error("record not acknowledged: {0}")]
    Delivery(String),
    /// The broker cannot take records now.
    #[error("not ready: {0}")]
    NotReady(String),
    /// Socket trouble.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
