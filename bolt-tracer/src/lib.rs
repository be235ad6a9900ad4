//! bolt-tracer: Cypher query spans for Neo4j, from inside a Rust service or at the wire.
//!
//! Two ways in, one set of conventions (see the workspace `DESIGN.md`):
//! - the traced neo4rs wrappers (`TracedGraph`, `TracedTxn`, traced row streams) for Rust services;
//! - [`bolt`], a Bolt wire codec, and [`proxy`], a Bolt proxy built on it that traces any client
//!   and bridges Bolt 4.4 clients to Bolt 5 servers.

pub mod bolt;
pub mod proxy;
mod query_attrs;
mod traced;

pub use traced::{
    OVERFLOW_FINGERPRINT, QueryStat, QueryStatistics, TracedDetachedRowStream, TracedGraph,
    TracedGraphBuilder, TracedRowStream, TracedTxn,
};
