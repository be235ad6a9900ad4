//! A body of 64 KiB is read; one byte more is a 413 with a JSON body, whatever the Content-Length
//! says.

use ingestor::MAX_BODY_BYTES;
use serde_json::Value;

use crate::support::{Harness, assert_json, valid};

fn padded(id: &str, len: usize) -> Vec<u8> {
    // JSON allows any amount of whitespace: pad a valid body to exactly `len` bytes.
    let mut body = valid(id).to_string().into_bytes();
    body.resize(len, b' ');
    body
}

#[tokio::test]
async fn body_over_64_kib_is_413() {
    let h = Harness::start().await;
    assert_eq!(MAX_BODY_BYTES, 65_536);

    let response = h
        .post_raw("application/json", padded("big-ok", MAX_BODY_BYTES))
        .await;
    assert_eq!(response.status(), 202, "exactly 64 KiB is accepted");

    for len in [MAX_BODY_BYTES + 1, 1 << 20] {
        let response = h.post_raw("application/json", padded("big-no", len)).await;
        assert_eq!(response.status(), 413, "{len} bytes");
        assert_json(&response);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "payload_too_large");
        assert_eq!(body["field"], Value::Null);
    }

    // Chunked (no Content-Length): the limit holds while streaming.
    let status = post_chunked(&h, &padded("big-chunked", MAX_BODY_BYTES + 100)).await;
    assert_eq!(status, 413, "chunked");
    h.stop().await;
}

/// Sends `body` in 8 KiB chunks of a stream of unknown length, which reqwest sends with
/// `Transfer-Encoding: chunked` and no Content-Length; returns the status code.
async fn post_chunked(h: &Harness, body: &[u8]) -> u16 {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(8192).map(|chunk| Ok(chunk.to_vec())).collect();
    let response = h
        .http
        .post(format!("{}/transactions", h.base))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("the ingestor must answer");
    response.status().as_u16()
}
