//! The group rebalances gently: with instance ids (static membership) and the cooperative-sticky
//! assignor, restarting one analyzer within the session timeout moves no partition, the other
//! analyzer is never interrupted, and the records produced meanwhile get one verdict each.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use fixtures::testkit::{eventually, send_signal, unique, wait_exit};

use crate::support::*;

const PARTITIONS: i32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_static_members_moves_no_partitions() {
    let h = Harness::start("rolling", PARTITIONS).await;
    let dir = LogDir::new();
    let (a, b) = (unique("a"), unique("b"));
    let (port_a, port_b) = (free(), free());
    let first = spawn(&h, &a, port_a, &dir.0.join("a.log"));
    let mut second = spawn(&h, &b, port_b, &dir.0.join("b1.log"));

    let both = eventually("the partitions shared out", WAIT, || async {
        let (pa, pb) = (assignment(port_a).await?, assignment(port_b).await?);
        (pa.len() + pb.len() == PARTITIONS as usize && !pa.is_empty() && !pb.is_empty())
            .then_some((pa, pb))
    })
    .await;

    // Revocations so far: the share-out itself may have taken partitions from the first member.
    let revoked_at_share_out = revocations(&dir.0.join("a.log"));

    let run = unique("roll");
    let ids: Vec<String> = (0..8).map(|i| format!("{run}-{i}")).collect();
    for id in &ids[..4] {
        h.produce(id, ordinary(id).as_bytes()).await;
    }
    send_signal(second.0.id(), "TERM");
    let exit = tokio::task::block_in_place(|| wait_exit(&mut second.0, Duration::from_secs(30)));
    assert_eq!(exit.code(), Some(0));
    for id in &ids[4..] {
        h.produce(id, ordinary(id).as_bytes()).await;
    }
    second = spawn(&h, &b, port_b, &dir.0.join("b2.log"));
    let back = eventually("the restarted member's partitions", WAIT, || async {
        assignment(port_b).await.filter(|p| !p.is_empty())
    })
    .await;
    assert_eq!(
        back, both.1,
        "the restarted member got its own partitions back"
    );
    assert_eq!(
        assignment(port_a).await,
        Some(both.0),
        "the other member's partitions did not move"
    );

    let verdicts = verdicts_by_id(&h.verdicts().wait_for(ids.len(), WAIT).await);
    for id in &ids {
        assert_eq!(
            verdicts.get(id).map(Vec::len),
            Some(1),
            "one verdict for {id}"
        );
    }
    for mut process in [first, second] {
        send_signal(process.0.id(), "TERM");
        tokio::task::block_in_place(|| wait_exit(&mut process.0, Duration::from_secs(30)));
    }
    assert_eq!(
        revocations(&dir.0.join("a.log")),
        revoked_at_share_out + 1,
        "the untouched member lost partitions only at its own shutdown"
    );
}

/// How many revocations the process logging to `log` has logged so far.
fn revocations(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches("partitions revoked")
        .count()
}

/// A directory for the processes' logs, removed at the end.
struct LogDir(std::path::PathBuf);

impl LogDir {
    fn new() -> LogDir {
        let dir = std::env::temp_dir().join(unique("rolling-logs"));
        std::fs::create_dir_all(&dir).expect("a log directory");
        LogDir(dir)
    }
}

impl Drop for LogDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free() -> u16 {
    fixtures::free_port().expect("a free port")
}

/// The partitions `GET /stats` reports on `port`, if it answers.
async fn assignment(port: u16) -> Option<BTreeSet<i64>> {
    let stats: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{port}/stats"))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        stats["assignment"]
            .as_array()?
            .iter()
            .filter_map(|p| p["partition"].as_i64())
            .collect(),
    )
}

fn spawn(h: &Harness, instance: &str, port: u16, log: &std::path::Path) -> KillOnDrop {
    KillOnDrop(
        h.binary()
            .env("ANALYZER_STATS_ADDR", format!("127.0.0.1:{port}"))
            .env("ANALYZER_INSTANCE_ID", instance)
            .env("ANALYZER_SESSION_TIMEOUT_MS", "30000")
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(log).expect("a log file"))
            .stdout(Stdio::null())
            .spawn()
            .expect("the analyzer binary starts"),
    )
}
