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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fixtures::testkit::eventually;
use fixtures::{ApacheKafka, ApacheKafkaOptions};
use ingestor::KafkaConfig;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use serde_json::Value;

use crate::support::{Harness, unique_topic, valid};

/// Concurrent clients per ingestor, each posting its next transaction once it has an answer.
const WORKERS: usize = 8;
/// The patient ingestor's send timeout: well over the 6 s the cluster takes to fence a broker
/// that stopped heart-beating and elect a new leader.
const PATIENT: Duration = Duration::from_secs(30);
/// The impatient ingestor's send timeout.
const IMPATIENT: Duration = Duration::from_secs(2);

/// One request and its answer.
#[derive(Debug, Clone)]
struct Answer {
    id: String,
    status: u16,
    /// The `error` code of a refusal's body.
    error: Option<String>,
    sent: Instant,
    answered: Instant,
}

impl Answer {
    fn waited(&self) -> Duration {
        self.answered - self.sent
    }
}

/// The answers of one ingestor's workers.
#[derive(Default)]
struct Answers(Mutex<Vec<Answer>>);

impl Answers {
    fn snapshot(&self) -> Vec<Answer> {
        self.0.lock().unwrap().clone()
    }

    fn count(&self, matching: impl Fn(&Answer) -> bool) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|a| matching(a))
            .count()
    }
}

/// Workers posting to one ingestor until stopped.
struct Load {
    answers: Arc<Answers>,
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(h: &Harness, name: &'static str, timeout: Duration) -> Load {
        let answers = Arc::new(Answers::default());
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..WORKERS)
            .map(|worker| {
                let (url, http) = (format!("{}/transactions", h.base), h.http.clone());
                let (answers, stop) = (answers.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let id = format!("{name}-{worker}-{n}");
                        let sent = Instant::now();
                        let response = http
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(valid(&id).to_string())
                            // Only turns a hang into a failure: the ingestor answers within
                            // its send timeout and a little slack.
                            .timeout(timeout + Duration::from_secs(15))
                            .send()
                            .await
                            .expect("the ingestor must answer");
                        let status = response.status().as_u16();
                        let error = if status == 202 {
                            None
                        } else {
                            let body: Value = response.json().await.expect("a JSON refusal");
                            body["error"].as_str().map(str::to_owned)
                        };
                        answers.0.lock().unwrap().push(Answer {
                            id,
                            status,
                            error,
                            sent,
                            answered: Instant::now(),
                        });
                    }
                })
            })
            .collect();
        Load {
            answers,
            stop,
            workers,
        }
    }

    /// Waits until `count` answers satisfy `matching`; fails after `timeout` with `what`.
    async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        count: usize,
        matching: impl Fn(&Answer) -> bool,
    ) {
        let answers = &self.answers;
        eventually(what, timeout, || {
            std::future::ready((answers.count(&matching) >= count).then_some(()))
        })
        .await
    }

    async fn stop(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.await.expect("worker");
        }
        self.answers.snapshot()
    }
}

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
    let load = Load::start(&patient, "patient", PATIENT);
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
    let load = Load::start(&impatient, "impatient", IMPATIENT);
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
    for answer in &answers {
        match answer.status {
            202 => {}
            503 => assert_eq!(
                answer.error.as_deref(),
                Some("broker_unavailable"),
                "{answer:?}"
            ),
            _ => panic!("neither 202 nor 503: {answer:?}"),
        }
    }
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
    let records = impatient.read_all().await;
    let mut on_topic: HashMap<String, usize> = HashMap::new();
    for record in &records {
        let id = String::from_utf8(record.key().expect("keyed").to_vec()).unwrap();
        *on_topic.entry(id).or_default() += 1;
    }
    let sent: HashMap<&str, u16> = answers.iter().map(|a| (a.id.as_str(), a.status)).collect();
    let strays: Vec<_> = on_topic
        .keys()
        .filter(|id| !sent.contains_key(id.as_str()))
        .collect();
    assert!(strays.is_empty(), "records nobody sent: {strays:?}");
    let twice: Vec<String> = on_topic
        .iter()
        .filter(|(_, n)| **n > 1)
        .filter(|(id, _)| sent.get(id.as_str()) == Some(&202))
        .map(|(id, n)| {
            let answer = answers.iter().find(|a| &a.id == id);
            let offsets: Vec<i64> = records
                .iter()
                .filter(|r| r.key() == Some(id.as_bytes()))
                .map(|r| r.offset())
                .collect();
            format!(
                "{id} x{n} at offsets {offsets:?}: {:?} after {:?}, sent {:?} after the second kill",
                answer.map(|a| a.status),
                answer.map(Answer::waited),
                answer.map(|a| a.sent.saturating_duration_since(second_kill)),
            )
        })
        .collect();
    assert!(
        twice.is_empty(),
        "accepted records written twice: {twice:#?}"
    );
    let refused_twice = on_topic
        .iter()
        .filter(|(id, n)| **n > 1 && sent.get(id.as_str()) == Some(&503))
        .count();
    let lost: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == 202 && !on_topic.contains_key(&a.id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of the 202s are not on the topic: {lost:?}",
        lost.len()
    );

    let refused = answers.iter().filter(|a| a.status == 503).count();
    let refused_but_stored = answers
        .iter()
        .filter(|a| a.status == 503 && on_topic.contains_key(&a.id))
        .count();
    println!(
        "requests={} accepted={} refused={refused} refused_but_on_topic={refused_but_stored} \
         refused_on_topic_twice={refused_twice} \
         failover_ms={} longest_wait_across_failover_ms={} refusals_with_one_replica={} \
         refusal_wait_min_ms={} refusal_wait_max_ms={} back_after_restart_ms={}",
        answers.len(),
        answers.len() - refused,
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
