//! A record whose verdict was never acknowledged is not committed: an analyzer stopped while
//! the record is still being retried leaves the group's offset before it, and the next
//! analyzer of the group receives it again and answers it. The record before it, answered,
//! is committed.
//!
//! What keeps the record from succeeding is a real Neo4j transaction, not an outage: the test
//! holds the write lock on the record's card in a transaction of its own, so every attempt
//! waits on the lock until its timeout, and the shared database stays up for everyone else.
//! Rolling that transaction back lets the next analyzer through.

use std::time::Duration;

use analyzer::RetryPolicy;
use fixtures::testkit::{attr, unique, wait_until};
use rdkafka::message::Message;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_is_committed_only_after_the_verdict_is_acknowledged() {
    let h = Harness::start("offsets", 1).await;
    let mut config = h.config();
    // Retries that outlast the test's patience: the record stays in flight until shutdown.
    config.retry = RetryPolicy::new(1_000, Duration::from_millis(50), Duration::from_millis(200))
        .with_attempt_timeout(Duration::from_secs(2));

    let first = h.spawn(config.clone()).await;
    let mut verdicts = h.verdicts();
    let answered = unique("answered");
    h.produce(&answered, ordinary(&answered).as_bytes()).await;
    verdicts.wait_for(1, WAIT).await;
    // Committed asynchronously every 200 ms: offset 0 answered, so the group resumes at 1.
    wait_until("offset 1 committed", WAIT, || {
        tokio::task::block_in_place(|| h.committed(0)) == Some(1)
    })
    .await;

    // The pending record's card exists already, write-locked by an open transaction: linking
    // the record to it has to wait for the lock.
    let pending = unique("pending");
    let card = format!("{pending}-card");
    let graph = h.graph();
    graph
        .run(neo4rs::query("CREATE (:Card {id: $id})").param("id", card.as_str()))
        .await
        .expect("the card is created");
    let mut lock = graph
        .start_txn()
        .await
        .expect("a transaction of the test's");
    lock.run(
        neo4rs::query("MATCH (c:Card {id: $id}) SET c.held = true").param("id", card.as_str()),
    )
    .await
    .expect("the card is write-locked");

    let (pending_trace, _) = h.produce(&pending, ordinary(&pending).as_bytes()).await;
    // Wait until the record is being retried (its failed first attempt is a span).
    let spans = wait_for_trace(pending_trace, |s| s.iter().any(|x| x.name == "attempt 1")).await;
    let attempt = spans.iter().find(|s| s.name == "attempt 1").unwrap();
    assert_eq!(
        attr(attempt, "error.type").as_deref(),
        Some("timeout"),
        "the attempt waited on the lock until its timeout"
    );
    let counts = first.stop().await;
    assert_eq!(counts.verdicts, 1);
    assert_eq!(
        counts.interrupted, 1,
        "the record in hand was left unacknowledged"
    );
    assert_eq!(
        h.committed(0),
        Some(1),
        "the unanswered record is not committed"
    );
    assert_eq!(
        verdicts.read_to_end().await.len(),
        1,
        "no verdict for the record in flight"
    );

    lock.rollback().await.expect("the lock is released");
    let second = h.spawn(config).await;
    let records = verdicts.wait_for(2, WAIT).await;
    assert_eq!(
        records[1].key(),
        Some(pending.as_bytes()),
        "delivered again and answered"
    );
    let by_id = verdicts_by_id(&records);
    assert_eq!(by_id[&pending].len(), 1);
    assert_eq!(
        by_id[&answered].len(),
        1,
        "the committed record is not delivered again"
    );

    let counts = second.stop().await;
    assert_eq!(counts.verdicts, 1);
    assert_eq!(h.committed(0), Some(2));
    let linked = count(
        &graph,
        "MATCH (:Transaction {id: $prefix})-[:PAID_WITH]->(c:Card) RETURN count(c) AS n",
        &pending,
    )
    .await;
    assert_eq!(linked, 1, "written once, to the card that was locked");
}
