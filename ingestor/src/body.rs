//! The request body: read by the workspace's one transaction reader, refusals worded for the
//! API's clients.
//!
//! The rules, the field list and the reading itself are the `schema` crate's ([`Reader`] with
//! [`UnknownFields::Refuse`]: the record put on Kafka is the canonical re-serialisation of
//! exactly the eight fields that were validated). What lives here is the API's side of a
//! refusal: its stable code, the field it names, and a message that names fields and rules,
//! never the values that were sent.

use std::fmt;
use std::time::Duration;

use schema::{Error, Field, JsonType, Problem, Reader, Transaction, UnknownFields};

/// The API's reader of request bodies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyReader {
    reader: Reader,
}

impl BodyReader {
    /// Unknown fields refused, timestamps at most `future_margin` ahead of the clock.
    pub(crate) fn new(future_margin: Duration) -> BodyReader {
        BodyReader {
            reader: Reader::new(UnknownFields::Refuse).with_future_margin(future_margin),
        }
    }

    /// Reads and validates a request body.
    pub(crate) fn read<'a>(&self, body: &'a [u8]) -> Result<Transaction<'a>, Invalid> {
        self.reader.read(body).map_err(|error| Invalid {
            error,
            future_margin: self.reader.future_margin(),
        })
    }
}

/// Why a body was refused, as the API tells its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    error: Error,
    /// The margin a refused timestamp exceeded, for the message.
    future_margin: Duration,
}

impl Invalid {
    /// A stable machine-readable code (`invalid_json`, `missing_field`, ...).
    pub(crate) fn code(&self) -> &'static str {
        match &self.error {
            Error::NotJson { .. } => "invalid_json",
            Error::NotAnObject => "not_an_object",
            Error::UnknownField { .. } => "unknown_field",
            Error::Field { problem, .. } => match problem {
                Problem::Duplicate => "duplicate_field",
                Problem::Missing => "missing_field",
                Problem::WrongType(_) => "invalid_type",
                Problem::Invalid => "invalid_value",
                Problem::TooFarInFuture => "timestamp_in_future",
                _ => "invalid_value",
            },
            _ => "invalid_body",
        }
    }

    /// The offending schema field, if the problem is tied to one (not for unknown fields, whose
    /// names the client chose: fit for the client's error body, not for logs or spans).
    pub(crate) fn schema_field(&self) -> Option<Field> {
        self.error.field()
    }

    /// The name of the offending field, when there is one to name.
    pub(crate) fn field(&self) -> Option<&str> {
        match &self.error {
            Error::UnknownField { name } => name.as_deref(),
            other => other.field().map(Field::name),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (field, problem) = match &self.error {
            Error::NotJson { line, column } => {
                return write!(
                    f,
                    "request body is not valid JSON (line {line}, column {column})"
                );
            }
            Error::NotAnObject => return f.write_str("request body must be a JSON object"),
            Error::UnknownField { name: Some(name) } => {
                return write!(f, "unknown field '{name}': the schema has only {}", Fields);
            }
            Error::UnknownField { name: None } => {
                return write!(f, "unknown field: the schema has only {}", Fields);
            }
            Error::Field { field, problem } => (*field, *problem),
            _ => return f.write_str("request body is not a valid transaction"),
        };
        match problem {
            Problem::Duplicate => write!(f, "field '{field}' appears more than once"),
            Problem::Missing => write!(f, "field '{field}' is required"),
            Problem::WrongType(found) if field == Field::Amount => write!(
                f,
                "field 'amount' must be a decimal string or a JSON number, not {}",
                a(found)
            ),
            Problem::WrongType(found) => {
                write!(f, "field '{field}' must be a JSON string, not {}", a(found))
            }
            Problem::TooFarInFuture => write!(
                f,
                "field '{field}' must not be more than {} ahead of the server's clock",
                Margin(self.future_margin)
            ),
            // `Invalid`, and whatever problem the schema may add later.
            _ => write!(f, "field '{field}' {}", rule(field)),
        }
    }
}

/// What a valid value looks like (never the value that was sent).
fn rule(field: Field) -> &'static str {
    match field {
        Field::Id | Field::AccountId | Field::CardId | Field::DeviceId | Field::MerchantId => {
            "must be 1 to 64 characters from A-Z, a-z, 0-9, '_', '.', ':' and '-'"
        }
        Field::Amount => {
            "must be a positive decimal with at most two decimals and at most 15 integer digits, \
             as a string (\"12.34\") or a JSON number (12.34)"
        }
        Field::Currency => "must be an active ISO 4217 currency code, e.g. \"EUR\"",
        Field::Timestamp => {
            "must be an RFC 3339 date-time of at most 64 characters, e.g. \
             \"2024-05-01T12:00:00Z\""
        }
    }
}

