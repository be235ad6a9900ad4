"""One workload for the official Neo4j Python drivers (4.4, 5.x and 6.x), printed as JSON.

Run by the proxy tests against a server directly and through bolt-proxy; the outputs must be
identical. Usage: same_results.py URI TAG, logging in as NEO4J_USER with NEO4J_PASSWORD from
the environment (default: FalkorDB's user, no password).
Everything the script creates carries TAG, so several runs can share one database.
Prints two lines: the results, then the server addresses the driver's connections reached
(they differ between runs, so they are kept apart from the results).
"""

import json
import os
import sys

import neo4j


def main():
    uri, tag = sys.argv[1], sys.argv[2]
    auth = (os.environ.get("NEO4J_USER", "falkordb"), os.environ.get("NEO4J_PASSWORD", ""))
    out = {}
    addresses = set()

    def reached(result):
        addresses.add(str(result.consume().server.address))

    driver = neo4j.GraphDatabase.driver(uri, auth=auth)
    try:
        with driver.session() as s:
            first = s.run("RETURN 1 AS x")
            out["return1"] = first.single()["x"]
            reached(first)

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
            reached(tx.run("CREATE (:Acct {tag: $tag, n: 3})", tag=tag))
            out["in_tx"] = tx.run(
                "MATCH (a:Acct {tag: $tag}) RETURN count(a) AS c", tag=tag
            ).single()["c"]
            tx.commit()

            def managed(tx):
                result = tx.run("MATCH (a:Acct {tag: $tag}) RETURN a.n AS n ORDER BY n", tag=tag)
                values = result.value()
                reached(result)
                return values

            # execute_read in 5.x and 6.x, read_transaction in 4.4: the same managed transaction.
            read = getattr(s, "execute_read", None) or s.read_transaction
            out["managed"] = read(managed)
    finally:
        driver.close()
    print(json.dumps(out, sort_keys=True))
    print(json.dumps(sorted(addresses)))


if __name__ == "__main__":
    main()
