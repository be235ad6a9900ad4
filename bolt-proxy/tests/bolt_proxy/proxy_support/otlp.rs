//! The `bolt-proxy` binary exporting over real OTLP/HTTP to a [`Collector`] of the test's own
//! (`fixtures::otlp`, which decodes every export with the official `opentelemetry-proto`
//! messages, as a real collector would), and the views of what it received that the binary's
//! tests assert on.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use fixtures::otlp::{AttrValue, CollectedSpan, Collector};
use fixtures::testkit::send_signal;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::time::timeout;

/// A loopback OTLP/HTTP collector for one test; stops when dropped.
pub async fn start_collector() -> Collector {
    Collector::start()
        .await
        .expect("an OTLP collector on a loopback port")
}

/// Attribute lookups the tests need beyond [`CollectedSpan`]'s own.
pub trait SpanAttrs {
    /// A boolean attribute by key.
    fn bool_attr(&self, key: &str) -> Option<bool>;

    /// Every string-valued attribute.
    fn string_attrs(&self) -> impl Iterator<Item = (&str, &str)>;
}

impl SpanAttrs for CollectedSpan {
    fn bool_attr(&self, key: &str) -> Option<bool> {
        self.attr(key).and_then(AttrValue::as_bool)
    }

    fn string_attrs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attributes
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
    }
}

/// The spans of clients that spoke Bolt 4 (`bolt_4`) or Bolt 5 to the proxy: with one driver
/// of each, one driver's run.
pub fn spans_of(spans: &[CollectedSpan], bolt_4: bool) -> Vec<&CollectedSpan> {
    spans
        .iter()
        .filter(|s| {
            s.str_attr("network.protocol.version")
                .is_some_and(|v| v.starts_with("4.") == bolt_4)
        })
        .collect()
}

/// One histogram point: the totals for one attribute set.
#[derive(Debug, Clone)]
pub struct HistogramPoint {
    /// The point's attributes.
    pub attributes: BTreeMap<String, AttrValue>,
    /// How many values it aggregates.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
}

impl HistogramPoint {
    /// A string attribute by key.
    pub fn str_attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(AttrValue::as_str)
    }
}

/// What the binary's tests read from their collector besides its spans.
pub trait Received {
    /// The latest point of histogram `metric` for each attribute set: with cumulative
    /// temporality (the SDK's default) each holds the totals since the process started, and
    /// exports arrive in the order they were taken.
    fn histogram(&self, metric: &str) -> Vec<HistogramPoint>;

    /// Every span and metric received so far, each rendered with every field the collector
    /// decoded (name, scope, attributes, resource, status message, event names, points), for
    /// checks that nothing exported anywhere holds a value.
    fn exports(&self) -> Vec<String>;
}

impl Received for Collector {
    fn histogram(&self, metric: &str) -> Vec<HistogramPoint> {
        let mut latest: BTreeMap<String, HistogramPoint> = BTreeMap::new();
        for m in self.metrics().into_iter().filter(|m| m.name == metric) {
            for p in m.points {
                // The attributes are a sorted map: its rendering is a stable key.
                let key = format!("{:?}", p.attributes);
                let point = HistogramPoint {
                    attributes: p.attributes,
                    count: p.count.unwrap_or_default(),
                    sum: p.value,
                };
                latest.insert(key, point);
            }
        }
        latest.into_values().collect()
    }

    fn exports(&self) -> Vec<String> {
        let spans = self.spans().into_iter().map(|s| format!("{s:?}"));
        let metrics = self.metrics().into_iter().map(|m| format!("{m:?}"));
        spans.chain(metrics).collect()
    }
}

/// Starts the `bolt-proxy` binary in front of `upstream`, exporting over OTLP/HTTP to
/// `collector` with a batch delay of `batch_delay_ms`; returns the child (killed on drop) and
/// the address it listens on.
pub async fn spawn_proxy_binary(
    upstream: &str,
    collector: &Collector,
    batch_delay_ms: u64,
    extra_args: &[&str],
) -> (Child, SocketAddr) {
    spawn(upstream, collector, batch_delay_ms, extra_args, None, &[]).await
}

/// [`spawn_proxy_binary`] with these environment variables added.
pub async fn spawn_proxy_binary_with_env(
    upstream: &str,
    collector: &Collector,
    batch_delay_ms: u64,
    extra_args: &[&str],
    env: &[(&str, &str)],
) -> (Child, SocketAddr) {
    spawn(upstream, collector, batch_delay_ms, extra_args, None, env).await
}

/// [`spawn_proxy_binary`], writing its log at `trace` level into `log` when given.
pub async fn spawn_proxy_binary_logging(
    upstream: &str,
    collector: &Collector,
    batch_delay_ms: u64,
    extra_args: &[&str],
    log: Option<&std::path::Path>,
) -> (Child, SocketAddr) {
    spawn(upstream, collector, batch_delay_ms, extra_args, log, &[]).await
}

async fn spawn(
    upstream: &str,
    collector: &Collector,
    batch_delay_ms: u64,
    extra_args: &[&str],
    log: Option<&std::path::Path>,
    env: &[(&str, &str)],
) -> (Child, SocketAddr) {
    let (level, stderr) = match log {
        Some(path) => ("trace", Stdio::from(std::fs::File::create(path).unwrap())),
        None => ("info", Stdio::null()),
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bolt-proxy"))
        .args(["--listen", "127.0.0.1:0", "--upstream", upstream])
        .args(extra_args)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_SERVICE_NAME", "bolt-proxy-test")
        .env("OTEL_BSP_SCHEDULE_DELAY", batch_delay_ms.to_string())
        .env("RUST_LOG", level)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("bolt-proxy starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("prints its address")
        .unwrap()
        .unwrap();
    let addr = first
        .strip_prefix("bolt-proxy listening on ")
        .expect("address line")
        .parse()
        .unwrap();
    // Keep reading, so anything it prints later never meets a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

/// Sends SIGTERM to `child` and waits (at most `within`) for it to exit; returns whether it
/// exited with status 0.
pub async fn terminate(child: &mut Child, within: Duration) -> bool {
    send_signal(child.id().expect("the proxy still runs"), "TERM");
    timeout(within, child.wait())
        .await
        .expect("exits within the grace period")
        .unwrap()
        .success()
}
