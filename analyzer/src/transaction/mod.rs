//! A record's payload in, a [`Transaction`] or the reason it can never be processed out.
//!
//! The reading and the rules are the workspace's one copy ([`schema::Reader`]), the ingestor's
//! too, so a record the ingestor accepted is never poison here. The topic reader's policy is
//! to ignore fields outside the schema rather than refuse them: the topic is shared, and a
//! producer adding a field must not send every record to the DLQ. Like the ingestor, it takes
//! an amount as a decimal string or as a JSON number (the seed's Node service sends numbers),
//! read exactly from its text, and refuses a timestamp more than a margin ahead of the clock
//! (`ANALYZER_FUTURE_MARGIN_MS`, which should be at least the ingestor's).
//!
//! What is stored downstream does not depend on how the amount was sent: the graph keeps the
//! amount as its normalised two-decimal string (`t.amount`, `"12.50"` for `12.5` or `"12.5"`)
//! and in hundredths (`t.amount_minor`); a verdict carries the id only.
//!
//! What lives here is the analyzer's side of a poison record: its `error.type` and a message
//! that names the field and the rule, never the value (both end up in DLQ headers and spans).

use std::fmt;
use std::time::Duration;

pub use schema::{Amount, Field, Transaction};
use schema::{Error, JsonType, Problem, Reader, UnknownFields};

/// The topic's reader of record payloads.
#[derive(Debug, Clone, Copy)]
pub struct PayloadReader {
    reader: Reader,
}

impl Default for PayloadReader {
    /// Unknown fields ignored, timestamps at most [`schema::DEFAULT_FUTURE_MARGIN`] ahead.
    fn default() -> Self {
        PayloadReader::new(schema::DEFAULT_FUTURE_MARGIN)
    }
}

impl PayloadReader {
    /// Unknown fields ignored, timestamps at most `future_margin` ahead of the clock.
    pub fn new(future_margin: Duration) -> PayloadReader {
        PayloadReader {
            reader: Reader::new(UnknownFields::Ignore).with_future_margin(future_margin),
        }
    }

    /// Validates a record payload. The first problem wins, in this order: no payload, not
    /// JSON, not an object, a duplicated field, then each field in schema order (missing,
    /// wrong type, bad value), then a timestamp too far in the future.
    pub fn read<'a>(&self, payload: Option<&'a [u8]>) -> Result<Transaction<'a>, Invalid> {
        let payload = match payload {
            Some(p) if !p.is_empty() => p,
            _ => return Err(Invalid::Empty),
        };
        self.reader.read(payload).map_err(|error| match error {
            Error::NotJson { .. } => Invalid::NotJson,
            Error::NotAnObject => Invalid::NotAnObject,
            Error::Field { field, problem } => match problem {
                Problem::Duplicate => Invalid::Duplicate(field),
                // `null` reads as absent, as JSON producers often write optional fields that way.
                Problem::Missing | Problem::WrongType(JsonType::Null) => Invalid::Missing(field),
                Problem::WrongType(_) => Invalid::WrongType(field),
                Problem::Invalid => Invalid::BadValue(field),
                Problem::TooFarInFuture => Invalid::TooFarInFuture {
                    margin: self.reader.future_margin(),
                },
                _ => Invalid::Unreadable,
            },
            // Unknown fields are ignored on the topic; anything the schema adds later.
            _ => Invalid::Unreadable,
        })
    }
}

/// Why a payload can never become a [`Transaction`]: a poison message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalid {
    /// The record has no payload.
    Empty,
    /// The payload is not JSON.
    NotJson,
    /// The payload is JSON but not an object.
    NotAnObject,
    /// A field appears more than once.
    Duplicate(Field),
    /// A field is absent (or `null`).
    Missing(Field),
    /// A field has the wrong JSON type.
    WrongType(Field),
    /// A field's value breaks its rule.
    BadValue(Field),
    /// The timestamp is more than the margin ahead of the analyzer's clock.
    TooFarInFuture {
        /// The margin it exceeds.
        margin: Duration,
    },
    /// Not a transaction for a reason the schema added after this code was written.
    Unreadable,
}

