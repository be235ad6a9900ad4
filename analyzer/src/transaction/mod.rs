//! The transaction schema and its validation: a record's payload in, a [`Transaction`] or the
//! reason it can never be processed out.
//!
//! The rules are the ingestor's, with one widening: `amount` may also be a JSON number, since
//! other producers on the topic (the seed's Node service among them) send numbers. A number
//! is judged by its shortest round-trip decimal form, so `12.5` passes and `12.345` does not.
//! Unknown fields are ignored rather than refused: the topic is shared, and a producer adding
//! a field must not send every record to the DLQ. A field given twice is refused, since two
//! readers could disagree on which one counts.
//!
//! Error messages name the field and the rule, never the value (they end up in DLQ headers
//! and spans).

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

// The field rules are the workspace's one copy, shared with the ingestor and the fixtures.
pub use schema::{
    Amount, MAX_AMOUNT_INTEGER_DIGITS, MAX_ID_LEN, MAX_TIMESTAMP_LEN, is_valid_currency,
    is_valid_id,
};

/// A validated transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Transaction id, 1-64 characters of `[A-Za-z0-9_.:-]`.
    pub id: String,
    /// Paying account.
    pub account_id: String,
    /// Card used.
    pub card_id: String,
    /// Device the payment came from.
    pub device_id: String,
    /// Merchant paid.
    pub merchant_id: String,
    /// Amount, positive.
    pub amount: Amount,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Event time, milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: i64,
}

/// One field of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// `id`.
    Id,
    /// `account_id`.
    AccountId,
    /// `card_id`.
    CardId,
    /// `device_id`.
    DeviceId,
    /// `merchant_id`.
    MerchantId,
    /// `amount`.
    Amount,
    /// `currency`.
    Currency,
    /// `timestamp`.
    Timestamp,
}

impl Field {
    /// Every field, in schema order (the order problems are reported in).
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

    /// The JSON name.
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

    fn index(self) -> usize {
        Field::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }

    /// What the value breaks, in words that never quote it.
    fn broken_rule(self) -> &'static str {
        match self {
            Field::Id | Field::AccountId | Field::CardId | Field::DeviceId | Field::MerchantId => {
                "not 1-64 characters of [A-Za-z0-9_.:-]"
            }
            Field::Amount => "not a positive decimal with at most two decimals",
            Field::Currency => "not an active ISO 4217 currency code",
            Field::Timestamp => "not an RFC 3339 date-time",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
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
        }
    }

    /// The field at fault, if any.
    pub fn field(&self) -> Option<Field> {
        match self {
            Invalid::Empty | Invalid::NotJson | Invalid::NotAnObject => None,
            Invalid::Duplicate(f)
            | Invalid::Missing(f)
            | Invalid::WrongType(f)
            | Invalid::BadValue(f) => Some(*f),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Empty => f.write_str("payload: empty"),
            Invalid::NotJson => f.write_str("payload: not JSON"),
            Invalid::NotAnObject => f.write_str("payload: not a JSON object"),
            Invalid::Duplicate(field) => write!(f, "field {field}: given more than once"),
            Invalid::Missing(field) => write!(f, "field {field}: missing"),
            Invalid::WrongType(Field::Amount) => {
                f.write_str("field amount: not a string or a number")
            }
            Invalid::WrongType(field) => write!(f, "field {field}: not a string"),
            Invalid::BadValue(field) => write!(f, "field {field}: {}", field.broken_rule()),
        }
    }
}

impl std::error::Error for Invalid {}

/// Parses an RFC 3339 date-time (see [`schema::parse_timestamp`]) into epoch milliseconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    schema::parse_timestamp(s).map(|t| t.timestamp_millis())
}

impl Transaction {
    /// Validates a record payload. The first problem wins, in this order: no payload, not
    /// JSON, not an object, a duplicated field, then each field in schema order (missing,
    /// wrong type, bad value).
    pub fn from_payload(payload: Option<&[u8]>) -> Result<Transaction, Invalid> {
        let payload = match payload {
            Some(p) if !p.is_empty() => p,
            _ => return Err(Invalid::Empty),
        };
        let raw: RawFields = serde_json::from_slice(payload).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => Invalid::NotAnObject,
            _ => Invalid::NotJson,
        })?;
        raw.validate()
    }
}

