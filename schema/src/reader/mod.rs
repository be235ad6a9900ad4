//! The one reader of a transaction's JSON, for every crate that takes transactions in.
//!
//! The bytes are read in one pass by a hand-written serde visitor rather than into
//! `serde_json::Value` or a derived struct: it notices a field given twice (a derived struct
//! silently keeps the last one, and two parsers disagreeing on which `amount` counts is how
//! smuggling starts), it never lets serde quote a value back in an error, and it keeps each
//! schema field's value as its raw JSON text, borrowed from the input. The values are then
//! checked field by field in schema order, so a sender always learns about the same first
//! problem. Keeping the raw text is what lets an amount sent as a JSON number be read exactly:
//! `129.95` is judged and kept as the text `129.95`, never as the nearest `f64`.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::amount::Amount;
use crate::currency;
use crate::error::{Error, Problem, Result};
use crate::field::{Field, JsonType};
use crate::rules::{MAX_ID_LEN, is_valid_id, parse_timestamp};
use crate::transaction::Transaction;

/// How far ahead of the reader's clock a timestamp may be by default: five minutes, room for
/// senders' clocks running a little fast, while a transaction dated in the year 9999 (which
/// would sit outside every fraud window forever) is refused.
pub const DEFAULT_FUTURE_MARGIN: Duration = Duration::from_secs(5 * 60);

/// What a [`Reader`] does with a field outside the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnknownFields {
    /// Refuse the transaction ([`Error::UnknownField`]). The HTTP API's policy: what it puts
    /// on Kafka is exactly the fields it validated, and silently dropping what a client sent
    /// would hide client bugs (a misspelt `ammount` would at best look missing).
    Refuse,
    /// Skip the field. The topic reader's policy: the topic is shared, and a producer adding a
    /// field must not send every record to the DLQ.
    Ignore,
}

/// Reads JSON bytes into a validated [`Transaction`], with a policy for unknown fields and a
/// margin for timestamps in the future.
///
/// Problems are reported one at a time, the first in this order: not JSON, not an object, a
/// schema field given more than once, an unknown field (under [`UnknownFields::Refuse`]),
/// then each field in schema order ([`Field::ALL`]): missing, wrong JSON type, invalid value,
/// and last a timestamp more than the margin ahead of the clock.
///
/// Every field is a JSON string except `amount`, which may also be a JSON number: `"129.95"`
/// and `129.95` are the same amount, read from the text either way. `null` is a wrong type,
/// not an absent field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader {
    unknown_fields: UnknownFields,
    future_margin: Duration,
}

impl Reader {
    /// A reader with this policy for unknown fields and the [`DEFAULT_FUTURE_MARGIN`].
    pub fn new(unknown_fields: UnknownFields) -> Reader {
        Reader {
            unknown_fields,
            future_margin: DEFAULT_FUTURE_MARGIN,
        }
    }

    /// Refuses timestamps more than `margin` ahead of the clock ([`Problem::TooFarInFuture`]).
    /// A timestamp exactly `margin` ahead passes.
    pub fn with_future_margin(mut self, margin: Duration) -> Reader {
        self.future_margin = margin;
        self
    }

    /// The margin for timestamps in the future.
    pub fn future_margin(&self) -> Duration {
        self.future_margin
    }

