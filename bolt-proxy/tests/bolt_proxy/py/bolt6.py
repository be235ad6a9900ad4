"""What Bolt 6.0 adds, through the official 6.x Python driver, printed as JSON.

Run by tests/proxy_speaks_bolt_6_to_the_newest_neo4j.rs through bolt-proxy. Usage: bolt6.py URI,
logging in as NEO4J_USER with NEO4J_PASSWORD from the environment. Reports the protocol version
the driver negotiated, vectors (Bolt 6.0's Vector structure) returned by the server and sent as
parameters, a UUID (a type of Bolt 6.1: over 6.0 the server sends an UnsupportedType structure
in its place), and the GQL status and Neo4j code of a failing query.
"""

import json
import os
import sys

import neo4j
from neo4j.vector import Vector


def main():
    uri = sys.argv[1]
    auth = (os.environ["NEO4J_USER"], os.environ["NEO4J_PASSWORD"])
    out = {}
    driver = neo4j.GraphDatabase.driver(uri, auth=auth)
    try:
        with driver.session() as s:
            s.run("RETURN 1").consume()
            out["protocol_version"] = list(driver.get_server_info().protocol_version)

            ints = s.run("CYPHER 25 RETURN vector([1, -2, 3], 3, INTEGER8) AS v").single()["v"]
            out["vector_i8"] = [ints.dtype.value, ints.to_native()]
            floats = s.run("CYPHER 25 RETURN vector([1.5, -2.25], 2, FLOAT32) AS v").single()["v"]
            out["vector_f32"] = [floats.dtype.value, floats.to_native()]
            echoed = s.run(
                "CYPHER 25 RETURN $v AS v", v=Vector([0.5, 1e100, -3.0], "f64")
            ).single()["v"]
            out["vector_param"] = [echoed.dtype.value, echoed.to_native()]

            uuid = s.run(
                "CYPHER 25 RETURN uuid($s) AS u", s="deb22890-8248-4f8c-8c71-a3b435f3e5dc"
            ).single()["u"]
            if isinstance(uuid, neo4j.types.UnsupportedType):
                out["uuid"] = [
                    "UnsupportedType",
                    uuid.name,
                    list(uuid.minimum_protocol_version),
                ]
            else:
                out["uuid"] = [type(uuid).__name__]

            try:
                s.run("RETURN 1 +").consume()
                out["failure"] = None
            except neo4j.exceptions.Neo4jError as e:
                out["failure"] = [e.gql_status, e.code]
            out["after_failure"] = s.run("RETURN 2 AS y").single()["y"]
    finally:
        driver.close()
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
