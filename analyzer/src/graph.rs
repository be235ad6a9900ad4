//! The fraud graph: where transactions are written and the rules are asked, every query
//! through bolt-tracer's [`TracedGraph`] so each one is a span under the message being
//! processed.
//!
//! The model: `(:Account)-[:INITIATED]->(:Transaction)`, and from the transaction
//! `-[:PAID_WITH]->(:Card)`, `-[:ON_DEVICE]->(:Device)`, `-[:AT_MERCHANT]->(:Merchant)`.
//! Every node is merged on its `id`, which a uniqueness constraint keeps unique on Neo4j even
//! when partitions merge the same card or device at the same moment ([`FraudGraph::prepare`]);
//! transaction properties are set only on creation, so a redelivered record changes nothing.
//! Times are epoch milliseconds (FalkorDB must never be asked for temporal values), parameters
//! are a handful of validated ids and numbers (FalkorDB splices parameters into a 4 KiB buffer).

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
    /// Labels that got their uniqueness constraint now (or, on a server without constraints
    /// such as FalkorDB, their index).
    pub created: usize,
    /// Labels the database never answered for: their constraint or index may be missing.
    pub unanswered: usize,
}

/// The labels whose `id` is unique, so every `MERGE` and rule starts from an index seek.
const UNIQUE_ID_LABELS: [&str; 5] = ["Transaction", "Card", "Device", "Account", "Merchant"];

/// Neo4j's refusal of a constraint whose schema already has a plain index.
const INDEX_ALREADY_EXISTS: &str = "Neo.ClientError.Schema.IndexAlreadyExists";

/// The plain (not constraint-owned) range indexes on `(:$label {id})`: what an earlier analyzer,
/// which created indexes, or an operator left in the way of the constraint.
const PLAIN_ID_INDEXES: &str = "SHOW INDEXES YIELD name, type, labelsOrTypes, properties, owningConstraint \
WHERE type = 'RANGE' AND owningConstraint IS NULL AND labelsOrTypes = [$label] AND properties = ['id'] \
RETURN name";

