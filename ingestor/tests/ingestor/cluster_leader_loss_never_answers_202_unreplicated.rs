//! The ingestor on a three-broker cluster (replication factor 3, `min.insync.replicas=2`, the
//! producer's `acks=all`): a `202` means the record is on two brokers at least.
//!
//! Two ingestors serve the same topic (one partition, so it has one leader), each under load
//! from workers posting distinct transactions without pause:
//! - a patient one (a send timeout longer than the cluster takes to fence a dead broker) while
//!   the partition's leader is SIGKILLed: requests wait for the new leader and every one of
//!   them is answered `202`; the longest wait is measured;
//! - an impatient one (a 2 s send timeout) while a second broker is killed, leaving one
//!   replica, below `min.insync.replicas`: every request is answered `503`, and only after the
//!   send timeout, never `202`; once both brokers are back, `202` again.
//!
//! Afterwards the topic is read from the beginning: every `202` of either ingestor is there,
//! once, and nothing nobody sent. A `503` promises nothing either way (see
//! `broker_stopped_under_load_never_loses_a_202`); the test prints how many reached the topic,
//! and how many twice: with fewer in-sync replicas than `min.insync.replicas` the leader
//! appends a record before it finds the replicas missing (`NOT_ENOUGH_REPLICAS_AFTER_APPEND`),
//! and a copy librdkafka sends again after its request timed out is not deduplicated, so a
//! refused record can show up later, even twice (seen in about one run in four). Each copy is
//! a record of its own downstream, with a verdict of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fixtures::testkit::eventually;
use fixtures::{ApacheKafka, ApacheKafkaOptions};
use ingestor::KafkaConfig;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::support::load::{Answer, Load, assert_accepted_or_broker_unavailable, tally};
use crate::support::{Harness, unique_topic};

/// Concurrent clients per ingestor, each posting its next transaction once it has an answer.
const WORKERS: usize = 8;
/// The patient ingestor's send timeout: well over the 6 s the cluster takes to fence a broker
/// that stopped heart-beating and elect a new leader.
const PATIENT: Duration = Duration::from_secs(30);
/// The impatient ingestor's send timeout.
const IMPATIENT: Duration = Duration::from_secs(2);
/// Past its send timeout and this, an unanswered request fails the test: the ingestor hangs.
const HANG: Duration = Duration::from_secs(15);

/// Partition 0's leader and in-sync replicas, as the cluster's metadata has them.
fn partition_state(brokers: &str, topic: &str) -> Option<(i32, Vec<i32>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .ok()?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    let partition = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)?
        .partitions()
        .iter()
        .find(|p| p.id() == 0)?;
    let mut isr = partition.isr().to_vec();
    isr.sort_unstable();
    Some((partition.leader(), isr))
}

/// Waits until partition 0's state satisfies `done`, polling off the runtime's threads.
async fn wait_for_partition(
    kafka: &Arc<ApacheKafka>,
    topic: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(i32, &[i32]) -> bool,
) -> (i32, Vec<i32>) {
    let done = &done;
    eventually(what, timeout, || {
        let (brokers, topic) = (kafka.bootstrap_servers().to_owned(), topic.to_owned());
        async move {
            tokio::task::spawn_blocking(move || partition_state(&brokers, &topic))
                .await
                .unwrap()
                .filter(|(leader, isr)| done(*leader, isr))
        }
    })
    .await
}

