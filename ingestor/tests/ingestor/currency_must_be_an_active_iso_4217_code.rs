//! `currency` must be an active ISO 4217 currency code, not merely three capital letters.

use serde_json::json;

use crate::support::{Harness, assert_refused, with};

#[tokio::test]
async fn currency_must_be_an_active_iso_4217_code() {
    let h = Harness::start().await;
    for (i, ok) in [
        "EUR", "USD", "JPY", "GBP", "CHF", "BRL", "INR", "XOF", "XCG", "ZWG", "SLE",
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = with("currency", json!(ok));
        body["id"] = json!(format!("currency-ok-{i}"));
        assert_eq!(h.post(&body).await.status(), 202, "currency {ok}");
    }
    for bad in [
        // three capital letters that are not ISO 4217 codes
        "ABC", "EUX", "QQQ", // withdrawn codes
        "DEM", "FRF", "HRK", "ANG", "ZWL", // codes that are not money one can pay with
        "XXX", "XTS", "XAU", "XDR", // malformed
        "eur", "Eur", "EU", "EURO", "", " EUR", "€", "978",
    ] {
        let body = with("currency", json!(bad));
        assert_refused(h.post(&body).await, "invalid_value", Some("currency")).await;
    }
    assert_refused(
        h.post(&with("currency", json!(978))).await,
        "invalid_type",
        Some("currency"),
    )
    .await;
    h.stop().await;
}
