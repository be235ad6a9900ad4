//! Table tests for `db.query.summary` and `db.operation.name`.

use cypher::normalize;

#[track_caller]
fn summarises_to(input: &str, summary: &str, operation: &str) {
    let n = normalize(input);
    assert_eq!(n.summary, summary, "summary of {input:?}");
    assert_eq!(n.operation, operation, "operation of {input:?}");
}

#[test]
fn the_issue_examples() {
    summarises_to(
        "MATCH (t:Transaction {id: $id})-[:USES_CARD]->(c:Card) RETURN c",
        "MATCH Transaction USES_CARD Card",
        "MATCH",
    );
    summarises_to(
        "UNWIND $rows AS r MERGE (p:Person {id: r.id})",
        "UNWIND MERGE Person",
        "UNWIND",
    );
    summarises_to(
        "CALL db.labels() YIELD label RETURN label",
        "CALL db.labels",
        "CALL db.labels",
    );
    summarises_to("RETURN 1", "RETURN", "RETURN");
}

#[test]
fn every_graph_clause_in_query_order() {
    summarises_to(
        "OPTIONAL MATCH (n:A) RETURN n",
        "OPTIONAL MATCH A",
        "OPTIONAL MATCH",
    );
    summarises_to(
        "MATCH (a:A) MERGE (a)-[:R]->(b:B) CREATE (c:C) SET c:D REMOVE c:E DELETE a",
        "MATCH A MERGE R B CREATE C SET D REMOVE E DELETE",
        "MATCH",
    );
    summarises_to("MATCH (n) DETACH DELETE n", "MATCH DETACH DELETE", "MATCH");
    summarises_to("MATCH (n) NODETACH DELETE n", "MATCH DELETE", "MATCH");
    summarises_to(
        "LOAD CSV FROM 'x' AS row CREATE (:Row)",
        "LOAD CSV CREATE Row",
        "LOAD CSV",
    );
    summarises_to(
        "LOAD CSV WITH HEADERS FROM 'x' AS row MERGE (:Row)",
        "LOAD CSV MERGE Row",
        "LOAD CSV",
    );
    summarises_to(
        "FOREACH (x IN $xs | CREATE (:N)-[:T]->(:M))",
        "FOREACH CREATE N T M",
        "FOREACH",
    );
    summarises_to(
        "CALL { MATCH (n:A) RETURN n } RETURN n",
        "CALL MATCH A",
        "CALL",
    );
    summarises_to(
        "MATCH (x) CALL (x) { MERGE (x)-[:R]->(:B) } RETURN x",
        "MATCH CALL MERGE R B",
        "MATCH",
    );
    summarises_to(
        "CALL apoc.periodic.iterate('a', 'b', {})",
        "CALL apoc.periodic.iterate",
        "CALL apoc.periodic.iterate",
    );
    summarises_to("CALL db.labels", "CALL db.labels", "CALL db.labels");
    summarises_to(
        "MATCH (n) OPTIONAL CALL db.x(n) YIELD y RETURN y",
        "MATCH OPTIONAL CALL db.x",
        "MATCH",
    );
    summarises_to("INSERT (n:Person)", "INSERT Person", "INSERT");
}

#[test]
fn names_are_deduplicated_within_a_clause_only() {
    summarises_to(
        "MATCH (a:Person)-[:KNOWS]->(b:Person)-[:KNOWS]->(c:Person) MATCH (d:Person) RETURN a",
        "MATCH Person KNOWS MATCH Person",
        "MATCH",
    );
}

#[test]
fn labels_from_where_set_and_label_expressions_join_their_clause() {
    summarises_to("MATCH (n) WHERE n:Label RETURN n", "MATCH Label", "MATCH");
    summarises_to(
        "MATCH (n:A|B), (m:C&!D), (o IS E), (p:%) RETURN n",
        "MATCH A B C D E",
        "MATCH",
    );
    summarises_to(
        "MATCH ()-[r:KNOWS|LIKES|:HATES]->() RETURN r",
        "MATCH KNOWS LIKES HATES",
        "MATCH",
    );
    summarises_to("MATCH (n:`My Label`) RETURN n", "MATCH `My Label`", "MATCH");
    summarises_to(
        "MATCH (n:A) WHERE EXISTS { MATCH (n)-[:R]->(m:M) } AND n:Y RETURN n",
        "MATCH A Y MATCH R M",
        "MATCH",
    );
    // Map values are not labels.
    summarises_to("MATCH (n {name: m}) RETURN n", "MATCH", "MATCH");
    summarises_to(
        "MATCH (n) WHERE n.x IS NOT NULL AND n.y IS :: INTEGER RETURN n",
        "MATCH",
        "MATCH",
    );
}

