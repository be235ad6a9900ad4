//! Table tests for every rule of the resource (`db.query.text`), one test per rule.

use cypher::normalize;

#[track_caller]
fn normalises_to(input: &str, expected: &str) {
    let n = normalize(input);
    assert_eq!(n.resource, expected, "input: {input:?}");
    // Every expectation is also a fixed point.
    assert_eq!(
        normalize(&n.resource).resource,
        expected,
        "not idempotent: {input:?}"
    );
}

#[test]
fn string_literals_become_placeholders() {
    normalises_to("RETURN 'a', \"b\", ''", "RETURN ?, ?, ?");
    normalises_to(
        r"MATCH (n {name: 'O\'Brien'}) RETURN n",
        "MATCH (n {name: ?}) RETURN n",
    );
    normalises_to(
        r#"RETURN "say \"hi\"", 'tab\t', '\u00e9\\'"#,
        "RETURN ?, ?, ?",
    );
    normalises_to("RETURN 'a' + 'b'", "RETURN ? + ?");
    normalises_to("RETURN 'it''s'", "RETURN ??");
}

#[test]
fn numbers_in_every_form_become_placeholders() {
    normalises_to(
        "RETURN 1, 1.5, .5, 1e-3, 0x1F, 0o17, 1_000, 6.02E23, 12abc",
        "RETURN ?, ?, ?, ?, ?, ?, ?, ?, ?",
    );
}

#[test]
fn booleans_become_placeholders_null_stays() {
    normalises_to("RETURN true, FALSE, null", "RETURN ?, ?, NULL");
    normalises_to(
        "MATCH (n) WHERE n.active = true RETURN n",
        "MATCH (n) WHERE n.active = ? RETURN n",
    );
    normalises_to("RETURN {true: 1}", "RETURN {?: ?}");
}

#[test]
fn a_unary_sign_is_part_of_the_number_a_binary_minus_stays() {
    normalises_to("RETURN -1", "RETURN ?");
    normalises_to("RETURN +1.5, - 2", "RETURN ?, ?");
    normalises_to("RETURN [-1, 2]", "RETURN [?]");
    normalises_to("RETURN a - 1", "RETURN a - ?");
    normalises_to("RETURN a-1", "RETURN a-?");
    normalises_to("RETURN a -1", "RETURN a -?");
    normalises_to("RETURN a - -1", "RETURN a - ?");
    normalises_to("RETURN 5 - 3, 5-3", "RETURN ? - ?, ?-?");
    normalises_to(
        "RETURN (a) - 1, xs[0] - 1, f(x) - 1, $p - 1, ? - 1",
        "RETURN (a) - ?, xs[?] - ?, f(x) - ?, $p - ?, ? - ?",
    );
    normalises_to(
        "RETURN x * -2, x = -1, x < -1",
        "RETURN x * ?, x = ?, x < ?",
    );
    normalises_to("RETURN n.x - 1, null - 1", "RETURN n.x - ?, NULL - ?");
    normalises_to("RETURN - - 1, -(1), -x", "RETURN ?, -(?), -x");
    normalises_to(
        "MATCH (n) WHERE n.x = -1.5e3 RETURN n LIMIT -1",
        "MATCH (n) WHERE n.x = ? RETURN n LIMIT ?",
    );
}

#[test]
fn lists_of_constants_collapse_whatever_their_length() {
    normalises_to(
        "MATCH (n) WHERE n.id IN [1,2] RETURN n",
        "MATCH (n) WHERE n.id IN [?] RETURN n",
    );
    normalises_to(
        "MATCH (n) WHERE n.id IN [1, 2, 3] RETURN n",
        "MATCH (n) WHERE n.id IN [?] RETURN n",
    );
    normalises_to("RETURN ['a', \"b\", 3.5, true, null]", "RETURN [?]");
    normalises_to("RETURN [1, $p, ?]", "RETURN [?]");
    normalises_to("RETURN [[1,2],[3]], [[[1]], [2, 3]]", "RETURN [?], [?]");
    normalises_to("RETURN [], [[]], [[], []]", "RETURN [], [?], [?]");
}

