//! Credentials, literals and parameter values never leave the `bolt-proxy` binary: clients log
//! in with a real password (FalkorDB with `requirepass`), passed through (Bolt 5.7, LOGON) and
//! translated (Bolt 4.4, HELLO carrying auth, split into HELLO + LOGON), and one client tries a
//! wrong one; the proxy logs at `trace` level and exports over OTLP. Neither its whole log, byte
//! for byte, nor any exported span or metric, in any field the collector decodes, holds the
//! password, the wrong password, a literal or a parameter value.

use std::time::Duration;

use crate::proxy_support::otlp::{
    Received as _, spawn_proxy_binary_logging, start_collector, terminate,
};
use crate::proxy_support::{FalkorDb, RawClient};
use bolt::{Map, Response, Value, Version};

const PASSWORD: &str = "pw-Kq7-Secret-42";
const WRONG_PASSWORD: &str = "pw-Wrong-Zz9-13";
const LITERAL: &str = "4111-LIT-9931";
const PARAMETER: &str = "PIN-PARAM-5521";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_literal_or_parameter_in_the_log_or_the_export() {
    let db = FalkorDb::start_with_password(PASSWORD);
    let collector = start_collector().await;
    let log_path =
        std::env::temp_dir().join(format!("bolt-proxy-creds-{}.log", std::process::id()));
    let (mut proxy, addr) =
        spawn_proxy_binary_logging(&db.bolt_addr(), &collector, 100, &[], Some(&log_path)).await;

    for version in [Version::new(5, 7), Version::V4_4] {
        let mut c = RawClient::login_with(addr, version, PASSWORD).await;
        let parameters: Map = [("pin", Value::from(PARAMETER))].into_iter().collect();
        c.run(
            &format!("CREATE (n:Cred {{card: '{LITERAL}'}}) SET n.pin = $pin RETURN n.pin AS pin"),
            parameters,
            Map::new(),
        )
        .await;
        assert!(matches!(c.recv().await, Response::Success { .. }));
        match c.recv().await {
            Response::Record { fields } => assert_eq!(fields, [Value::from(PARAMETER)]),
            other => panic!("{version}: expected the row, got {other:?}"),
        }
        assert!(matches!(c.recv().await, Response::Success { .. }));

        // A wrong password is refused through the proxy as it is directly.
        let (mut bad, answers) = RawClient::send_login(addr, version, WRONG_PASSWORD)
            .await
            .unwrap();
        let mut last = None;
        for _ in 0..answers {
            last = Some(bad.recv().await);
        }
        assert!(
            matches!(last, Some(Response::Failure { .. })),
            "{version}: a wrong password gets a FAILURE, got {last:?}"
        );
    }

    assert!(
        terminate(&mut proxy, Duration::from_secs(15)).await,
        "exits 0 on SIGTERM"
    );
    let log = std::fs::read(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    // The log really is the trace-level one, covering every message that passed.
    assert!(
        contains(&log, "bolt-proxy: client message") && contains(&log, "upstream message"),
        "trace-level log expected"
    );
    let spans = collector.spans();
    assert_eq!(
        spans
            .iter()
            .filter(|s| s
                .str_attr("db.query.text")
                .is_some_and(|t| t.contains("Cred")))
            .count(),
        2,
        "one span per client's query: {spans:#?}"
    );
    let exports = collector.exports();
    for secret in [PASSWORD, WRONG_PASSWORD, LITERAL, PARAMETER] {
        assert!(!contains(&log, secret), "the log holds {secret:?}");
        for export in &exports {
            assert!(
                !contains(export.as_bytes(), secret),
                "an OTLP export holds {secret:?}"
            );
        }
    }
}
