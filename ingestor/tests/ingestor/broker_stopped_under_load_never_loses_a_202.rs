//! The broker stopped while the ingestor is under load: `503` while it is away, never a `202`
//! for a record the broker did not take, `202` again once it is back.
//!
//! Workers post distinct transactions without pause on a broker of the test's own while it is
//! stopped cleanly (SIGTERM) and started again on the same port and storage. Afterwards every
//! partition of the topic is read from the beginning: every id that got a `202` is there, once.
//!
//! A `503` promises nothing either way: it says the broker did not acknowledge in time, so the
//! client must retry (with the same id). Its record may still be on the topic: the broker can
//! have written it just as the ack was lost with the connection, or late, after the request's
//! deadline. That retry is then a duplicate, which the analyzer's `MERGE` by id absorbs; what
//! must never happen is a `202` for a record that is not there. The test counts those ids and
//! prints how many reached the topic anyway.

use std::time::{Duration, Instant};

use ingestor::KafkaConfig;

use crate::support::load::{Load, assert_accepted_or_broker_unavailable, tally};
use crate::support::{Harness, private_kafka, unique_topic};

/// Concurrent clients, each posting its next transaction as soon as it has an answer.
const WORKERS: usize = 16;
/// How long a request waits for the broker's ack before its `503`.
const SEND_TIMEOUT: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_stopped_under_load_never_loses_a_202() {
    let topic = unique_topic("outage");
    // Three partitions, as the pipeline's topic has.
    let kafka = private_kafka(&topic, 3).await;
    let config = KafkaConfig::new(kafka.bootstrap_servers())
        .with_topic(&topic)
        .with_send_timeout(SEND_TIMEOUT)
        .with_ready_timeout(Duration::from_millis(300));
    let h = Harness::start_with(config, Some(kafka)).await;
    h.wait_ready().await;

    // The ingestor answers within its send timeout; 30 s only turns a hang into a failure.
    let load = Load::start(&h, "load", WORKERS, Duration::from_secs(30));

    // Under load with the broker up.
    load.wait_for(
        "100 accepted before the outage",
        Duration::from_secs(60),
        100,
        |a| a.status == 202,
    )
    .await;

    let stopping = Instant::now();
    h.stop_broker().await;
    let stopped = Instant::now();
    assert_eq!(
        h.get("/readyz").await.status(),
        503,
        "ready without a broker"
    );
    // Every worker has had at least two requests sent and answered while nothing listened.
    load.wait_for(
        "answers to requests sent during the outage",
        Duration::from_secs(30),
        2 * WORKERS,
        |a| a.sent >= stopped,
    )
    .await;
    let restarting = Instant::now();

    h.restart_broker().await;
    let back = Instant::now();
    load.wait_for(
        "accepted again once the broker is back",
        Duration::from_secs(30),
        100,
        |a| a.sent >= back && a.status == 202,
    )
    .await;
    let first_202_after = load
        .snapshot()
        .iter()
        .filter(|a| a.sent >= back && a.status == 202)
        .map(|a| a.answered.duration_since(back))
        .min()
        .unwrap();
    // librdkafka retries a broker that went away with a backoff the ingestor caps at 1 s (its
    // default grows to 10 s, which kept the ingestor refusing for 8.8 s with the broker back).
    assert!(
        first_202_after <= Duration::from_secs(5),
        "first 202 only {first_202_after:?} after the broker was back"
    );
    let answers = load.stop().await;
    assert_eq!(h.get("/readyz").await.status(), 200, "ready again");
    assert_accepted_or_broker_unavailable(&answers);
    // While the broker was away, every request was refused.
    let away: Vec<_> = answers
        .iter()
        .filter(|a| a.sent >= stopped && a.answered <= restarting)
        .collect();
    assert!(
        away.len() >= WORKERS,
        "only {} requests lay wholly in the outage",
        away.len()
    );
    let accepted_while_away: Vec<_> = away.iter().filter(|a| a.status != 503).collect();
    assert!(
        accepted_while_away.is_empty(),
        "answered while no broker ran: {accepted_while_away:?}"
    );

    // Every 202 is on the topic, exactly once; nothing is there that was not sent.
    let tally = tally(&answers, &h.read_all().await);
    assert_eq!(tally.refused_twice, 0, "refused records written twice");
    println!(
        "requests={} accepted={} refused={} refused_but_on_topic={} \
         wholly_in_outage={} stop_ms={} outage_ms={} restart_ms={} first_202_after_restart_ms={}",
        answers.len(),
        answers.len() - tally.refused,
        tally.refused,
        tally.refused_but_stored,
        away.len(),
        stopped.duration_since(stopping).as_millis(),
        restarting.duration_since(stopped).as_millis(),
        back.duration_since(restarting).as_millis(),
        first_202_after.as_millis(),
    );
    h.stop().await;
}