#[test]
fn merge_actions_belong_to_the_merge() {
    summarises_to(
        "MERGE (a:A {id: 1}) ON CREATE SET a.x = 1 ON MATCH SET a:B RETURN a",
        "MERGE A B",
        "MERGE",
    );
}

#[test]
fn prefixes_never_appear() {
    summarises_to("EXPLAIN MATCH (n:A) RETURN n", "MATCH A", "MATCH");
    summarises_to("PROFILE MATCH (n:A) RETURN n", "MATCH A", "MATCH");
    summarises_to(
        "CYPHER 5 runtime=slotted MATCH (n:A) RETURN n",
        "MATCH A",
        "MATCH",
    );
    summarises_to("USE db MATCH (n:A) RETURN n", "MATCH A", "MATCH");
    summarises_to("USE db RETURN 1", "RETURN", "RETURN");
}

#[test]
fn queries_without_graph_clause_give_their_first_clause_keyword() {
    summarises_to("WITH 1 AS x RETURN x", "WITH", "WITH");
    summarises_to("RETURN 1 UNION RETURN 2", "RETURN", "RETURN");
    summarises_to("(n)", "UNKNOWN", "UNKNOWN");
    summarises_to("'just a string'", "UNKNOWN", "UNKNOWN");
    summarises_to("", "EMPTY", "EMPTY");
    summarises_to("  // nothing\n/* at all */ ", "EMPTY", "EMPTY");
}

#[test]
fn schema_and_administration_commands() {
    summarises_to("SHOW INDEXES", "SHOW INDEXES", "SHOW INDEXES");
    summarises_to(
        "SHOW ALL CONSTRAINTS YIELD *",
        "SHOW CONSTRAINTS",
        "SHOW CONSTRAINTS",
    );
    summarises_to(
        "CREATE INDEX idx FOR (n:Person) ON (n.name)",
        "CREATE INDEX Person",
        "CREATE INDEX",
    );
    summarises_to(
        "CREATE RANGE INDEX FOR ()-[r:KNOWS]-() ON (r.since)",
        "CREATE INDEX KNOWS",
        "CREATE INDEX",
    );
    summarises_to(
        "CREATE INDEX ON :Person(name)",
        "CREATE INDEX Person",
        "CREATE INDEX",
    );
    summarises_to(
        "CREATE CONSTRAINT c FOR (n:Person) REQUIRE n.id IS UNIQUE",
        "CREATE CONSTRAINT Person",
        "CREATE CONSTRAINT",
    );
    summarises_to("DROP INDEX idx IF EXISTS", "DROP INDEX", "DROP INDEX");
    summarises_to(
        "CREATE OR REPLACE DATABASE foo",
        "CREATE DATABASE",
        "CREATE DATABASE",
    );
    summarises_to(
        "GRANT MATCH {*} ON GRAPH * NODES Person TO reader",
        "GRANT",
        "GRANT",
    );
    summarises_to(
        "CREATE USER bob SET PASSWORD 'x' CHANGE NOT REQUIRED",
        "CREATE USER",
        "CREATE USER",
    );
}

#[test]
fn summary_is_cut_at_255_characters_between_names() {
    let labels: Vec<String> = (0..100).map(|i| format!("Label{i:03}")).collect();
    let pattern: Vec<String> = labels.iter().map(|l| format!("(:{l})")).collect();
    let query = format!("MATCH {} RETURN 1", pattern.join(", "));
    let n = normalize(&query);
    assert!(n.summary.len() <= 255, "{}", n.summary.len());
    assert!(n.summary.len() > 240, "cut too early: {}", n.summary.len());
    for word in n.summary.split(' ').skip(1) {
        assert!(
            labels.iter().any(|l| l == word),
            "cut inside a name: {word}"
        );
    }

    let name = "x".repeat(300);
    summarises_to(&format!("CALL {name}()"), "CALL", "CALL");
    let n = normalize(&format!("MATCH (:{name}) RETURN 1"));
    assert_eq!(n.summary, "MATCH");

    let clauses = "MATCH (n) ".repeat(100);
    let n = normalize(&clauses);
    assert!(
        n.summary.len() <= 255 && n.summary.ends_with("MATCH"),
        "{}",
        n.summary
    );
}

#[test]
fn summary_does_not_depend_on_literals() {
    let a = normalize("MATCH (n:A {x: 1}) WHERE n.y IN [1, 2] RETURN n LIMIT 3");
    let b = normalize("MATCH (n:A {x: 'other'}) WHERE n.y IN [5] RETURN n LIMIT 300");
    assert_eq!(a.summary, b.summary);
    assert_eq!(a.operation, b.operation);
}
