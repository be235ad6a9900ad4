//! The query metrics: OpenTelemetry's database client histograms, keyed by the prepared
//! query's summary and operation (never by its text), recorded alike by the wrappers and the
//! proxy.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter};

/// `db.client.operation.duration`, in seconds.
pub const DB_CLIENT_OPERATION_DURATION: &str = "db.client.operation.duration";
/// `db.client.response.returned_rows`.
pub const DB_CLIENT_RESPONSE_RETURNED_ROWS: &str = "db.client.response.returned_rows";

/// The two query histograms of one meter.
#[derive(Debug)]
pub struct QueryMetrics {
    duration: Histogram<f64>,
    rows: Histogram<u64>,
}

impl QueryMetrics {
    /// The two histograms, created on `meter`.
    pub fn new(meter: &Meter) -> Self {
        QueryMetrics {
            duration: meter
                .f64_histogram(DB_CLIENT_OPERATION_DURATION)
                .with_unit("s")
                .with_description("Duration of database client operations.")
                .with_boundaries(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0])
                .build(),
            rows: meter
                .u64_histogram(DB_CLIENT_RESPONSE_RETURNED_ROWS)
                .with_unit("{row}")
                .with_description("Rows returned by database client operations.")
                .with_boundaries(vec![
                    1.0, 2.0, 5.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0,
                ])
                .build(),
        }
    }

    /// Records one query; `attrs` are its [`PreparedQuery::metric`](super::PreparedQuery::metric),
    /// plus `error.type` and `db.response.status_code` when it failed.
    pub fn record(&self, elapsed: Duration, rows: u64, attrs: &[KeyValue]) {
        self.duration.record(elapsed.as_secs_f64(), attrs);
        self.rows.record(rows, attrs);
    }
}
