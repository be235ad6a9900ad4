//! The `analyzer` binary, configured only by environment variables as an operator would run it,
//! answers a transaction, serves its statistics, and on SIGTERM commits, flushes and exits 0.

use std::process::{Command, Stdio};
use std::time::Duration;

use fixtures::testkit::{eventually, send_signal, unique, wait_exit};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_commits_flushes_and_exits_zero() {
    let h = Harness::start("sigterm", 2).await;
    // Only a port number for the binary's statistics address: nothing listens on it here.
    let stats_port = fixtures::free_port().expect("a free port");
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_analyzer"))
            .envs(h.env())
            .env("KAFKA_TOPIC", &h.topic)
            .env("KAFKA_GROUP", &h.group)
            .env("KAFKA_VERDICT_TOPIC", &h.verdict_topic)
            .env("KAFKA_DLQ_TOPIC", &h.dlq_topic)
            .env("ANALYZER_STATS_ADDR", format!("127.0.0.1:{stats_port}"))
            // A long auto-commit interval: only the shutdown's own commit can make the test pass.
            .env("ANALYZER_COMMIT_INTERVAL_MS", "600000")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .expect("the analyzer binary starts"),
    );

    let mut verdicts = h.verdicts();
    let ids: Vec<String> = (0..4).map(|i| unique(&format!("sig{i}"))).collect();
    for id in &ids {
        h.produce(id, ordinary(id).as_bytes()).await;
    }
    verdicts.wait_for(ids.len(), WAIT).await;

    // The counter moves once the verdict's ack is back, which can be a moment after a reader
    // sees the verdict.
    let stats_url = format!("http://127.0.0.1:{stats_port}/stats");
    eventually("the statistics to count every verdict", WAIT, || async {
        let stats: serde_json::Value = reqwest::get(&stats_url)
            .await
            .expect("stats endpoint answers")
            .json()
            .await
            .unwrap();
        (stats["messages"]["verdicts"] == ids.len()).then_some(())
    })
    .await;

    send_signal(child.0.id(), "TERM");
    let exit = tokio::task::block_in_place(|| wait_exit(&mut child.0, Duration::from_secs(30)));
    assert_eq!(exit.code(), Some(0), "exit status 0");

    assert_eq!(
        h.committed_total(2),
        ids.len() as i64,
        "every answered record committed at shutdown"
    );
}

/// The analyzer's process, killed if the test ends (a failed assertion) before it exits.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