#[test]
fn lists_of_maps_and_calls_keep_each_distinct_shape_once() {
    normalises_to("RETURN [{a:1},{a:2}]", "RETURN [{a:?}]");
    normalises_to("RETURN [{a: 1}, {a: 2}, {a: 3}]", "RETURN [{a: ?}]");
    normalises_to(
        "RETURN [{a: 1}, {b: 2}, {a: 3}, 4, 5]",
        "RETURN [{a: ?}, {b: ?}, ?]",
    );
    normalises_to(
        "UNWIND [{id: 1, name: 'a'}, {id: 2, name: 'b'}] AS row RETURN row",
        "UNWIND [{id: ?, name: ?}] AS row RETURN row",
    );
    normalises_to(
        "RETURN [date('2020-01-01'), date('2021-01-01')]",
        "RETURN [date(?)]",
    );
    normalises_to("RETURN [[{a: 1}], [{a: 2}, {a: 3}]]", "RETURN [[{a: ?}]]");
    normalises_to("RETURN [{a: [1, 2]}, {a: [3]}]", "RETURN [{a: [?]}]");
    normalises_to(
        "UNWIND [{id: $id0, n: $n0}, {id: $id1, n: $n1}] AS row RETURN row",
        "UNWIND [{id: ?, n: ?}] AS row RETURN row",
    );
    normalises_to(
        "RETURN [f($a), f(1)], [{a: $p}, 2]",
        "RETURN [f(?)], [{a: ?}, ?]",
    );
}

#[test]
fn lists_with_expressions_keep_their_structure() {
    normalises_to("RETURN [x IN list | x*2]", "RETURN [x IN list | x*?]");
    normalises_to(
        "RETURN [x IN [1,2,3] WHERE x > 1 | x]",
        "RETURN [x IN [?] WHERE x > ? | x]",
    );
    normalises_to(
        "RETURN [n.a, 1], [1, x], [1 + 2]",
        "RETURN [n.a, ?], [?, x], [? + ?]",
    );
    normalises_to("RETURN [(a)-->(b) | b.name]", "RETURN [(a)-->(b) | b.name]");
    normalises_to("RETURN [{a: x}, {a: 1}]", "RETURN [{a: x}, {a: ?}]");
    normalises_to("RETURN [f(x), f(1)]", "RETURN [f(x), f(?)]");
}

#[test]
fn indexes_and_slices_are_not_lists() {
    normalises_to(
        "RETURN xs[0], xs[1..3], xs[$i], xs[-1], [1,2][0]",
        "RETURN xs[?], xs[?..?], xs[$i], xs[?], [?][?]",
    );
}

#[test]
fn maps_keep_keys_and_normalise_values() {
    normalises_to("RETURN {name: 'Ann', age: 3}", "RETURN {name: ?, age: ?}");
    normalises_to("MATCH (n {k: 1}) RETURN n", "MATCH (n {k: ?}) RETURN n");
    normalises_to("RETURN {a: [1,2], b: {c: 3}}", "RETURN {a: [?], b: {c: ?}}");
    normalises_to(
        "RETURN {limit: 1, order: 2, `my key`: 3, Match: 4}",
        "RETURN {limit: ?, order: ?, `my key`: ?, Match: ?}",
    );
    normalises_to(
        "RETURN n {.name, .age, k: 1, .*}",
        "RETURN n {.name, .age, k: ?, .*}",
    );
    normalises_to("RETURN {}", "RETURN {}");
}

#[test]
fn parameters_stay_as_written_legacy_ones_too() {
    normalises_to(
        "MATCH (n {id: $id}) WHERE n.x = $0 AND n.y = $`odd name` RETURN n",
        "MATCH (n {id: $id}) WHERE n.x = $0 AND n.y = $`odd name` RETURN n",
    );
    normalises_to(
        "MATCH (n {props}) WHERE n.x = {param} RETURN n",
        "MATCH (n {props}) WHERE n.x = {param} RETURN n",
    );
    // The legacy positional form is a number: it goes.
    normalises_to("RETURN {0}", "RETURN {?}");
}