/// Runs a blocking operation on the cluster off the runtime's threads.
async fn on_cluster<T: Send + 'static>(
    kafka: &Arc<ApacheKafka>,
    operation: impl FnOnce(&ApacheKafka) -> fixtures::Result<T> + Send + 'static,
) -> T {
    let kafka = kafka.clone();
    tokio::task::spawn_blocking(move || operation(&kafka).expect("cluster operation"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_leader_loss_never_answers_202_unreplicated() {
    let topic = unique_topic("cluster");
    let options = ApacheKafkaOptions::cluster()
        .without_default_topics()
        .with_topic(&topic, 1);
    let kafka = Arc::new(
        tokio::task::spawn_blocking(move || ApacheKafka::start_with(options))
            .await
            .unwrap()
            .expect("a three-broker Apache Kafka must start"),
    );
    assert_eq!(kafka.replication_factor(), 3);
    let (first_leader, isr) = wait_for_partition(
        &kafka,
        &topic,
        "all three replicas in sync",
        Duration::from_secs(60),
        |leader, isr| leader > 0 && isr.len() == 3,
    )
    .await;
    assert_eq!(isr, [1, 2, 3]);

    let config = |timeout: Duration| {
        KafkaConfig::new(kafka.bootstrap_servers())
            .with_topic(&topic)
            .with_send_timeout(timeout)
            .with_ready_timeout(Duration::from_millis(500))
    };
    let patient = Harness::start_with(config(PATIENT), Some(kafka.clone())).await;
    patient.wait_ready().await;

    // One broker lost: the leader, under load.
    let load = Load::start(&patient, "patient", WORKERS, PATIENT + HANG);
    load.wait_for(
        "100 accepted before the leader is lost",
        Duration::from_secs(60),
        100,
        |a| a.status == 202,
    )
    .await;
    on_cluster(&kafka, move |k| k.kill_broker(first_leader)).await;
    let killed = Instant::now();
    let (second_leader, isr) = wait_for_partition(
        &kafka,
        &topic,
        "a new leader, the dead broker out of the in-sync replicas",
        Duration::from_secs(60),
        |leader, isr| leader > 0 && leader != first_leader && !isr.contains(&first_leader),
    )
    .await;
    let failed_over = killed.elapsed();
    assert_eq!(isr.len(), 2, "two replicas left in sync: {isr:?}");
    load.wait_for(
        "100 accepted from requests sent after the new leader took over",
        Duration::from_secs(60),
        100,
        |a| a.status == 202 && a.sent >= killed + failed_over,
    )
    .await;
    let answers = load.stop().await;
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status != 202).collect();
    assert!(
        refused.is_empty(),
        "with one broker lost and a {PATIENT:?} send timeout, every request waits for the new \
         leader and succeeds; refused: {refused:?}"
    );
    let waited_across = answers
        .iter()
        .filter(|a| a.sent <= killed + failed_over && a.answered >= killed)
        .map(Answer::waited)
        .max()
        .expect("requests were in flight during the failover");
    let mut patient_answers = answers;

    // Two brokers lost: one replica left, below min.insync.replicas.
    let impatient = Harness::start_with(config(IMPATIENT), Some(kafka.clone())).await;
    impatient.wait_ready().await;
    let follower = *isr
        .iter()
        .find(|b| **b != second_leader)
        .expect("a follower in sync");
    let load = Load::start(&impatient, "impatient", WORKERS, IMPATIENT + HANG);
    load.wait_for(
        "20 accepted before the second loss",
        Duration::from_secs(30),
        20,
        |a| a.status == 202,
    )
    .await;
    on_cluster(&kafka, move |k| k.kill_broker(follower)).await;
    let second_kill = Instant::now();
    wait_for_partition(
        &kafka,
        &topic,
        "the in-sync replicas down to the leader alone",
        Duration::from_secs(60),
        |leader, isr| leader == second_leader && isr == [second_leader],
    )
    .await;
    let shrunk = Instant::now();
    load.wait_for(
        "two answers per worker to requests sent with one replica in sync",
        Duration::from_secs(60),
        2 * WORKERS,
        |a| a.sent >= shrunk,
    )
    .await;
    let restarting = Instant::now();
    // Both brokers back; the load goes on until the ingestor accepts again.
    let (k1, k2) = (kafka.clone(), kafka.clone());
    let (first, second) = tokio::join!(
        tokio::task::spawn_blocking(move || k1.restart_broker(first_leader)),
        tokio::task::spawn_blocking(move || k2.restart_broker(follower)),
    );
    first.unwrap().expect("the first broker restarts");
    second.unwrap().expect("the second broker restarts");
    wait_for_partition(
        &kafka,
        &topic,
        "two replicas in sync again",
        Duration::from_secs(120),
        |leader, isr| leader > 0 && isr.len() >= 2,
    )
    .await;
    let back = Instant::now();
    load.wait_for(
        "accepted again with the replicas back",
        Duration::from_secs(60),
        20,
        |a| a.status == 202 && a.sent >= back,
    )
    .await;
    let answers = load.stop().await;
    assert_accepted_or_broker_unavailable(&answers);
    // From the second kill until the restart, no request is accepted: a 202 then could only
    // be for a record on fewer than two brokers.
    let under_replicated: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.sent >= second_kill && a.sent < restarting)
        .collect();
    let accepted: Vec<&&Answer> = under_replicated
        .iter()
        .filter(|a| a.status == 202)
        .collect();
    assert!(
        accepted.is_empty(),
        "accepted while fewer than two replicas could take the record: {accepted:?}"
    );
    // And each refusal came only after the send timeout (librdkafka retries until then).
    let early: Vec<&&Answer> = under_replicated
        .iter()
        .filter(|a| a.sent >= shrunk && a.waited() + Duration::from_millis(100) < IMPATIENT)
        .collect();
    assert!(
        early.is_empty(),
        "refused before the {IMPATIENT:?} send timeout: {early:?}"
    );
    let refusal_times: Vec<Duration> = under_replicated
        .iter()
        .filter(|a| a.sent >= shrunk)
        .map(|a| a.waited())
        .collect();

    // Every 202 is on the topic exactly once; nothing is there that was not sent.
    patient_answers.extend(answers);
    let answers = patient_answers;
    let tally = tally(&answers, &impatient.read_all().await);
    println!(
        "requests={} accepted={} refused={} refused_but_on_topic={} refused_on_topic_twice={} \
         failover_ms={} longest_wait_across_failover_ms={} refusals_with_one_replica={} \
         refusal_wait_min_ms={} refusal_wait_max_ms={} back_after_restart_ms={}",
        answers.len(),
        answers.len() - tally.refused,
        tally.refused,
        tally.refused_but_stored,
        tally.refused_twice,
        failed_over.as_millis(),
        waited_across.as_millis(),
        refusal_times.len(),
        refusal_times.iter().min().map_or(0, Duration::as_millis),
        refusal_times.iter().max().map_or(0, Duration::as_millis),
        back.duration_since(restarting).as_millis(),
    );
    impatient.stop().await;
    patient.stop().await;
}
