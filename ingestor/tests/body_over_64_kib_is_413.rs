//! A body of 64 KiB is read; one byte more is a 413 with a JSON body, whatever the Content-Length
//! says.

mod support;

use ingestor::MAX_BODY_BYTES;
use serde_json::Value;
use support::{Harness, assert_json, valid};

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
    let status = post_chunked(&h.base, &padded("big-chunked", MAX_BODY_BYTES + 100)).await;
    assert_eq!(status, 413, "chunked");
    h.stop().await;
}

/// Sends `body` with `Transfer-Encoding: chunked` over a raw socket; returns the status code.
async fn post_chunked(base: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /transactions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8192) {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        // The server may answer and close before the whole body is sent.
        if socket.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = socket.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"))
}
