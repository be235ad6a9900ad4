//! bolt-proxy's acceptance check: the official Neo4j Python drivers 4.4 (Bolt 4.4) and 5.x
//! (Bolt 5.8, through the handshake manifest) run one workload through the `bolt-proxy` binary
//! against Neo4j 5.26, passed through, and an OTLP collector receives one span per query with
//! the conventions' attributes: the right row counts, the error of the failing query with its
//! Neo4j code (and on 5.8 its GQL status), no translation, and no literal from the workload
//! anywhere.

use std::time::Duration;

use fixtures::otlp::{CollectedSpan, StatusCode};

use crate::proxy_support::otlp::{
    Received as _, SpanAttrs as _, spans_of, spawn_proxy_binary, start_collector, terminate,
};
use crate::proxy_support::{QUERIES_PER_RUN, neo4j, python_workload_on};

fn with_text<'a>(spans: &[&'a CollectedSpan], text: &str) -> &'a CollectedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.str_attr("db.query.text") == Some(text))
        .collect();
    assert_eq!(found.len(), 1, "one span of {text:?} in {spans:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_drivers_through_the_binary_reach_an_otlp_collector() {
    let neo4j = neo4j();
    let collector = start_collector().await;
    let upstream = neo4j.addr().to_string();
    let (mut proxy, addr) = spawn_proxy_binary(&upstream, &collector, 200, &[]).await;
    let uri = format!("bolt://{addr}");

    let v5 = python_workload_on("venv/bin/python", uri.clone(), "pydrv5tag", neo4j).await;
    let v44 = python_workload_on("neo4j44/bin/python", uri, "pydrv44tag", neo4j).await;
    assert!(v5.results.contains("\"rows\": [3000, 4501500"), "{v5:?}");
    assert_eq!(v44.results, v5.results, "both drivers get the same results");

    assert!(
        terminate(&mut proxy, Duration::from_secs(15)).await,
        "exits 0 on SIGTERM"
    );
    let spans = collector.spans();
    for (bolt_4, version, tag) in [(false, "5.8", "pydrv5tag"), (true, "4.4", "pydrv44tag")] {
        let run = spans_of(&spans, bolt_4);
        assert_eq!(run.len(), QUERIES_PER_RUN, "one span per query: {run:#?}");
        for s in &run {
            assert_eq!(s.bool_attr("neo4j.bolt.translated"), Some(false), "{s:#?}");
            assert_eq!(s.str_attr("network.protocol.version"), Some(version));
            assert_eq!(s.str_attr("neo4j.bolt.upstream_version"), Some(version));
            assert_eq!(s.str_attr("db.system.name"), Some("neo4j"));
            assert_eq!(
                s.int_attr("server.port"),
                Some(i64::from(neo4j.addr().port()))
            );
            assert!(s.int_attr("db.response.returned_rows").is_some(), "{s:#?}");
            // Nothing the workload sent as a literal or a parameter value.
            for (key, text) in s.string_attrs() {
                for secret in [tag, "café", "4294967296", "1.5", "3000", "-17"] {
                    assert!(!text.contains(secret), "{key} = {text} leaks {secret:?}");
                }
            }
        }
        let unwind = with_text(&run, "UNWIND range(?, ?) AS i RETURN i");
        assert_eq!(unwind.int_attr("db.response.returned_rows"), Some(3000));
        assert_eq!(unwind.name, "UNWIND");
        let created = with_text(
            &run,
            "CREATE (a:Acct {tag: $tag, n: ?})-[:PAID {amount: ?}]->(b:Acct {tag: $tag, n: ?})",
        );
        assert_eq!(created.int_attr("neo4j.stats.nodes_created"), Some(2));
        assert_eq!(
            created.int_attr("neo4j.stats.relationships_created"),
            Some(1)
        );
        // The server's database and timings, as Neo4j reports them.
        for s in &run {
            if s.status_code == StatusCode::Unset {
                assert_eq!(s.str_attr("db.namespace"), Some("neo4j"), "{s:#?}");
                assert!(s.int_attr("neo4j.server.t_first_ms").is_some(), "{s:#?}");
            }
        }
        let failed = with_text(&run, "RETURN ? +");
        assert_eq!(
            failed.status_code,
            StatusCode::Error,
            "the syntax error is an error span"
        );
        let code = Some("Neo.ClientError.Statement.SyntaxError");
        assert_eq!(failed.str_attr("error.type"), code, "{failed:#?}");
        assert_eq!(failed.str_attr("db.response.status_code"), code);
        // Bolt 5.7+ FAILUREs carry a GQL status; 4.4 ones do not. (Neo4j 5.26 gives a syntax
        // error the generic 50N42, measured; 2026.09 gives 42001.)
        let gql = if bolt_4 { None } else { Some("50N42") };
        assert_eq!(failed.str_attr("neo4j.gql_status"), gql, "{failed:#?}");
        let after = with_text(&run, "RETURN ? AS y");
        assert_eq!(
            after.status_code,
            StatusCode::Unset,
            "the connection recovered"
        );
        assert_eq!(after.int_attr("db.response.returned_rows"), Some(1));
    }

    // The same queries as metrics, keyed by summary (both drivers' runs add up), flushed at
    // SIGTERM.
    let durations = collector.histogram("db.client.operation.duration");
    let rows = collector.histogram("db.client.response.returned_rows");
    let calls: u64 = durations.iter().map(|p| p.count).sum();
    assert_eq!(calls, 2 * QUERIES_PER_RUN as u64, "{durations:#?}");
    let unwind = rows
        .iter()
        .find(|p| p.str_attr("db.query.summary") == Some("UNWIND"))
        .expect("rows of UNWIND");
    assert_eq!((unwind.count, unwind.sum), (2, 6000.0));
    let failed: Vec<_> = durations
        .iter()
        .filter(|p| p.str_attr("error.type").is_some())
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].count, 2);
    assert_eq!(
        failed[0].str_attr("db.response.status_code"),
        Some("Neo.ClientError.Statement.SyntaxError")
    );
    for p in durations.iter().chain(&rows) {
        assert_eq!(p.str_attr("db.system.name"), Some("neo4j"));
        for (key, v) in &p.attributes {
            let text = format!("{v:?}");
            for secret in ["pydrv", "café", "4294967296", "3000", "-17"] {
                assert!(!text.contains(secret), "{key} = {text} leaks {secret:?}");
            }
        }
    }
}
