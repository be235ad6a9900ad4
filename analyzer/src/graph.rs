//! The fraud graph: where transactions are written and the rules are asked, every query
//! through bolt-tracer's [`TracedGraph`] so each one is a span under the message being
//! processed.
//!
//! The model: `(:Account)-[:INITIATED]->(:Transaction)`, and from the transaction
//! `-[:PAID_WITH]->(:Card)`, `-[:ON_DEVICE]->(:Device)`, `-[:AT_MERCHANT]->(:Merchant)`.
//! Every node is merged on its `id`; transaction properties are set only on creation, so a
//! redelivered record changes nothing. Times are epoch milliseconds (FalkorDB must never be
//! asked for temporal values), parameters are a handful of validated ids and numbers (FalkorDB
//! splices parameters into a 4 KiB buffer).

use std::time::Duration;

use bolt_tracer::TracedGraph;
use neo4rs::{ConfigBuilder, Graph, Query, query};

use crate::config::Neo4jSettings;
use crate::error::{Error, Result};
use crate::rules::Rule;
use crate::transaction::Transaction;

/// Writes the transaction, its card, device, account and merchant, and the relationships.
///
/// The `WITH t WHERE ...` guard makes a record that reuses an existing id with different
/// content write nothing (and return 0): merging its relationships would graft a second card or
/// device onto someone else's transaction.
const RECORD: &str = "MERGE (t:Transaction {id: $id}) \
ON CREATE SET t.account_id = $account_id, t.card_id = $card_id, t.device_id = $device_id, \
t.merchant_id = $merchant_id, t.amount = $amount, t.amount_minor = $amount_minor, \
t.currency = $currency, t.timestamp_ms = $timestamp_ms \
WITH t WHERE t.account_id = $account_id AND t.card_id = $card_id AND t.device_id = $device_id \
AND t.merchant_id = $merchant_id AND t.amount_minor = $amount_minor AND t.currency = $currency \
AND t.timestamp_ms = $timestamp_ms \
MERGE (c:Card {id: $card_id}) \
MERGE (d:Device {id: $device_id}) \
MERGE (a:Account {id: $account_id}) \
MERGE (m:Merchant {id: $merchant_id}) \
MERGE (t)-[:PAID_WITH]->(c) \
MERGE (t)-[:ON_DEVICE]->(d) \
MERGE (a)-[:INITIATED]->(t) \
MERGE (t)-[:AT_MERCHANT]->(m) \
RETURN count(t) AS stored";

/// Records the verdict on the transaction.
const MARK: &str = "MATCH (t:Transaction {id: $id}) \
SET t.suspicious = $suspicious, t.reasons = $reasons \
RETURN count(t) AS marked";

/// What [`FraudGraph::prepare`] achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prepared {
    /// Labels that got their index now.
    pub created: usize,
    /// Labels the database never answered for: their index may be missing.
    pub unanswered: usize,
}

/// The labels whose `id` is indexed, so every `MERGE` and rule starts from an index seek.
const INDEXED_LABELS: [&str; 5] = ["Transaction", "Card", "Device", "Account", "Merchant"];

/// What [`FraudGraph::record`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The transaction is in the graph (written now, or already there with the same content).
    Stored,
    /// A different transaction already has this id; nothing was written.
    Conflict,
}

/// The graph side of the analyzer.
#[derive(Clone, Debug)]
pub struct FraudGraph {
    graph: TracedGraph,
}

impl FraudGraph {
    /// Connects (lazily: no connection is opened until the first query) with the settings'
    /// URI, credentials, database and pool size.
    pub fn connect(settings: &Neo4jSettings) -> Result<FraudGraph> {
        let mut config = ConfigBuilder::default()
            .uri(settings.uri.as_str())
            .user(settings.user.as_str())
            .password(settings.password.as_str())
            .max_connections(settings.max_connections)
            .connection_timeout(Duration::from_secs(5));
        if let Some(db) = &settings.database {
            config = config.db(db.as_str());
        }
        let graph = Graph::connect(config.build().map_err(Error::Graph)?).map_err(Error::Graph)?;
        let mut builder = TracedGraph::builder(graph)
            .uri(&settings.uri)
            .inject_trace_context(settings.inject_trace_context);
        if let Some(db) = &settings.database {
            builder = builder.database(db.as_str());
        }
        Ok(FraudGraph {
            graph: builder.build(),
        })
    }