impl Invalid {
    /// A stable, low-cardinality name for `error.type` and `dlq.error.type`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Invalid::Empty => "empty_payload",
            Invalid::NotJson => "invalid_json",
            Invalid::NotAnObject => "not_an_object",
            Invalid::Duplicate(_) => "duplicate_field",
            Invalid::Missing(_) => "missing_field",
            Invalid::WrongType(_) => "invalid_type",
            Invalid::BadValue(_) => "invalid_value",
            Invalid::TooFarInFuture { .. } => "timestamp_in_future",
            Invalid::Unreadable => "invalid_payload",
        }
    }

    /// The field at fault, if any.
    pub fn field(&self) -> Option<Field> {
        match self {
            Invalid::Empty | Invalid::NotJson | Invalid::NotAnObject | Invalid::Unreadable => None,
            Invalid::Duplicate(f)
            | Invalid::Missing(f)
            | Invalid::WrongType(f)
            | Invalid::BadValue(f) => Some(*f),
            Invalid::TooFarInFuture { .. } => Some(Field::Timestamp),
        }
    }
}

/// What a bad value breaks, in words that never quote it.
fn broken_rule(field: Field) -> &'static str {
    match field {
        Field::Id | Field::AccountId | Field::CardId | Field::DeviceId | Field::MerchantId => {
            "not 1-64 characters of [A-Za-z0-9_.:-]"
        }
        Field::Amount => "not a positive decimal with at most two decimals",
        Field::Currency => "not an active ISO 4217 currency code",
        Field::Timestamp => "not an RFC 3339 date-time",
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Empty => f.write_str("payload: empty"),
            Invalid::NotJson => f.write_str("payload: not JSON"),
            Invalid::NotAnObject => f.write_str("payload: not a JSON object"),
            Invalid::Unreadable => f.write_str("payload: not a transaction"),
            Invalid::Duplicate(field) => write!(f, "field {field}: given more than once"),
            Invalid::Missing(field) => write!(f, "field {field}: missing"),
            Invalid::WrongType(Field::Amount) => {
                f.write_str("field amount: not a string or a number")
            }
            Invalid::WrongType(field) => write!(f, "field {field}: not a string"),
            Invalid::BadValue(field) => write!(f, "field {field}: {}", broken_rule(*field)),
            Invalid::TooFarInFuture { margin } => write!(
                f,
                "field timestamp: more than {} ms ahead of the analyzer's clock",
                margin.as_millis()
            ),
        }
    }
}

