//! The transaction schema: parsing a request body into a validated [`Transaction`].
//!
//! The body is read in one pass by a hand-written serde visitor rather than through
//! `serde_json::Value` or a derived struct: it borrows the strings straight from the request
//! bytes, notices duplicate keys (a derived struct silently keeps the last one, and two parsers
//! disagreeing on which `amount` counts is how smuggling starts), and never lets serde quote a
//! value back in an error message. Rules are then checked field by field in schema order, so a
//! client always learns about the same first problem.
//!
//! Unknown fields are rejected: the record written to Kafka is the canonical re-serialisation of
//! exactly the eight schema fields, and silently dropping what a client sent would hide client
//! bugs (a misspelt `ammount` would look like a missing one at best, at worst be ignored).

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

// The field rules are the workspace's one copy, shared with the analyzer and the fixtures.
use schema::{MAX_ID_LEN, is_valid_amount, is_valid_currency, is_valid_id, is_valid_timestamp};

/// One field of the transaction schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `id`: the transaction id, also the Kafka record key.
    Id,
    /// `account_id`.
    AccountId,
    /// `card_id`.
    CardId,
    /// `device_id`.
    DeviceId,
    /// `merchant_id`.
    MerchantId,
    /// `amount`: a positive decimal string.
    Amount,
    /// `currency`: an ISO 4217 code.
    Currency,
    /// `timestamp`: an RFC 3339 date-time.
    Timestamp,
}

impl Field {
    /// Every field, in schema order (the order of the canonical JSON too).
    pub const ALL: [Field; 8] = [
        Field::Id,
        Field::AccountId,
        Field::CardId,
        Field::DeviceId,
        Field::MerchantId,
        Field::Amount,
        Field::Currency,
        Field::Timestamp,
    ];

    /// The field's JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::AccountId => "account_id",
            Field::CardId => "card_id",
            Field::DeviceId => "device_id",
            Field::MerchantId => "merchant_id",
            Field::Amount => "amount",
            Field::Currency => "currency",
            Field::Timestamp => "timestamp",
        }
    }

    fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// What a valid value looks like, for error messages (never the value that was sent).
    fn rule(self) -> &'static str {
        match self {
            Field::Id | Field::AccountId | Field::CardId | Field::DeviceId | Field::MerchantId => {
                "must be 1 to 64 characters from A-Z, a-z, 0-9, '_', '.', ':' and '-'"
            }
            Field::Amount => {
                "must be a positive decimal string with at most two decimals and at most 15 \
                 integer digits, e.g. \"12.34\""
            }
            Field::Currency => "must be an active ISO 4217 currency code, e.g. \"EUR\"",
            Field::Timestamp => {
                "must be an RFC 3339 date-time of at most 64 characters, e.g. \
                 \"2024-05-01T12:00:00Z\""
            }
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The JSON type of a value that should have been a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A JSON number.
    Number,
    /// A JSON array.
    Array,
    /// A JSON object.
    Object,
}

impl JsonType {
    fn name(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Bool => "a boolean",
            JsonType::Number => "a number",
            JsonType::Array => "an array",
            JsonType::Object => "an object",
        }
    }
}

/// A validated transaction. Strings borrow from the request body where it had no escapes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transaction<'a> {
    /// Transaction id (the Kafka key).
    pub id: Cow<'a, str>,
    /// Account id.
    pub account_id: Cow<'a, str>,
    /// Card id.
    pub card_id: Cow<'a, str>,
    /// Device id.
    pub device_id: Cow<'a, str>,
    /// Merchant id.
    pub merchant_id: Cow<'a, str>,
    /// Amount, a positive decimal string with at most two decimals, as sent.
    pub amount: Cow<'a, str>,
    /// ISO 4217 currency code.
    pub currency: Cow<'a, str>,
    /// RFC 3339 timestamp, as sent (the offset the client used is kept).
    pub timestamp: Cow<'a, str>,
}

impl Transaction<'_> {
    /// The canonical JSON of the transaction: the eight fields in schema order, no whitespace.
    /// This is the Kafka record value.
    pub fn to_json(&self) -> Vec<u8> {
        // Every field is validated ASCII without characters JSON escapes, so the output is
        // the sum of the lengths plus the fixed keys and punctuation (about 130 bytes).
        let mut out = Vec::with_capacity(160 + self.id.len() * 5 + self.timestamp.len());
        // Serialising a struct of strings into a Vec cannot fail.
        serde_json::to_writer(&mut out, self).expect("serialising a transaction cannot fail");
        out
    }

    /// The same transaction owning its strings.
    pub fn into_owned(self) -> Transaction<'static> {
        Transaction {
            id: Cow::Owned(self.id.into_owned()),
            account_id: Cow::Owned(self.account_id.into_owned()),
            card_id: Cow::Owned(self.card_id.into_owned()),
            device_id: Cow::Owned(self.device_id.into_owned()),
            merchant_id: Cow::Owned(self.merchant_id.into_owned()),
            amount: Cow::Owned(self.amount.into_owned()),
            currency: Cow::Owned(self.currency.into_owned()),
            timestamp: Cow::Owned(self.timestamp.into_owned()),
        }
    }
}

