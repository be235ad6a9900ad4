//! neo4rs (Bolt 4.4) through the proxy to Neo4j 5.26, which speaks 4.4 itself: passed through,
//! no translation. Every read gives exactly the rows neo4rs gets from Neo4j directly (nodes,
//! relationships, paths, temporal and spatial values, lists, maps), a syntax error the same
//! Neo4j code, a transaction commits, and each query is one span at Bolt 4.4, untranslated.

use crate::proxy_support::{Neo4jEndpoint, RunningProxy, finished_spans, install_tracer, neo4j};
use fixtures::testkit::{attr as str_attr, unique};
use neo4rs::{BoltType, ConfigBuilder, Graph, query};
use opentelemetry::Value as OtelValue;
use opentelemetry_sdk::trace::SpanData;

/// This test's proxied queries among every span of the binary: each names the test's label.
fn spans_of_this_test(label: &str) -> Vec<SpanData> {
    finished_spans()
        .into_iter()
        .filter(|s| str_attr(s, "db.query.text").is_some_and(|t| t.contains(label)))
        .collect()
}

fn graph(uri: String, neo4j: &Neo4jEndpoint) -> Graph {
    let config = ConfigBuilder::default()
        .uri(uri)
        .user(neo4j.user.as_str())
        .password(neo4j.password.as_str())
        .db(neo4j.database.as_str())
        // One connection, so "after the error" really is the same connection.
        .max_connections(1)
        .build()
        .unwrap();
    Graph::connect(config).unwrap()
}

/// Every row of `q` as neo4rs decodes it: each column's value by name (neo4rs keeps a row's
/// columns and a map's entries in hash maps, so their order means nothing).
async fn rows(graph: &Graph, q: neo4rs::Query) -> Vec<Vec<(String, BoltType)>> {
    let mut stream = graph.execute(q).await.expect("query runs");
    let mut out = Vec::new();
    while let Some(row) = stream.next().await.expect("row") {
        let mut columns: Vec<(String, BoltType)> = row
            .keys()
            .into_iter()
            .map(|k| (k.value.clone(), row.get(&k.value).expect("a value")))
            .collect();
        columns.sort_by(|a, b| a.0.cmp(&b.0));
        out.push(columns);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neo4rs_through_the_proxy_gets_what_it_gets_directly() {
    install_tracer();
    let neo4j = neo4j();
    let proxy = RunningProxy::start(&neo4j.addr().to_string()).await;
    let direct = graph(neo4j.uri.clone(), neo4j);
    let proxied = graph(proxy.uri(), neo4j);

    // The shared graph: this run's own label.
    let label = unique("Card");
    proxied
        .run(
            query(&format!(
                "CREATE (:{label} {{id: $id, limit: $limit}})-[:USED_AT {{amount: $amount}}]->(:{label} {{name: $shop}})"
            ))
            .param("id", "card-1")
            .param("limit", 500)
            .param("amount", 42)
            .param("shop", "corner"),
        )
        .await
        .expect("create through the proxy");

    let reads = [
        format!("MATCH (c:{label} {{id: $id}}) RETURN c, c.limit AS limit"),
        format!("MATCH (c:{label})-[u:USED_AT]->(s:{label}) RETURN c, u, s"),
        format!("MATCH p = (:{label})-[:USED_AT]->(:{label}) RETURN p"),
        // Each names the label too (as a column), so its span is this test's.
        format!("UNWIND range(1, 2000) AS i RETURN i, toString(i) AS s, 1 AS {label}"),
        "RETURN date('2024-02-29') AS d, localtime('12:34:56.789') AS lt, \
         time('12:34:56+02:00') AS t, localdatetime('2024-02-29T12:34:56') AS ldt, \
         datetime('2024-02-29T12:34:56.123456789+02:00') AS dt, \
         datetime({year: 2024, month: 7, day: 1, hour: 9, timezone: 'Europe/Paris'}) AS dtz, \
         duration('P1Y2M3DT4H5M6.007S') AS dur, 1 AS {label}"
            .replace("{label}", &label),
        "RETURN point({x: 1.5, y: -2.0}) AS p2, point({x: 1, y: 2, z: 3}) AS p3, \
         point({latitude: 48.85, longitude: 2.35}) AS geo, 1 AS {label}"
            .replace("{label}", &label),
        "RETURN [1, 'a', 2.5, null, true] AS l, {k: 1, nested: {deep: [1, 2]}} AS m, \
         -9223372036854775807 AS min, 'caf\u{e9}' AS s, 1 AS {label}"
            .replace("{label}", &label),
    ];
    for text in &reads {
        let q = || query(text).param("id", "card-1");
        let theirs = rows(&direct, q()).await;
        assert!(!theirs.is_empty(), "{text}");
        assert_eq!(rows(&proxied, q()).await, theirs, "{text}");
    }

    // The same error with the same code, and the one connection works afterwards.
    let code = |e: neo4rs::Error| match e {
        neo4rs::Error::Neo4j(e) => e.code().to_owned(),
        other => panic!("expected a Neo4j error, got {other:?}"),
    };
    // Named by the label too, through its alias.
    let failing = format!("RETURN 1 AS {label} +");
    let theirs = code(direct.run(query(&failing)).await.unwrap_err());
    let ours = code(proxied.run(query(&failing)).await.unwrap_err());
    assert_eq!(ours, theirs);
    assert_eq!(ours, "Neo.ClientError.Statement.SyntaxError");

    // An explicit transaction through the proxy, seen directly.
    let mut txn = proxied.start_txn().await.expect("begin");
    txn.run(query(&format!("CREATE (:{label} {{name: $n}})")).param("n", "second"))
        .await
        .expect("run in tx");
    txn.commit().await.expect("commit");
    let count = format!("MATCH (s:{label}) RETURN count(s) AS n");
    let theirs = rows(&direct, query(&count)).await;
    assert_eq!(rows(&proxied, query(&count)).await, theirs);
    assert_eq!(
        theirs,
        [[("n".to_owned(), BoltType::from(3_i64))]],
        "the two cards and the committed one"
    );

    drop(proxied);
    proxy.stop().await.expect("clean shutdown");

    let spans = spans_of_this_test(&label);
    // The proxied queries: the create, the reads, the failure, the transaction's, the count.
    assert_eq!(spans.len(), 1 + reads.len() + 1 + 1 + 1, "{spans:#?}");
    for s in &spans {
        assert_eq!(
            str_attr(s, "network.protocol.version").as_deref(),
            Some("4.4")
        );
        assert_eq!(
            str_attr(s, "neo4j.bolt.upstream_version").as_deref(),
            Some("4.4")
        );
        assert_eq!(
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "neo4j.bolt.translated")
                .map(|kv| kv.value.clone()),
            Some(OtelValue::Bool(false))
        );
    }
}
