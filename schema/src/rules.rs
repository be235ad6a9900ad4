//! The rules of single fields, for code that checks one value at a time (the fixtures'
//! generator checks its namespace with [`is_valid_id`]); the [`Reader`](crate::Reader) applies
//! the same functions.

use chrono::{DateTime, FixedOffset};

use crate::amount::Amount;
pub use crate::amount::MAX_AMOUNT_INTEGER_DIGITS;

/// Longest identifier, in characters (all of them ASCII).
pub const MAX_ID_LEN: usize = 64;
/// Longest timestamp text: RFC 3339 allows any number of fractional digits, stores need not.
pub const MAX_TIMESTAMP_LEN: usize = 64;

/// Whether `s` is a valid identifier (`id`, `account_id`, ...): 1-64 characters of
/// `[A-Za-z0-9_.:-]`.
pub fn is_valid_id(s: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// Whether `s` is a valid amount text (see [`Amount::parse`]).
pub fn is_valid_amount(s: &str) -> bool {
    Amount::parse(s).is_some()
}

/// An RFC 3339 date-time of at most [`MAX_TIMESTAMP_LEN`] characters. How far in the future
/// it may be is the [`Reader`](crate::Reader)'s business: it depends on the clock.
pub fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    if s.len() > MAX_TIMESTAMP_LEN {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// Whether `s` is a valid timestamp (see [`parse_timestamp`]).
pub fn is_valid_timestamp(s: &str) -> bool {
    parse_timestamp(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_id("fx:tx-ring1.2_a"));
        assert!(is_valid_id("a"));
        assert!(is_valid_id("A-z_0.9:"));
        assert!(is_valid_id(&"a".repeat(MAX_ID_LEN)));
        for bad in [
            "",
            " a",
            "a b",
            "é",
            "a/b",
            "a\u{0}",
            "a\"b",
            &"a".repeat(MAX_ID_LEN + 1),
        ] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn timestamps() {
        let t = parse_timestamp("2026-03-02T09:15:00.000Z").unwrap();
        assert_eq!(t.timestamp_millis(), 1_772_442_900_000);
        for ok in [
            "2026-03-02T10:15:00+01:00",
            "2024-05-01T12:00:00.123456+02:00",
            "2024-05-01t12:00:00z",
            "2024-02-29T00:00:00-05:30",
            "9999-12-31T23:59:59Z",
        ] {
            assert!(is_valid_timestamp(ok), "{ok}");
        }
        for bad in [
            "",
            "2026-03-02",
            "2026-03-02 09:15:00",
            "2024-05-01T12:00:00",
            "2023-02-29T00:00:00Z",
            "2024-05-01T25:00:00Z",
            "1714564800",
            "yesterday",
            "2026-13-02T09:15:00Z",
        ] {
            assert!(!is_valid_timestamp(bad), "{bad:?}");
        }
        let long = format!("2026-03-02T09:15:00.{}Z", "1".repeat(MAX_TIMESTAMP_LEN));
        assert!(DateTime::parse_from_rfc3339(&long).is_ok());
        assert!(!is_valid_timestamp(&long), "longer than the limit");
    }
}
