//! Configuration, read from the environment.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `INGESTOR_ADDR` | `127.0.0.1:3000` | listen address |
//! | `KAFKA_BROKERS` | (required) | bootstrap servers, `host:port[,host:port...]` |
//! | `KAFKA_TOPIC` | `transactions.new` | topic the transactions go to |
//! | `INGESTOR_SEND_TIMEOUT_MS` | `5000` | how long a request waits for the broker's ack before `503` |
//! | `INGESTOR_READY_TIMEOUT_MS` | `1000` | metadata fetch deadline of `GET /readyz` |
//! | `INGESTOR_SHUTDOWN_TIMEOUT_MS` | `10000` | how long SIGTERM waits for in-flight requests, then for the producer flush |
//! | `INGESTOR_RETRY_AFTER_SECS` | `1` | the `Retry-After` of a `503` (the broker's, and the caps' below) |
//! | `INGESTOR_LINGER_MS` | `0` | producer `linger.ms`: batching window, traded against latency |
//! | `INGESTOR_FUTURE_MARGIN_MS` | `300000` | how far ahead of the server's clock a transaction's timestamp may be; later ones are refused (`400 timestamp_in_future`) |
//! | `INGESTOR_HEADER_READ_TIMEOUT_MS` | `10000` | how long a client has to send a whole request header (from the connect, or from the first byte of a later request); then the connection is closed |
//! | `INGESTOR_BODY_READ_TIMEOUT_MS` | `10000` | how long a request body may take to arrive in full, from the end of its header; a body still incomplete then is refused (`400 unreadable_body`) and the connection closed |
//! | `INGESTOR_IDLE_TIMEOUT_MS` | `75000` | how long a keep-alive connection may wait for its next request before it is closed |
//! | `INGESTOR_MAX_CONNECTIONS` | `4096`, less under a low `ulimit -n` | open connections at most; a connection past it is answered `503` with `Retry-After` and closed |
//! | `INGESTOR_MAX_IN_FLIGHT` | `512` | requests being handled at most; a request past it is answered `503` with `Retry-After` at once |
//!
//! The defaults of the last five and why they are what they are: [`http_edge::EdgeLimits`].

use std::net::SocketAddr;
use std::time::Duration;

use http_edge::EdgeLimits;

use crate::error::{Error, Result};

/// [`schema::DEFAULT_FUTURE_MARGIN`] in milliseconds.
const DEFAULT_FUTURE_MARGIN_MS: u64 = schema::DEFAULT_FUTURE_MARGIN.as_millis() as u64;

/// Everything the service needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Listen address (`INGESTOR_ADDR`).
    pub addr: SocketAddr,
    /// Kafka settings.
    pub kafka: KafkaConfig,
    /// Drain deadline on shutdown (`INGESTOR_SHUTDOWN_TIMEOUT_MS`).
    pub shutdown_timeout: Duration,
    /// How far ahead of the clock a timestamp may be (`INGESTOR_FUTURE_MARGIN_MS`, default
    /// 5 minutes). The analyzer's margin should be at least as large, so that nothing the
    /// ingestor accepted is poison to it.
    pub future_margin: Duration,
    /// The HTTP edge's limits (`INGESTOR_HEADER_READ_TIMEOUT_MS`,
    /// `INGESTOR_BODY_READ_TIMEOUT_MS`, `INGESTOR_IDLE_TIMEOUT_MS`, `INGESTOR_MAX_CONNECTIONS`,
    /// `INGESTOR_MAX_IN_FLIGHT`; `Retry-After` from `INGESTOR_RETRY_AFTER_SECS`). Its drain
    /// timeout is the shutdown timeout.
    pub edge: EdgeLimits,
}

/// The producer side of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KafkaConfig {
    /// Bootstrap servers (`KAFKA_BROKERS`).
    pub brokers: String,
    /// Destination topic (`KAFKA_TOPIC`).
    pub topic: String,
    /// Ack deadline of one send (`INGESTOR_SEND_TIMEOUT_MS`); also librdkafka's
    /// `message.timeout.ms`, so a record that missed it is not delivered later behind the
    /// client's back.
    pub send_timeout: Duration,
    /// Deadline of the readiness probe's metadata request (`INGESTOR_READY_TIMEOUT_MS`).
    pub ready_timeout: Duration,
    /// `Retry-After` seconds sent with a `503` (`INGESTOR_RETRY_AFTER_SECS`).
    pub retry_after_secs: u32,
    /// Producer batching window (`INGESTOR_LINGER_MS`).
    pub linger: Duration,
}

