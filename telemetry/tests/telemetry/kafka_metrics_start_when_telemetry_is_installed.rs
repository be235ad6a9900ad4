//! A producer created, and records consumed, before the application installs its OpenTelemetry
//! providers: nothing is measured then, and once the providers are installed the same producer
//! records into them. The instruments are taken from the global meter provider when first
//! used, not when the producer is made.
//!
//! Run in a child process: the global providers of this test binary are installed once for
//! every test (`support::kafka`), so only a fresh process has none.

use std::time::Duration;

use hop_telemetry::kafka::{ConsumeScope, OutgoingRecord};
use opentelemetry::global;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use rdkafka::message::{OwnedMessage, Timestamp};

use crate::support::child::{self, assert_child};
use crate::support::kafka::Cluster;

#[test]
fn a_producer_made_before_the_providers_records_into_them() {
    child::run(module_path!(), "child_before_and_after", &[]);
}

fn consume_one(topic: &str) {
    let message = OwnedMessage::new(
        Some(b"{}".to_vec()),
        None,
        topic.to_owned(),
        Timestamp::NotAvailable,
        0,
        0,
        None,
    );
    ConsumeScope::start(&message, "before-and-after").end_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by a_producer_made_before_the_providers_records_into_them"]
async fn child_before_and_after() {
    assert_child("child_before_and_after");
    let topic = "mock.before-and-after";
    let cluster = Cluster::start(&[topic], None);
    // Made, and used, while the global providers are OpenTelemetry's no-op ones.
    let producer = cluster.producer();
    let send = |key: &'static [u8]| {
        producer.send(
            OutgoingRecord::new(topic, key, b"{}"),
            Duration::from_secs(5),
        )
    };
    send(b"early").await.expect("delivered");
    consume_one(topic);

    let spans = InMemorySpanExporter::default();
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    global::set_tracer_provider(tracer_provider.clone());
    let metrics = InMemoryMetricExporter::default();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(metrics.clone())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    global::set_meter_provider(meter_provider.clone());

    send(b"late").await.expect("delivered");
    consume_one(topic);

    tracer_provider.force_flush().unwrap();
    let names: Vec<_> = spans
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .map(|span| span.name.into_owned())
        .collect();
    assert_eq!(names, [format!("send {topic}"), format!("process {topic}")]);

    meter_provider.force_flush().unwrap();
    let exported = metrics.get_finished_metrics().unwrap();
    let mut recorded: Vec<(String, u64)> = exported
        .iter()
        .flat_map(|collection| collection.scope_metrics())
        .filter(|scope| {
            scope.scope().name() == "telemetry"
                && scope.scope().version() == Some(env!("CARGO_PKG_VERSION"))
        })
        .flat_map(|scope| scope.metrics())
        .map(|metric| {
            let total = match metric.data() {
                AggregatedMetrics::F64(MetricData::Histogram(histogram)) => {
                    histogram.data_points().map(|point| point.count()).sum()
                }
                AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                    sum.data_points().map(|point| point.value()).sum()
                }
                other => panic!("unexpected kind {other:?}"),
            };
            (metric.name().to_owned(), total)
        })
        .collect();
    recorded.sort();
    // Only what happened after the providers were installed.
    assert_eq!(
        recorded,
        [
            ("messaging.client.consumed.messages".to_owned(), 1),
            ("messaging.client.operation.duration".to_owned(), 1),
            ("messaging.client.sent.messages".to_owned(), 1),
            ("messaging.process.duration".to_owned(), 1),
        ]
    );
}
