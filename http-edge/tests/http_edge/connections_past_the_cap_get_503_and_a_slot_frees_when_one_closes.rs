//! Past the cap on open connections a new connection is answered a minimal `503` with
//! `Retry-After` and closed at once, whether it sent its request already or not; the
//! connections already open keep being served, and a slot frees when one of them closes.

use std::time::{Duration, Instant};

use fixtures::testkit::eventually;
use http_edge::EdgeLimits;

use crate::support::{Answer, Client, Edge, End, request};

const CAP: usize = 3;

#[tokio::test]
async fn connections_past_the_cap_get_503_and_a_slot_frees_when_one_closes() {
    let edge = Edge::start(
        EdgeLimits::default()
            .with_max_connections(CAP)
            .with_retry_after(Duration::from_secs(7)),
    )
    .await;
    let mut open = Vec::new();
    for _ in 0..CAP {
        let mut client = Client::connect(edge.addr).await;
        assert_eq!(client.get("/hello").await.status, 200);
        open.push(client);
    }

    // A client that sends its request, as HTTP clients do, then reads.
    let started = Instant::now();
    let mut refused = Client::connect(edge.addr).await;
    refused.send(request("/hello").as_bytes()).await;
    let answer = refused.answer().await.expect("an answer before the close");
    assert_refusal(&answer);
    assert_eq!(
        refused.end_within(Duration::from_secs(2)).await,
        End::Closed
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once"
    );

    // One that reads before it sends anything sees the same.
    let mut silent = Client::connect(edge.addr).await;
    assert_refusal(&silent.answer().await.expect("an answer before the close"));
    assert_eq!(edge.stats().refused_connections, 2);

    // The connections under the cap are served as before.
    for client in &mut open {
        assert_eq!(client.get("/hello").await.status, 200);
    }

    // Closing one frees its slot (once the server has seen the close).
    drop(open.pop());
    eventually(
        "a new connection to be served once a slot is free",
        Duration::from_secs(5),
        || async {
            let mut client = Client::connect(edge.addr).await;
            client.send(request("/hello").as_bytes()).await;
            client.answer().await.filter(|a| a.status == 200)
        },
    )
    .await;
    assert_eq!(edge.stats().open_connections, CAP);
}

fn assert_refusal(answer: &Answer) {
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.header("retry-after"), Some("7"), "{answer:?}");
    assert_eq!(answer.header("connection"), Some("close"), "{answer:?}");
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{answer:?}"
    );
    assert!(
        answer.body.contains(r#""error":"overloaded""#),
        "{answer:?}"
    );
}
