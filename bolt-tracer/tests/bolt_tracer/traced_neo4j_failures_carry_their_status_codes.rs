//! Failures as Neo4j itself reports them: a syntax error, a uniqueness-constraint violation
//! and a deadlock between two transactions each end the failing query's span with
//! `error.type` and `db.response.status_code` set to Neo4j's status code and status ERROR,
//! nothing of the server's message (which quotes the query and the offending values), and
//! neo4rs's error unchanged. A transaction the server ended that way carries the code too.

use std::time::Duration;

use crate::traced_support::{Harness, count_label, server_transactions};
use fixtures::testkit::{attr, eventually, unique};
use neo4rs::query;
use opentelemetry::trace::Status;
use opentelemetry_sdk::trace::SpanData;

/// Long enough for a lock wait to show in `SHOW TRANSACTIONS` on a busy machine.
const BLOCKED_TIMEOUT: Duration = Duration::from_secs(30);

/// The span failed with `code`, as Neo4j reported it, and leaks none of `secrets`.
fn assert_failed_with(span: &SpanData, code: &str, secrets: &[&str]) {
    assert_eq!(
        attr(span, "db.response.status_code").as_deref(),
        Some(code),
        "{span:#?}"
    );
    assert_eq!(attr(span, "error.type").as_deref(), Some(code));
    let Status::Error { description } = &span.status else {
        panic!("status ERROR expected: {span:#?}");
    };
    assert_eq!(description.as_ref(), code);
    for kv in &span.attributes {
        let v = kv.value.to_string();
        for secret in secrets {
            assert!(
                !v.contains(secret),
                "{secret:?} leaked into {}: {v}",
                kv.key
            );
        }
    }
}

