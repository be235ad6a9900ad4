//! The official 6.x Python driver through the `bolt-proxy` binary to the newest Neo4j, over
//! Bolt 6.0 (reached only through the handshake manifest, on both sides of the proxy): it gets
//! the workload's results exactly as it does directly (where it speaks 6.1), Bolt 6.0's vectors
//! both ways, the UnsupportedType structure the server sends for a UUID (a 6.1 type), and each
//! query is one span at 6.0 with the failure's Neo4j code and GQL status.

use std::time::Duration;

use fixtures::otlp::StatusCode;

use crate::proxy_support::otlp::{SpanAttrs as _, spawn_proxy_binary, start_collector, terminate};
use crate::proxy_support::{QUERIES_PER_RUN, neo4j_latest, python_workload_on, run_python};
use serde_json::{Value, json};

/// Queries `tests/bolt_proxy/py/bolt6.py` runs.
const BOLT6_QUERIES: usize = 7;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_6_x_driver_speaks_bolt_6_through_the_proxy() {
    let neo4j = neo4j_latest();
    let direct = python_workload_on("neo4j6/bin/python", neo4j.uri.clone(), "direct6", neo4j).await;
    assert!(
        direct.results.contains("\"rows\": [3000, 4501500"),
        "{direct:?}"
    );

    let collector = start_collector().await;
    let upstream = neo4j.addr().to_string();
    let (mut proxy, addr) = spawn_proxy_binary(&upstream, &collector, 200, &[]).await;
    let routed = python_workload_on(
        "neo4j6/bin/python",
        format!("neo4j://{addr}"),
        "proxied6",
        neo4j,
    )
    .await;
    assert_eq!(routed.results, direct.results, "6.x through the proxy");
    assert_eq!(routed.addresses, [addr.to_string()], "stayed on the proxy");

    let env = vec![
        ("NEO4J_USER".to_owned(), neo4j.user.clone().into()),
        ("NEO4J_PASSWORD".to_owned(), neo4j.password.clone().into()),
    ];
    let out = run_python(
        "neo4j6/bin/python",
        "bolt6.py",
        vec![format!("bolt://{addr}")],
        env,
    )
    .await;
    let bolt6: Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(
        bolt6,
        json!({
            "protocol_version": [6, 0],
            "vector_i8": ["i8", [1, -2, 3]],
            "vector_f32": ["f32", [1.5, -2.25]],
            "vector_param": ["f64", [0.5, 1e100, -3.0]],
            "uuid": ["UnsupportedType", "UUID", [6, 1]],
            "failure": ["42001", "Neo.ClientError.Statement.SyntaxError"],
            "after_failure": 2,
        })
    );

    assert!(
        terminate(&mut proxy, Duration::from_secs(15)).await,
        "exits 0 on SIGTERM"
    );
    let spans = collector.spans();
    assert_eq!(
        spans.len(),
        QUERIES_PER_RUN + BOLT6_QUERIES,
        "one span per query: {spans:#?}"
    );
    for s in &spans {
        assert_eq!(
            s.str_attr("network.protocol.version"),
            Some("6.0"),
            "{s:#?}"
        );
        assert_eq!(
            s.str_attr("db.system"),
            None,
            "only with database/dup: {s:#?}"
        );
        assert_eq!(s.str_attr("neo4j.bolt.upstream_version"), Some("6.0"));
        assert_eq!(s.bool_attr("neo4j.bolt.translated"), Some(false));
        if s.status_code == StatusCode::Unset {
            assert_eq!(s.str_attr("db.namespace"), Some(neo4j.database.as_str()));
            assert!(s.int_attr("neo4j.server.t_first_ms").is_some(), "{s:#?}");
        }
    }
    let vectors: Vec<_> = spans
        .iter()
        .filter(|s| {
            s.str_attr("db.query.text")
                .is_some_and(|t| t.contains("vector("))
        })
        .collect();
    assert_eq!(vectors.len(), 2, "{vectors:#?}");
    for s in vectors {
        assert_eq!(s.int_attr("db.response.returned_rows"), Some(1));
        assert_eq!(s.status_code, StatusCode::Unset);
    }
    let failed: Vec<_> = spans
        .iter()
        .filter(|s| s.status_code == StatusCode::Error)
        .collect();
    assert_eq!(
        failed.len(),
        2,
        "the workload's and bolt6.py's: {failed:#?}"
    );
    for s in failed {
        let code = Some("Neo.ClientError.Statement.SyntaxError");
        assert_eq!(s.str_attr("error.type"), code);
        assert_eq!(s.str_attr("db.response.status_code"), code);
        assert_eq!(s.str_attr("neo4j.gql_status"), Some("42001"));
    }
}
