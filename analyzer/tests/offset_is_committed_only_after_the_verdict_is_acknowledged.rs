//! A record whose verdict was never acknowledged is not committed: an analyzer stopped while
//! the record is still being retried leaves the group's offset before it, and the next
//! analyzer of the group receives it again and answers it. The record before it, answered,
//! is committed.

mod support;

use std::time::Duration;

use analyzer::RetryPolicy;
use rdkafka::message::Message;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_is_committed_only_after_the_verdict_is_acknowledged() {
    let h = Harness::start("offsets", 1).await;
    let mut config = h.config();
    // Retries that outlast the test's patience: the record stays in flight until shutdown.
    config.retry = RetryPolicy::new(1_000, Duration::from_millis(50), Duration::from_millis(200))
        .with_attempt_timeout(Duration::from_secs(5));

    let first = h.spawn(config.clone()).await;
    let mut verdicts = h.verdicts();
    let answered = unique("answered");
    h.produce(&answered, ordinary(&answered).as_bytes()).await;
    verdicts.wait_for(1, WAIT).await;
    // Committed asynchronously every 200 ms: offset 0 answered, so the group resumes at 1.
    let deadline = std::time::Instant::now() + WAIT;
    while h.committed(0) != Some(1) {
        assert!(std::time::Instant::now() < deadline, "offset 1 committed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    h.stack.falkordb().expect("FalkorDB").kill().unwrap();
    let pending = unique("pending");
    let (pending_trace, _) = h.produce(&pending, ordinary(&pending).as_bytes()).await;
    // Wait until the record is being retried (its failed first attempt is a span).
    wait_for_trace(pending_trace, |s| s.iter().any(|x| x.name == "attempt 1")).await;
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
    assert!(verdicts.drain_for(Duration::from_millis(300)).await.len() == 1);

    tokio::task::block_in_place(|| h.stack.falkordb().expect("FalkorDB").restart()).unwrap();
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
}