/// neo4rs's error is the server's failure with `code`, untouched.
fn assert_server_code(err: &neo4rs::Error, code: &str) {
    let neo4rs::Error::Neo4j(server) = err else {
        panic!("expected a server failure, got {err:?}");
    };
    assert_eq!(server.code(), code, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syntax_error_records_neo4j_s_code_from_execute_and_in_a_transaction() {
    const CODE: &str = "Neo.ClientError.Statement.SyntaxError";
    let h = Harness::start().await;
    let graph = h.graph();

    let err = graph
        .execute(query(
            "MATCH (n:Card {pan: '4111111111111111'}) RETRUN n.executed",
        ))
        .await
        .expect_err("not valid Cypher");
    assert_server_code(&err, CODE);
    let spans = h.query_spans("RETRUN n.executed");
    assert_eq!(spans.len(), 1);
    assert_failed_with(&spans[0], CODE, &["4111111111111111"]);

    let mut txn = graph.start_txn().await.unwrap();
    let err = txn
        .run(query(
            "MATCH (n:Card {pan: '5500000000000004'}) RETRUN n.in_txn",
        ))
        .await
        .expect_err("not valid Cypher");
    assert_server_code(&err, CODE);
    // Neo4j has ended the transaction: what follows on it is ignored, COMMIT included.
    txn.commit()
        .await
        .expect_err("the server rolled the transaction back");
    let spans = h.query_spans("RETRUN n.in_txn");
    assert_eq!(spans.len(), 1);
    assert_failed_with(&spans[0], CODE, &["5500000000000004"]);
    let txns = h.transaction_spans();
    assert_eq!(txns.len(), 1);
    assert_eq!(
        attr(&txns[0], "neo4j.transaction.outcome").as_deref(),
        Some("commit_failed")
    );
    assert_failed_with(&txns[0], CODE, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uniqueness_violation_records_constraint_validation_failed() {
    const CODE: &str = "Neo.ClientError.Schema.ConstraintValidationFailed";
    let h = Harness::start().await;
    let graph = h.graph();
    let label = unique("UniqueAccount");
    let constraint = unique("unique_account_id");
    let secret = "acct-secret-7731";

    graph
        .run(query(&format!(
            "CREATE CONSTRAINT {constraint} FOR (a:{label}) REQUIRE a.id IS UNIQUE"
        )))
        .await
        .expect("the constraint is created");
    let schema = &h.query_spans("CREATE CONSTRAINT")[0];
    assert_eq!(attr(schema, "db.query.type").as_deref(), Some("s"));
    let create = format!("CREATE (:{label} {{id: $id}})");
    graph
        .run(query(&create).param("id", secret))
        .await
        .expect("the first node is created");
    let err = graph
        .run(query(&create).param("id", secret))
        .await
        .expect_err("a second node with the same id violates the constraint");
    assert_server_code(&err, CODE);
    // Neo4j's message names the offending value: the span must not.
    assert!(format!("{err:?}").contains(secret));

    let spans = h.query_spans(&format!("CREATE (:{label}"));
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].status, Status::Unset);
    assert_failed_with(&spans[1], CODE, &[secret]);
    assert_eq!(count_label(graph.inner(), &label).await, 1);

    graph
        .run(query(&format!("DROP CONSTRAINT {constraint}")))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_records_the_transient_deadlock_detected() {
    const CODE: &str = "Neo.TransientError.Transaction.DeadlockDetected";
    let h = Harness::start().await;
    let graph = h.graph();
    let observer = h.neo4rs_with(1);
    let label = unique("Deadlock");
    graph
        .run(query(&format!(
            "CREATE (:{label} {{k: 'a'}}), (:{label} {{k: 'b'}})"
        )))
        .await
        .unwrap();
    let set = |node: &str, by: &str| {
        query(&format!(
            "MATCH (n:{label} {{k: '{node}'}}) SET n.by = '{by}'"
        ))
    };

    // Each transaction locks one node, then asks for the other's.
    let mut first = graph.start_txn().await.unwrap();
    let mut second = graph.start_txn().await.unwrap();
    first.run(set("a", "first")).await.unwrap();
    second.run(set("b", "second")).await.unwrap();
    let wait_for_b = set("b", "first");
    let first_waits = tokio::spawn(async move {
        let result = first.run(wait_for_b).await;
        (first, result)
    });
    let (observer, marker) = (&observer, &label);
    eventually(
        "the first transaction waits for the second's lock",
        BLOCKED_TIMEOUT,
        || async move {
            server_transactions(observer, marker)
                .await
                .into_iter()
                .any(|t| t.status.starts_with("Blocked"))
                .then_some(())
        },
    )
    .await;
    let closing = second.run(set("a", "second")).await;
    let (first, waited) = first_waits.await.unwrap();

    // Neo4j breaks the cycle by failing one of the two; the other then gets its lock.
    let (failed, survivor) = match (&waited, &closing) {
        (Ok(_), Err(e)) => {
            assert_server_code(e, CODE);
            (second, first)
        }
        (Err(e), Ok(_)) => {
            assert_server_code(e, CODE);
            (first, second)
        }
        _ => panic!("exactly one side fails: {waited:?} / {closing:?}"),
    };
    drop(failed);
    survivor.commit().await.expect("the survivor commits");

    let spans = h.query_spans(&format!("MATCH (n:{label}"));
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let failing: Vec<_> = spans
        .iter()
        .filter(|s| matches!(s.status, Status::Error { .. }))
        .collect();
    assert_eq!(failing.len(), 1, "one query failed: {spans:#?}");
    assert_failed_with(failing[0], CODE, &[]);

    let txns = h.transaction_spans();
    assert_eq!(txns.len(), 2);
    let dropped = txns
        .iter()
        .find(|t| attr(t, "neo4j.transaction.outcome").as_deref() == Some("dropped"))
        .expect("the deadlocked transaction's span");
    assert_eq!(failing[0].parent_span_id, dropped.span_context.span_id());
    assert_failed_with(dropped, CODE, &[]);
    let committed = txns
        .iter()
        .find(|t| attr(t, "neo4j.transaction.outcome").as_deref() == Some("committed"))
        .expect("the survivor's span");
    assert_eq!(committed.status, Status::Unset);
}
