//! The amount: a positive decimal with at most two decimals, held exactly in hundredths.

use std::fmt;

/// Most digits before the decimal point of an amount: minor units then fit an `i64` with room
/// to spare, whatever a consumer parses the amount into.
pub const MAX_AMOUNT_INTEGER_DIGITS: usize = 15;

/// A positive amount with at most two decimals, held as hundredths of the currency unit.
///
/// The same text rule serves an amount sent as a JSON string (`"129.95"`) and one sent as a
/// JSON number (`129.95`, read from the number's text): no float is ever involved, so
/// `129.95` is exactly 12,995 hundredths.
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
    fn amounts() {
        for (ok, hundredths) in [
            ("1", 100),
            ("12", 1200),
            ("12.5", 1250),
            ("12.50", 1250),
            ("12.34", 1234),
            ("0.01", 1),
            ("0.1", 10),
            ("10.5", 1050),
            ("100", 10_000),
            ("999999999999999.99", 99_999_999_999_999_999),
        ] {
            assert_eq!(
                Amount::parse(ok).map(Amount::hundredths),
                Some(hundredths),
                "{ok}"
            );
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
            "00.5",
            "007.5",
            "1e3",
            "1E3",
            " 1",
            "1 ",
            "1,5",
            "1,00",
            "NaN",
            "0x10",
            "１",
            "1000000000000000",
        ] {
            assert_eq!(Amount::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn display_has_two_decimals() {
        assert_eq!(Amount::parse("12.3").unwrap().to_string(), "12.30");
        assert_eq!(Amount::parse("7").unwrap().to_string(), "7.00");
        assert_eq!(Amount::parse("0.05").unwrap().to_string(), "0.05");
    }
}
