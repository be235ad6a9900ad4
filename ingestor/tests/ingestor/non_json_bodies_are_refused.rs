//! Bodies that are not a JSON object are a 400 with a JSON error body, never a 5xx.

use crate::support::{Harness, assert_refused};

#[tokio::test]
async fn non_json_bodies_are_refused() {
    let h = Harness::start().await;
    for body in [
        &b""[..],
        b"not json",
        b"id=tx-1&amount=12.34",
        b"{\"id\":\"tx-1\"",
        b"{\"id\":\"tx-1\"} trailing",
        b"{'id':'tx-1'}",
        b"{\"id\":\"\xff\xfe\"}",
        b"\xef\xbb\xbf{}",
    ] {
        let response = h.post_raw("application/json", body.to_vec()).await;
        let refused = assert_refused(response, "invalid_json", None).await;
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("not valid JSON")
        );
    }
    for body in [
        "[]",
        "[{\"id\":\"tx-1\"}]",
        "\"4111111111111111\"",
        "12.34",
        "null",
        "true",
    ] {
        let response = h.post_raw("application/json", body.to_owned()).await;
        let refused = assert_refused(response, "not_an_object", None).await;
        assert!(!refused.to_string().contains("4111"), "{refused}");
    }
    // Deeply nested garbage is refused, not a stack overflow.
    let deep = format!("{{\"id\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let response = h.post_raw("application/json", deep).await;
    assert_eq!(response.status(), 400);
    h.stop().await;
}
