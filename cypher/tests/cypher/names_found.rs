//! Table tests for the labels and relationship types a query names (`Normalized::labels`,
//! `Normalized::relationship_types`) and for its collection (`Normalized::collection`).

use cypher::normalize;

#[track_caller]
fn finds(input: &str, labels: &[&str], types: &[&str]) {
    let n = normalize(input);
    assert_eq!(
        n.labels().collect::<Vec<_>>(),
        labels,
        "labels of {input:?}"
    );
    assert_eq!(
        n.relationship_types().collect::<Vec<_>>(),
        types,
        "types of {input:?}"
    );
    // The names are those of the resource: normalising it again finds the same.
    let again = normalize(&n.resource);
    assert!(again.labels().eq(n.labels()), "labels again: {input:?}");
    assert!(
        again.relationship_types().eq(n.relationship_types()),
        "types again: {input:?}"
    );
    assert_eq!(
        again.collection(),
        n.collection(),
        "collection again: {input:?}"
    );
}

#[track_caller]
fn collection_of(input: &str, expected: Option<&str>) {
    assert_eq!(normalize(input).collection(), expected, "{input:?}");
}

#[test]
fn node_labels_from_patterns() {
    finds("MATCH (n:Person) RETURN n", &["Person"], &[]);
    finds(
        "MATCH (n:Person:Employee), (:Team) RETURN n",
        &["Person", "Employee", "Team"],
        &[],
    );
    finds(
        "CREATE (:A)-[:R]->(:B)<-[:S]-(:A)",
        &["A", "B"],
        &["R", "S"],
    );
    finds("MERGE (n:Person {id: 1}) RETURN n", &["Person"], &[]);
    finds("MATCH (n IS Person) RETURN n", &["Person"], &[]);
}

#[test]
fn relationship_types_from_relationship_patterns() {
    finds("MATCH ()-[:KNOWS]->() RETURN 1", &[], &["KNOWS"]);
    finds(
        "MATCH ()-[r:KNOWS|LIKES]->() RETURN r",
        &[],
        &["KNOWS", "LIKES"],
    );
    finds(
        "MATCH ()-[r:KNOWS|:LIKES]->() RETURN r",
        &[],
        &["KNOWS", "LIKES"],
    );
    finds("MATCH ()-[r IS KNOWS]->() RETURN r", &[], &["KNOWS"]);
    finds("MATCH ()-[:KNOWS*1..3]->() RETURN 1", &[], &["KNOWS"]);
    finds("MATCH ()-[:(A|B)&!C]->() RETURN 1", &[], &["A", "B", "C"]);
    finds(
        "MATCH (a)-[r:R WHERE r:X AND (a)-->(:Y)]->(b) RETURN a",
        &["Y"],
        &["R", "X"],
    );
}

#[test]
fn labels_in_set_remove_and_expressions() {
    finds(
        "MATCH (n) SET n:Admin REMOVE n:Guest",
        &["Admin", "Guest"],
        &[],
    );
    finds(
        "MATCH (n) WHERE n:Person OR n:Robot RETURN n",
        &["Person", "Robot"],
        &[],
    );
    finds(
        "MATCH (n) WITH n WHERE n:Late RETURN n:Later",
        &["Late", "Later"],
        &[],
    );
    finds("MATCH (n:(A|B)&!C), (m:%) RETURN n", &["A", "B", "C"], &[]);
    finds(
        "MATCH (n) WHERE EXISTS { MATCH (n)-[:R]->(:Inner) } RETURN n",
        &["Inner"],
        &["R"],
    );
    finds(
        "CREATE INDEX i FOR ()-[r:KNOWS]-() ON (r.since)",
        &[],
        &["KNOWS"],
    );
}

#[test]
fn each_name_once_in_order_of_first_appearance_as_written() {
    finds(
        "MATCH (a:B)-[:R]->(b:A)-[:R]->(c:B) MERGE (d:A) RETURN 1",
        &["B", "A"],
        &["R"],
    );
    // A name may be both a label and a type.
    finds("MATCH (a:X)-[:X]->() RETURN a", &["X"], &["X"]);
    // Backticks and case are kept: these are three names.
    finds(
        "MATCH (a:Person), (b:`Person`), (c:person) RETURN 1",
        &["Person", "`Person`", "person"],
        &[],
    );
    finds("MATCH (n:`Team Lead`) RETURN n", &["`Team Lead`"], &[]);
    finds(
        "match (n:MATCH)-[:return]->() return n",
        &["MATCH"],
        &["return"],
    );
}

