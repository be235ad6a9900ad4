//! The ISO 4217 currency codes a transaction may carry.
//!
//! The table is ISO 4217 List One as amended through 2026, restricted to codes that name money
//! one can pay with: the national and regional currencies plus the fund codes (`BOV`, `CHE`,
//! `CLF`, ...), which carry minor units and are quoted in real contracts. Left out on purpose:
//! precious metals (`XAU`, `XAG`, `XPD`, `XPT`), bond-market units (`XBA`..`XBD`), `XDR`, `XSU`,
//! `XUA`, the testing code `XTS` and `XXX` ("no currency"), none of which a card payment can be
//! denominated in; and codes withdrawn from the list (`HRK` 2023, `SLL` 2024, `ZWL` 2024,
//! `ANG` 2025, `BGN` 2026). Their replacements (`SLE`, `ZWG`, `XCG`, `EUR`) are in.

/// Active codes, sorted so that a lookup is a binary search over 3-byte arrays.
const ACTIVE: [[u8; 3]; 165] = [
    *b"AED", *b"AFN", *b"ALL", *b"AMD", *b"AOA", *b"ARS", *b"AUD", *b"AWG", *b"AZN", *b"BAM",
    *b"BBD", *b"BDT", *b"BHD", *b"BIF", *b"BMD", *b"BND", *b"BOB", *b"BOV", *b"BRL", *b"BSD",
    *b"BTN", *b"BWP", *b"BYN", *b"BZD", *b"CAD", *b"CDF", *b"CHE", *b"CHF", *b"CHW", *b"CLF",
    *b"CLP", *b"CNY", *b"COP", *b"COU", *b"CRC", *b"CUC", *b"CUP", *b"CVE", *b"CZK", *b"DJF",
    *b"DKK", *b"DOP", *b"DZD", *b"EGP", *b"ERN", *b"ETB", *b"EUR", *b"FJD", *b"FKP", *b"GBP",
    *b"GEL", *b"GHS", *b"GIP", *b"GMD", *b"GNF", *b"GTQ", *b"GYD", *b"HKD", *b"HNL", *b"HTG",
    *b"HUF", *b"IDR", *b"ILS", *b"INR", *b"IQD", *b"IRR", *b"ISK", *b"JMD", *b"JOD", *b"JPY",
    *b"KES", *b"KGS", *b"KHR", *b"KMF", *b"KPW", *b"KRW", *b"KWD", *b"KYD", *b"KZT", *b"LAK",
    *b"LBP", *b"LKR", *b"LRD", *b"LSL", *b"LYD", *b"MAD", *b"MDL", *b"MGA", *b"MKD", *b"MMK",
    *b"MNT", *b"MOP", *b"MRU", *b"MUR", *b"MVR", *b"MWK", *b"MXN", *b"MXV", *b"MYR", *b"MZN",
    *b"NAD", *b"NGN", *b"NIO", *b"NOK", *b"NPR", *b"NZD", *b"OMR", *b"PAB", *b"PEN", *b"PGK",
    *b"PHP", *b"PKR", *b"PLN", *b"PYG", *b"QAR", *b"RON", *b"RSD", *b"RUB", *b"RWF", *b"SAR",
    *b"SBD", *b"SCR", *b"SDG", *b"SEK", *b"SGD", *b"SHP", *b"SLE", *b"SOS", *b"SRD", *b"SSP",
    *b"STN", *b"SVC", *b"SYP", *b"SZL", *b"THB", *b"TJS", *b"TMT", *b"TND", *b"TOP", *b"TRY",
    *b"TTD", *b"TWD", *b"TZS", *b"UAH", *b"UGX", *b"USD", *b"USN", *b"UYI", *b"UYU", *b"UYW",
    *b"UZS", *b"VED", *b"VES", *b"VND", *b"VUV", *b"WST", *b"XAF", *b"XCD", *b"XCG", *b"XOF",
    *b"XPF", *b"YER", *b"ZAR", *b"ZMW", *b"ZWG",
];

/// Whether `code` is an active ISO 4217 currency code (exact, upper case).
pub fn is_active(code: &str) -> bool {
    match <[u8; 3]>::try_from(code.as_bytes()) {
        Ok(code) => ACTIVE.binary_search(&code).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_without_duplicates() {
        assert!(ACTIVE.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn accepts_active_codes() {
        for code in [
            "USD", "EUR", "JPY", "GBP", "CHF", "BRL", "XOF", "XCG", "ZWG", "SLE", "CLF",
        ] {
            assert!(is_active(code), "{code}");
        }
    }

    #[test]
    fn rejects_non_currencies_withdrawn_and_malformed_codes() {
        for code in [
            "XXX", "XTS", "XAU", "XDR", "XBA", "HRK", "ANG", "ZWL", "BGN", "DEM", "ABC", "usd",
            "Usd", "US", "USDD", "", "U$D",
        ] {
            assert!(!is_active(code), "{code}");
        }
    }
}