/// A field's value as read, before the rules.
#[derive(Debug, Default)]
enum Slot {
    #[default]
    Missing,
    Text(String),
    /// A JSON number, already in its shortest decimal form.
    Number(String),
    Other,
}

#[derive(Debug, Default)]
struct RawFields {
    slots: [Slot; 8],
    duplicate: Option<Field>,
}

impl RawFields {
    fn take(&mut self, field: Field) -> Slot {
        std::mem::take(&mut self.slots[field.index()])
    }

    fn text(&mut self, field: Field, rule: impl Fn(&str) -> bool) -> Result<String, Invalid> {
        match self.take(field) {
            Slot::Missing => Err(Invalid::Missing(field)),
            Slot::Text(s) if rule(&s) => Ok(s),
            Slot::Text(_) => Err(Invalid::BadValue(field)),
            Slot::Number(_) | Slot::Other => Err(Invalid::WrongType(field)),
        }
    }

    fn validate(mut self) -> Result<Transaction, Invalid> {
        if let Some(field) = self.duplicate {
            return Err(Invalid::Duplicate(field));
        }
        let id = self.text(Field::Id, is_valid_id)?;
        let account_id = self.text(Field::AccountId, is_valid_id)?;
        let card_id = self.text(Field::CardId, is_valid_id)?;
        let device_id = self.text(Field::DeviceId, is_valid_id)?;
        let merchant_id = self.text(Field::MerchantId, is_valid_id)?;
        let amount = match self.take(Field::Amount) {
            Slot::Missing => return Err(Invalid::Missing(Field::Amount)),
            Slot::Text(s) | Slot::Number(s) => {
                Amount::parse(&s).ok_or(Invalid::BadValue(Field::Amount))?
            }
            Slot::Other => return Err(Invalid::WrongType(Field::Amount)),
        };
        let currency = self.text(Field::Currency, is_valid_currency)?;
        let timestamp = self.text(Field::Timestamp, |s| parse_timestamp(s).is_some())?;
        let timestamp_ms =
            parse_timestamp(&timestamp).ok_or(Invalid::BadValue(Field::Timestamp))?;
        Ok(Transaction {
            id,
            account_id,
            card_id,
            device_id,
            merchant_id,
            amount,
            currency,
            timestamp_ms,
        })
    }
}

impl<'de> de::Deserialize<'de> for RawFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = RawFields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFields, A::Error> {
        let mut raw = RawFields::default();
        while let Some(key) = map.next_key::<Key>()? {
            let Key(Some(field)) = key else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value = map.next_value::<Slot>()?;
            let slot = &mut raw.slots[field.index()];
            if matches!(slot, Slot::Missing) {
                *slot = value;
            } else {
                raw.duplicate.get_or_insert(field);
            }
        }
        Ok(raw)
    }
}

