//! The `analyzer` binary, configured only by environment variables as an operator would run it,
//! answers a transaction, serves its statistics, and on SIGTERM commits, flushes and exits 0.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_commits_flushes_and_exits_zero() {
    let h = Harness::start("sigterm", 2).await;
    let stats_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
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
    let deadline = Instant::now() + WAIT;
    loop {
        let stats: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{stats_port}/stats"))
            .await
            .expect("stats endpoint answers")
            .json()
            .await
            .unwrap();
        if stats["messages"]["verdicts"] == ids.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the statistics count every verdict: {stats:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the analyzer exits after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(exit.code(), Some(0), "exit status 0");

    let committed: i64 = (0..2).filter_map(|p| h.committed(p)).sum();
    assert_eq!(
        committed,
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
