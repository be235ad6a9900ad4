//! bolt-tracer: Cypher query spans for Neo4j from inside a Rust service.
//!
//! - the traced neo4rs wrappers (`TracedGraph`, `TracedTxn`, traced row streams; feature
//!   `neo4rs`, on by default): every query becomes a span;
//! - [`conventions`]: the one definition of what a query span is named and which attributes
//!   and metrics it gets (see the workspace `DESIGN.md`), the cache of prepared queries and the
//!   tracer and meter they are recorded with; shared with the `bolt-proxy` crate, which traces
//!   queries at the wire and depends on this crate without the wrappers.
//!
//! ```no_run
//! # #[cfg(feature = "neo4rs")]
//! # async fn quickstart() -> Result<(), neo4rs::Error> {
//! use bolt_tracer::TracedGraph;
//!
//! let config = neo4rs::ConfigBuilder::default()
//!     .uri("bolt://127.0.0.1:7687")
//!     .user("neo4j")
//!     .password("password")
//!     .build()?;
//! // The spans go to the global tracer provider as it is when each query starts.
//! let graph = TracedGraph::builder(neo4rs::Graph::connect(config)?)
//!     .uri("bolt://127.0.0.1:7687")
//!     .build();
//! // One CLIENT span named `CREATE Card`, its text `CREATE (:Card {id: $id})`: never the value.
//! graph
//!     .run(neo4rs::query("CREATE (:Card {id: $id})").param("id", "card-1"))
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! `examples/quickstart.rs` runs the same against a real server and prints the spans.

pub mod conventions;
#[cfg(feature = "neo4rs")]
mod traced;

#[cfg(feature = "neo4rs")]
pub use traced::{
    OVERFLOW_FINGERPRINT, QueryStat, QueryStatistics, TracedDetachedRowStream, TracedGraph,
    TracedGraphBuilder, TracedRowStream, TracedTxn,
};
