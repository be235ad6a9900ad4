//! Only `application/json` (any case, parameters allowed) is read; anything else is a 415.

use serde_json::Value;

use crate::support::{Harness, assert_json, valid};

#[tokio::test]
async fn wrong_content_type_is_415() {
    let h = Harness::start().await;
    let body = valid("ct-1").to_string();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "application/xml",
        "json",
    ] {
        let response = h.post_raw(ct, body.clone()).await;
        assert_eq!(response.status(), 415, "{ct}");
        assert_json(&response);
        let refused: Value = response.json().await.unwrap();
        assert_eq!(refused["error"], "unsupported_media_type");
        assert_eq!(refused["field"], Value::Null);
    }

    // No Content-Type at all.
    let response = h
        .http
        .post(format!("{}/transactions", h.base))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415, "missing content type");

    for (i, ct) in ["application/json; charset=utf-8", "Application/JSON"]
        .into_iter()
        .enumerate()
    {
        let response = h
            .post_raw(ct, valid(&format!("ct-ok-{i}")).to_string())
            .await;
        assert_eq!(response.status(), 202, "{ct}");
    }
    h.stop().await;
}
