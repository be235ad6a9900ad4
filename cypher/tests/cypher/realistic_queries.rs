//! Realistic query shapes (application queries, the hard cases of the issue) under the same
//! properties as the TCK: no literal leak, idempotence, invariance to literal values and to the
//! length of literal lists.

use crate::common;

use common::{grow_lists, leaks, rewrite_values};
use cypher::normalize;

const QUERIES: &[&str] = &[
    "MATCH (n {k: 1}) WHERE n.x = {param} RETURN n",
    "RETURN {a: 1, b: 'x'} AS m, {a:1} , n {.name, .age}, n{.*, k: 1}",
    "RETURN -1, a - 1, a-1, [-1, 2], x * -2, 5 - -3, (1) - 1, f(x) -1, arr[0] - 1, $p - 1, ? - 1",
    "MATCH (a)-[*1..3]->(b), (a)-[*..5]->(c), (a)-[:R*2]->(d), (a)-[r:T*]-(e) RETURN count(*) * 2",
    "RETURN n.prop, 1.5, .5, 1e-3, 0x1F, 0o17, 1_000, 1.5e10, 12abc",
    "RETURN [{a:1},{a:2}], [{a:1},{a:2},{a:3}], [[1,2],[3]], [1, $p, ?], [x IN list | x*2], [x IN [1,2,3] WHERE x > 1]",
    "RETURN 'it\\'s', \"say \\\"hi\\\"\", 'a\\\\', 'tab\\there', '\\u00e9', 'unterminated",
    "MATCH (n) /* unterminated comment",
    "match (n:Person) return N.Name, n.`weird name`, `Match`",
    "CALL { MATCH (n) RETURN n } CALL db.labels() CALL apoc.periodic.iterate('a', 'b', {batchSize: 100}) YIELD batches RETURN batches",
    "OPTIONAL MATCH (n)-[r]-() DETACH DELETE n",
    "LOAD CSV WITH HEADERS FROM 'https://x/y.csv' AS row MERGE (p:Person {id: toInteger(row.id)})",
    "FOREACH (x IN range(0, 10) | CREATE (:N {v: x}))",
    "USE neo4j MATCH (n) RETURN n",
    "EXPLAIN MATCH (n) RETURN n",
    "PROFILE MATCH (n:A) RETURN n",
    "CYPHER 5 runtime=slotted MATCH (n) RETURN n",
    "CYPHER 25 MATCH (n) RETURN n",
    "MATCH (a:A) RETURN a UNION MATCH (b:B) RETURN b",
    "MATCH (n) WHERE n:Label RETURN n",
    "MATCH (n:A|B), (m:A&B), (o:!A), (p IS C), (q:%) RETURN n",
    "MATCH ()-[r:KNOWS|LIKES]->() RETURN r",
    "SHOW INDEXES",
    "SHOW ALL CONSTRAINTS YIELD name",
    "CREATE INDEX person_name FOR (n:Person) ON (n.name)",
    "CREATE CONSTRAINT c FOR (n:Person) REQUIRE n.id IS UNIQUE",
    "CREATE OR REPLACE DATABASE foo",
    "DROP INDEX person_name IF EXISTS",
    "CREATE USER bob SET PASSWORD 'secret' CHANGE NOT REQUIRED",
    "GRANT MATCH {*} ON GRAPH * NODES Person TO reader",
    "MATCH (n) SET n:Label, n.x = 1 REMOVE n:Old RETURN n",
    "MATCH (n) WHERE EXISTS { MATCH (n)-[:R]->(m:M) } AND n:Y RETURN n",
    "MATCH (n) RETURN COUNT { (n)-->() } AS c, count(n), exists(n.x)",
    "MATCH (n) WITH n ORDER BY n.x DESC SKIP 10 LIMIT 5 RETURN n",
    "MATCH p = shortestPath((a)-[*..15]->(b)) RETURN p",
    "MATCH (n) RETURN CASE WHEN n.x > 1 THEN 'a' ELSE 'b' END",
    "MATCH (n) WHERE n.name =~ '(?i)bob.*' AND n.x <> 3 AND n.y IS NOT NULL RETURN n",
    "UNWIND [{id: 1, name: 'a'}, {id: 2, name: 'b'}] AS row CREATE (n:N) SET n = row",
    "MATCH (n) WHERE n.id IN [1,2,3] AND n.name STARTS WITH 'a' RETURN n",
    "MATCH (n:Person {name: $name})-[:FRIEND*1..2]-(f) RETURN DISTINCT f.name AS name, count(*) AS c ORDER BY c DESC LIMIT $limit",
    "CALL db.index.fulltext.queryNodes('idx', 'query~') YIELD node, score RETURN node",
    "CALL (x) { WITH x MATCH (y:Y) RETURN y } RETURN 1",
    "MATCH (n) CALL { WITH n SET n.x = 1 } IN TRANSACTIONS OF 1000 ROWS ON ERROR CONTINUE",
    "MATCH (n) RETURN n.limit, n.order, {limit: 1, order: 2}, n AS match",
    "RETURN date('2020-01-01'), [date('2020-01-01'), date('2020-02-01')], point({x: 1, y: 2})",
    "MATCH ((a)-[:R]->(b)){1,3} RETURN a",
    "MATCH (a)-[:R]->{2,}(b) RETURN a",
    "RETURN true, false, null, TRUE AND NOT false",
    "MATCH (n) WHERE n.x = -1.5e3 OR n.y = +2 RETURN -n.x",
    "RETURN [1,2,3][0], [1,2,3][1..2], list[-1]",
    "MATCH (n) RETURN n // trailing comment with 'secret'",
    "MATCH (n {name: 'O\\'Brien', note: \"a \\\"q\\\"\"}) RETURN n",
    "RETURN `unterminated backtick 'secret'",
    "RETURN $`odd name`, $0, $1, $`unterminated 'secret'",
    "MERGE (a:A {id: $id}) ON CREATE SET a.created = timestamp() ON MATCH SET a.seen = a.seen + 1 WITH a MATCH (b:B) RETURN b",
    "START n=node(1) RETURN n",
    "RETURN 1; RETURN 2",
    "MATCH (a:Person), (b:Person) WHERE a.name = 'A' AND b.name = 'B' CREATE (a)-[r:RELTYPE {name: a.name + '<->' + b.name}]->(b) RETURN type(r), r.name",
    "RETURN [[1,2],[3]] = [[1,2],[3,4]]",
    "MATCH (n) RETURN n.x-1, n.x -1, n.x - 1",
    "WITH [1, 2, 3] AS xs UNWIND xs AS x RETURN x",
    "RETURN {a: [1,2], b: {c: 3}}",
    "MATCH (n) WHERE n.id IN [] RETURN n",
    "MATCH (n:`My Label` {`my key`: 1}) RETURN n",
    "RETURN 'a' + 'b', \"x\" + 1",
    "MATCH (n)-->(m)<--(o)<-->(p)--(q) RETURN n",
    "MATCH (u:User {email: 'a@b.com'}) SET u.lastLogin = datetime('2024-01-01T00:00:00Z'), u.logins = u.logins + 1 RETURN u",
    "MATCH (a:Account)-[:OWNS]->(c:Card) WHERE c.number STARTS WITH '4111' AND a.balance > 1000.50 RETURN a.id, count(c) AS cards ORDER BY cards DESC LIMIT 20",
    "UNWIND [{id: 'a', amount: 10.5, tags: ['x', 'y']}, {id: 'b', amount: -3, tags: []}] AS tx MERGE (t:Transaction {id: tx.id}) ON CREATE SET t.amount = tx.amount, t.tags = tx.tags",
    "MATCH (n:Person) WHERE n.age >= 18 AND n.age <= 65 AND NOT n.status IN ['banned', 'deleted'] RETURN n SKIP 100 LIMIT 50",
    "MATCH p = (a:Person {name: 'Alice'})-[:KNOWS*1..4]-(b:Person {name: 'Bob'}) RETURN length(p) AS hops ORDER BY hops LIMIT 1",
    "CALL apoc.load.json('https://example.com/data.json') YIELD value UNWIND value.items AS item CREATE (:Item {sku: item.sku, price: toFloat(item.price)})",
    "MATCH (m:Movie) WHERE m.released > 2000 WITH m, rand() AS r ORDER BY r LIMIT 10 RETURN m.title, [(m)<-[:ACTED_IN]-(p) | p.name][0..3] AS cast",
    "WITH point({latitude: 52.52, longitude: 13.40}) AS berlin MATCH (s:Store) WHERE point.distance(s.location, berlin) < 5000 RETURN s",
    "MATCH (n) WHERE id(n) = 12345 DETACH DELETE n",
    "MATCH (c:Customer {id: $customerId})-[:PLACED]->(o:Order) WHERE o.date >= date('2023-01-01') RETURN sum(o.total) AS spent, collect(o.id)[..5] AS recent",
];

