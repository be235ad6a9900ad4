//! The payment transaction's field rules, in one place for everything that reads or writes a
//! transaction: the ingestor validates HTTP bodies with them, the analyzer Kafka records (a
//! record the ingestor accepts must never be a poison message to the analyzer), the fixtures
//! the traffic they generate. Each caller keeps its own parsing and error messages; what a
//! valid id, amount, currency or timestamp is lives here only.

mod currency;

use std::fmt;

use chrono::{DateTime, FixedOffset};

pub use currency::is_active as is_valid_currency;

/// Longest identifier, in characters (all of them ASCII).
pub const MAX_ID_LEN: usize = 64;
/// Most digits before the decimal point of an amount: minor units then fit an `i64` with room
/// to spare, whatever a consumer parses the amount into.
pub const MAX_AMOUNT_INTEGER_DIGITS: usize = 15;
/// Longest timestamp text: RFC 3339 allows any number of fractional digits, stores need not.
pub const MAX_TIMESTAMP_LEN: usize = 64;

/// Whether `s` is a valid identifier (`id`, `account_id`, ...): 1-64 characters of
/// `[A-Za-z0-9_.:-]`.
pub fn is_valid_id(s: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// Whether `s` is a valid amount (see [`Amount::parse`]).
pub fn is_valid_amount(s: &str) -> bool {
    Amount::parse(s).is_some()
}

/// An RFC 3339 date-time of at most [`MAX_TIMESTAMP_LEN`] characters.
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

/// A positive amount with at most two decimals, held as hundredths of the currency unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount {
    hundredths: i64,
}

impl Amount {
    /// Parses `0|[1-9][0-9]{0,14}` optionally followed by `.` and one or two digits, greater
    /// than zero. No sign, exponent, spaces or leading zeros.
    pub fn parse(text: &str) -> Option<Amount> {
        let (int, frac) = match text.split_once('.') {
            Some((int, frac)) => (int, Some(frac)),
            None => (text, None),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let int_ok = !int.is_empty()
            && int.len() <= MAX_AMOUNT_INTEGER_DIGITS
            && all_digits(int)
            && (int == "0" || !int.starts_with('0'));
        let frac_ok = frac.is_none_or(|f| (1..=2).contains(&f.len()) && all_digits(f));
        if !(int_ok && frac_ok) {
            return None;
        }
        // At most 15 digits: these cannot overflow.
        let whole: i64 = int.parse().ok()?;
        let cents: i64 = match frac {
            None => 0,
            Some(f) if f.len() == 1 => f.parse::<i64>().ok()? * 10,
            Some(f) => f.parse().ok()?,
        };
        let hundredths = whole.checked_mul(100)?.checked_add(cents)?;
        (hundredths > 0).then_some(Amount { hundredths })
    }

    /// The amount in hundredths of the currency unit (cents for most currencies).
    pub fn hundredths(self) -> i64 {
        self.hundredths
    }
}

impl fmt::Display for Amount {
    /// Always two decimals: `12.30`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.hundredths / 100, self.hundredths % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_id("fx:tx-ring1.2_a"));
        assert!(is_valid_id(&"a".repeat(MAX_ID_LEN)));
        for bad in ["", "a b", "é", "a/b", "a\u{0}", &"a".repeat(MAX_ID_LEN + 1)] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn amounts() {
        for (ok, hundredths) in [
            ("12", 1200),
            ("12.5", 1250),
            ("12.50", 1250),
            ("0.01", 1),
            ("0.1", 10),
            ("999999999999999.99", 99_999_999_999_999_999),
        ] {
            assert_eq!(
                Amount::parse(ok).map(Amount::hundredths),
                Some(hundredths),
                "{ok}"
            );
            assert!(is_valid_amount(ok));
        }
        for bad in [
            "",
            "0",
            "0.0",
            "0.00",
            "-1",
            "+1",
            "1.",
            ".5",
            "1.234",
            "01",
            "007.5",
            "1e3",
            " 1",
            "1 ",
            "1,5",
            "NaN",
            "1000000000000000",
        ] {
            assert!(!is_valid_amount(bad), "{bad:?}");
        }
        assert_eq!(Amount::parse("12.3").unwrap().to_string(), "12.30");
        assert_eq!(Amount::parse("7").unwrap().to_string(), "7.00");
    }

    #[test]
    fn timestamps() {
        let t = parse_timestamp("2026-03-02T09:15:00.000Z").unwrap();
        assert_eq!(t.timestamp_millis(), 1_772_442_900_000);
        assert!(is_valid_timestamp("2026-03-02T10:15:00+01:00"));
        for bad in [
            "",
            "2026-03-02",
            "2026-03-02 09:15:00",
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