impl std::error::Error for Invalid {}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"{"id":"tx-1","account_id":"acc_1","card_id":"card:9","device_id":"dev.7","merchant_id":"m-3","amount":"12.34","currency":"EUR","timestamp":"2024-05-01T12:00:00Z"}"#;

    fn with(field: &str, raw_value: &str) -> Vec<u8> {
        let mut v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(VALID).unwrap();
        v.insert(field.into(), serde_json::Value::String("\u{0}".into()));
        serde_json::to_string(&v)
            .unwrap()
            .replace(r#""\u0000""#, raw_value)
            .into_bytes()
    }

    fn parse(bytes: &[u8]) -> Result<Transaction<'_>, Invalid> {
        PayloadReader::default().read(Some(bytes))
    }

    #[test]
    fn a_valid_payload_parses() {
        let tx = parse(VALID.as_bytes()).unwrap();
        assert_eq!(tx.id(), "tx-1");
        assert_eq!(tx.card_id(), "card:9");
        assert_eq!(tx.amount().hundredths(), 1234);
        assert_eq!(tx.amount().to_string(), "12.34");
        assert_eq!(tx.currency(), "EUR");
        assert_eq!(tx.timestamp_millis(), 1_714_564_800_000);
    }

    #[test]
    fn amounts_may_be_json_numbers_read_exactly() {
        let cases: [(&str, Option<i64>); 15] = [
            ("12.34", Some(1234)),
            ("12.5", Some(1250)),
            ("7", Some(700)),
            ("0.01", Some(1)),
            ("129.95", Some(12_995)),
            ("999999999999999.99", Some(99_999_999_999_999_999)),
            // Exactly from the text: what an f64 would have rounded to 12.34 is refused.
            ("12.3400000000000001", None),
            ("1e3", None),
            ("12.345", None),
            ("0", None),
            ("-5", None),
            ("1e20", None),
            ("\"12.345\"", None),
            ("\"-12.00\"", None),
            ("\"1e3\"", None),
        ];
        for (number, expected) in cases {
            let got = parse(&with("amount", number)).map(|t| t.amount().hundredths());
            match expected {
                Some(h) => assert_eq!(got, Ok(h), "{number}"),
                None => assert_eq!(got, Err(Invalid::BadValue(Field::Amount)), "{number}"),
            }
        }
        // Stored as before, whatever the form it came in.
        for amount in ["12.5", "\"12.5\""] {
            let payload = with("amount", amount);
            assert_eq!(parse(&payload).unwrap().amount().to_string(), "12.50");
        }
    }

    #[test]
    fn each_rule_has_its_error_and_message_without_the_value() {
        let cases: Vec<(Vec<u8>, Invalid, &str, &str)> = vec![
            (
                b"".to_vec(),
                Invalid::Empty,
                "empty_payload",
                "payload: empty",
            ),
            (
                b"not json at all".to_vec(),
                Invalid::NotJson,
                "invalid_json",
                "payload: not JSON",
            ),
            (
                b"[1,2]".to_vec(),
                Invalid::NotAnObject,
                "not_an_object",
                "payload: not a JSON object",
            ),
            (
                with("amount", r#""-12.00""#),
                Invalid::BadValue(Field::Amount),
                "invalid_value",
                "field amount: not a positive decimal with at most two decimals",
            ),
            (
                with("currency", r#""ZZZ""#),
                Invalid::BadValue(Field::Currency),
                "invalid_value",
                "field currency: not an active ISO 4217 currency code",
            ),
            (
                with("timestamp", r#""yesterday""#),
                Invalid::BadValue(Field::Timestamp),
                "invalid_value",
                "field timestamp: not an RFC 3339 date-time",
            ),
            (
                with("card_id", r#""bad'id""#),
                Invalid::BadValue(Field::CardId),
                "invalid_value",
                "field card_id: not 1-64 characters of [A-Za-z0-9_.:-]",
            ),
            (
                with("device_id", "42"),
                Invalid::WrongType(Field::DeviceId),
                "invalid_type",
                "field device_id: not a string",
            ),
            (
                with("amount", "true"),
                Invalid::WrongType(Field::Amount),
                "invalid_type",
                "field amount: not a string or a number",
            ),
            (
                with("merchant_id", "null"),
                Invalid::Missing(Field::MerchantId),
                "missing_field",
                "field merchant_id: missing",
            ),
            (
                with("timestamp", r#""9999-12-31T23:59:59Z""#),
                Invalid::TooFarInFuture {
                    margin: Duration::from_secs(300),
                },
                "timestamp_in_future",
                "field timestamp: more than 300000 ms ahead of the analyzer's clock",
            ),
        ];
        for (payload, expected, error_type, message) in cases {
            let got = PayloadReader::default().read(Some(&payload)).unwrap_err();
            assert_eq!(got, expected);
            assert_eq!(got.error_type(), error_type);
            assert_eq!(got.to_string(), message);
        }
        assert_eq!(PayloadReader::default().read(None), Err(Invalid::Empty));
    }

    #[test]
    fn duplicates_are_refused_and_unknown_fields_ignored() {
        let dup = VALID.replace(
            r#""currency":"EUR""#,
            r#""currency":"EUR","currency":"USD""#,
        );
        assert_eq!(
            parse(dup.as_bytes()),
            Err(Invalid::Duplicate(Field::Currency))
        );
        let extra = VALID.replace('}', r#","channel":"web","meta":{"a":[1]}}"#);
        assert!(parse(extra.as_bytes()).is_ok());
    }

    #[test]
    fn problems_are_reported_in_schema_order() {
        let body = r#"{"amount":"x","id":"!"}"#;
        assert_eq!(parse(body.as_bytes()), Err(Invalid::BadValue(Field::Id)));
        let body = r#"{"id":"a"}"#;
        assert_eq!(
            parse(body.as_bytes()),
            Err(Invalid::Missing(Field::AccountId))
        );
    }

    #[test]
    fn timestamps_become_utc_epoch_millis() {
        let payload = with("timestamp", r#""2024-05-01T14:00:00.250+02:00""#);
        assert_eq!(
            parse(&payload).unwrap().timestamp_millis(),
            1_714_564_800_250
        );
        let long = format!("\"2024-05-01T12:00:00.{}Z\"", "1".repeat(60));
        assert_eq!(
            parse(&with("timestamp", &long)),
            Err(Invalid::BadValue(Field::Timestamp))
        );
    }

    #[test]
    fn the_future_margin_is_the_readers() {
        let far = with("timestamp", r#""9999-12-31T23:59:59Z""#);
        let strict = PayloadReader::new(Duration::from_secs(60));
        assert_eq!(
            strict.read(Some(&far)),
            Err(Invalid::TooFarInFuture {
                margin: Duration::from_secs(60)
            })
        );
        assert!(PayloadReader::new(Duration::MAX).read(Some(&far)).is_ok());
    }
}
