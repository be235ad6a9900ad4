//! A timestamp more than the future margin (5 minutes unless configured) ahead of the server's
//! clock is refused with its own code and message: dated in the year 9999, a transaction would
//! sit outside every fraud window forever. One within the margin is accepted.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::json;

use crate::support::{Harness, assert_refused, valid, with};

/// Now plus `ahead`, as RFC 3339.
fn ahead(ahead: Duration) -> String {
    (Utc::now() + ahead).to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[tokio::test]
async fn timestamp_beyond_the_future_margin_is_refused() {
    let h = Harness::start().await;
    for (i, ok) in [ahead(Duration::ZERO), ahead(Duration::from_secs(60))]
        .into_iter()
        .enumerate()
    {
        let mut body = valid(&format!("ts-near-{i}"));
        body["timestamp"] = json!(ok);
        assert_eq!(h.post(&body).await.status(), 202, "timestamp {ok}");
    }
    for bad in [
        "9999-12-31T23:59:59Z".to_owned(),
        "9999-01-01T00:00:00+14:00".to_owned(),
        ahead(Duration::from_secs(10 * 60)),
    ] {
        let refused = assert_refused(
            h.post(&with("timestamp", json!(bad))).await,
            "timestamp_in_future",
            Some("timestamp"),
        )
        .await;
        let message = refused["message"].as_str().unwrap();
        assert_eq!(
            message,
            "field 'timestamp' must not be more than 300 seconds ahead of the server's clock"
        );
        assert!(!message.contains(&bad[..4]), "{message}");
    }
    h.stop().await;

    // A configured margin moves the line.
    let h =
        Harness::start_with_options(|state| state.with_future_margin(Duration::from_secs(3600)))
            .await;
    let mut body = valid("ts-within-an-hour");
    body["timestamp"] = json!(ahead(Duration::from_secs(30 * 60)));
    assert_eq!(h.post(&body).await.status(), 202);
    let refused = assert_refused(
        h.post(&with(
            "timestamp",
            json!(ahead(Duration::from_secs(2 * 3600))),
        ))
        .await,
        "timestamp_in_future",
        Some("timestamp"),
    )
    .await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("3600 seconds"),
        "{refused}"
    );
    h.stop().await;
}
