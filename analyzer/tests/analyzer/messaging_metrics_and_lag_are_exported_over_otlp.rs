//! The analyzer binary exports, beside its spans, the messaging metrics of the OpenTelemetry
//! conventions and its consumer lag per partition, over OTLP; a backlog shows as lag that
//! drains to zero once answered. `GET /stats` reports the same assignment and lag.

use std::time::Duration;

use fixtures::otlp::{AttrValue, CollectedMetric, Collector, MetricKind};
use fixtures::testkit::{eventually, send_signal, unique, wait_exit};

use crate::support::*;

const PARTITIONS: i32 = 2;
const RECORDS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messaging_metrics_and_lag_are_exported_over_otlp() {
    let h = Harness::start("metrics", PARTITIONS).await;
    let collector = Collector::start().await.expect("the OTLP receiver starts");
    // A backlog first: the lag has something to show when the analyzer joins.
    let run = unique("metrics");
    let ids: Vec<String> = (0..RECORDS).map(|i| format!("{run}-{i}")).collect();
    for id in &ids {
        h.produce(id, ordinary(id).as_bytes()).await;
    }
    let port = fixtures::free_port().expect("a free port");
    let mut child = KillOnDrop(
        h.binary()
            .env("ANALYZER_STATS_ADDR", format!("127.0.0.1:{port}"))
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())
            .env("OTEL_METRIC_EXPORT_INTERVAL", "300")
            .env("OTEL_SERVICE_NAME", "analyzer")
            .spawn()
            .expect("the analyzer binary starts"),
    );
    h.verdicts().wait_for(RECORDS, WAIT).await;

    let group = AttrValue::String(h.group.clone());
    let topic = AttrValue::String(h.topic.clone());
    // The lag of every partition, as last exported, is zero once everything is answered.
    let lag = eventually("every partition's lag exported as zero", WAIT, || {
        let latest = latest(&collector.metrics(), "messaging.kafka.consumer.lag");
        std::future::ready(latest.filter(|m| {
            m.points.len() == PARTITIONS as usize && m.points.iter().all(|p| p.value == 0.0)
        }))
    })
    .await;
    assert_eq!(lag.kind, MetricKind::Gauge);
    assert_eq!(lag.unit, "{message}");
    for point in &lag.points {
        assert_eq!(
            point.attributes.get("messaging.consumer.group.name"),
            Some(&group)
        );
        assert_eq!(
            point.attributes.get("messaging.destination.name"),
            Some(&topic)
        );
        assert!(
            point
                .attributes
                .contains_key("messaging.destination.partition.id")
        );
    }
    let stats: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{port}/stats"))
        .await
        .expect("stats answer")
        .json()
        .await
        .unwrap();
    let assignment = stats["assignment"].as_array().expect("an assignment");
    assert_eq!(assignment.len(), PARTITIONS as usize, "{stats}");
    assert!(assignment.iter().all(|p| p["lag"] == 0), "{stats}");
    let committed: i64 = assignment
        .iter()
        .map(|p| p["committed"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(
        committed,
        h.committed_total(PARTITIONS),
        "the committed offsets are the group's"
    );

    // The conventions' messaging metrics, with their required attributes.
    let metrics = collector.metrics();
    let consumed = latest(&metrics, "messaging.client.consumed.messages").expect("consumed");
    assert_eq!(consumed.kind, MetricKind::Sum);
    assert_eq!(
        consumed.points.iter().map(|p| p.value).sum::<f64>(),
        RECORDS as f64
    );
    let processed = latest(&metrics, "messaging.process.duration").expect("process duration");
    assert_eq!(processed.kind, MetricKind::Histogram);
    assert_eq!(processed.unit, "s");
    let operations = latest(&metrics, "messaging.client.operation.duration").expect("operations");
    let operation_names: Vec<_> = operations
        .points
        .iter()
        .filter_map(|p| p.attributes.get("messaging.operation.name"))
        .collect();
    for name in ["send", "commit"] {
        assert!(
            operation_names.contains(&&AttrValue::String(name.into())),
            "{name} in {operation_names:?}"
        );
    }
    let sent = latest(&metrics, "messaging.client.sent.messages").expect("sent");
    assert_eq!(
        sent.points.iter().map(|p| p.value).sum::<f64>(),
        RECORDS as f64
    );
    for metric in &metrics {
        for point in &metric.points {
            for value in point.attributes.values() {
                assert!(
                    !ids.iter()
                        .any(|id| format!("{value:?}").contains(id.as_str())),
                    "no transaction id in {}: {value:?}",
                    metric.name
                );
            }
        }
    }

    send_signal(child.0.id(), "TERM");
    tokio::task::block_in_place(|| wait_exit(&mut child.0, Duration::from_secs(30)));
    drop(collector);
}

/// The last export of metric `name` from the analyzer (cumulative metrics: the latest holds all).
fn latest(metrics: &[CollectedMetric], name: &str) -> Option<CollectedMetric> {
    metrics
        .iter()
        .rfind(|m| m.name == name && m.service_name == "analyzer")
        .cloned()
}
