//! Configuration, read from the environment as `DESIGN.md` lists it, with local defaults.
//!
//! Every value has a default that suits the dev stack on loopback, so a bare `analyzer` starts;
//! production sets `KAFKA_BROKERS` and `NEO4J_*`. A value that is set but unusable is an error
//! at start, never silently replaced by its default.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use http_edge::EdgeLimits;

use crate::error::{Error, Result};

/// Everything the analyzer needs to run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Kafka connection, topics and consumer group.
    pub kafka: KafkaSettings,
    /// Graph database connection.
    pub neo4j: Neo4jSettings,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Where `GET /stats` and `GET /healthz` are served (`ANALYZER_STATS_ADDR`, default
    /// `127.0.0.1:3001`; port 0 picks a free port).
    pub stats_addr: SocketAddr,
    /// What a client of that endpoint may hold (see [`http_edge::EdgeLimits`]):
    /// `ANALYZER_HTTP_HEADER_READ_TIMEOUT_MS` (default 10000) to send a request header,
    /// `ANALYZER_HTTP_BODY_READ_TIMEOUT_MS` (10000) to send its body,
    /// `ANALYZER_HTTP_IDLE_TIMEOUT_MS` (75000) idle between keep-alive requests,
    /// `ANALYZER_HTTP_MAX_CONNECTIONS` (256) open connections and `ANALYZER_HTTP_MAX_IN_FLIGHT`
    /// (32) requests at once, past which the answer is `503` with a `Retry-After` of
    /// `ANALYZER_HTTP_RETRY_AFTER_SECS` (1). The caps are lower than the ingestor's: the
    /// endpoint is scraped by a few monitors, and every connection is a descriptor the Kafka
    /// and Neo4j clients also need.
    pub stats_limits: EdgeLimits,
    /// How far ahead of the clock a transaction's timestamp may be; a record dated later goes
    /// to the DLQ as `timestamp_in_future` (`ANALYZER_FUTURE_MARGIN_MS`, default 300000, five
    /// minutes). Keep it at least the ingestor's `INGESTOR_FUTURE_MARGIN_MS`: a record only
    /// gets older on its way here, so what the ingestor accepted then passes.
    pub future_margin: Duration,
}