/// How one label's schema stands after [`FraudGraph::prepare`] asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LabelSchema {
    /// Created now.
    Created,
    /// The server answered: it was there already (or cannot be had, see the log).
    Answered,
    /// No answer: worth another try.
    Unanswered,
}

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

    /// Makes `id` unique on every label, best effort: on Neo4j a uniqueness constraint
    /// (`CREATE CONSTRAINT IF NOT EXISTS ... REQUIRE n.id IS UNIQUE`), without which concurrent
    /// `MERGE`s of the same id from different partitions can each create a node; the constraint
    /// brings its index, so lookups stay index seeks. A plain index on the same property, as an
    /// earlier analyzer created, is replaced by the constraint. A server without constraints
    /// (FalkorDB) gets the index forms instead: Neo4j's `IF NOT EXISTS` form, then FalkorDB's
    /// own, which refuses an index it already has (a refusal of every form counts as "already
    /// there"). A label for which the database never answered (unreachable, a pooled
    /// connection that died with a restart, a transient error) is counted in
    /// [`Prepared::unanswered`]: worth another try.
    pub async fn prepare(&self) -> Prepared {
        let mut prepared = Prepared::default();
        for label in UNIQUE_ID_LABELS {
            match self.prepare_label(label).await {
                LabelSchema::Created => prepared.created += 1,
                LabelSchema::Answered => {}
                LabelSchema::Unanswered => prepared.unanswered += 1,
            }
        }
        prepared
    }

    async fn prepare_label(&self, label: &str) -> LabelSchema {
        let refused = match self.unique_constraint(label).await {
            Ok(schema) => return schema,
            Err(code) => code,
        };
        if refused == INDEX_ALREADY_EXISTS {
            return self.replace_plain_index(label).await;
        }
        // Neo4j refusing the constraint for the data it holds (two nodes already share an
        // id), or a server that has no constraints: an index at least keeps lookups fast.
        let schema = self.index(label).await;
        // The code only: a server's message can quote the duplicated value.
        if refused.starts_with("Neo.") {
            tracing::warn!(
                label,
                error.type = refused.as_str(),
                "Neo4j refused the uniqueness constraint; an index stands in for it, and \
                 concurrent writes of one id may create duplicates"
            );
        } else {
            tracing::debug!(
                label,
                error.type = refused.as_str(),
                "no uniqueness constraints on this server; an index stands in"
            );
        }
        schema
    }

    /// Asks for the constraint: `Ok` when the server answered for the label, `Err` with the
    /// code of a refusal worth another form.
    async fn unique_constraint(&self, label: &str) -> std::result::Result<LabelSchema, String> {
        let text =
            format!("CREATE CONSTRAINT IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE");
        match self.graph.run(query(&text)).await {
            Ok(summary) if summary.stats.constraints_added > 0 => Ok(LabelSchema::Created),
            Ok(_) => Ok(LabelSchema::Answered),
            // Another analyzer creating it at the same moment, a database starting: ask
            // again later rather than settle for an index that would then be in the way.
            Err(neo4rs::Error::Neo4j(e)) if e.kind() == neo4rs::Neo4jErrorKind::Transient => {
                Ok(LabelSchema::Unanswered)
            }
            Err(neo4rs::Error::Neo4j(e)) => Err(e.code().to_owned()),
            Err(_) => Ok(LabelSchema::Unanswered),
        }
    }

    /// Drops the plain index on `(:label {id})` and creates the constraint in its place.
    async fn replace_plain_index(&self, label: &str) -> LabelSchema {
        let mut names = Vec::new();
        let listed = async {
            let mut rows = self
                .graph
                .execute(query(PLAIN_ID_INDEXES).param("label", label))
                .await?;
            while let Some(row) = rows.next().await? {
                names.push(row.get::<String>("name")?);
            }
            Ok::<_, neo4rs::Error>(())
        };
        if listed.await.is_err() {
            return LabelSchema::Unanswered;
        }
        for name in &names {
            let text = format!("DROP INDEX `{}` IF EXISTS", name.replace('`', "``"));
            if self.graph.run(query(&text)).await.is_err() {
                return LabelSchema::Unanswered;
            }
        }
        tracing::info!(
            label,
            dropped = names.len(),
            "plain id index replaced by a uniqueness constraint"
        );
        match self.unique_constraint(label).await {
            Ok(schema) => schema,
            // Refused again (another index appeared meanwhile, or the data has duplicates):
            // the next try starts over.
            Err(_) => LabelSchema::Unanswered,
        }
    }

    /// The index forms, for servers without constraints.
    async fn index(&self, label: &str) -> LabelSchema {
        let neo4j = format!("CREATE INDEX IF NOT EXISTS FOR (n:{label}) ON (n.id)");
        let falkordb = format!("CREATE INDEX FOR (n:{label}) ON (n.id)");
        let mut answered = false;
        match self.graph.run(query(&neo4j)).await {
            Ok(summary) if summary.stats.indexes_added > 0 => return LabelSchema::Created,
            Ok(_) => return LabelSchema::Answered,
            // Refused: the server is up, and has the index or wants the other form.
            Err(neo4rs::Error::Neo4j(_)) => answered = true,
            Err(_) => {}
        }
        match self.graph.run(query(&falkordb)).await {
            Ok(_) => LabelSchema::Created,
            Err(neo4rs::Error::Neo4j(_)) => LabelSchema::Answered,
            Err(_) if answered => LabelSchema::Answered,
            Err(_) => LabelSchema::Unanswered,
        }
    }

    /// Writes the transaction and its neighbours (idempotent).
    pub async fn record(&self, tx: &Transaction<'_>) -> neo4rs::Result<Recorded> {
        let q = query(RECORD)
            .param("id", tx.id())
            .param("account_id", tx.account_id())
            .param("card_id", tx.card_id())
            .param("device_id", tx.device_id())
            .param("merchant_id", tx.merchant_id())
            .param("amount", tx.amount().to_string())
            .param("amount_minor", tx.amount().hundredths())
            .param("currency", tx.currency())
            .param("timestamp_ms", tx.timestamp_millis());
        Ok(match self.count(q, "stored").await? {
            0 => Recorded::Conflict,
            _ => Recorded::Stored,
        })
    }

    /// Asks every rule about the transaction, concurrently (they only read), and returns the
    /// rules that fire, in [`Rule::ALL`] order.
    pub async fn evaluate(&self, tx: &Transaction<'_>) -> neo4rs::Result<Vec<Rule>> {
        let [a, b, c] = Rule::ALL;
        let (ra, rb, rc) = tokio::join!(
            self.matches(a, tx.id()),
            self.matches(b, tx.id()),
            self.matches(c, tx.id())
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
