//! The one list of the transaction's fields, and the JSON types a value can have.

use std::fmt;

/// One field of the transaction schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// `id`: the transaction id, also the Kafka record key.
    Id,
    /// `account_id`: the paying account.
    AccountId,
    /// `card_id`: the card used.
    CardId,
    /// `device_id`: the device the payment came from.
    DeviceId,
    /// `merchant_id`: the merchant paid.
    MerchantId,
    /// `amount`: a positive decimal with at most two decimals, as a string or a JSON number.
    Amount,
    /// `currency`: an active ISO 4217 code.
    Currency,
    /// `timestamp`: an RFC 3339 date-time, not too far in the future.
    Timestamp,
}

impl Field {
    /// Every field, in schema order: the order problems are reported in and the order of the
    /// canonical JSON.
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

    /// The field called `name` (exact, case-sensitive).
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The field's position in [`Field::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The JSON type of a value that a field does not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsonType {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl JsonType {
    /// The type's name: `null`, `boolean`, `number`, `array`, `object`.
    pub fn name(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Bool => "boolean",
            JsonType::Number => "number",
            JsonType::Array => "array",
            JsonType::Object => "object",
        }
    }
}

impl fmt::Display for JsonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indexes_follow_the_list() {
        for (i, field) in Field::ALL.into_iter().enumerate() {
            assert_eq!(Field::from_name(field.name()), Some(field));
            assert_eq!(field.index(), i);
        }
        assert_eq!(Field::from_name("ID"), None);
        assert_eq!(Field::from_name("ammount"), None);
    }
}
