//! Active ISO 4217 currency codes.
//!
//! The same set the ingestor accepts: the national and regional currencies plus the fund codes
//! (`BOV`, `CHE`, `CHW`, `CLF`, `COU`, `MXV`, `USN`, `UYI`, `UYW`), which are quoted in real
//! contracts. Not money a card can pay in, so left out: precious metals (`XAU`, `XAG`, `XPD`,
//! `XPT`), bond-market units (`XBA`..`XBD`), `XDR`, `XSU`, `XUA`, the test code `XTS` and `XXX`.
//! Withdrawn codes are out (`HRK`, `SLL`, `ZWL`, `ANG`, `BGN`), their successors in (`EUR`,
//! `SLE`, `ZWG`, `XCG`).

/// Sorted, so membership is a binary search.
const CODES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD",
    "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE", "CZK",
    "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS",
    "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD",
    "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD",
    "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT",
    "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK",
    "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
    "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP",
    "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS",
    "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST",
    "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// Whether `code` is an active ISO 4217 code (exactly, upper case).
pub(crate) fn is_active(code: &str) -> bool {
    CODES.binary_search(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_unique_and_well_formed() {
        assert!(CODES.windows(2).all(|w| w[0] < w[1]));
        assert!(
            CODES
                .iter()
                .all(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
    }

    #[test]
    fn real_codes_pass_and_others_do_not() {
        for ok in [
            "EUR", "USD", "JPY", "GBP", "CHF", "XOF", "XCG", "SLE", "ZWG", "CLF",
        ] {
            assert!(is_active(ok), "{ok}");
        }
        for bad in [
            "XXX", "XTS", "XAU", "XDR", "HRK", "ANG", "ZWL", "BGN", "ABC", "usd", "US", "USDD", "",
        ] {
            assert!(!is_active(bad), "{bad}");
        }
    }
}
