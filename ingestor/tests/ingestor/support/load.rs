//! Load under faults: workers posting distinct transactions without pause, their answers, and
//! the count of what reached the topic against what was answered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fixtures::testkit::eventually;
use rdkafka::message::{Message, OwnedMessage};
use serde_json::Value;

use super::{Harness, valid};

/// One request and its answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub id: String,
    pub status: u16,
    /// The `error` code of a refusal's body.
    pub error: Option<String>,
    pub sent: Instant,
    pub answered: Instant,
}

impl Answer {
    pub fn waited(&self) -> Duration {
        self.answered - self.sent
    }
}

/// Workers posting to one ingestor until stopped, each its next transaction as soon as it has
/// an answer.
pub struct Load {
    answers: Arc<Mutex<Vec<Answer>>>,
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// `workers` workers posting ids `<name>-<worker>-<n>`; a request unanswered after
    /// `hang` fails the test (the ingestor answers within its send timeout).
    pub fn start(h: &Harness, name: &'static str, workers: usize, hang: Duration) -> Load {
        let answers = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..workers)
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
                            .timeout(hang)
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
                        answers.lock().unwrap().push(Answer {
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

    /// The answers so far.
    pub fn snapshot(&self) -> Vec<Answer> {
        self.answers.lock().unwrap().clone()
    }

    /// Waits until `count` answers satisfy `matching`; fails after `timeout` with `what`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        count: usize,
        matching: impl Fn(&Answer) -> bool,
    ) {
        eventually(what, timeout, || {
            let have = self
                .answers
                .lock()
                .unwrap()
                .iter()
                .filter(|a| matching(a))
                .count();
            std::future::ready((have >= count).then_some(()))
        })
        .await
    }

    /// Stops the workers; every answer.
    pub async fn stop(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        let answers = self.answers.clone();
        for worker in self.workers {
            worker.await.expect("worker");
        }
        answers.lock().unwrap().clone()
    }
}

/// Every answer is a `202` or a `503 broker_unavailable`.
pub fn assert_accepted_or_broker_unavailable(answers: &[Answer]) {
    for answer in answers {
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
}

/// What the topic holds of the answered requests.
#[derive(Debug)]
pub struct Tally {
    /// Refused requests (`503`).
    pub refused: usize,
    /// Refused requests whose record is on the topic anyway.
    pub refused_but_stored: usize,
    /// Refused requests whose record is on the topic more than once.
    pub refused_twice: usize,
}

/// Counts `records` (the whole topic) against `answers`, after asserting what must hold
/// whatever the faults: nothing on the topic that nobody sent, and every `202` on it exactly
/// once. A `503` promises nothing either way; the tally says what became of them.
pub fn tally(answers: &[Answer], records: &[OwnedMessage]) -> Tally {
    let mut on_topic: HashMap<&str, usize> = HashMap::new();
    for record in records {
        let id = std::str::from_utf8(record.key().expect("keyed")).expect("a UTF-8 key");
        *on_topic.entry(id).or_default() += 1;
    }
    let sent: HashMap<&str, &Answer> = answers.iter().map(|a| (a.id.as_str(), a)).collect();
    let strays: Vec<_> = on_topic
        .keys()
        .filter(|id| !sent.contains_key(*id))
        .collect();
    assert!(strays.is_empty(), "records nobody sent: {strays:?}");
    let twice: Vec<String> = on_topic
        .iter()
        .filter(|(id, n)| **n > 1 && sent[*id].status == 202)
        .map(|(id, n)| {
            let offsets: Vec<(i32, i64)> = records
                .iter()
                .filter(|r| r.key() == Some(id.as_bytes()))
                .map(|r| (r.partition(), r.offset()))
                .collect();
            format!(
                "{id} x{n} at {offsets:?}, answered after {:?}",
                sent[*id].waited()
            )
        })
        .collect();
    assert!(
        twice.is_empty(),
        "accepted records written twice: {twice:#?}"
    );
    let lost: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == 202 && !on_topic.contains_key(a.id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of the 202s are not on the topic: {lost:?}",
        lost.len()
    );
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    let stored = |a: &&&Answer| on_topic.get(a.id.as_str()).copied().unwrap_or(0);
    Tally {
        refused: refused.len(),
        refused_but_stored: refused.iter().filter(|a| stored(a) > 0).count(),
        refused_twice: refused.iter().filter(|a| stored(a) > 1).count(),
    }
}
