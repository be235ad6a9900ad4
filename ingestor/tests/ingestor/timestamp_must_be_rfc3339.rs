//! `timestamp` must be an RFC 3339 date-time (with an offset).

use serde_json::json;

use crate::support::{Harness, assert_refused, with};

#[tokio::test]
async fn timestamp_must_be_rfc3339() {
    let h = Harness::start().await;
    for (i, ok) in [
        "2024-05-01T12:00:00Z",
        "2024-05-01T12:00:00.123Z",
        "2024-05-01T12:00:00.123456789+02:00",
        "2024-05-01T12:00:00-05:30",
        "2024-02-29T23:59:59Z",
        "2024-05-01t12:00:00z",
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = with("timestamp", json!(ok));
        body["id"] = json!(format!("ts-ok-{i}"));
        assert_eq!(h.post(&body).await.status(), 202, "timestamp {ok}");
    }
    let long_fraction = format!("2024-05-01T12:00:00.{}Z", "1".repeat(50));
    for bad in [
        "2024-05-01",
        "2024-05-01T12:00:00",
        "2024-05-01 12:00",
        "2023-02-29T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-05-01T24:00:01Z",
        "2024-05-01T12:00:00+25:00",
        "01/05/2024 12:00",
        "1714564800",
        "yesterday",
        "",
        long_fraction.as_str(),
    ] {
        let body = with("timestamp", json!(bad));
        assert_refused(h.post(&body).await, "invalid_value", Some("timestamp")).await;
    }
    assert_refused(
        h.post(&with("timestamp", json!(1714564800))).await,
        "invalid_type",
        Some("timestamp"),
    )
    .await;
    h.stop().await;
}