/// Why a body was refused. Messages name fields and rules, never the values sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalid {
    /// The body is not JSON (syntax error, bad UTF-8, empty, trailing data).
    NotJson {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The body is JSON but not an object.
    NotAnObject,
    /// A schema field appears more than once.
    DuplicateField(Field),
    /// A field outside the schema. The name is kept only when it looks like an identifier
    /// (so that a client typo is easy to spot, while odd keys are never echoed).
    UnknownField(Option<String>),
    /// A schema field is absent.
    MissingField(Field),
    /// A schema field is not a JSON string.
    WrongType {
        /// The field.
        field: Field,
        /// The JSON type that was sent instead.
        found: JsonType,
    },
    /// A schema field is a string that breaks the field's rule.
    InvalidValue(Field),
}

impl Invalid {
    /// A stable machine-readable code (`invalid_json`, `missing_field`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::NotJson { .. } => "invalid_json",
            Invalid::NotAnObject => "not_an_object",
            Invalid::DuplicateField(_) => "duplicate_field",
            Invalid::UnknownField(_) => "unknown_field",
            Invalid::MissingField(_) => "missing_field",
            Invalid::WrongType { .. } => "invalid_type",
            Invalid::InvalidValue(_) => "invalid_value",
        }
    }

    /// The offending schema field, if the problem is tied to one (not for unknown fields, whose
    /// names the client chose: fit for the client's error body, not for logs or spans).
    pub fn schema_field(&self) -> Option<Field> {
        match self {
            Invalid::DuplicateField(f)
            | Invalid::MissingField(f)
            | Invalid::WrongType { field: f, .. }
            | Invalid::InvalidValue(f) => Some(*f),
            Invalid::NotJson { .. } | Invalid::NotAnObject | Invalid::UnknownField(_) => None,
        }
    }

    /// The name of the offending field, when there is one to name.
    pub fn field(&self) -> Option<&str> {
        match self {
            Invalid::NotJson { .. } | Invalid::NotAnObject => None,
            Invalid::UnknownField(name) => name.as_deref(),
            Invalid::DuplicateField(f)
            | Invalid::MissingField(f)
            | Invalid::WrongType { field: f, .. }
            | Invalid::InvalidValue(f) => Some(f.name()),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::NotJson { line, column } => {
                write!(
                    f,
                    "request body is not valid JSON (line {line}, column {column})"
                )
            }
            Invalid::NotAnObject => f.write_str("request body must be a JSON object"),
            Invalid::DuplicateField(field) => write!(f, "field '{field}' appears more than once"),
            Invalid::UnknownField(Some(name)) => {
                write!(
                    f,
                    "unknown field '{name}': the schema has only {}",
                    schema_list()
                )
            }
            Invalid::UnknownField(None) => {
                write!(f, "unknown field: the schema has only {}", schema_list())
            }
            Invalid::MissingField(field) => write!(f, "field '{field}' is required"),
            Invalid::WrongType { field, found } => {
                write!(
                    f,
                    "field '{field}' must be a JSON string, not {}",
                    found.name()
                )
            }
            Invalid::InvalidValue(field) => write!(f, "field '{field}' {}", field.rule()),
        }
    }
}

fn schema_list() -> &'static str {
    "id, account_id, card_id, device_id, merchant_id, amount, currency, timestamp"
}

/// Parses and validates a request body.
///
/// The first problem found wins, in this order: not JSON, not an object, a duplicate field, an
/// unknown field, then each schema field in schema order (missing, wrong type, invalid value).
pub fn parse(body: &[u8]) -> Result<Transaction<'_>, Invalid> {
    let raw: RawBody<'_> = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => Invalid::NotAnObject,
        _ => Invalid::NotJson {
            line: e.line(),
            column: e.column(),
        },
    })?;
    raw.validate()
}

/// A value as read from the body, before the rules.
#[derive(Debug, Default)]
enum Slot<'a> {
    #[default]
    Missing,
    Str(Cow<'a, str>),
    Other(JsonType),
}