    /// Reads `json`, judging timestamps against the system clock.
    pub fn read<'a>(&self, json: &'a [u8]) -> Result<Transaction<'a>> {
        self.read_at(json, SystemTime::now())
    }

    /// Reads `json`, judging timestamps against `now`.
    pub fn read_at<'a>(&self, json: &'a [u8], now: SystemTime) -> Result<Transaction<'a>> {
        let object = Object::read(json)?;
        if let Some(field) = object.duplicate {
            return Err(Error::at(field, Problem::Duplicate));
        }
        if self.unknown_fields == UnknownFields::Refuse
            && let Some(name) = object.unknown
        {
            return Err(Error::UnknownField { name });
        }
        let values = Values {
            json,
            raw: object.values,
        };
        let id = |s: &str| is_valid_id(s).then_some(());
        let (id_text, ()) = values.string(Field::Id, id)?;
        let (account_text, ()) = values.string(Field::AccountId, id)?;
        let (card_text, ()) = values.string(Field::CardId, id)?;
        let (device_text, ()) = values.string(Field::DeviceId, id)?;
        let (merchant_text, ()) = values.string(Field::MerchantId, id)?;
        let (amount_text, amount) = values.amount()?;
        let (currency_text, ()) =
            values.string(Field::Currency, |s| currency::is_active(s).then_some(()))?;
        let (timestamp_text, timestamp) = values.string(Field::Timestamp, parse_timestamp)?;
        if self.too_far_ahead(timestamp, now) {
            return Err(Error::at(Field::Timestamp, Problem::TooFarInFuture));
        }
        Ok(Transaction::new(
            [
                id_text,
                account_text,
                card_text,
                device_text,
                merchant_text,
                amount_text,
                currency_text,
                timestamp_text,
            ],
            amount,
            timestamp,
        ))
    }

    fn too_far_ahead(&self, timestamp: DateTime<FixedOffset>, now: SystemTime) -> bool {
        let limit = TimeDelta::from_std(self.future_margin)
            .ok()
            .and_then(|margin| DateTime::<Utc>::from(now).checked_add_signed(margin));
        // A margin too large to add to the clock is no limit at all.
        limit.is_some_and(|limit| timestamp > limit)
    }
}

/// The schema fields' raw values, and the bytes they were read from.
struct Values<'a> {
    json: &'a [u8],
    raw: [Option<&'a RawValue>; 8],
}

impl<'a> Values<'a> {
    fn get(&self, field: Field) -> Result<Value<'a>> {
        let raw = self.raw[field.index()].ok_or(Error::at(field, Problem::Missing))?;
        Value::decode(self.json, raw)
    }

    /// A field that must be a string, and the value `rule` makes of it.
    fn string<T>(
        &self,
        field: Field,
        rule: impl Fn(&str) -> Option<T>,
    ) -> Result<(Cow<'a, str>, T)> {
        match self.get(field)? {
            Value::String(text) => match rule(&text) {
                Some(value) => Ok((text, value)),
                None => Err(Error::at(field, Problem::Invalid)),
            },
            Value::Number(_) => Err(Error::at(field, Problem::WrongType(JsonType::Number))),
            Value::Other(found) => Err(Error::at(field, Problem::WrongType(found))),
        }
    }

    /// The amount, from a string's content or a number's text, by the same rule.
    fn amount(&self) -> Result<(Cow<'a, str>, Amount)> {
        let text = match self.get(Field::Amount)? {
            Value::String(text) => text,
            Value::Number(text) => Cow::Borrowed(text),
            Value::Other(found) => {
                return Err(Error::at(Field::Amount, Problem::WrongType(found)));
            }
        };
        match Amount::parse(&text) {
            Some(amount) => Ok((text, amount)),
            None => Err(Error::at(Field::Amount, Problem::Invalid)),
        }
    }
}

/// A schema field's value, classified from its raw JSON text.
enum Value<'a> {
    /// A string's content, unescaped.
    String(Cow<'a, str>),
    /// A number's text, exactly as sent.
    Number(&'a str),
    /// Anything else.
    Other(JsonType),
}

impl<'a> Value<'a> {
    /// `raw` is a complete JSON value, already checked by the first pass; its first byte tells
    /// its type.
    fn decode(json: &'a [u8], raw: &'a RawValue) -> Result<Value<'a>> {
        let text = raw.get();
        Ok(match text.as_bytes().first() {
            Some(b'"') => {
                let mut strings = serde_json::Deserializer::from_str(text);
                // The first pass checks escapes only loosely: a lone UTF-16 surrogate
                // (`"\udc00"`) fails here, and is as much not JSON as any syntax error.
                let string = strings
                    .deserialize_str(StringVisitor)
                    .map_err(|e| not_json_inside(json, text, &e))?;
                Value::String(string)
            }
            Some(b'-' | b'0'..=b'9') => Value::Number(text),
            Some(b't' | b'f') => Value::Other(JsonType::Bool),
            Some(b'n') => Value::Other(JsonType::Null),
            Some(b'[') => Value::Other(JsonType::Array),
            Some(b'{') => Value::Other(JsonType::Object),
            _ => return Err(not_json_at(json, offset_in(json, text))),
        })
    }
}

