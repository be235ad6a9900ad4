//! Apache Kafka's broker is stopped under a running analyzer and started again: the analyzer
//! carries on from its group's committed offsets. Every record, answered before the stop,
//! produced while the broker was away (held by the producer until it is back) or after it
//! returned, gets exactly one verdict, is written into the graph once, and is committed; none
//! is processed twice and none is dead-lettered.

use fixtures::testkit::unique;

use crate::support::*;

const PARTITIONS: i32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_resumes_from_committed_offsets_and_writes_nothing_twice() {
    let h = Harness::start_with("broker-restart", PARTITIONS, Private::Kafka).await;
    let running = h.spawn(h.config()).await;
    let mut verdicts = h.verdicts();
    let ids =
        |phase: &str| -> Vec<String> { (0..6).map(|i| unique(&format!("{phase}{i}"))).collect() };

    // Before: answered and committed, so a resumed group must not read them again.
    let before = ids("before");
    for (i, id) in before.iter().enumerate() {
        h.produce_plain(id, ordinary(id).as_bytes(), i as i32 % PARTITIONS)
            .await;
    }
    verdicts.wait_for(before.len(), WAIT).await;
    h.wait_committed_total(PARTITIONS, before.len() as i64)
        .await;

    let kafka = h.private_kafka();
    let broker = kafka.broker_ids()[0];
    tokio::task::block_in_place(|| kafka.stop_broker(broker)).expect("the broker stops");

    // During: queued by the producer while the broker is away, delivered when it is back.
    let during = ids("during");
    let deliveries: Vec<_> = during
        .iter()
        .enumerate()
        .map(|(i, id)| h.send_plain(id, ordinary(id).as_bytes(), i as i32 % PARTITIONS))
        .collect();
    tokio::task::block_in_place(|| kafka.restart_broker(broker)).expect("broker restarts");
    for delivery in deliveries {
        tokio::time::timeout(WAIT, delivery)
            .await
            .expect("delivered after the restart")
            .expect("acknowledged after the restart");
    }

    // After: the analyzer's group is working again.
    let after = ids("after");
    for (i, id) in after.iter().enumerate() {
        h.produce_plain(id, ordinary(id).as_bytes(), i as i32 % PARTITIONS)
            .await;
    }

    let all_ids: Vec<&String> = before.iter().chain(&during).chain(&after).collect();
    let total = all_ids.len();
    verdicts.wait_for(total, WAIT).await;
    h.wait_committed_total(PARTITIONS, total as i64).await;
    // Stopped, the analyzer writes nothing more: the topics' ends are final.
    let counts = running.stop().await;
    let records = verdicts.read_to_end().await;
    let by_id = verdicts_by_id(&records);
    for id in &all_ids {
        assert_eq!(
            by_id.get(*id).map(Vec::len),
            Some(1),
            "exactly one verdict for {id}"
        );
    }
    assert_eq!(records.len(), total, "no record answered twice");
    assert!(
        h.dlq().read_to_end().await.is_empty(),
        "nothing dead-lettered"
    );

    let graph = h.graph();
    for id in &all_ids {
        assert_stored_once(&graph, id).await;
    }

    assert_eq!(
        counts.verdicts as usize, total,
        "the analyzer processed each record once"
    );
    assert_eq!(counts.dead_lettered, 0);
    assert_eq!(h.committed_total(PARTITIONS), total as i64);
}
