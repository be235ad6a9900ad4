//! The graph's indexes after an outage: `FraudGraph::prepare` tells a database that answered
//! (created, or refused as already there) from one that never did, which is what keeps the
//! analyzer trying again until every label's index is back. A restart without persistence
//! comes back empty, and the first queries after it meet pooled connections that died with it.

mod support;

use analyzer::{FraudGraph, Prepared};
use support::Harness;

const LABELS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_labels_are_told_apart_until_the_database_is_back() {
    let h = Harness::start("indexes", 1).await;
    let graph = FraudGraph::connect(&h.config().neo4j).expect("graph client");

    assert_eq!(
        graph.prepare().await,
        Prepared {
            created: LABELS,
            unanswered: 0
        },
        "a fresh database gets every index"
    );
    assert_eq!(
        graph.prepare().await,
        Prepared {
            created: 0,
            unanswered: 0
        },
        "indexes already there are refused, which is an answer"
    );

    let falkordb = h.stack.falkordb().expect("FalkorDB");
    falkordb.kill().expect("FalkorDB is killed");
    assert_eq!(
        graph.prepare().await.unanswered,
        LABELS,
        "an unreachable database answers for no label"
    );

    tokio::task::block_in_place(|| falkordb.restart()).expect("FalkorDB restarts");
    // Trying again while labels go unanswered (each try drops dead pooled connections)
    // gets every index back, each created once.
    let mut created = 0;
    for _ in 0..10 {
        let p = graph.prepare().await;
        created += p.created;
        if p.unanswered == 0 {
            break;
        }
    }
    assert_eq!(created, LABELS, "every index re-created after the restart");
    assert_eq!(
        graph.prepare().await,
        Prepared {
            created: 0,
            unanswered: 0
        }
    );
}
