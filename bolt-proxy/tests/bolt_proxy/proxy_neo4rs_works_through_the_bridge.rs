//! neo4rs speaks Bolt 4.4 only and FalkorDB 5.1-5.7 only: through the proxy's translation
//! neo4rs creates, matches, passes parameters, reads nodes, relationships and paths, sees a
//! syntax error, and keeps using the same connection after it.

use crate::proxy_support::{FalkorDb, RunningProxy};
use neo4rs::{ConfigBuilder, Graph, Node, Path, Relation, query};

async fn graph(proxy: &RunningProxy) -> Graph {
    let config = ConfigBuilder::default()
        .uri(proxy.uri())
        .user("falkordb")
        .password("")
        // One connection, so "after the error" really is the same connection.
        .max_connections(1)
        .build()
        .unwrap();
    Graph::connect(config).unwrap()
}

#[tokio::test]
async fn neo4rs_reads_and_writes_through_the_proxy() {
    let db = FalkorDb::start();
    let proxy = RunningProxy::start(&db.bolt_addr()).await;
    let graph = graph(&proxy).await;

    // Create with parameters.
    graph
        .run(
            query("CREATE (:Card {id: $id, limit: $limit})-[:USED_AT {amount: $amount}]->(:Shop {name: $shop})")
                .param("id", "card-1")
                .param("limit", 500)
                .param("amount", 42)
                .param("shop", "corner"),
        )
        .await
        .expect("create");

    // Match a node back, with a parameter.
    let mut rows = graph
        .execute(query("MATCH (c:Card {id: $id}) RETURN c, c.limit AS limit").param("id", "card-1"))
        .await
        .expect("match");
    let row = rows.next().await.expect("row").expect("one row");
    let card: Node = row.get("c").expect("a node");
    assert_eq!(card.labels(), vec!["Card".to_owned()]);
    assert_eq!(card.get::<String>("id").unwrap(), "card-1");
    assert_eq!(row.get::<i64>("limit").unwrap(), 500);
    assert!(rows.next().await.unwrap().is_none());
    // A stream holds the pool's only connection until dropped; shadowing would not drop it.
    drop(rows);

    // A relationship with its end nodes.
    let mut rows = graph
        .execute(query("MATCH (c:Card)-[u:USED_AT]->(s:Shop) RETURN c, u, s"))
        .await
        .expect("match rel");
    let row = rows.next().await.unwrap().unwrap();
    let c: Node = row.get("c").unwrap();
    let u: Relation = row.get("u").unwrap();
    let s: Node = row.get("s").unwrap();
    assert_eq!(u.typ(), "USED_AT");
    assert_eq!(u.get::<i64>("amount").unwrap(), 42);
    assert_eq!(u.start_node_id(), c.id());
    assert_eq!(u.end_node_id(), s.id());
    assert_eq!(s.get::<String>("name").unwrap(), "corner");
    drop(rows);

    // A path.
    let mut rows = graph
        .execute(query("MATCH p = (:Card)-[:USED_AT]->(:Shop) RETURN p"))
        .await
        .expect("match path");
    let row = rows.next().await.unwrap().unwrap();
    let p: Path = row.get("p").unwrap();
    assert_eq!(p.nodes().len(), 2);
    assert_eq!(p.rels().len(), 1);
    assert_eq!(p.rels()[0].typ(), "USED_AT");
    assert!(rows.next().await.unwrap().is_none());
    drop(rows);

    // A list of rows.
    let mut rows = graph
        .execute(query("UNWIND range(1, 5) AS i RETURN i"))
        .await
        .unwrap();
    let mut seen = vec![];
    while let Some(row) = rows.next().await.unwrap() {
        seen.push(row.get::<i64>("i").unwrap());
    }
    assert_eq!(seen, [1, 2, 3, 4, 5]);
    drop(rows);

    // A syntax error comes back as a Neo4j error with the server's code ...
    let err = graph
        .run(query("RETURN 1 +"))
        .await
        .expect_err("syntax error");
    match &err {
        neo4rs::Error::Neo4j(e) => assert!(e.code().contains("SyntaxError"), "{e:?}"),
        other => panic!("expected a Neo4j error, got {other:?}"),
    }

    // ... and the same (only) connection works afterwards.
    let mut rows = graph
        .execute(query("MATCH (c:Card {id: $id}) RETURN c.limit AS limit").param("id", "card-1"))
        .await
        .expect("query after the error");
    let row = rows.next().await.unwrap().unwrap();
    assert_eq!(row.get::<i64>("limit").unwrap(), 500);
    drop(rows);

    // Explicit transaction.
    let mut txn = graph.start_txn().await.expect("begin");
    txn.run(query("CREATE (:Shop {name: $n})").param("n", "second"))
        .await
        .expect("run in tx");
    txn.commit().await.expect("commit");
    let mut rows = graph
        .execute(query("MATCH (s:Shop) RETURN count(s) AS n"))
        .await
        .unwrap();
    assert_eq!(
        rows.next().await.unwrap().unwrap().get::<i64>("n").unwrap(),
        2
    );

    proxy.stop().await.expect("clean shutdown");
}