/// A JSON type with its article: `a boolean`, `an array`, `null`.
fn a(found: JsonType) -> &'static str {
    match found {
        JsonType::Null => "null",
        JsonType::Bool => "a boolean",
        JsonType::Number => "a number",
        JsonType::Array => "an array",
        JsonType::Object => "an object",
    }
}

/// The schema's field names, comma-separated.
struct Fields;

impl fmt::Display for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, field) in Field::ALL.into_iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(field.name())?;
        }
        Ok(())
    }
}

/// A duration in whole seconds where it is one, else in milliseconds.
struct Margin(Duration);

impl fmt::Display for Margin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_secs() {
            1 if self.0.subsec_nanos() == 0 => f.write_str("1 second"),
            secs if self.0.subsec_millis() == 0 => write!(f, "{secs} seconds"),
            _ => write!(f, "{} ms", self.0.as_millis()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"{"id":"tx-1","account_id":"acc_1","card_id":"card:9","device_id":"dev.7","merchant_id":"m-3","amount":"12.34","currency":"EUR","timestamp":"2024-05-01T12:00:00Z"}"#;

    fn refusal(body: &str) -> Invalid {
        BodyReader::new(schema::DEFAULT_FUTURE_MARGIN)
            .read(body.as_bytes())
            .unwrap_err()
    }

    #[test]
    fn a_valid_body_becomes_the_canonical_record() {
        let tx = BodyReader::new(schema::DEFAULT_FUTURE_MARGIN)
            .read(VALID.as_bytes())
            .unwrap();
        assert_eq!(tx.to_json(), VALID.as_bytes());
    }

    #[test]
    fn each_refusal_has_its_code_field_and_message() {
        let cases: [(String, &str, Option<&str>, &str); 9] = [
            (
                "{".into(),
                "invalid_json",
                None,
                "request body is not valid JSON (line 1, column 1)",
            ),
            (
                "[1]".into(),
                "not_an_object",
                None,
                "request body must be a JSON object",
            ),
            (
                VALID.replace('}', r#","ammount":"1"}"#),
                "unknown_field",
                Some("ammount"),
                "unknown field 'ammount': the schema has only id, account_id, card_id, device_id, merchant_id, amount, currency, timestamp",
            ),
            (
                VALID.replace('}', r#","id":"tx-2"}"#),
                "duplicate_field",
                Some("id"),
                "field 'id' appears more than once",
            ),
            (
                VALID.replace(r#""currency":"EUR","#, ""),
                "missing_field",
                Some("currency"),
                "field 'currency' is required",
            ),
            (
                VALID.replace(r#""12.34""#, "true"),
                "invalid_type",
                Some("amount"),
                "field 'amount' must be a decimal string or a JSON number, not a boolean",
            ),
            (
                VALID.replace(r#""EUR""#, "[]"),
                "invalid_type",
                Some("currency"),
                "field 'currency' must be a JSON string, not an array",
            ),
            (
                VALID.replace(r#""12.34""#, "12.345"),
                "invalid_value",
                Some("amount"),
                "field 'amount' must be a positive decimal with at most two decimals and at most 15 integer digits, as a string (\"12.34\") or a JSON number (12.34)",
            ),
            (
                VALID.replace("2024", "9999"),
                "timestamp_in_future",
                Some("timestamp"),
                "field 'timestamp' must not be more than 300 seconds ahead of the server's clock",
            ),
        ];
        for (body, code, field, message) in cases {
            let invalid = refusal(&body);
            assert_eq!(invalid.code(), code, "{body}");
            assert_eq!(invalid.field(), field, "{body}");
            assert_eq!(invalid.to_string(), message, "{body}");
        }
    }

    #[test]
    fn unknown_field_names_go_to_the_client_only() {
        let invalid = refusal(&VALID.replace('}', r#","note":"x"}"#));
        assert_eq!(invalid.field(), Some("note"));
        assert_eq!(invalid.schema_field(), None, "not for spans or logs");
        let invalid = refusal(&VALID.replace('}', r#","4111 1111":"x"}"#));
        assert_eq!(invalid.field(), None);
        assert_eq!(invalid.to_string().matches("4111").count(), 0);
    }

    #[test]
    fn margins_are_worded_in_seconds_or_milliseconds() {
        assert_eq!(Margin(Duration::from_secs(1)).to_string(), "1 second");
        assert_eq!(Margin(Duration::from_secs(300)).to_string(), "300 seconds");
        assert_eq!(Margin(Duration::from_millis(1500)).to_string(), "1500 ms");
        assert_eq!(Margin(Duration::ZERO).to_string(), "0 seconds");
    }
}
