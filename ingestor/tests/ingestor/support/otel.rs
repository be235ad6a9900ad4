//! The test binary's one telemetry installation.
//!
//! `telemetry::Builder::install` sets process-wide state: the global tracer provider, propagator
//! and `tracing` subscriber, of which a process gets one. When each behaviour was a binary of
//! its own, each test installed its own and exported to its own collector; sharing a process,
//! the first caller of [`telemetry`] installs it for everyone, exporting over OTLP/HTTP to one
//! loopback collector, and each test reads back only the spans of the traces it started.
//!
//! The collector runs on a runtime of its own: a test's runtime ends with the test, and the
//! collector has to outlive every test of the binary.

use std::sync::OnceLock;
use std::time::Duration;

use fixtures::otlp::{CollectedSpan, Collector};
use telemetry::TelemetryGuard;
use tokio::runtime::Runtime;

/// How long a test waits for its spans to reach the collector.
const SPANS_TIMEOUT: Duration = Duration::from_secs(10);

/// The installed telemetry and the collector it exports to; see [`telemetry`].
pub struct Telemetry {
    /// Receives every span of this process.
    pub collector: Collector,
    guard: TelemetryGuard,
    /// Serves the collector; never dropped.
    _runtime: Runtime,
}

/// Installs telemetry on first use, for the rest of the process: real span ids (so trace
/// headers are written), spans exported to [`Telemetry::collector`], no log subscriber. Call it
/// before building the ingestor's state ([`super::Harness::start`]), which takes its tracer
/// from the global provider as it is then.
pub fn telemetry() -> &'static Telemetry {
    static INSTALLED: OnceLock<Telemetry> = OnceLock::new();
    // Built on a thread of its own: the caller is a test's runtime, inside which another runtime
    // cannot block on the collector's start.
    INSTALLED.get_or_init(|| {
        std::thread::spawn(install)
            .join()
            .expect("telemetry installs")
    })
}

fn install() -> Telemetry {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("otlp-collector")
        .enable_all()
        .build()
        .expect("the collector's runtime");
    let collector = runtime
        .block_on(Collector::start())
        .expect("the OTLP collector starts");
    let guard = telemetry::Builder::new("ingestor")
        .with_otlp_endpoint(&collector.endpoint())
        .without_logs()
        .install()
        .expect("telemetry installs once per process");
    Telemetry {
        collector,
        guard,
        _runtime: runtime,
    }
}

impl Telemetry {
    /// Exports every finished span now (every test's: they share the exporter).
    pub async fn flush(&'static self) {
        // The SDK's flush blocks until the export is answered.
        tokio::task::spawn_blocking(|| self.guard.force_flush())
            .await
            .expect("the flush ran")
            .expect("spans flushed");
    }

    /// Waits until the spans of trace `trace_id` satisfy `done`, and returns them in arrival
    /// order; fails after 10 s.
    pub async fn trace_when(
        &self,
        trace_id: &str,
        mut done: impl FnMut(&[CollectedSpan]) -> bool,
    ) -> Vec<CollectedSpan> {
        let of_trace = |spans: &[CollectedSpan]| -> Vec<CollectedSpan> {
            spans
                .iter()
                .filter(|s| s.trace_id == trace_id)
                .cloned()
                .collect()
        };
        let spans = self
            .collector
            .wait_for(|spans| done(&of_trace(spans)), SPANS_TIMEOUT)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "spans of trace {trace_id}: {e}\n{}",
                    self.collector.render_tree(trace_id)
                )
            });
        of_trace(&spans)
    }
}
