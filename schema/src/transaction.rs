//! A validated transaction and its canonical JSON.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset};

use crate::amount::Amount;
use crate::field::Field;

/// A transaction that passed every rule, made only by the [`Reader`](crate::Reader).
///
/// Strings borrow from the bytes read where they had no escapes. The amount and the timestamp
/// keep the text they were sent as (a JSON number's digits for an amount sent as a number), which
/// is what [`Transaction::to_json`] writes, next to their values ([`Transaction::amount`],
/// [`Transaction::timestamp`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction<'a> {
    /// The text of each field as read, by [`Field::index`].
    texts: [Cow<'a, str>; 8],
    amount: Amount,
    timestamp: DateTime<FixedOffset>,
}

impl<'a> Transaction<'a> {
    pub(crate) fn new(
        texts: [Cow<'a, str>; 8],
        amount: Amount,
        timestamp: DateTime<FixedOffset>,
    ) -> Transaction<'a> {
        Transaction {
            texts,
            amount,
            timestamp,
        }
    }

    /// The text of `field` as read: identifiers and the currency as they are, the amount's
    /// decimal text (`"129.95"`, also for an amount sent as the number `129.95`), the timestamp
    /// with the offset it was sent with.
    pub fn text(&self, field: Field) -> &str {
        &self.texts[field.index()]
    }

    /// The transaction id (the Kafka record key).
    pub fn id(&self) -> &str {
        self.text(Field::Id)
    }

    /// The paying account.
    pub fn account_id(&self) -> &str {
        self.text(Field::AccountId)
    }

    /// The card used.
    pub fn card_id(&self) -> &str {
        self.text(Field::CardId)
    }

    /// The device the payment came from.
    pub fn device_id(&self) -> &str {
        self.text(Field::DeviceId)
    }

    /// The merchant paid.
    pub fn merchant_id(&self) -> &str {
        self.text(Field::MerchantId)
    }

    /// The amount, exactly.
    pub fn amount(&self) -> Amount {
        self.amount
    }

    /// The ISO 4217 currency code.
    pub fn currency(&self) -> &str {
        self.text(Field::Currency)
    }

    /// The event time, with the offset it was sent with.
    pub fn timestamp(&self) -> DateTime<FixedOffset> {
        self.timestamp
    }

    /// The event time in milliseconds since the Unix epoch.
    pub fn timestamp_millis(&self) -> i64 {
        self.timestamp.timestamp_millis()
    }

    /// The canonical JSON: the eight fields in schema order, every value a JSON string (the
    /// amount as its decimal text), no whitespace. The ingestor's Kafka record value.
    pub fn to_json(&self) -> Vec<u8> {
        // Validated values are short ASCII: about 130 bytes in all.
        let mut out = Vec::with_capacity(112 + self.texts.iter().map(|t| t.len()).sum::<usize>());
        out.push(b'{');
        for field in Field::ALL {
            if field != Field::Id {
                out.push(b',');
            }
            push_json_string(&mut out, field.name());
            out.push(b':');
            push_json_string(&mut out, self.text(field));
        }
        out.push(b'}');
        out
    }

    /// The same transaction owning its strings.
    pub fn into_owned(self) -> Transaction<'static> {
        Transaction {
            texts: self.texts.map(|t| Cow::Owned(t.into_owned())),
            amount: self.amount,
            timestamp: self.timestamp,
        }
    }
}

/// Writes `s` as a JSON string. Every validated value and every field name is printable ASCII
/// without `"` or `\`, which need no escaping; anything else goes through serde_json.
fn push_json_string(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // A string always serialises, and writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}