#[test]
fn limit_and_skip_values_go() {
    normalises_to(
        "MATCH (n) RETURN n SKIP 10 LIMIT 5",
        "MATCH (n) RETURN n SKIP ? LIMIT ?",
    );
    normalises_to(
        "MATCH (n) RETURN n OFFSET 1 LIMIT $l",
        "MATCH (n) RETURN n OFFSET ? LIMIT $l",
    );
}

#[test]
fn variable_length_bounds_and_quantifiers_stay() {
    normalises_to(
        "MATCH (a)-[*1..3]->(b) RETURN b",
        "MATCH (a)-[*1..3]->(b) RETURN b",
    );
    normalises_to(
        "MATCH (a)-[:R*..5]->(b), (a)<-[r:T*2]-(c), (a)-[* 2 .. ]-(d) RETURN b",
        "MATCH (a)-[:R*..5]->(b), (a)<-[r:T*2]-(c), (a)-[* 2 .. ]-(d) RETURN b",
    );
    normalises_to(
        "MATCH p = shortestPath((a)-[*..15]->(b)) RETURN p",
        "MATCH p = shortestPath((a)-[*..15]->(b)) RETURN p",
    );
    normalises_to(
        "MATCH ((a)-[:R]->(b)){1,3} RETURN a",
        "MATCH ((a)-[:R]->(b)){1,3} RETURN a",
    );
    normalises_to(
        "MATCH (a)-[:R]->{2,}(b), (a)-->{,4}(c) RETURN a",
        "MATCH (a)-[:R]->{2,}(b), (a)-->{,4}(c) RETURN a",
    );
    // Numbers elsewhere in a relationship pattern still go.
    normalises_to(
        "MATCH (a)-[r:R*1..2 {w: 3}]->(b) RETURN b",
        "MATCH (a)-[r:R*1..2 {w: ?}]->(b) RETURN b",
    );
    normalises_to(
        "MATCH (a)-[r WHERE r.w > 2 * 3]->(b) RETURN b",
        "MATCH (a)-[r WHERE r.w > ? * ?]->(b) RETURN b",
    );
    normalises_to("RETURN count(*) * 2, x*2", "RETURN count(*) * ?, x*?");
    // A malformed number is never structural.
    normalises_to(
        "MATCH (a)-[*1abc..2]->(b) RETURN b",
        "MATCH (a)-[*?..2]->(b) RETURN b",
    );
    normalises_to(
        "CYPHER 5x MATCH (n) RETURN n",
        "CYPHER ? MATCH (n) RETURN n",
    );
}

#[test]
fn an_unterminated_literal_is_replaced_to_the_end() {
    normalises_to(
        "MATCH (n) WHERE n.name = 'Ann RETURN n",
        "MATCH (n) WHERE n.name = ?",
    );
    normalises_to("RETURN \"abc", "RETURN ?");
    normalises_to("RETURN `name 'x' RETURN 1", "RETURN ?");
    normalises_to("RETURN $`p 'x'", "RETURN ?");
    normalises_to("RETURN 1 /* 'x'", "RETURN ?");
    let n = normalize("MATCH (n) WHERE n.card = '4111 1111");
    assert!(n.resource.ends_with('?'));
    assert!(n.error.is_some());
}

#[test]
fn comments_are_dropped_and_whitespace_collapses() {
    normalises_to(
        "  MATCH\n\t(n)   // why\nRETURN /* c */ n  ",
        "MATCH (n) RETURN n",
    );
    normalises_to("RETURN a/*c*/b", "RETURN a b");
    normalises_to("MATCH(n)RETURN n", "MATCH(n)RETURN n");
    normalises_to("// only a comment", "");
    normalises_to("", "");
}

