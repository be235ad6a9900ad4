"""One workload for the official Neo4j Python drivers (4.4 and 5.x), printed as JSON.

Run by tests/proxy_python_drivers_get_the_same_results.rs against FalkorDB directly and through
bolt-proxy; the outputs must be identical. Usage: same_results.py BOLT_URI TAG
Everything the script creates carries TAG, so several runs can share one database.
"""

import json
import sys

import neo4j


def main():
    uri, tag = sys.argv[1], sys.argv[2]
    out = {}
    driver = neo4j.GraphDatabase.driver(uri, auth=("falkordb", ""))
    try:
        with driver.session() as s:
            out["return1"] = s.run("RETURN 1 AS x").single()["x"]

            counters = s.run(
                "CREATE (a:Acct {tag: $tag, n: 1})-[:PAID {amount: 5}]->(b:Acct {tag: $tag, n: 2})",
                tag=tag,
            ).consume().counters
            out["created"] = [
                counters.nodes_created,
                counters.relationships_created,
                counters.properties_set,
            ]

            rec = s.run(
                "MATCH (a:Acct {tag: $tag, n: 1})-[r:PAID]->(b:Acct) RETURN a, r, b", tag=tag
            ).single()
            out["node"] = [sorted(rec["a"].labels), dict(rec["a"])]
            out["rel"] = [
                rec["r"].type,
                dict(rec["r"]),
                dict(rec["r"].start_node) if rec["r"].start_node is not None else None,
                dict(rec["r"].end_node) if rec["r"].end_node is not None else None,
            ]

            path = s.run(
                "MATCH p = (:Acct {tag: $tag, n: 1})-[:PAID]->(:Acct) RETURN p", tag=tag
            ).single()["p"]
            out["path"] = [
                len(path),
                [dict(n) for n in path.nodes],
                [r.type for r in path.relationships],
            ]

            rows = [r["i"] for r in s.run("UNWIND range(1, 3000) AS i RETURN i")]
            out["rows"] = [len(rows), sum(rows), rows[:3]]

            out["values"] = s.run(
                "RETURN 1.5 AS f, 'caf\u00e9' AS s, true AS b, null AS z, [1, 'a'] AS l, {k: 1} AS m, -17 AS neg, 4294967296 AS big"
            ).single().data()

            out["params"] = s.run(
                "RETURN $i AS i, $s AS s, $l AS l, $m AS m",
                i=42,
                s="x",
                l=[1, 2, 3],
                m={"a": 1},
            ).single().data()

            try:
                s.run("RETURN 1 +").consume()
                out["error"] = None
            except neo4j.exceptions.Neo4jError as e:
                out["error"] = type(e).__name__
            out["after_error"] = s.run("RETURN 2 AS y").single()["y"]

            tx = s.begin_transaction()
            tx.run("CREATE (:Acct {tag: $tag, n: 3})", tag=tag).consume()
            out["in_tx"] = tx.run(
                "MATCH (a:Acct {tag: $tag}) RETURN count(a) AS c", tag=tag
            ).single()["c"]
            tx.commit()

            # execute_read in 5.x, read_transaction in 4.4: the same managed transaction.
            read = getattr(s, "execute_read", None) or s.read_transaction
            out["managed"] = read(
                lambda tx: tx.run(
                    "MATCH (a:Acct {tag: $tag}) RETURN a.n AS n ORDER BY n", tag=tag
                ).value()
            )
    finally:
        driver.close()
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
