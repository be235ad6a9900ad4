//! The embedded stack (FalkorDB behind the bolt-proxy bridge), the demo's fallback on a machine
//! without a JDK, has no Cypher constraints: `FraudGraph::prepare` gives each label an index
//! instead, created once and then refused as already there (an answer, not an outage), and the
//! analyzer's graph work (write, rules, mark) runs on it as on Neo4j, counting rules included:
//! a card on three devices within the hour fires `card_many_devices` on both servers.

use std::collections::HashMap;

use analyzer::{Config, FraudGraph, PayloadReader, Prepared, Recorded, Rule};
use fixtures::testkit::unique;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falkordb_gets_indexes_where_neo4j_gets_constraints() {
    exporter();
    let stack = fixtures::DevStack::start(fixtures::DevStackOptions::embedded())
        .await
        .expect("the embedded stack starts (FalkorDB, bridge, mock Kafka)");
    let vars: HashMap<&str, String> = stack.env().into_iter().collect();
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("configuration");
    let graph = FraudGraph::connect(&config.neo4j).expect("graph client");

    assert_eq!(
        graph.prepare().await,
        Prepared {
            created: LABELS.len(),
            unanswered: 0
        },
        "a fresh FalkorDB gets an index per label"
    );
    assert_eq!(
        graph.prepare().await,
        Prepared {
            created: 0,
            unanswered: 0
        },
        "indexes already there are refused, which is an answer"
    );
    let mut rows = graph
        .traced()
        .execute(neo4rs::query("CALL db.indexes() YIELD label RETURN label"))
        .await
        .expect("db.indexes()");
    let mut labels = Vec::new();
    while let Some(row) = rows.next().await.expect("index rows") {
        labels.push(row.get::<String>("label").expect("label"));
    }
    labels.sort();
    assert_eq!(labels, all_labels());

    // One card, three devices, minutes apart: clean, clean, then three devices in the hour
    // (the transaction's own device counts).
    let ns = unique("falkordb");
    let card = format!("{ns}-card");
    let mut fired = Vec::new();
    for (i, minute) in [10, 20, 30].into_iter().enumerate() {
        let id = format!("{ns}-tx{i}");
        let payload = transaction(
            &id,
            &card,
            &format!("{ns}-device{i}"),
            &format!("{ns}-account{i}"),
            &format!("2026-03-02T09:{minute}:00Z"),
        );
        let tx = PayloadReader::default()
            .read(Some(payload.as_bytes()))
            .expect("valid");
        assert_eq!(graph.record(&tx).await.expect("recorded"), Recorded::Stored);
        let rules = graph.evaluate(&tx).await.expect("evaluated");
        assert!(graph.mark(tx.id(), &rules).await.expect("marked"));
        fired.push(rules);
    }
    assert_eq!(fired, [vec![], vec![], vec![Rule::CardManyDevices]]);

    stack.shutdown().await;
}
