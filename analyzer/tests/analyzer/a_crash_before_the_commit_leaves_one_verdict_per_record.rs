//! Exactly-once through a crash: an analyzer killed with its verdicts produced but their
//! transaction not committed leaves nothing a `read_committed` reader sees; restarted with the
//! same instance id, it fences that transaction (aborted), processes the records again, and
//! each gets exactly one committed verdict. A `read_uncommitted` reader sees both copies: the
//! transaction, not luck, kept the first ones out.

use std::time::Duration;

use fixtures::testkit::{send_signal, unique, wait_exit};

use crate::support::*;

const RECORDS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_the_commit_leaves_one_verdict_per_record() {
    let h = Harness::start("crash", 2).await;
    let instance = unique("analyzer");
    let run = unique("crash");
    let ids: Vec<String> = (0..RECORDS).map(|i| format!("{run}-{i}")).collect();

    // The first incarnation never commits on its own (a ten-minute interval).
    let mut first = spawn(&h, &instance, "600000");
    let mut uncommitted = TopicReader::uncommitted(&h.brokers, &h.verdict_topic);
    for id in &ids {
        h.produce(id, ordinary(id).as_bytes()).await;
    }
    // Every verdict is in the log, inside the open transaction.
    uncommitted.wait_for(RECORDS, WAIT).await;
    send_signal(first.0.id(), "KILL");
    tokio::task::block_in_place(|| wait_exit(&mut first.0, Duration::from_secs(10)));
    assert_eq!(
        h.committed_total(2),
        0,
        "nothing committed before the crash"
    );

    let mut second = spawn(&h, &instance, "100");
    let committed = h.verdicts().wait_for(RECORDS, WAIT).await;
    let by_id = verdicts_by_id(&committed);
    for id in &ids {
        assert_eq!(
            by_id.get(id).map(Vec::len),
            Some(1),
            "one committed verdict for {id}"
        );
    }
    h.wait_committed_total(2, RECORDS as i64).await;
    send_signal(second.0.id(), "TERM");
    let exit = tokio::task::block_in_place(|| wait_exit(&mut second.0, Duration::from_secs(30)));
    assert_eq!(exit.code(), Some(0));

    assert_eq!(
        verdicts_by_id(&h.verdicts().read_to_end().await).len(),
        RECORDS,
        "still one each after the shutdown"
    );
    let all = uncommitted.read_to_end().await;
    assert_eq!(all.len(), 2 * RECORDS, "the aborted copies are in the log");
    assert!(
        verdicts_by_id(&all).values().all(|v| v.len() == 2),
        "one aborted and one committed verdict per record"
    );
}

/// The analyzer binary as an operator runs it, with `instance` as its instance id.
fn spawn(h: &Harness, instance: &str, commit_interval_ms: &str) -> KillOnDrop {
    KillOnDrop(
        h.binary()
            .env("ANALYZER_STATS_ADDR", "127.0.0.1:0")
            .env("ANALYZER_INSTANCE_ID", instance)
            .env("ANALYZER_COMMIT_INTERVAL_MS", commit_interval_ms)
            .spawn()
            .expect("the analyzer binary starts"),
    )
}
