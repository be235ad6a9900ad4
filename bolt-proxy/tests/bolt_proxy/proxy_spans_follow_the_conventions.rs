//! The proxy's spans, read from the SDK's in-memory exporter: one CLIENT span per query, the
//! DESIGN.md attributes, right row counts, the server's database, timings, query type and
//! counters (Neo4j 5.26, passed through at Bolt 5.8), no literal or parameter value anywhere,
//! error spans with the status code and the GQL status, and the parent taken from
//! `tx_metadata.traceparent` of RUN and BEGIN. Translation (Bolt 4.4 -> 5.7) and FalkorDB's
//! unasked streams are shown against FalkorDB.

use bolt::{Map, Request, Response, Value, Version};
use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
// The test reads attributes as OpenTelemetry values (`attr`) and as text (`str_attr`).
use crate::proxy_support::{
    FalkorDb, RawClient, RunningProxy, finished_spans, install_tracer, neo4j,
    spans_to_port as spans_for,
};
use fixtures::testkit::{attr as str_attr, attr_value as attr, int_attr, unique};
use opentelemetry::Value as OtelValue;
use opentelemetry_sdk::trace::SpanData;

/// No attribute, name or status of any span holds one of `secrets`.
fn assert_no_leak(spans: &[SpanData], secrets: &[&str]) {
    for s in spans {
        let mut texts = vec![s.name.to_string()];
        texts.extend(s.attributes.iter().map(|kv| kv.value.as_str().into_owned()));
        if let Status::Error { description } = &s.status {
            texts.push(description.to_string());
        }
        for t in &texts {
            for secret in secrets {
                assert!(
                    !t.contains(secret),
                    "{secret:?} leaked into span {:?}: {t:?}",
                    s.name
                );
            }
        }
    }
}

fn by_text<'a>(spans: &'a [SpanData], needle: &str) -> &'a SpanData {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| str_attr(s, "db.query.text").is_some_and(|t| t.contains(needle)))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one span whose text holds {needle:?}: {spans:#?}"
    );
    found[0]
}

fn traceparent_extra(trace: &str, span: &str) -> Map {
    let md: Map = [
        ("traceparent", Value::from(format!("00-{trace}-{span}-01"))),
        ("tracestate", Value::from("vendor=x")),
    ]
    .into_iter()
    .collect();
    [("tx_metadata", Value::Map(md))].into_iter().collect()
}

/// The finished spans whose query text holds `marker` (a test's unique label or alias: the
/// Neo4j server is shared).
fn spans_marked(marker: &str) -> Vec<SpanData> {
    finished_spans()
        .into_iter()
        .filter(|s| str_attr(s, "db.query.text").is_some_and(|t| t.contains(marker)))
        .collect()
}

/// Reads answers until `summaries` summaries (anything but RECORD) have come; the rows seen.
async fn drain(c: &mut RawClient, summaries: usize) -> usize {
    let (mut seen, mut rows) = (0, 0);
    while seen < summaries {
        match c.recv().await {
            Response::Record { .. } => rows += 1,
            _ => seen += 1,
        }
    }
    rows
}

