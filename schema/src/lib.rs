//! The payment transaction's schema, in one place for everything that reads or writes a
//! transaction: the ingestor reads HTTP bodies with it, the analyzer Kafka records, the fixtures
//! check the traffic they generate. A record the ingestor accepts is then never a poison message
//! to the analyzer by construction, not by two copies kept in step.
//!
//! - [`Field`] is the one list of fields, in schema order (the order problems are reported in
//!   and the order of the canonical JSON).
//! - [`Reader`] reads a JSON object from raw bytes into a validated [`Transaction`]: in one pass,
//!   noticing a field given twice, with a [policy](UnknownFields) for fields outside the schema,
//!   and refusing a timestamp too far in the future.
//! - [`Error`] says which field broke which rule and never carries a value that was sent, so
//!   it may go into logs, spans and DLQ headers. Callers word it for their audience (an HTTP
//!   error body, a DLQ reason) and map it to their own status.
//!
//! The single-field rules ([`is_valid_id`], [`Amount::parse`], [`is_valid_currency`],
//! [`parse_timestamp`]) are public for code that builds transactions rather than reads them.
//!
//! ```
//! use schema::{Field, Problem, Reader, UnknownFields};
//!
//! let body = br#"{"id":"tx-1","account_id":"acc-1","card_id":"card-1","device_id":"dev-1",
//!     "merchant_id":"m-1","amount":129.95,"currency":"EUR","timestamp":"2026-03-02T09:15:00Z"}"#;
//! let tx = Reader::new(UnknownFields::Refuse).read(body).unwrap();
//! assert_eq!(tx.amount().hundredths(), 12_995);
//! assert!(String::from_utf8(tx.to_json()).unwrap().contains(r#""amount":"129.95""#));
//!
//! let twice = br#"{"id":"a","id":"b"}"#;
//! let error = Reader::new(UnknownFields::Ignore).read(twice).unwrap_err();
//! assert_eq!(error.field(), Some(Field::Id));
//! assert_eq!(error.problem(), Some(Problem::Duplicate));
//! ```

mod amount;
mod currency;
mod error;
mod field;
mod reader;
mod rules;
mod transaction;

pub use amount::Amount;
pub use currency::is_active as is_valid_currency;
pub use error::{Error, Problem, Result};
pub use field::{Field, JsonType};
pub use reader::{DEFAULT_FUTURE_MARGIN, Reader, UnknownFields};
pub use rules::{
    MAX_AMOUNT_INTEGER_DIGITS, MAX_ID_LEN, MAX_TIMESTAMP_LEN, is_valid_amount, is_valid_id,
    is_valid_timestamp, parse_timestamp,
};
pub use transaction::Transaction;