/// The body as read: one slot per schema field plus what was wrong with the keys.
#[derive(Debug, Default)]
struct RawBody<'a> {
    slots: [Slot<'a>; 8],
    duplicate: Option<Field>,
    unknown: Option<Option<String>>,
}

impl<'a> RawBody<'a> {
    fn validate(self) -> Result<Transaction<'a>, Invalid> {
        if let Some(field) = self.duplicate {
            return Err(Invalid::DuplicateField(field));
        }
        if let Some(name) = self.unknown {
            return Err(Invalid::UnknownField(name));
        }
        let [
            id,
            account_id,
            card_id,
            device_id,
            merchant_id,
            amount,
            currency,
            timestamp,
        ] = self.slots;
        let id = checked(Field::Id, id, is_valid_id)?;
        let account_id = checked(Field::AccountId, account_id, is_valid_id)?;
        let card_id = checked(Field::CardId, card_id, is_valid_id)?;
        let device_id = checked(Field::DeviceId, device_id, is_valid_id)?;
        let merchant_id = checked(Field::MerchantId, merchant_id, is_valid_id)?;
        let amount = checked(Field::Amount, amount, is_valid_amount)?;
        let currency = checked(Field::Currency, currency, is_valid_currency)?;
        let timestamp = checked(Field::Timestamp, timestamp, is_valid_timestamp)?;
        Ok(Transaction {
            id,
            account_id,
            card_id,
            device_id,
            merchant_id,
            amount,
            currency,
            timestamp,
        })
    }
}

fn checked<'a>(
    field: Field,
    slot: Slot<'a>,
    rule: fn(&str) -> bool,
) -> Result<Cow<'a, str>, Invalid> {
    match slot {
        Slot::Missing => Err(Invalid::MissingField(field)),
        Slot::Other(found) => Err(Invalid::WrongType { field, found }),
        Slot::Str(s) if rule(&s) => Ok(s),
        Slot::Str(_) => Err(Invalid::InvalidValue(field)),
    }
}

/// An unknown key's name, if it is safe and useful to repeat to the client.
fn echoable_key(name: &str) -> Option<String> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    (first_ok && name.len() <= MAX_ID_LEN && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then(|| name.to_owned())
}

impl<'de> de::Deserialize<'de> for RawBody<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = RawBody<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut body = RawBody::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Known(field) => {
                    let slot = &mut body.slots[field as usize];
                    let value = map.next_value::<Slot<'de>>()?;
                    if matches!(slot, Slot::Missing) {
                        *slot = value;
                    } else {
                        body.duplicate.get_or_insert(field);
                    }
                }
                Key::Unknown(name) => {
                    map.next_value::<IgnoredAny>()?;
                    body.unknown.get_or_insert(name);
                }
            }
        }
        Ok(body)
    }
}

enum Key {
    Known(Field),
    Unknown(Option<String>),
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Key, E> {
        Ok(match Field::from_name(name) {
            Some(field) => Key::Known(field),
            None => Key::Unknown(echoable_key(name)),
        })
    }
}

impl<'de> de::Deserialize<'de> for Slot<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SlotVisitor)
    }
}

struct SlotVisitor;