#[tokio::test]
async fn passthrough_spans_carry_the_conventions() {
    install_tracer();
    let neo4j = neo4j();
    // Every query names this run's own label or alias: the graph is shared, and so are the
    // spans of this test binary.
    let id = unique("");
    let card = format!("Card{id}");
    let proxy = RunningProxy::start(&neo4j.addr().to_string()).await;
    let mut c = RawClient::login_neo4j(proxy.addr, Version::V5_8, neo4j).await;

    let (run, rows, _) = c.query(&format!("RETURN 1 AS x{id}")).await;
    assert!(matches!(run, Response::Success { .. }));
    assert_eq!(rows.len(), 1);

    let (_, rows, _) = c
        .query(&format!(
            "CREATE (c:{card} {{number: '4111-1111-9999', limit: 777013579}}) RETURN c"
        ))
        .await;
    assert_eq!(rows.len(), 1);

    c.run(
        &format!("MATCH (c:{card}) WHERE c.limit > $min RETURN c.limit AS l"),
        [("min", Value::Int(424242421))].into_iter().collect(),
        Map::new(),
    )
    .await;
    assert_eq!(drain(&mut c, 2).await, 1);

    let (_, rows, _) = c
        .query(&format!("UNWIND range(1, 250) AS i{id} RETURN i{id}"))
        .await;
    assert_eq!(rows.len(), 250);

    // A syntax error whose server message quotes the query, literal included.
    let (run, _, _) = c
        .query(&format!("MATCH (n:{card} {{pin: '9876-pin'}}) RETURN n +"))
        .await;
    let Response::Failure { metadata: failure } = run else {
        panic!("expected a failure, got {run:?}")
    };
    assert!(
        failure
            .get_str("message")
            .unwrap_or("")
            .contains("9876-pin")
    );
    let gql_status = failure
        .get_str("gql_status")
        .expect("a 5.8 FAILURE has a GQL status")
        .to_owned();

    // Pipelined: two queries in one batch.
    for q in [
        format!("UNWIND range(1, 3) AS i{id} RETURN i{id}"),
        format!("UNWIND range(1, 4) AS j{id} RETURN j{id}"),
    ] {
        c.w.queue_request(&Request::Run {
            query: q,
            parameters: Map::new(),
            extra: Map::new(),
        })
        .unwrap();
        c.w.queue_request(&Request::Pull {
            extra: [("n", Value::Int(-1))].into_iter().collect(),
        })
        .unwrap();
    }
    c.w.flush().await.unwrap();
    assert_eq!(drain(&mut c, 4).await, 7);

    // Auto-commit RUN carrying a traceparent.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    c.run(
        &format!("MATCH (c:{card}) RETURN count(c) AS n"),
        Map::new(),
        traceparent_extra(trace, parent),
    )
    .await;
    assert_eq!(drain(&mut c, 2).await, 1);

    // Explicit transaction: BEGIN carries the traceparent and the database.
    let tx_trace = "0af7651916cd43dd8448eb211c80319c";
    let tx_parent = "b7ad6b7169203331";
    let mut begin = traceparent_extra(tx_trace, tx_parent);
    begin.insert("db", neo4j.database.as_str());
    c.w.queue_request(&Request::Begin { extra: begin }).unwrap();
    c.w.flush().await.unwrap();
    assert!(matches!(c.recv().await, Response::Success { .. }));
    let (_, rows, _) = c
        .query(&format!("UNWIND range(1, 2) AS k{id} RETURN k{id}"))
        .await;
    assert_eq!(rows.len(), 2);
    let (_, rows, _) = c.query(&format!("CREATE (:{card} {{n: 5}})")).await;
    assert!(rows.is_empty());
    c.w.queue_request(&Request::Commit).unwrap();
    c.w.flush().await.unwrap();
    assert!(matches!(c.recv().await, Response::Success { .. }));

    // Schema: the query type Neo4j calls "s".
    for q in [
        format!("CREATE INDEX idx{id} IF NOT EXISTS FOR (c:{card}) ON (c.number)"),
        format!("DROP INDEX idx{id}"),
    ] {
        let (_, _, summary) = c.query(&q).await;
        assert!(matches!(summary, Response::Success { .. }), "{summary:?}");
    }

    c.w.queue_request(&Request::Goodbye).unwrap();
    c.w.flush().await.unwrap();
    drop(c);
    proxy.stop().await.unwrap();

    let spans = spans_marked(&id);
    assert_eq!(spans.len(), 12, "one span per RUN: {spans:#?}");
    for s in &spans {
        assert_eq!(s.span_kind, SpanKind::Client);
        assert_eq!(s.instrumentation_scope.name(), "bolt-proxy");
        assert_eq!(
            s.instrumentation_scope.version(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(str_attr(s, "db.system.name").as_deref(), Some("neo4j"));
        assert_eq!(str_attr(s, "server.address").as_deref(), Some("127.0.0.1"));
        assert_eq!(
            int_attr(s, "server.port"),
            Some(i64::from(neo4j.addr().port()))
        );
        assert_eq!(
            str_attr(s, "network.protocol.name").as_deref(),
            Some("bolt")
        );
        assert_eq!(
            str_attr(s, "network.protocol.version").as_deref(),
            Some("5.8")
        );
        assert_eq!(
            str_attr(s, "neo4j.bolt.upstream_version").as_deref(),
            Some("5.8")
        );
        assert_eq!(
            attr(s, "neo4j.bolt.translated"),
            Some(OtelValue::Bool(false))
        );
        assert_eq!(
            str_attr(s, "db.query.text"),
            str_attr(s, "resource.name"),
            "resource.name is the normalised text"
        );
        assert_eq!(
            str_attr(s, "db.query.summary").as_deref(),
            Some(s.name.as_ref()),
            "the span name is the summary"
        );
        assert!(int_attr(s, "db.response.returned_rows").is_some());
        if s.status == Status::Unset {
            // No RUN named a database outside the transaction: Neo4j says which it used.
            assert_eq!(
                str_attr(s, "db.namespace").as_deref(),
                Some(neo4j.database.as_str()),
                "{s:#?}"
            );
            assert!(int_attr(s, "neo4j.server.t_first_ms").is_some(), "{s:#?}");
            assert!(int_attr(s, "neo4j.server.t_last_ms").is_some(), "{s:#?}");
            assert!(str_attr(s, "db.query.type").is_some(), "{s:#?}");
        }
    }
    // Whole literals, long enough that no port, count or timing holds them by chance.
    assert_no_leak(
        &spans,
        &["4111-1111", "777013579", "424242421", "9876-pin", "pin'"],
    );

    let one = by_text(&spans, &format!("RETURN ? AS x{id}"));
    assert_eq!(one.name, "RETURN");
    assert_eq!(int_attr(one, "db.response.returned_rows"), Some(1));
    assert_eq!(
        str_attr(one, "db.operation.name").as_deref(),
        Some("RETURN")
    );
    assert_eq!(str_attr(one, "db.query.type").as_deref(), Some("r"));
    assert_eq!(one.status, Status::Unset);

    let create = by_text(&spans, &format!("CREATE (c:{card}"));
    assert_eq!(create.name, format!("CREATE {card}"));
    assert_eq!(str_attr(create, "db.collection.name"), Some(card.clone()));
    assert_eq!(str_attr(create, "db.query.type").as_deref(), Some("rw"));
    assert_eq!(int_attr(create, "neo4j.stats.nodes_created"), Some(1));
    assert_eq!(int_attr(create, "neo4j.stats.labels_added"), Some(1));
    assert_eq!(int_attr(create, "neo4j.stats.properties_set"), Some(2));

    let param = by_text(&spans, "$min");
    assert_eq!(
        str_attr(param, "db.operation.name").as_deref(),
        Some("MATCH")
    );
    assert_eq!(str_attr(param, "db.query.type").as_deref(), Some("r"));

    // Literals normalised away: the 250-row and the 3-row query share one text.
    let unwind_i = format!("UNWIND range(?, ?) AS i{id} RETURN i{id}");
    let same_text = spans
        .iter()
        .filter(|s| str_attr(s, "db.query.text").as_deref() == Some(unwind_i.as_str()))
        .count();
    assert_eq!(same_text, 2);
    let mut counts: Vec<_> = spans
        .iter()
        .filter(|s| str_attr(s, "db.query.text").is_some_and(|t| t.starts_with("UNWIND")))
        .map(|s| int_attr(s, "db.response.returned_rows").unwrap())
        .collect();
    counts.sort();
    assert_eq!(counts, [2, 3, 4, 250], "row counts of the UNWIND queries");

    let failed = by_text(&spans, "{pin: ?}");
    let code = "Neo.ClientError.Statement.SyntaxError";
    assert_eq!(str_attr(failed, "error.type").as_deref(), Some(code));
    assert_eq!(
        str_attr(failed, "db.response.status_code").as_deref(),
        Some(code)
    );
    assert_eq!(
        str_attr(failed, "neo4j.gql_status"),
        Some(gql_status),
        "the FAILURE's GQL status"
    );
    assert_eq!(
        failed.status,
        Status::Error {
            description: code.into()
        }
    );
    assert_eq!(int_attr(failed, "db.response.returned_rows"), Some(0));
    assert_eq!(
        str_attr(failed, "neo4j.result.ending"),
        None,
        "the server's FAILURE ends a result the normal way"
    );

    let child = by_text(&spans, "count(c)");
    assert_eq!(
        child.span_context.trace_id(),
        TraceId::from_hex(trace).unwrap()
    );
    assert_eq!(child.parent_span_id, SpanId::from_hex(parent).unwrap());

    let in_tx = by_text(&spans, &format!("AS k{id} RETURN k{id}"));
    assert_eq!(
        in_tx.span_context.trace_id(),
        TraceId::from_hex(tx_trace).unwrap()
    );
    assert_eq!(in_tx.parent_span_id, SpanId::from_hex(tx_parent).unwrap());
    let write = by_text(&spans, "{n: ?}");
    assert_eq!(str_attr(write, "db.query.type").as_deref(), Some("w"));
    assert_eq!(write.parent_span_id, SpanId::from_hex(tx_parent).unwrap());
    assert_eq!(int_attr(write, "neo4j.stats.nodes_created"), Some(1));

    let index = by_text(&spans, "CREATE INDEX");
    assert_eq!(str_attr(index, "db.query.type").as_deref(), Some("s"));
    assert_eq!(int_attr(index, "neo4j.stats.indexes_added"), Some(1));
    let dropped = by_text(&spans, "DROP INDEX");
    assert_eq!(str_attr(dropped, "db.query.type").as_deref(), Some("s"));
    assert_eq!(int_attr(dropped, "neo4j.stats.indexes_removed"), Some(1));

    // Queries without a traceparent start their own traces.
    assert_eq!(one.parent_span_id, SpanId::INVALID);
}

#[tokio::test]
async fn translated_spans_name_both_versions() {
    install_tracer();
    let db = FalkorDb::start();
    let proxy = RunningProxy::start(&db.bolt_addr()).await;
    let mut c = RawClient::login(proxy.addr, Version::V4_4).await;
    let (_, rows, _) = c.query("UNWIND range(1, 10) AS i RETURN i").await;
    assert_eq!(rows.len(), 10);
    drop(c);
    proxy.stop().await.unwrap();

    let spans = spans_for(db.bolt_port);
    assert_eq!(spans.len(), 1);
    let s = &spans[0];
    assert_eq!(
        str_attr(s, "network.protocol.version").as_deref(),
        Some("4.4")
    );
    assert_eq!(
        str_attr(s, "neo4j.bolt.upstream_version").as_deref(),
        Some("5.7")
    );
    assert_eq!(
        attr(s, "neo4j.bolt.translated"),
        Some(OtelValue::Bool(true))
    );
    assert_eq!(int_attr(s, "db.response.returned_rows"), Some(10));
}

/// A client that waits for the RUN's SUCCESS before it sends PULL: FalkorDB streams the records
/// and the summary right after the SUCCESS, unasked, and ignores the PULL when it comes. The
/// span still gets its rows and ends with that summary, at the time it passed (spans are built
/// later, see `trace`), and the next query on the connection gets its own answers.
#[tokio::test]
async fn a_stream_sent_before_its_pull_still_belongs_to_the_query() {
    install_tracer();
    let db = FalkorDb::start();
    let proxy = RunningProxy::start(&db.bolt_addr()).await;
    let mut c = RawClient::login(proxy.addr, Version::new(5, 7)).await;
    let before = std::time::SystemTime::now();
    c.w.queue_request(&Request::Run {
        query: "UNWIND range(1, 3) AS i RETURN i".into(),
        parameters: Map::new(),
        extra: Map::new(),
    })
    .unwrap();
    c.w.flush().await.unwrap();
    assert!(matches!(c.recv().await, Response::Success { .. }));
    // The client's own pause before it asks for the records is the behaviour under test (not a
    // wait for an event): FalkorDB streams them meanwhile.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let pull_sent = std::time::SystemTime::now();
    c.w.queue_request(&Request::Pull {
        extra: [("n", Value::Int(-1))].into_iter().collect(),
    })
    .unwrap();
    c.w.flush().await.unwrap();
    for _ in 0..3 {
        assert!(matches!(c.recv().await, Response::Record { .. }));
    }
    assert!(matches!(c.recv().await, Response::Success { .. }));
    // The next query, pipelined as drivers do: its answers are its own.
    let (run, rows, _) = c.query("UNWIND range(1, 5) AS i RETURN i").await;
    assert!(matches!(run, Response::Success { .. }));
    assert_eq!(rows.len(), 5);
    drop(c);
    proxy.stop().await.unwrap();

    let spans = spans_for(db.bolt_port);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let first = spans
        .iter()
        .find(|s| int_attr(s, "db.response.returned_rows") == Some(3))
        .expect("the first query's span, with its 3 rows");
    assert_eq!(str_attr(first, "neo4j.result.ending"), None, "{first:#?}");
    assert!(before <= first.start_time && first.start_time <= first.end_time);
    assert!(
        first.end_time <= pull_sent,
        "the stream ended before the PULL"
    );
    let second = spans
        .iter()
        .find(|s| int_attr(s, "db.response.returned_rows") == Some(5))
        .expect("the second query's span, with its 5 rows");
    assert_eq!(str_attr(second, "neo4j.result.ending"), None, "{second:#?}");
}