#[test]
fn keywords_are_upper_cased_names_keep_their_case() {
    normalises_to(
        "match (n:Person) where n.Name = $x return n.Name as Name",
        "MATCH (n:Person) WHERE n.Name = $x RETURN n.Name AS Name",
    );
    normalises_to(
        "MATCH (n:`Weird Label`) RETURN n.`a b`, `Match`",
        "MATCH (n:`Weird Label`) RETURN n.`a b`, `Match`",
    );
    normalises_to(
        "match (n:Order) return n.order, n.match, n.limit as limit",
        "MATCH (n:Order) RETURN n.order, n.match, n.limit AS limit",
    );
    normalises_to(
        "return count(n), Count(*), exists(n.x), any(x IN l WHERE x)",
        "RETURN count(n), Count(*), exists(n.x), any(x IN l WHERE x)",
    );
    normalises_to(
        "match (n) where exists { (n)-->() } return count { (n)-->() }",
        "MATCH (n) WHERE EXISTS { (n)-->() } RETURN COUNT { (n)-->() }",
    );
    normalises_to(
        "MATCH (node:Node) RETURN node.type, type(r), node",
        "MATCH (node:Node) RETURN node.type, type(r), node",
    );
    normalises_to(
        "call db.labels() yield label return label",
        "CALL db.labels() YIELD label RETURN label",
    );
    normalises_to(
        "CALL db.index.fulltext.queryNodes('idx', 'x') YIELD node",
        "CALL db.index.fulltext.queryNodes(?, ?) YIELD node",
    );
}

#[test]
fn labels_types_and_label_expressions_stay() {
    normalises_to(
        "MATCH (n:A|B)-[:KNOWS|LIKES]->(m:A&!B) WHERE n:C AND m IS D RETURN n",
        "MATCH (n:A|B)-[:KNOWS|LIKES]->(m:A&!B) WHERE n:C AND m IS D RETURN n",
    );
    normalises_to("MATCH (n:(A|B)&%) RETURN n", "MATCH (n:(A|B)&%) RETURN n");
}

#[test]
fn clauses_prefixes_and_commands() {
    normalises_to(
        "OPTIONAL MATCH (n) DETACH DELETE n",
        "OPTIONAL MATCH (n) DETACH DELETE n",
    );
    normalises_to(
        "LOAD CSV WITH HEADERS FROM 'file:///x.csv' AS row FIELDTERMINATOR ';' RETURN row",
        "LOAD CSV WITH HEADERS FROM ? AS row FIELDTERMINATOR ? RETURN row",
    );
    normalises_to(
        "FOREACH (x IN [1,2] | CREATE (:N {v: x}))",
        "FOREACH (x IN [?] | CREATE (:N {v: x}))",
    );
    normalises_to("USE db MATCH (n) RETURN n", "USE db MATCH (n) RETURN n");
    normalises_to(
        "explain profile MATCH (n) RETURN n",
        "EXPLAIN PROFILE MATCH (n) RETURN n",
    );
    normalises_to(
        "CYPHER 5 runtime=slotted MATCH (n) RETURN 1",
        "CYPHER 5 runtime=slotted MATCH (n) RETURN ?",
    );
    normalises_to(
        "CYPHER 25 MATCH (n) RETURN n",
        "CYPHER 25 MATCH (n) RETURN n",
    );
    normalises_to(
        "MATCH (a) RETURN a UNION ALL MATCH (b) RETURN b",
        "MATCH (a) RETURN a UNION ALL MATCH (b) RETURN b",
    );
    normalises_to(
        "CALL { MATCH (n) RETURN n } IN TRANSACTIONS OF 1000 ROWS RETURN n",
        "CALL { MATCH (n) RETURN n } IN TRANSACTIONS OF ? ROWS RETURN n",
    );
    normalises_to(
        "CALL apoc.periodic.iterate('MATCH (n) RETURN n', 'SET n.x = 1', {batchSize: 1000})",
        "CALL apoc.periodic.iterate(?, ?, {batchSize: ?})",
    );
    normalises_to("show indexes yield *", "SHOW INDEXES YIELD *");
    normalises_to(
        "create index idx for (n:L) on (n.p)",
        "CREATE INDEX idx FOR (n:L) ON (n.p)",
    );
    normalises_to(
        "create constraint c for (n:L) require n.p is node key",
        "CREATE CONSTRAINT c FOR (n:L) REQUIRE n.p IS NODE KEY",
    );
    normalises_to(
        "CREATE USER bob SET PASSWORD 'secret'",
        "CREATE USER bob SET PASSWORD ?",
    );
    normalises_to("RETURN 1; RETURN 'a'", "RETURN ?; RETURN ?");
}