/// Kafka settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KafkaSettings {
    /// `bootstrap.servers` (`KAFKA_BROKERS`, default `127.0.0.1:9092`).
    pub brokers: String,
    /// The topic of incoming transactions (`KAFKA_TOPIC`, default `transactions.new`).
    pub topic: String,
    /// The consumer group (`KAFKA_GROUP`, default `fraud-analyzer-group`).
    pub group: String,
    /// Where verdicts go (`KAFKA_VERDICT_TOPIC`, default `transactions.verdicts`).
    pub verdict_topic: String,
    /// Where records that cannot be processed go (`KAFKA_DLQ_TOPIC`, default
    /// `transactions.dlq`).
    pub dlq_topic: String,
    /// Where a group without committed offsets starts (`KAFKA_AUTO_OFFSET_RESET`, default
    /// `earliest`: a new group must not skip what is already waiting).
    pub auto_offset_reset: String,
    /// What the analyzer guarantees about verdicts (`ANALYZER_DELIVERY`: `exactly-once`, the
    /// default, or `at-least-once` for brokers without transactions).
    pub delivery: Delivery,
    /// This process's stable name in the group (`ANALYZER_INSTANCE_ID`, letters, digits, `.`,
    /// `_` and `-`; unset: none). It is the static membership id (`group.instance.id`: a
    /// process restarted within the session timeout gets its partitions back without a
    /// rebalance) and names its transactional producer (`<group>-<id>`), so a restarted process
    /// fences the transactions its previous incarnation left open. Give each process its own.
    pub instance_id: Option<String>,
    /// How often acknowledged work is committed (`ANALYZER_COMMIT_INTERVAL_MS`): with
    /// exactly-once, how often the open Kafka transaction is committed, default 100 (a verdict
    /// becomes visible to `read_committed` readers at the commit); with at-least-once, how
    /// often offsets are committed, default 1000. Both also commit at shutdown and when
    /// partitions are revoked.
    pub commit_interval: Duration,
    /// With exactly-once, how long the broker lets a transaction stay open before it aborts it
    /// (`ANALYZER_TRANSACTION_TIMEOUT_MS`, default 60000; `transaction.timeout.ms`). A
    /// transaction the broker aborts fences its producer, and the analyzer stops: keep it well
    /// above the send timeout and a broker fail-over. A process that died with a transaction
    /// open holds back `read_committed` readers of the verdicts until then, unless it restarts
    /// with the same instance id sooner.
    pub transaction_timeout: Duration,
    /// How long the group coordinator waits for a silent member before giving its partitions
    /// to another (`ANALYZER_SESSION_TIMEOUT_MS`, librdkafka's `session.timeout.ms`; unset
    /// keeps librdkafka's default of 45 s).
    pub session_timeout: Option<Duration>,
    /// How long a verdict or DLQ record may take to be acknowledged before the send counts
    /// as failed (`ANALYZER_SEND_TIMEOUT_MS`, default 10000; librdkafka's
    /// `message.timeout.ms`).
    pub send_timeout: Duration,
    /// How long a fetch waits at the broker for new records (`ANALYZER_FETCH_WAIT_MS`, default
    /// 20; librdkafka's `fetch.wait.max.ms`, whose own default is 500). A Kafka broker answers
    /// a waiting fetch as soon as a record arrives, but librdkafka's mock cluster (the embedded
    /// dev stack) only at the end of the wait, which then adds up to the whole wait to every
    /// record's latency. At 20 ms an idle consumer sends 50 small fetches a second per broker.
    pub fetch_wait: Duration,
}

/// What the analyzer guarantees about the verdicts and DLQ records it publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Each verdict or DLQ record is produced in a Kafka transaction together with the offset
    /// of the record it answers, so a `read_committed` reader sees exactly one per record,
    /// whatever crashes. Needs brokers with transactions (Apache Kafka; librdkafka's mock
    /// cluster as far as it implements them).
    ExactlyOnce,
    /// Each verdict or DLQ record is acknowledged before its offset is committed: none is lost,
    /// but a crash between the two publishes a second one for the same record.
    AtLeastOnce,
}

/// Graph database settings.
#[derive(Clone)]
#[non_exhaustive]
pub struct Neo4jSettings {
    /// Bolt URI (`NEO4J_URI`, default `bolt://127.0.0.1:7687`).
    pub uri: String,
    /// User (`NEO4J_USER`, default `neo4j`).
    pub user: String,
    /// Password (`NEO4J_PASSWORD`, default empty). Never printed.
    pub password: String,
    /// Database name (`NEO4J_DATABASE`; unset or empty means the server's default).
    pub database: Option<String>,
    /// Connection pool size (`NEO4J_MAX_CONNECTIONS`, default 4: one per partition plus one;
    /// FalkorDB crashes with 8 or more concurrent Bolt connections, see DESIGN.md).
    pub max_connections: usize,
    /// Whether auto-commit queries carry the query span's `traceparent` in their
    /// `tx_metadata`, so the server's query log can be joined to the trace
    /// (`ANALYZER_NEO4J_TX_METADATA`, default `true`).
    pub inject_trace_context: bool,
}

impl fmt::Debug for Neo4jSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Neo4jSettings")
            .field("uri", &self.uri)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("database", &self.database)
            .field("max_connections", &self.max_connections)
            .field("inject_trace_context", &self.inject_trace_context)
            .finish()
    }
}