#[test]
fn never_a_literal_or_a_parameter() {
    finds("RETURN 'n:Person', \"(:Label)\"", &[], &[]);
    finds("MATCH (n {name: 'a:b'}) RETURN n", &[], &[]);
    finds("MATCH (n:$($label)) RETURN n", &[], &[]);
    finds("MATCH (n) WHERE n:true RETURN n", &[], &[]);
    finds("MATCH (n:`unterminated", &[], &[]);
    finds("RETURN {a: 1, b: 2}, {key: $p}", &[], &[]);
    finds("MATCH (n) // (m:Commented)\nRETURN n", &[], &[]);
}

#[test]
fn none_without_names() {
    finds("", &[], &[]);
    finds("RETURN 1", &[], &[]);
    finds("MATCH (n)-->(m) RETURN n", &[], &[]);
    finds("CALL db.labels()", &[], &[]);
}

#[test]
fn collection_is_the_one_name_of_the_summary() {
    collection_of("MATCH (n:Person) RETURN n", Some("Person"));
    collection_of("MATCH (n:Person) MERGE (m:Person) RETURN n", Some("Person"));
    collection_of("MATCH ()-[r:KNOWS]->() RETURN r", Some("KNOWS"));
    collection_of("OPTIONAL MATCH (c:Card) RETURN c", Some("Card"));
    collection_of(
        "UNWIND $rows AS r MERGE (p:Person {id: r.id})",
        Some("Person"),
    );
    collection_of(
        "CALL db.labels() YIELD label MATCH (c:Card) RETURN c",
        Some("Card"),
    );
    collection_of("CALL { MATCH (n:X) RETURN n } RETURN n", Some("X"));
    // Names outside a graph clause are not in the summary, so they do not count.
    collection_of(
        "MATCH (n:Person) WITH n WHERE n:Admin RETURN n",
        Some("Person"),
    );
    collection_of("MATCH (n:`Team Lead`) RETURN n", Some("`Team Lead`"));
}

#[test]
fn no_collection_with_two_names_or_none_or_a_command() {
    collection_of(
        "MATCH (t:Transaction)-[:USES_CARD]->(c:Card) RETURN c",
        None,
    );
    collection_of("MATCH (n:A) MATCH (m:B) RETURN n", None);
    collection_of("MATCH (n:Person), (m:person) RETURN n", None);
    collection_of("MATCH (n) RETURN n", None);
    collection_of("RETURN 1", None);
    collection_of("RETURN n:Person", None);
    collection_of("CALL db.labels()", None);
    collection_of("", None);
    collection_of("CREATE INDEX i FOR (n:Person) ON (n.name)", None);
    collection_of(
        "CREATE CONSTRAINT c FOR (n:Person) REQUIRE n.id IS UNIQUE",
        None,
    );
    collection_of("SHOW INDEXES", None);
    collection_of("MATCH (n:Person) RETURN n; SHOW INDEXES", None);
    collection_of(
        "MATCH (n:Person) RETURN n; CREATE INDEX FOR (n:Person) ON (n.x)",
        None,
    );
}

#[test]
fn a_name_cut_from_the_summary_does_not_count() {
    // More clauses than fit in 255 characters: the second label is past the cut.
    let query = format!(
        "MATCH (a:First) {} MATCH (b:Second) RETURN a",
        "MATCH (x) ".repeat(60)
    );
    let n = normalize(&query);
    assert!(!n.summary.contains("Second"));
    assert_eq!(n.collection(), Some("First"));
    assert_eq!(n.labels().collect::<Vec<_>>(), ["First", "Second"]);
}

#[test]
fn names_are_bounded() {
    let labels: Vec<String> = (0..300).map(|i| format!("L{i}")).collect();
    let query = format!("MATCH (n:{}) RETURN n", labels.join(":"));
    let n = normalize(&query);
    assert_eq!(n.labels().len(), 128);
    assert!(n.labels().eq(labels.iter().take(128).map(String::as_str)));
}