impl<'de> Visitor<'de> for SlotVisitor {
    type Value = Slot<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Slot::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Slot::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Slot::Str(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Slot::Other(JsonType::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Slot::Other(JsonType::Null))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Slot::Other(JsonType::Bool))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Slot::Other(JsonType::Number))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Slot::Other(JsonType::Number))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Slot::Other(JsonType::Number))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Slot::Other(JsonType::Array))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Slot::Other(JsonType::Object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"{"id":"tx-1","account_id":"acc_1","card_id":"card:9","device_id":"dev.7","merchant_id":"m-3","amount":"12.34","currency":"EUR","timestamp":"2024-05-01T12:00:00Z"}"#;

    fn with(field: &str, value: &str) -> String {
        let mut v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(VALID).unwrap();
        v.insert(field.into(), serde_json::from_str(value).unwrap());
        serde_json::to_string(&v).unwrap()
    }

    #[test]
    fn valid_body_round_trips_to_canonical_json() {
        let tx = parse(VALID.as_bytes()).unwrap();
        assert_eq!(tx.id, "tx-1");
        assert!(matches!(tx.id, Cow::Borrowed(_)));
        assert_eq!(String::from_utf8(tx.to_json()).unwrap(), VALID);
    }

    #[test]
    fn whitespace_and_key_order_do_not_change_the_canonical_form() {
        let body = "{ \"timestamp\" : \"2024-05-01T12:00:00Z\",\n \"currency\":\"EUR\", \"amount\":\"12.34\", \"merchant_id\":\"m-3\", \"device_id\":\"dev.7\", \"card_id\":\"card:9\", \"account_id\":\"acc_1\", \"id\":\"tx-1\" }";
        assert_eq!(parse(body.as_bytes()).unwrap().to_json(), VALID.as_bytes());
    }

    #[test]
    fn escaped_strings_are_decoded_then_validated() {
        let body = with("id", r#""tx\u002d1""#);
        let tx = parse(body.as_bytes()).unwrap();
        assert_eq!(tx.id, "tx-1");
        let body = with("id", r#""tx\n1""#);
        assert_eq!(
            parse(body.as_bytes()),
            Err(Invalid::InvalidValue(Field::Id))
        );
    }

    #[test]
    fn amounts() {
        for ok in [
            "1",
            "0.01",
            "0.1",
            "10.5",
            "12.34",
            "999999999999999.99",
            "100",
        ] {
            assert!(is_valid_amount(ok), "{ok}");
        }
        for bad in [
            "0",
            "0.00",
            "0.0",
            "-1",
            "+1",
            "1.234",
            "1e3",
            " 1",
            "1 ",
            "",
            ".5",
            "1.",
            "01",
            "00.5",
            "1,00",
            "1000000000000000",
            "0x10",
            "１",
        ] {
            assert!(!is_valid_amount(bad), "{bad:?}");
        }
    }

    #[test]
    fn ids() {
        assert!(is_valid_id("a"));
        assert!(is_valid_id(&"x".repeat(64)));
        assert!(is_valid_id("A-z_0.9:"));
        for bad in ["", " a", "a b", "é", "a/b", "a\u{0}", "a\"b"] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
        assert!(!is_valid_id(&"x".repeat(65)));
    }

    #[test]
    fn timestamps() {
        for ok in [
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00.123456+02:00",
            "2024-05-01t12:00:00z",
            "2024-02-29T00:00:00-05:30",
        ] {
            assert!(is_valid_timestamp(ok), "{ok}");
        }
        for bad in [
            "2024-05-01",
            "2024-05-01T12:00:00",
            "2023-02-29T00:00:00Z",
            "1714564800",
            "2024-05-01T25:00:00Z",
            "",
        ] {
            assert!(!is_valid_timestamp(bad), "{bad:?}");
        }
        let long = format!("2024-05-01T12:00:00.{}Z", "1".repeat(60));
        assert!(!is_valid_timestamp(&long));
    }

    #[test]
    fn first_problem_wins_in_a_fixed_order() {
        let body = r#"{"id":"a","id":"b"}"#;
        assert_eq!(
            parse(body.as_bytes()),
            Err(Invalid::DuplicateField(Field::Id))
        );
        let body = r#"{"ammount":"1","id":7}"#;
        assert_eq!(
            parse(body.as_bytes()),
            Err(Invalid::UnknownField(Some("ammount".into())))
        );
        let body = r#"{"amount":"x"}"#;
        assert_eq!(
            parse(body.as_bytes()),
            Err(Invalid::MissingField(Field::Id))
        );
    }

    #[test]
    fn odd_unknown_keys_are_not_echoed() {
        let body = with("4111 1111 1111 1111", "1");
        let err = parse(body.as_bytes()).unwrap_err();
        assert_eq!(err, Invalid::UnknownField(None));
        assert!(!err.to_string().contains("4111"));
    }

    #[test]
    fn non_objects_and_non_json() {
        assert_eq!(parse(b"[1,2]"), Err(Invalid::NotAnObject));
        assert_eq!(parse(b"\"4111111111111111\""), Err(Invalid::NotAnObject));
        assert!(matches!(parse(b""), Err(Invalid::NotJson { .. })));
        assert!(matches!(parse(b"{\"id\":"), Err(Invalid::NotJson { .. })));
        assert!(matches!(parse(b"{} {}"), Err(Invalid::NotJson { .. })));
        assert!(matches!(parse(b"id=1"), Err(Invalid::NotJson { .. })));
        assert!(matches!(
            parse(b"{\"id\":\"\xff\"}"),
            Err(Invalid::NotJson { .. })
        ));
    }

    #[test]
    fn wrong_types_are_named() {
        let body = with("amount", "12.5");
        assert_eq!(
            parse(body.as_bytes()),
            Err(Invalid::WrongType {
                field: Field::Amount,
                found: JsonType::Number
            })
        );
        let body = with("card_id", r#"{"pan":"4111"}"#);
        let err = parse(body.as_bytes()).unwrap_err();
        assert_eq!(err.field(), Some("card_id"));
        assert!(!err.to_string().contains("4111"));
    }
}
