//! Dead-letter records: the original payload and key, the original non-trace headers, and the
//! `dlq.*` headers that say where the record came from and why it was given up on.
//!
//! Trace headers are not copied here: the traced producer strips any that are left and injects
//! the context of its own send span, which is in the original record's trace, so the DLQ record
//! carries that trace exactly once. Earlier `dlq.*` headers (a record dead-lettered before and
//! replayed) are replaced, never piled up.

use rdkafka::message::{Header, Headers, Message, OwnedHeaders};

/// `dlq.original.topic`
pub const ORIGINAL_TOPIC: &str = "dlq.original.topic";
/// `dlq.original.partition`
pub const ORIGINAL_PARTITION: &str = "dlq.original.partition";
/// `dlq.original.offset`
pub const ORIGINAL_OFFSET: &str = "dlq.original.offset";
/// `dlq.error.type`: a low-cardinality name (`invalid_value`, `io`, `timeout`...).
pub const ERROR_TYPE: &str = "dlq.error.type";
/// `dlq.error.message`: what went wrong, in words that never quote the payload.
pub const ERROR_MESSAGE: &str = "dlq.error.message";
/// `dlq.attempts`: how many processing attempts were made.
pub const ATTEMPTS: &str = "dlq.attempts";

/// Why a record is dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// For `dlq.error.type`.
    pub error_type: String,
    /// For `dlq.error.message`.
    pub message: String,
    /// For `dlq.attempts`.
    pub attempts: u32,
}

/// The headers of the dead-letter record for `original`.
pub fn headers<M: Message>(original: &M, reason: &DeadLetter) -> OwnedHeaders {
    let mut out = OwnedHeaders::new_with_capacity(original.headers().map_or(0, |h| h.count()) + 6);
    if let Some(existing) = original.headers() {
        for header in existing.iter() {
            if !header.key.starts_with("dlq.") {
                out = out.insert(Header {
                    key: header.key,
                    value: header.value,
                });
            }
        }
    }
    let partition = original.partition().to_string();
    let offset = original.offset().to_string();
    let attempts = reason.attempts.to_string();
    for (key, value) in [
        (ORIGINAL_TOPIC, original.topic()),
        (ORIGINAL_PARTITION, partition.as_str()),
        (ORIGINAL_OFFSET, offset.as_str()),
        (ERROR_TYPE, reason.error_type.as_str()),
        (ERROR_MESSAGE, reason.message.as_str()),
        (ATTEMPTS, attempts.as_str()),
    ] {
        out = out.insert(Header {
            key,
            value: Some(value),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use rdkafka::message::OwnedMessage;

    use super::*;

    fn value<'a>(h: &'a OwnedHeaders, key: &str) -> Vec<&'a str> {
        h.iter()
            .filter(|x| x.key == key)
            .map(|x| std::str::from_utf8(x.value.unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn keeps_other_headers_and_replaces_old_dlq_headers() {
        let original_headers = OwnedHeaders::new()
            .insert(Header {
                key: "content-type",
                value: Some("application/json"),
            })
            .insert(Header {
                key: ERROR_TYPE,
                value: Some("old"),
            })
            .insert(Header {
                key: ATTEMPTS,
                value: Some("9"),
            });
        let message = OwnedMessage::new(
            Some(b"{}".to_vec()),
            Some(b"k".to_vec()),
            "transactions.new".into(),
            Timestamp::NotAvailable,
            2,
            41,
            Some(original_headers),
        );
        let reason = DeadLetter {
            error_type: "invalid_value".into(),
            message: "field amount: not a positive decimal with at most two decimals".into(),
            attempts: 1,
        };
        let h = headers(&message, &reason);
        assert_eq!(value(&h, "content-type"), ["application/json"]);
        assert_eq!(value(&h, ORIGINAL_TOPIC), ["transactions.new"]);
        assert_eq!(value(&h, ORIGINAL_PARTITION), ["2"]);
        assert_eq!(value(&h, ORIGINAL_OFFSET), ["41"]);
        assert_eq!(value(&h, ERROR_TYPE), ["invalid_value"]);
        assert_eq!(value(&h, ATTEMPTS), ["1"]);
        assert_eq!(value(&h, ERROR_MESSAGE).len(), 1);
    }
}