#[test]
fn no_leak_and_idempotent() {
    for q in QUERIES {
        let n = normalize(q);
        assert!(
            leaks(q, &n.resource).is_empty(),
            "{q:?} -> {:?}: {:?}",
            n.resource,
            leaks(q, &n.resource)
        );
        let again = normalize(&n.resource);
        assert_eq!(again.resource, n.resource, "{q:?}");
        assert_eq!(again.summary, n.summary, "{q:?}");
    }
}

#[test]
fn invariant_to_literal_values() {
    for q in QUERIES {
        for (seed, negative) in [(3, false), (40, true)] {
            let variant = rewrite_values(q, seed, negative);
            let (a, b) = (normalize(q), normalize(&variant));
            assert_eq!(a.resource, b.resource, "{q:?} vs {variant:?}");
            assert_eq!(a.fingerprint, b.fingerprint);
            assert_eq!(a.summary, b.summary);
        }
    }
}

#[test]
fn invariant_to_the_length_of_literal_lists() {
    let mut grown = 0;
    for q in QUERIES {
        if let Some(variant) = grow_lists(q) {
            grown += 1;
            assert_eq!(
                normalize(q).resource,
                normalize(&variant).resource,
                "{q:?} vs {variant:?}"
            );
        }
    }
    assert!(grown >= 8, "only {grown} queries with a literal list");
}
