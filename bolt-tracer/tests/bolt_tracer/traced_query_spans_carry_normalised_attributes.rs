//! `run` and `execute` spans: normalised text (no literals), summary as the name, rows, the
//! server's summary, and no parameter values.

use crate::traced_support::Harness;
use fixtures::testkit::{attr, int_attr, unique};
use neo4rs::query;
use opentelemetry::trace::{SpanKind, Status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_records_a_client_span_with_safe_attributes() {
    let h = Harness::start().await;
    let graph = h.graph();
    // A label of its own: the graph is shared, and other tests put constraints on `Card`.
    let card = unique("Card");
    let tag = unique("run");
    graph
        .run(
            query(&format!(
                "CREATE (c:{card} {{id: $id, tag: $tag, limit: 4111111111111111}})"
            ))
            .param("id", "card-secret-42")
            .param("tag", tag.as_str()),
        )
        .await
        .expect("the query runs");

    let spans = h.query_spans(&format!("CREATE (c:{card}"));
    assert_eq!(spans.len(), 1, "one span per query: {spans:#?}");
    let s = &spans[0];
    let summary = format!("CREATE {card}");
    assert_eq!(s.span_kind, SpanKind::Client);
    assert_eq!(s.name, summary);
    assert_eq!(
        attr(s, "db.query.text"),
        Some(format!(
            "CREATE (c:{card} {{id: $id, tag: $tag, limit: ?}})"
        ))
    );
    assert_eq!(attr(s, "resource.name"), attr(s, "db.query.text"));
    assert_eq!(attr(s, "db.query.summary"), Some(summary));
    assert_eq!(attr(s, "db.operation.name").as_deref(), Some("CREATE"));
    assert_eq!(attr(s, "db.collection.name"), Some(card.clone()));
    assert_eq!(attr(s, "db.system.name").as_deref(), Some("neo4j"));
    assert_eq!(attr(s, "server.address").as_deref(), Some("127.0.0.1"));
    assert!(int_attr(s, "server.port").is_some());
    assert_eq!(int_attr(s, "db.response.returned_rows"), Some(0));
    assert_eq!(int_attr(s, "neo4j.stats.nodes_created"), Some(1));
    // What Neo4j's result summary says, which FalkorDB's left out.
    assert_eq!(int_attr(s, "neo4j.stats.labels_added"), Some(1));
    assert_eq!(int_attr(s, "neo4j.stats.properties_set"), Some(3));
    assert_eq!(attr(s, "db.query.type").as_deref(), Some("w"));
    assert!(int_attr(s, "neo4j.server.t_first_ms").is_some_and(|t| t >= 0));
    assert_eq!(attr(s, "db.namespace").as_deref(), Some("neo4j"));
    assert_eq!(s.status, Status::Unset);
    for kv in &s.attributes {
        let v = kv.value.to_string();
        assert!(
            !v.contains("4111111111111111") && !v.contains("card-secret-42") && !v.contains(&tag),
            "a literal or parameter value leaked into {}: {v}",
            kv.key
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_read_to_the_end_counts_every_row() {
    let h = Harness::start().await;
    let graph = h.graph();
    let mut rows = graph
        .execute(query("UNWIND range(1, 25) AS i RETURN i"))
        .await
        .unwrap();
    let mut seen = 0;
    while let Some(row) = rows.next().await.unwrap() {
        seen += 1;
        assert_eq!(row.get::<i64>("i").unwrap(), seen);
    }
    assert_eq!(seen, 25);
    // Reading past the end stays at the end, as in neo4rs.
    assert!(rows.next().await.unwrap().is_none());

    let spans = h.query_spans("UNWIND range");
    assert_eq!(spans.len(), 1);
    let s = &spans[0];
    assert_eq!(s.name, "UNWIND");
    assert_eq!(
        attr(s, "db.query.text").as_deref(),
        Some("UNWIND range(?, ?) AS i RETURN i")
    );
    assert_eq!(int_attr(s, "db.response.returned_rows"), Some(25));
    assert_eq!(attr(s, "db.query.type").as_deref(), Some("r"));
    assert_eq!(
        attr(s, "neo4j.result.ending"),
        None,
        "completed is the default"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_stream_and_typed_rows_are_counted_too() {
    use futures::TryStreamExt;
    let h = Harness::start().await;
    let graph = h.graph();
    let mut stream = graph
        .execute(query("UNWIND range(1, 7) AS i RETURN i"))
        .await
        .unwrap();
    let values: Vec<i64> = stream
        .column_into_stream::<i64>("i")
        .try_collect()
        .await
        .unwrap();
    assert_eq!(values, (1..=7).collect::<Vec<_>>());
    let s = &h.query_spans("UNWIND range")[0];
    assert_eq!(int_attr(s, "db.response.returned_rows"), Some(7));
}