/// A key: one of the schema's fields, or `None` for a field we ignore.
struct Key(Option<Field>);

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Key, E> {
                Ok(Key(Field::ALL.into_iter().find(|f| f.name() == name)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> de::Deserialize<'de> for Slot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SlotVisitor;
        impl<'de> Visitor<'de> for SlotVisitor {
            type Value = Slot;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Slot, E> {
                Ok(Slot::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Slot, E> {
                Ok(Slot::Text(v))
            }
            // `null` reads as absent, as JSON producers often write optional fields that way.
            fn visit_unit<E: de::Error>(self) -> Result<Slot, E> {
                Ok(Slot::Missing)
            }
            fn visit_none<E: de::Error>(self) -> Result<Slot, E> {
                Ok(Slot::Missing)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Slot, E> {
                Ok(Slot::Other)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Slot, E> {
                Ok(Slot::Number(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Slot, E> {
                Ok(Slot::Number(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Slot, E> {
                // Rust prints the shortest decimal that reads back as the same f64, without
                // an exponent: 12.5 -> "12.5", 0.1 -> "0.1", 1e3 -> "1000".
                Ok(Slot::Number(format!("{v}")))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Slot, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Slot::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Slot, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Slot::Other)
            }
        }
        deserializer.deserialize_any(SlotVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"{"id":"tx-1","account_id":"acc_1","card_id":"card:9","device_id":"dev.7","merchant_id":"m-3","amount":"12.34","currency":"EUR","timestamp":"2024-05-01T12:00:00Z"}"#;

    fn with(field: &str, raw_value: &str) -> Vec<u8> {
        let mut v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(VALID).unwrap();
        v.insert(field.into(), serde_json::from_str(raw_value).unwrap());
        serde_json::to_vec(&v).unwrap()
    }

    fn parse(bytes: &[u8]) -> Result<Transaction, Invalid> {
        Transaction::from_payload(Some(bytes))
    }

    #[test]
    fn a_valid_payload_parses() {
        let tx = parse(VALID.as_bytes()).unwrap();
        assert_eq!(tx.id, "tx-1");
        assert_eq!(tx.card_id, "card:9");
        assert_eq!(tx.amount.hundredths(), 1234);
        assert_eq!(tx.amount.to_string(), "12.34");
        assert_eq!(tx.currency, "EUR");
        assert_eq!(tx.timestamp_ms, 1_714_564_800_000);
    }

    #[test]
    fn amounts_may_be_json_numbers() {
        let cases: [(&str, Option<i64>); 9] = [
            ("12.34", Some(1234)),
            ("12.5", Some(1250)),
            ("7", Some(700)),
            ("0.01", Some(1)),
            ("1e3", Some(100_000)),
            ("12.345", None),
            ("0", None),
            ("-5", None),
            ("1e20", None),
        ];
        for (number, expected) in cases {
            let got = parse(&with("amount", number)).map(|t| t.amount.hundredths());
            match expected {
                Some(h) => assert_eq!(got, Ok(h), "{number}"),
                None => assert_eq!(got, Err(Invalid::BadValue(Field::Amount)), "{number}"),
            }
        }
    }

    #[test]
    fn amount_strings_follow_the_ingestor_rule() {
        for ok in ["1", "0.01", "0.1", "10.5", "999999999999999.99"] {
            assert!(Amount::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "0",
            "0.00",
            "-1",
            "+1",
            "1.234",
            "1e3",
            " 1",
            "",
            ".5",
            "1.",
            "01",
            "1,00",
            "1000000000000000",
            "１",
        ] {
            assert!(Amount::parse(bad).is_none(), "{bad:?}");
        }
        assert_eq!(Amount::parse("3.5").unwrap().to_string(), "3.50");
    }

    #[test]
    fn each_rule_has_its_error_and_message_without_the_value() {
        let cases: Vec<(Vec<u8>, Invalid, &str)> = vec![
            (b"".to_vec(), Invalid::Empty, "payload: empty"),
            (
                b"not json at all".to_vec(),
                Invalid::NotJson,
                "payload: not JSON",
            ),
            (
                b"[1,2]".to_vec(),
                Invalid::NotAnObject,
                "payload: not a JSON object",
            ),
            (
                with("amount", r#""-12.00""#),
                Invalid::BadValue(Field::Amount),
                "field amount: not a positive decimal with at most two decimals",
            ),
            (
                with("currency", r#""ZZZ""#),
                Invalid::BadValue(Field::Currency),
                "field currency: not an active ISO 4217 currency code",
            ),
            (
                with("timestamp", r#""yesterday""#),
                Invalid::BadValue(Field::Timestamp),
                "field timestamp: not an RFC 3339 date-time",
            ),
            (
                with("card_id", r#""bad'id""#),
                Invalid::BadValue(Field::CardId),
                "field card_id: not 1-64 characters of [A-Za-z0-9_.:-]",
            ),
            (
                with("device_id", "42"),
                Invalid::WrongType(Field::DeviceId),
                "field device_id: not a string",
            ),
            (
                with("amount", "true"),
                Invalid::WrongType(Field::Amount),
                "field amount: not a string or a number",
            ),
            (
                with("merchant_id", "null"),
                Invalid::Missing(Field::MerchantId),
                "field merchant_id: missing",
            ),
        ];
        for (payload, expected, message) in cases {
            let got = Transaction::from_payload(Some(&payload)).unwrap_err();
            assert_eq!(got, expected);
            assert_eq!(got.to_string(), message);
        }
        assert_eq!(Transaction::from_payload(None), Err(Invalid::Empty));
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
        let tx = parse(&with("timestamp", r#""2024-05-01T14:00:00.250+02:00""#)).unwrap();
        assert_eq!(tx.timestamp_ms, 1_714_564_800_250);
        let long = format!("\"2024-05-01T12:00:00.{}Z\"", "1".repeat(60));
        assert_eq!(
            parse(&with("timestamp", &long)),
            Err(Invalid::BadValue(Field::Timestamp))
        );
    }
}