impl KafkaConfig {
    /// Settings for `brokers` with every other value at its default.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            topic: "transactions.new".to_owned(),
            send_timeout: Duration::from_millis(5000),
            ready_timeout: Duration::from_millis(1000),
            retry_after_secs: 1,
            linger: Duration::ZERO,
        }
    }

    /// Sets the destination topic.
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    /// Sets the ack deadline of one send.
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Sets the readiness probe's deadline.
    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Sets the producer's batching window.
    pub fn with_linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let millis = |name: &'static str, default: u64| -> Result<Duration> {
            match get(name) {
                None => Ok(Duration::from_millis(default)),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| Error::Config {
                        variable: name,
                        reason: "expected a whole number of milliseconds".into(),
                    }),
            }
        };

        let addr = match get("INGESTOR_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(v) => v.trim().parse().map_err(|_| Error::Config {
                variable: "INGESTOR_ADDR",
                reason: "expected ip:port, e.g. 127.0.0.1:3000".into(),
            })?,
        };
        let brokers = get("KAFKA_BROKERS").ok_or(Error::Config {
            variable: "KAFKA_BROKERS",
            reason: "required: the Kafka bootstrap servers, e.g. 127.0.0.1:9092".into(),
        })?;
        let mut kafka = KafkaConfig::new(brokers.trim())
            .with_send_timeout(millis("INGESTOR_SEND_TIMEOUT_MS", 5000)?)
            .with_ready_timeout(millis("INGESTOR_READY_TIMEOUT_MS", 1000)?)
            .with_linger(millis("INGESTOR_LINGER_MS", 0)?);
        if let Some(topic) = get("KAFKA_TOPIC") {
            kafka = kafka.with_topic(topic.trim());
        }
        if kafka.send_timeout.is_zero() {
            return Err(Error::Config {
                variable: "INGESTOR_SEND_TIMEOUT_MS",
                reason: "must be at least 1".into(),
            });
        }
        if let Some(v) = get("INGESTOR_RETRY_AFTER_SECS") {
            kafka.retry_after_secs = v.trim().parse().map_err(|_| Error::Config {
                variable: "INGESTOR_RETRY_AFTER_SECS",
                reason: "expected a whole number of seconds".into(),
            })?;
        }
        let positive_millis = |name: &'static str, default: Duration| -> Result<Duration> {
            let value = millis(name, u64::try_from(default.as_millis()).unwrap_or(u64::MAX))?;
            if value.is_zero() {
                return Err(Error::Config {
                    variable: name,
                    reason: "must be at least 1".into(),
                });
            }
            Ok(value)
        };
        let count = |name: &'static str, default: usize| -> Result<usize> {
            match get(name) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<usize>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(Error::Config {
                        variable: name,
                        reason: "expected a whole number, at least 1".into(),
                    }),
                },
            }
        };
        let defaults = EdgeLimits::default();
        let edge = defaults
            .clone()
            .with_header_read_timeout(positive_millis(
                "INGESTOR_HEADER_READ_TIMEOUT_MS",
                defaults.header_read_timeout,
            )?)
            .with_body_read_timeout(positive_millis(
                "INGESTOR_BODY_READ_TIMEOUT_MS",
                defaults.body_read_timeout,
            )?)
            .with_idle_timeout(positive_millis(
                "INGESTOR_IDLE_TIMEOUT_MS",
                defaults.idle_timeout,
            )?)
            .with_max_connections(count("INGESTOR_MAX_CONNECTIONS", defaults.max_connections)?)
            .with_max_in_flight(count("INGESTOR_MAX_IN_FLIGHT", defaults.max_in_flight)?)
            .with_retry_after(Duration::from_secs(u64::from(kafka.retry_after_secs)));
        Ok(Config {
            addr,
            kafka,
            shutdown_timeout: millis("INGESTOR_SHUTDOWN_TIMEOUT_MS", 10_000)?,
            future_margin: millis("INGESTOR_FUTURE_MARGIN_MS", DEFAULT_FUTURE_MARGIN_MS)?,
            edge,
        })
    }

    /// A configuration for `addr` and `kafka`, with the default shutdown timeout, future
    /// margin and edge limits (their `Retry-After` the Kafka settings').
    pub fn new(addr: SocketAddr, kafka: KafkaConfig) -> Self {
        let edge = EdgeLimits::default()
            .with_retry_after(Duration::from_secs(u64::from(kafka.retry_after_secs)));
        Config {
            addr,
            kafka,
            shutdown_timeout: Duration::from_secs(10),
            future_margin: schema::DEFAULT_FUTURE_MARGIN,
            edge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = from(&[("KAFKA_BROKERS", "h:9092")]).unwrap();
        assert_eq!(c.addr, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(c.kafka.topic, "transactions.new");
        assert_eq!(c.kafka.brokers, "h:9092");
        assert_eq!(c.kafka.send_timeout, Duration::from_secs(5));
        assert_eq!(c.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(c.future_margin, Duration::from_secs(300));
        assert_eq!(c.edge, EdgeLimits::default());
        assert_eq!(c.edge.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.edge.body_read_timeout, Duration::from_secs(10));
        assert_eq!(c.edge.idle_timeout, Duration::from_secs(75));
        assert_eq!(c.edge.max_in_flight, 512);
        assert!((1..=4096).contains(&c.edge.max_connections));
        assert_eq!(Config::new(c.addr, c.kafka.clone()), c);
    }

    #[test]
    fn overrides() {
        let c = from(&[
            ("KAFKA_BROKERS", "a:1,b:2"),
            ("KAFKA_TOPIC", "t"),
            ("INGESTOR_ADDR", "0.0.0.0:8080"),
            ("INGESTOR_SEND_TIMEOUT_MS", "250"),
            ("INGESTOR_RETRY_AFTER_SECS", "7"),
            ("INGESTOR_FUTURE_MARGIN_MS", "60000"),
            ("INGESTOR_HEADER_READ_TIMEOUT_MS", "2500"),
            ("INGESTOR_BODY_READ_TIMEOUT_MS", "4000"),
            ("INGESTOR_IDLE_TIMEOUT_MS", "30000"),
            ("INGESTOR_MAX_CONNECTIONS", "100"),
            ("INGESTOR_MAX_IN_FLIGHT", " 20 "),
        ])
        .unwrap();
        assert_eq!(c.edge.header_read_timeout, Duration::from_millis(2500));
        assert_eq!(c.edge.body_read_timeout, Duration::from_secs(4));
        assert_eq!(c.edge.idle_timeout, Duration::from_secs(30));
        assert_eq!(c.edge.max_connections, 100);
        assert_eq!(c.edge.max_in_flight, 20);
        assert_eq!(c.edge.retry_after, Duration::from_secs(7));
        assert_eq!(c.future_margin, Duration::from_secs(60));
        assert_eq!(c.addr.port(), 8080);
        assert_eq!(c.kafka.topic, "t");
        assert_eq!(c.kafka.send_timeout, Duration::from_millis(250));
        assert_eq!(c.kafka.retry_after_secs, 7);
    }

    #[test]
    fn errors_name_the_variable() {
        let e = from(&[]).unwrap_err();
        assert!(e.to_string().contains("KAFKA_BROKERS"), "{e}");
        let e = from(&[("KAFKA_BROKERS", "h:1"), ("INGESTOR_ADDR", "nope")]).unwrap_err();
        assert!(e.to_string().contains("INGESTOR_ADDR"), "{e}");
        let e = from(&[("KAFKA_BROKERS", "h:1"), ("INGESTOR_SEND_TIMEOUT_MS", "5s")]).unwrap_err();
        assert!(e.to_string().contains("INGESTOR_SEND_TIMEOUT_MS"), "{e}");
        let e = from(&[
            ("KAFKA_BROKERS", "h:1"),
            ("INGESTOR_FUTURE_MARGIN_MS", "5m"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("INGESTOR_FUTURE_MARGIN_MS"), "{e}");
        for (name, value) in [
            ("INGESTOR_HEADER_READ_TIMEOUT_MS", "0"),
            ("INGESTOR_HEADER_READ_TIMEOUT_MS", "10s"),
            ("INGESTOR_BODY_READ_TIMEOUT_MS", "0"),
            ("INGESTOR_BODY_READ_TIMEOUT_MS", "soon"),
            ("INGESTOR_IDLE_TIMEOUT_MS", "0"),
            ("INGESTOR_IDLE_TIMEOUT_MS", "-1"),
            ("INGESTOR_MAX_CONNECTIONS", "0"),
            ("INGESTOR_MAX_CONNECTIONS", "many"),
            ("INGESTOR_MAX_IN_FLIGHT", "0"),
            ("INGESTOR_MAX_IN_FLIGHT", "1.5"),
        ] {
            let e = from(&[("KAFKA_BROKERS", "h:1"), (name, value)]).unwrap_err();
            assert!(e.to_string().contains(name), "{name}={value}: {e}");
        }
    }
}