/// How transient failures are retried: exponential backoff with full jitter.
///
/// After failed attempt `n` the worker sleeps a uniformly random time between zero and
/// `min(max_delay, base_delay * 2^(n-1))`; full jitter spreads the retries of many workers
/// hitting the same outage instead of having them return in lock-step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts before a message goes to the DLQ (`ANALYZER_MAX_ATTEMPTS`, default 8,
    /// at least 1).
    pub max_attempts: u32,
    /// First backoff ceiling (`ANALYZER_RETRY_BASE_MS`, default 200).
    pub base_delay: Duration,
    /// Largest backoff ceiling (`ANALYZER_RETRY_MAX_MS`, default 10000).
    pub max_delay: Duration,
    /// Longest one attempt may take before it counts as a transient failure
    /// (`ANALYZER_ATTEMPT_TIMEOUT_MS`, default 15000).
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// A policy with these limits.
    pub fn new(max_attempts: u32, base_delay: Duration, max_delay: Duration) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            base_delay,
            max_delay,
            ..RetryPolicy::default()
        }
    }

    /// The same policy with another per-attempt timeout.
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// The backoff ceiling after failed attempt `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// A full-jitter delay after failed attempt `attempt`: uniform in `[0, ceiling]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = u64::try_from(self.ceiling(attempt).as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::random_range(0..=ceiling))
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (a variable name to its value), for tests and
    /// embedding.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let get = |name: &str, default: &str| -> String {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let number = |name: &str, default: u64| -> Result<u64> {
            match lookup(name).map(|v| v.trim().to_owned()) {
                None => Ok(default),
                Some(v) if v.is_empty() => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .map_err(|_| Error::Config(format!("{name} must be a non-negative integer"))),
            }
        };
        let millis = |name: &str, default: u64| number(name, default).map(Duration::from_millis);
        let flag = |name: &str, default: bool| -> Result<bool> {
            match get(name, if default { "true" } else { "false" })
                .to_ascii_lowercase()
                .as_str()
            {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(Error::Config(format!("{name} must be true or false"))),
            }
        };

        let auto_offset_reset = get("KAFKA_AUTO_OFFSET_RESET", "earliest");
        if !matches!(auto_offset_reset.as_str(), "earliest" | "latest" | "error") {
            return Err(Error::Config(
                "KAFKA_AUTO_OFFSET_RESET must be earliest, latest or error".into(),
            ));
        }
        let delivery = match get("ANALYZER_DELIVERY", "exactly-once").as_str() {
            "exactly-once" => Delivery::ExactlyOnce,
            "at-least-once" => Delivery::AtLeastOnce,
            _ => {
                return Err(Error::Config(
                    "ANALYZER_DELIVERY must be exactly-once or at-least-once".into(),
                ));
            }
        };
        let instance_id = lookup("ANALYZER_INSTANCE_ID")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        if let Some(id) = &instance_id
            && (id.len() > 200
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
        {
            return Err(Error::Config(
                "ANALYZER_INSTANCE_ID must be at most 200 letters, digits, '.', '_' or '-'".into(),
            ));
        }
        let default_commit_ms = match delivery {
            Delivery::ExactlyOnce => 100,
            Delivery::AtLeastOnce => 1_000,
        };
        let kafka = KafkaSettings {
            brokers: get("KAFKA_BROKERS", "127.0.0.1:9092"),
            topic: get("KAFKA_TOPIC", "transactions.new"),
            group: get("KAFKA_GROUP", "fraud-analyzer-group"),
            verdict_topic: get("KAFKA_VERDICT_TOPIC", "transactions.verdicts"),
            dlq_topic: get("KAFKA_DLQ_TOPIC", "transactions.dlq"),
            auto_offset_reset,
            delivery,
            instance_id,
            commit_interval: millis("ANALYZER_COMMIT_INTERVAL_MS", default_commit_ms)?,
            transaction_timeout: millis("ANALYZER_TRANSACTION_TIMEOUT_MS", 60_000)?,
            session_timeout: match lookup("ANALYZER_SESSION_TIMEOUT_MS")
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
            {
                None => None,
                Some(_) => Some(millis("ANALYZER_SESSION_TIMEOUT_MS", 45_000)?),
            },
            send_timeout: millis("ANALYZER_SEND_TIMEOUT_MS", 10_000)?,
            fetch_wait: millis("ANALYZER_FETCH_WAIT_MS", 20)?,
        };
        if kafka.transaction_timeout < Duration::from_secs(1) {
            return Err(Error::Config(
                "ANALYZER_TRANSACTION_TIMEOUT_MS must be at least 1000".into(),
            ));
        }
        if kafka.send_timeout.is_zero() {
            return Err(Error::Config(
                "ANALYZER_SEND_TIMEOUT_MS must be positive".into(),
            ));
        }

        let database = lookup("NEO4J_DATABASE")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        let neo4j = Neo4jSettings {
            uri: get("NEO4J_URI", "bolt://127.0.0.1:7687"),
            user: get("NEO4J_USER", "neo4j"),
            // An empty password is legitimate (FalkorDB), so it is not "unset".
            password: lookup("NEO4J_PASSWORD").unwrap_or_default(),
            database,
            max_connections: usize::try_from(number("NEO4J_MAX_CONNECTIONS", 4)?.max(1))
                .unwrap_or(4),
            inject_trace_context: flag("ANALYZER_NEO4J_TX_METADATA", true)?,
        };

        let defaults = RetryPolicy::default();
        let max_attempts = number("ANALYZER_MAX_ATTEMPTS", u64::from(defaults.max_attempts))?;
        let retry = RetryPolicy {
            max_attempts: u32::try_from(max_attempts.clamp(1, 1_000)).unwrap_or(1_000),
            base_delay: millis("ANALYZER_RETRY_BASE_MS", 200)?,
            max_delay: millis("ANALYZER_RETRY_MAX_MS", 10_000)?,
            attempt_timeout: millis("ANALYZER_ATTEMPT_TIMEOUT_MS", 15_000)?,
        };
        if retry.attempt_timeout.is_zero() {
            return Err(Error::Config(
                "ANALYZER_ATTEMPT_TIMEOUT_MS must be positive".into(),
            ));
        }

        let stats_addr = get("ANALYZER_STATS_ADDR", "127.0.0.1:3001")
            .parse::<SocketAddr>()
            .map_err(|_| Error::Config("ANALYZER_STATS_ADDR must be an ip:port address".into()))?;

        let at_least_one = |name: &str, default: u64| -> Result<u64> {
            match number(name, default)? {
                0 => Err(Error::Config(format!("{name} must be at least 1"))),
                n => Ok(n),
            }
        };
        let count = |name: &str, default: u64| {
            at_least_one(name, default).map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        };
        let stats_limits = EdgeLimits::default()
            .with_header_read_timeout(Duration::from_millis(at_least_one(
                "ANALYZER_HTTP_HEADER_READ_TIMEOUT_MS",
                10_000,
            )?))
            .with_body_read_timeout(Duration::from_millis(at_least_one(
                "ANALYZER_HTTP_BODY_READ_TIMEOUT_MS",
                10_000,
            )?))
            .with_idle_timeout(Duration::from_millis(at_least_one(
                "ANALYZER_HTTP_IDLE_TIMEOUT_MS",
                75_000,
            )?))
            .with_max_connections(count("ANALYZER_HTTP_MAX_CONNECTIONS", 256)?)
            .with_max_in_flight(count("ANALYZER_HTTP_MAX_IN_FLIGHT", 32)?)
            .with_retry_after(Duration::from_secs(number(
                "ANALYZER_HTTP_RETRY_AFTER_SECS",
                1,
            )?));

        let default_margin = u64::try_from(schema::DEFAULT_FUTURE_MARGIN.as_millis()).unwrap_or(0);
        let future_margin = millis("ANALYZER_FUTURE_MARGIN_MS", default_margin)?;

        Ok(Config {
            kafka,
            neo4j,
            retry,
            stats_addr,
            stats_limits,
            future_margin,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_design() {
        let c = config(&[]).unwrap();
        assert_eq!(c.kafka.topic, "transactions.new");
        assert_eq!(c.kafka.group, "fraud-analyzer-group");
        assert_eq!(c.kafka.verdict_topic, "transactions.verdicts");
        assert_eq!(c.kafka.dlq_topic, "transactions.dlq");
        assert_eq!(c.kafka.auto_offset_reset, "earliest");
        assert_eq!(c.stats_addr, "127.0.0.1:3001".parse().unwrap());
        assert_eq!(c.neo4j.database, None);
        assert_eq!(c.kafka.session_timeout, None);
        assert_eq!(c.kafka.fetch_wait, Duration::from_millis(20));
        assert!(c.neo4j.inject_trace_context);
        assert_eq!(c.retry, RetryPolicy::default());
        assert_eq!(c.future_margin, Duration::from_secs(300));
        assert_eq!(c.kafka.delivery, Delivery::ExactlyOnce);
        assert_eq!(c.kafka.commit_interval, Duration::from_millis(100));
        assert_eq!(c.kafka.instance_id, None);
        let at_least_once = config(&[("ANALYZER_DELIVERY", "at-least-once")]).unwrap();
        assert_eq!(at_least_once.kafka.delivery, Delivery::AtLeastOnce);
        assert_eq!(at_least_once.kafka.commit_interval, Duration::from_secs(1));
    }

    #[test]
    fn variables_override_defaults() {
        let c = config(&[
            ("KAFKA_BROKERS", "127.0.0.1:1234"),
            ("KAFKA_GROUP", "g"),
            ("NEO4J_DATABASE", "fraud"),
            ("NEO4J_PASSWORD", ""),
            ("ANALYZER_MAX_ATTEMPTS", "3"),
            ("ANALYZER_RETRY_BASE_MS", "10"),
            ("ANALYZER_NEO4J_TX_METADATA", "off"),
            ("ANALYZER_STATS_ADDR", "127.0.0.1:0"),
            ("ANALYZER_SESSION_TIMEOUT_MS", "6000"),
            ("ANALYZER_FETCH_WAIT_MS", "500"),
            ("ANALYZER_FUTURE_MARGIN_MS", "60000"),
            ("ANALYZER_INSTANCE_ID", "analyzer-2.eu_west"),
        ])
        .unwrap();
        assert_eq!(c.kafka.instance_id.as_deref(), Some("analyzer-2.eu_west"));
        assert_eq!(c.future_margin, Duration::from_secs(60));
        assert_eq!(c.kafka.fetch_wait, Duration::from_millis(500));
        assert_eq!(c.kafka.session_timeout, Some(Duration::from_secs(6)));
        assert_eq!(c.kafka.brokers, "127.0.0.1:1234");
        assert_eq!(c.kafka.group, "g");
        assert_eq!(c.neo4j.database.as_deref(), Some("fraud"));
        assert_eq!(c.retry.max_attempts, 3);
        assert_eq!(c.retry.base_delay, Duration::from_millis(10));
        assert!(!c.neo4j.inject_trace_context);
        assert_eq!(c.stats_addr.port(), 0);
    }

    #[test]
    fn unusable_values_are_errors_that_name_the_variable_only() {
        for (name, value) in [
            ("ANALYZER_MAX_ATTEMPTS", "many"),
            ("ANALYZER_STATS_ADDR", "nowhere"),
            ("KAFKA_AUTO_OFFSET_RESET", "sometimes"),
            ("ANALYZER_NEO4J_TX_METADATA", "maybe"),
            ("ANALYZER_ATTEMPT_TIMEOUT_MS", "0"),
            ("ANALYZER_FUTURE_MARGIN_MS", "5min"),
            ("ANALYZER_DELIVERY", "twice"),
            ("ANALYZER_INSTANCE_ID", "a b"),
            ("ANALYZER_TRANSACTION_TIMEOUT_MS", "5"),
        ] {
            let message = config(&[(name, value)]).unwrap_err().to_string();
            assert!(message.contains(name), "{message}");
            assert!(!message.contains(value), "{message}");
        }
    }

    #[test]
    fn the_stats_endpoints_limits_come_from_the_environment() {
        let c = config(&[]).unwrap();
        assert_eq!(c.stats_limits.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.stats_limits.body_read_timeout, Duration::from_secs(10));
        assert_eq!(c.stats_limits.idle_timeout, Duration::from_secs(75));
        assert_eq!(c.stats_limits.max_connections, 256);
        assert_eq!(c.stats_limits.max_in_flight, 32);
        assert_eq!(c.stats_limits.retry_after, Duration::from_secs(1));
        let c = config(&[
            ("ANALYZER_HTTP_HEADER_READ_TIMEOUT_MS", "2500"),
            ("ANALYZER_HTTP_BODY_READ_TIMEOUT_MS", "3000"),
            ("ANALYZER_HTTP_IDLE_TIMEOUT_MS", "30000"),
            ("ANALYZER_HTTP_MAX_CONNECTIONS", "8"),
            ("ANALYZER_HTTP_MAX_IN_FLIGHT", " 4 "),
            ("ANALYZER_HTTP_RETRY_AFTER_SECS", "5"),
        ])
        .unwrap();
        assert_eq!(
            c.stats_limits.header_read_timeout,
            Duration::from_millis(2500)
        );
        assert_eq!(c.stats_limits.body_read_timeout, Duration::from_secs(3));
        assert_eq!(c.stats_limits.idle_timeout, Duration::from_secs(30));
        assert_eq!(c.stats_limits.max_connections, 8);
        assert_eq!(c.stats_limits.max_in_flight, 4);
        assert_eq!(c.stats_limits.retry_after, Duration::from_secs(5));
        for (name, value) in [
            ("ANALYZER_HTTP_HEADER_READ_TIMEOUT_MS", "0"),
            ("ANALYZER_HTTP_HEADER_READ_TIMEOUT_MS", "10s"),
            ("ANALYZER_HTTP_BODY_READ_TIMEOUT_MS", "0"),
            ("ANALYZER_HTTP_IDLE_TIMEOUT_MS", "0"),
            ("ANALYZER_HTTP_MAX_CONNECTIONS", "0"),
            ("ANALYZER_HTTP_MAX_CONNECTIONS", "many"),
            ("ANALYZER_HTTP_MAX_IN_FLIGHT", "0"),
            ("ANALYZER_HTTP_MAX_IN_FLIGHT", "-2"),
            ("ANALYZER_HTTP_RETRY_AFTER_SECS", "soon"),
        ] {
            let message = config(&[(name, value)]).unwrap_err().to_string();
            assert!(message.contains(name), "{name}={value}: {message}");
        }
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let c = config(&[("NEO4J_PASSWORD", "s3cr3t-value")]).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
    }

    #[test]
    fn backoff_is_full_jitter_under_an_exponential_ceiling() {
        let p = RetryPolicy::new(10, Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(200));
        assert_eq!(p.ceiling(4), Duration::from_millis(800));
        assert_eq!(p.ceiling(5), Duration::from_secs(1));
        assert_eq!(p.ceiling(1_000), Duration::from_secs(1));
        let samples: Vec<Duration> = (0..2_000).map(|_| p.backoff(3)).collect();
        assert!(samples.iter().all(|d| *d <= Duration::from_millis(400)));
        // Full jitter: the delays spread over the whole range, small ones included.
        assert!(samples.iter().any(|d| *d < Duration::from_millis(40)));
        assert!(samples.iter().any(|d| *d > Duration::from_millis(360)));
    }
}
