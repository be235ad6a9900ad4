//! With exactly-once, a verdict the broker refuses every time (here: the verdicts topic's
//! `max.message.bytes` below the verdict's size, so Kafka answers `MESSAGE_TOO_LARGE`) dooms
//! each transaction it is in. Each is aborted and its record processed again, with a
//! `transaction aborted` span in the record's trace; after the retry policy's attempts the
//! record goes to the DLQ as `verdict_undeliverable`, its offset is committed, and no verdict
//! of it is ever visible to a `read_committed` reader. Once the topic takes verdicts again, the
//! next record gets its verdict: the analyzer did not stop.

use std::time::Duration;

use analyzer::dlq;
use fixtures::testkit::unique;
use opentelemetry::trace::Status;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

use crate::support::*;

/// Smaller than any verdict with its trace headers, larger than a transaction marker.
const TOO_SMALL: &str = "200";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeliverable_verdict_goes_to_the_dlq_and_the_partition_moves_on() {
    let h = Harness::start("undeliverable", 1).await;
    set_max_message_bytes(&h, Some(TOO_SMALL)).await;
    let config = h.config();
    let attempts = config.retry.max_attempts;
    let running = h.spawn(config).await;
    let mut dlq_reader = h.dlq();

    let refused_id = unique("refused");
    let (trace_id, _) = h
        .produce(&refused_id, ordinary(&refused_id).as_bytes())
        .await;
    let dead = dlq_reader.wait_for(1, WAIT).await;
    assert_eq!(
        header_values(&dead[0], dlq::ERROR_TYPE),
        ["verdict_undeliverable"],
        "{:?}",
        header_pairs(&dead[0])
    );
    assert_eq!(
        traceparent_trace_id(&dead[0]),
        Some(trace_id),
        "the record's own trace"
    );
    h.wait_committed_total(1, 1).await;

    // Every attempt's transaction aborted, each marked in the record's trace.
    let spans = wait_for_trace(trace_id, |s| {
        s.iter().filter(|x| x.name == "transaction aborted").count() >= attempts as usize
    })
    .await;
    let aborted: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "transaction aborted")
        .collect();
    assert_eq!(aborted.len(), attempts as usize, "one per attempt");
    for span in &aborted {
        assert!(matches!(span.status, Status::Error { .. }), "{span:?}");
    }

    // The verdicts topic takes verdicts again: the partition moves on.
    set_max_message_bytes(&h, None).await;
    let next_id = unique("next");
    h.produce(&next_id, ordinary(&next_id).as_bytes()).await;
    let verdicts = verdicts_by_id(&h.verdicts().wait_for(1, WAIT).await);
    assert_eq!(
        verdicts.get(&next_id).map(Vec::len),
        Some(1),
        "{verdicts:?}"
    );

    let counts = running.stop().await;
    assert_eq!((counts.dead_lettered, counts.verdicts), (1, 1));
    assert_eq!(h.committed(0), Some(2));
    let all = verdicts_by_id(&h.verdicts().read_to_end().await);
    assert!(
        !all.contains_key(&refused_id),
        "no verdict of the refused record is visible: {all:?}"
    );
}

/// Sets the verdicts topic's `max.message.bytes`, or back to the broker's default with `None`
/// (an incremental delete is not in rdkafka's API; the default is `message.max.bytes`').
async fn set_max_message_bytes(h: &Harness, value: Option<&str>) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", h.env()[0].1.as_str())
        .create()
        .expect("an admin client");
    let value = value.unwrap_or("1048588");
    let alter = AlterConfig::new(ResourceSpecifier::Topic(&h.verdict_topic))
        .set("max.message.bytes", value);
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .alter_configs([&alter], &options)
        .await
        .expect("AlterConfigs answered");
    for result in results {
        result.unwrap_or_else(|e| panic!("max.message.bytes={value} refused: {e:?}"));
    }
}