/// Where `inner`, a slice of `json`, starts in it.
fn offset_in(json: &[u8], inner: &str) -> usize {
    (inner.as_ptr() as usize).saturating_sub(json.as_ptr() as usize)
}

/// [`Error::NotJson`] for an error at `error`'s column of `text`, a one-line slice of `json`.
fn not_json_inside(json: &[u8], text: &str, error: &serde_json::Error) -> Error {
    not_json_at(
        json,
        offset_in(json, text) + error.column().saturating_sub(1),
    )
}

/// [`Error::NotJson`] at byte `index` of `json`, with serde_json's 1-based line and column.
fn not_json_at(json: &[u8], index: usize) -> Error {
    let before = &json[..index.min(json.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |newline| newline + 1);
    Error::NotJson {
        line: 1 + before.iter().filter(|&&b| b == b'\n').count(),
        column: before.len() - line_start + 1,
    }
}

/// The first pass: the object's schema fields as raw values, and what was wrong with its keys.
struct Object<'a> {
    values: [Option<&'a RawValue>; 8],
    /// The first schema field seen twice.
    duplicate: Option<Field>,
    /// The first unknown field, with its name if it is fit to repeat.
    unknown: Option<Option<String>>,
}

impl<'a> Object<'a> {
    fn read(json: &'a [u8]) -> Result<Object<'a>> {
        serde_json::from_slice(json).map_err(|e| match e.classify() {
            // The visitors accept any key and any value: a type error can only be the
            // document's own type.
            serde_json::error::Category::Data => Error::NotAnObject,
            _ => Error::NotJson {
                line: e.line(),
                column: e.column(),
            },
        })
    }
}

impl<'de> de::Deserialize<'de> for Object<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Object<'de>, A::Error> {
        let mut object = Object {
            values: [None; 8],
            duplicate: None,
            unknown: None,
        };
        loop {
            let seed = KeySeed {
                name_wanted: object.unknown.is_none(),
            };
            match map.next_key_seed(seed)? {
                None => return Ok(object),
                Some(Key::Known(field)) => {
                    let value: &'de RawValue = map.next_value()?;
                    let slot = &mut object.values[field.index()];
                    if slot.is_none() {
                        *slot = Some(value);
                    } else {
                        object.duplicate.get_or_insert(field);
                    }
                }
                Some(Key::Unknown(name)) => {
                    map.next_value::<IgnoredAny>()?;
                    object.unknown.get_or_insert(name);
                }
            }
        }
    }
}

enum Key {
    Known(Field),
    /// Outside the schema; the name is kept for the first one only, and only if it is fit to
    /// repeat ([`echoable`]).
    Unknown(Option<String>),
}

struct KeySeed {
    name_wanted: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> std::result::Result<Key, E> {
        Ok(match Field::from_name(name) {
            Some(field) => Key::Known(field),
            None if self.name_wanted => Key::Unknown(echoable(name)),
            None => Key::Unknown(None),
        })
    }
}

/// An unknown key's name, if it is safe and useful to repeat: an identifier a client may have
/// misspelt, never something like a card number used as a key.
fn echoable(name: &str) -> Option<String> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    (first_ok && name.len() <= MAX_ID_LEN && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then(|| name.to_owned())
}

/// A string's content, borrowed when it had no escapes.
struct StringVisitor;

impl<'de> Visitor<'de> for StringVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests;
