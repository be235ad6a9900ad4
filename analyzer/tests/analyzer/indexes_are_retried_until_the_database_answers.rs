//! The graph's schema after an outage: `FraudGraph::prepare` tells a database that answered
//! (created, or refused as already there) from one that never did, which is what keeps the
//! analyzer trying again until every label's uniqueness constraint is in place. On Neo4j the
//! constraint also brings the index. A killed and restarted Neo4j keeps its schema, and the
//! first queries after the restart meet pooled connections that died with it; a schema that did
//! go missing (dropped constraints, or the plain index an earlier analyzer created in a
//! constraint's place) is put right on the next try.

use analyzer::{FraudGraph, Prepared};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_labels_are_told_apart_until_the_database_is_back() {
    let h = Harness::start_with("indexes", 1, Private::Neo4j).await;
    let graph = FraudGraph::connect(&h.config().neo4j).expect("graph client");
    let admin = h.graph();

    assert_eq!(
        graph.prepare().await,
        Prepared {
            created: LABELS.len(),
            unanswered: 0
        },
        "a fresh database gets every constraint"
    );
    assert_eq!(
        unique_id_constraints(&admin).await,
        all_labels(),
        "uniqueness constraints, not plain indexes"
    );
    assert_eq!(
        graph.prepare().await,
        Prepared {
            created: 0,
            unanswered: 0
        },
        "constraints already there are an answer"
    );

    let neo4j = h.private_neo4j();
    neo4j.kill().expect("Neo4j is killed");
    assert_eq!(
        graph.prepare().await.unanswered,
        LABELS.len(),
        "an unreachable database answers for no label"
    );

    tokio::task::block_in_place(|| neo4j.restart()).expect("Neo4j restarts");
    // Trying again while labels go unanswered (each try drops dead pooled connections) gets
    // an answer for every label; Neo4j kept its constraints, so none is created again.
    let mut created = 0;
    let mut answered = false;
    for _ in 0..10 {
        let p = graph.prepare().await;
        created += p.created;
        if p.unanswered == 0 {
            answered = true;
            break;
        }
    }
    assert!(answered, "every label answered after the restart");
    assert_eq!(created, 0, "the restarted database kept every constraint");
    assert_eq!(unique_id_constraints(&admin).await, all_labels());

    // A schema that went missing: two constraints dropped, and in the place of one of them the
    // plain index an earlier analyzer created (which would stand in the constraint's way).
    for label in ["Card", "Device"] {
        admin
            .run(neo4rs::query(&format!(
                "DROP CONSTRAINT `{}` IF EXISTS",
                constraint_name(&admin, label).await
            )))
            .await
            .expect("constraint dropped");
    }
    admin
        .run(neo4rs::query(
            "CREATE INDEX IF NOT EXISTS FOR (n:Device) ON (n.id)",
        ))
        .await
        .expect("plain index created");
    assert_eq!(plain_id_indexes(&admin).await, ["Device"]);
    assert_eq!(
        graph.prepare().await,
        Prepared {
            created: 2,
            unanswered: 0
        },
        "the missing constraints are created, the plain index replaced"
    );
    assert_eq!(unique_id_constraints(&admin).await, all_labels());
    assert!(plain_id_indexes(&admin).await.is_empty());
}

/// The name of the uniqueness constraint on `(:label {id})`.
async fn constraint_name(graph: &neo4rs::Graph, label: &str) -> String {
    let mut rows = graph
        .execute(
            neo4rs::query(
                "SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties \
                 WHERE type = 'UNIQUENESS' AND labelsOrTypes = [$label] AND properties = ['id'] \
                 RETURN name",
            )
            .param("label", label),
        )
        .await
        .expect("SHOW CONSTRAINTS");
    let row = rows
        .next()
        .await
        .expect("constraint rows")
        .unwrap_or_else(|| panic!("a constraint on {label}"));
    row.get("name").expect("name")
}