    /// Wraps an already traced graph.
    pub fn new(graph: TracedGraph) -> FraudGraph {
        FraudGraph { graph }
    }

    /// The traced graph (its statistics feed `GET /stats`).
    pub fn traced(&self) -> &TracedGraph {
        &self.graph
    }

    /// Creates the `id` indexes, best effort: they only make things faster. Neo4j takes
    /// `IF NOT EXISTS`; FalkorDB does not and refuses an index it already has, so each label
    /// tries both forms, and a refusal of both is taken as "already there". A label for which
    /// the database never answered (unreachable, a pooled connection that died with a restart)
    /// is counted in [`Prepared::unanswered`]: worth another try.
    pub async fn prepare(&self) -> Prepared {
        let mut prepared = Prepared::default();
        for label in INDEXED_LABELS {
            let portable = format!("CREATE INDEX IF NOT EXISTS FOR (n:{label}) ON (n.id)");
            let falkordb = format!("CREATE INDEX FOR (n:{label}) ON (n.id)");
            let mut answered = false;
            let mut created = false;
            for text in [portable, falkordb] {
                match self.graph.run(query(&text)).await {
                    Ok(_) => {
                        created = true;
                        break;
                    }
                    // The server refused this form: it is up, and has the index or wants the
                    // other form.
                    Err(neo4rs::Error::Neo4j(_)) => answered = true,
                    Err(_) => {}
                }
            }
            if created {
                prepared.created += 1;
            } else if !answered {
                prepared.unanswered += 1;
            }
        }
        prepared
    }

    /// Writes the transaction and its neighbours (idempotent).
    pub async fn record(&self, tx: &Transaction) -> neo4rs::Result<Recorded> {
        let q = query(RECORD)
            .param("id", tx.id.as_str())
            .param("account_id", tx.account_id.as_str())
            .param("card_id", tx.card_id.as_str())
            .param("device_id", tx.device_id.as_str())
            .param("merchant_id", tx.merchant_id.as_str())
            .param("amount", tx.amount.to_string())
            .param("amount_minor", tx.amount.hundredths())
            .param("currency", tx.currency.as_str())
            .param("timestamp_ms", tx.timestamp_ms);
        Ok(match self.count(q, "stored").await? {
            0 => Recorded::Conflict,
            _ => Recorded::Stored,
        })
    }

    /// Asks every rule about the transaction, concurrently (they only read), and returns the
    /// rules that fire, in [`Rule::ALL`] order.
    pub async fn evaluate(&self, tx: &Transaction) -> neo4rs::Result<Vec<Rule>> {
        let [a, b, c] = Rule::ALL;
        let (ra, rb, rc) = tokio::join!(
            self.matches(a, &tx.id),
            self.matches(b, &tx.id),
            self.matches(c, &tx.id)
        );
        let mut fired = Vec::new();
        for (rule, matches) in [(a, ra?), (b, rb?), (c, rc?)] {
            if rule.fires(matches) {
                fired.push(rule);
            }
        }
        Ok(fired)
    }

    /// Runs one rule's query and returns its `matches` count.
    pub async fn matches(&self, rule: Rule, id: &str) -> neo4rs::Result<i64> {
        let window_ms = i64::try_from(rule.window().as_millis()).unwrap_or(i64::MAX);
        let q = query(rule.cypher())
            .param("id", id)
            .param("window_ms", window_ms);
        self.count(q, "matches").await
    }

    /// Stores the verdict on the transaction; `false` when the transaction is not in the graph
    /// (the database lost it since it was recorded, e.g. a restart without persistence).
    pub async fn mark(&self, id: &str, reasons: &[Rule]) -> neo4rs::Result<bool> {
        let names: Vec<String> = reasons.iter().map(|r| r.name().to_owned()).collect();
        let q = query(MARK)
            .param("id", id)
            .param("suspicious", !reasons.is_empty())
            .param("reasons", names);
        Ok(self.count(q, "marked").await? > 0)
    }

    /// Runs a query returning one integer column and reads it (0 when there is no row). The
    /// stream is read to its end so the span ends with its row count and the connection goes
    /// back to the pool clean.
    async fn count(&self, q: Query, column: &str) -> neo4rs::Result<i64> {
        let mut rows = self.graph.execute(q).await?;
        let mut value = 0;
        while let Some(row) = rows.next().await? {
            value = row.get::<i64>(column)?;
        }
        Ok(value)
    }
}
