//! Installing the providers, the propagator and the `tracing` subscriber.
//!
//! Without an OTLP endpoint the tracer provider has no span processor at all: spans get real
//! ids (so propagation and log correlation work) but nothing is queued, no thread is started and
//! nothing can fail. With an endpoint, spans go through the SDK's batch processor (its own
//! thread; `OTEL_BSP_*` honoured by the SDK) and metrics through a periodic reader
//! (`OTEL_METRIC_EXPORT_INTERVAL`).

use std::fmt;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{
    SdkTracerProvider, SimpleSpanProcessor, SpanExporter, TracerProviderBuilder,
};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::logs::JsonLogLayer;
use crate::propagation::{self, Propagator};
use crate::{Error, INSTRUMENTATION_SCOPE, Result};

/// Spans from the HTTP/gRPC stacks (including the OTLP exporter's own client) would swamp the
/// traces and could feed back into the exporter, so the OpenTelemetry bridge ignores them.
const DEFAULT_SPAN_FILTER: &str = "info,h2=off,hyper=off,hyper_util=off,tonic=off,tower=off,\
     reqwest=off,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off";
const DEFAULT_LOG_FILTER: &str = "info";
/// Links a span keeps unless `OTEL_SPAN_LINK_COUNT_LIMIT` says otherwise. A Kafka transaction's
/// settle span (`kafka::SettleScope`) links every record it commits, a few hundred in a batch;
/// the SDK's default of 128 would drop the rest.
const SPAN_LINK_LIMIT: u32 = 1024;

/// OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// Protobuf over HTTP, posted to `<endpoint>/v1/traces` and `<endpoint>/v1/metrics`.
    HttpProtobuf,
    /// gRPC (tonic); needs a Tokio runtime when the telemetry is installed and while it exports.
    Grpc,
}

impl OtlpProtocol {
    /// Parses an `OTEL_EXPORTER_OTLP_PROTOCOL` value (`http/protobuf` or `grpc`).
    pub fn parse(value: &str) -> Result<Self> {
        match value.trim() {
            "" | "http/protobuf" => Ok(Self::HttpProtobuf),
            "grpc" => Ok(Self::Grpc),
            _ => Err(Error::Config(
                "OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or grpc".to_owned(),
            )),
        }
    }
}

fn env_non_empty(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

#[derive(Clone, Debug)]
enum Endpoint {
    FromEnv,
    Base(String),
    Disabled,
}

type ProcessorHook = Box<dyn FnOnce(TracerProviderBuilder) -> TracerProviderBuilder>;

/// Configures and installs the telemetry; [`init`] is `Builder::new(name).install()`.
///
/// Every option defaults to the standard `OTEL_*` variables; an explicit option wins over the
/// variable.
pub struct Builder {
    default_service_name: String,
    service_name: Option<String>,
    endpoint: Endpoint,
    protocol: Option<OtlpProtocol>,
    propagator: Option<Propagator>,
    processors: Vec<ProcessorHook>,
    logs: bool,
    log_writer: Option<BoxMakeWriter>,
    log_filter: Option<String>,
    span_filter: Option<String>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("default_service_name", &self.default_service_name)
            .field("service_name", &self.service_name)
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("propagator", &self.propagator)
            .field("extra_processors", &self.processors.len())
            .field("logs", &self.logs)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// A builder for a service called `default_service_name` unless `OTEL_SERVICE_NAME` says
    /// otherwise.
    pub fn new(default_service_name: &str) -> Self {
        Self {
            default_service_name: default_service_name.to_owned(),
            service_name: None,
            endpoint: Endpoint::FromEnv,
            protocol: None,
            propagator: None,
            processors: Vec::new(),
            logs: true,
            log_writer: None,
            log_filter: None,
            span_filter: None,
        }
    }

    /// The service name, overriding `OTEL_SERVICE_NAME`.
    pub fn with_service_name(mut self, name: &str) -> Self {
        self.service_name = Some(name.to_owned());
        self
    }

    /// Exports over OTLP to this base URL (as `OTEL_EXPORTER_OTLP_ENDPOINT`: for http/protobuf
    /// the signal paths `/v1/traces` and `/v1/metrics` are appended).
    pub fn with_otlp_endpoint(mut self, base_url: &str) -> Self {
        self.endpoint = Endpoint::Base(base_url.to_owned());
        self
    }

    /// Ignores the OTLP endpoint variables: nothing is exported over OTLP.
    pub fn without_otlp(mut self) -> Self {
        self.endpoint = Endpoint::Disabled;
        self
    }

    /// The OTLP transport, overriding `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn with_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// The propagator, overriding `OTEL_PROPAGATORS`.
    pub fn with_propagator(mut self, propagator: Propagator) -> Self {
        self.propagator = Some(propagator);
        self
    }

    /// Also sends every span to `exporter`, synchronously as each span ends (a simple span
    /// processor), e.g. the SDK's `InMemorySpanExporter` in tests.
    pub fn with_span_exporter<E: SpanExporter + 'static>(mut self, exporter: E) -> Self {
        self.processors
            .push(Box::new(move |builder: TracerProviderBuilder| {
                builder.with_span_processor(SimpleSpanProcessor::new(exporter))
            }));
        self
    }

    /// No JSON log layer (the OpenTelemetry bridge is still installed).
    pub fn without_logs(mut self) -> Self {
        self.logs = false;
        self
    }

    /// Writes the JSON log lines to `make_writer` instead of stderr.
    pub fn with_log_writer<W>(mut self, make_writer: W) -> Self
    where
        W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
    {
        self.log_writer = Some(BoxMakeWriter::new(make_writer));
        self
    }

    /// Log filter directives (as `RUST_LOG`), overriding `RUST_LOG` (default `info`).
    pub fn with_log_filter(mut self, directives: &str) -> Self {
        self.log_filter = Some(directives.to_owned());
        self
    }

    /// Which `tracing` spans become OpenTelemetry spans (`RUST_LOG` syntax). The default keeps
    /// `info` and above and drops the HTTP/gRPC client stacks.
    pub fn with_span_filter(mut self, directives: &str) -> Self {
        self.span_filter = Some(directives.to_owned());
        self
    }

    fn resolved_protocol(&self, signal_var: &str) -> Result<OtlpProtocol> {
        match self.protocol {
            Some(protocol) => Ok(protocol),
            None => OtlpProtocol::parse(
                &env_non_empty(signal_var)
                    .or_else(|| env_non_empty("OTEL_EXPORTER_OTLP_PROTOCOL"))
                    .unwrap_or_default(),
            ),
        }
    }

    /// `Some(explicit url or None for "from the environment")` when the signal is exported.
    fn signal_endpoint(
        &self,
        signal_var: &str,
        path: &str,
        protocol: OtlpProtocol,
    ) -> Option<Option<String>> {
        match &self.endpoint {
            Endpoint::Disabled => None,
            Endpoint::Base(base) => Some(Some(match protocol {
                OtlpProtocol::HttpProtobuf => format!("{}{path}", base.trim_end_matches('/')),
                OtlpProtocol::Grpc => base.clone(),
            })),
            Endpoint::FromEnv => (env_non_empty(signal_var).is_some()
                || env_non_empty("OTEL_EXPORTER_OTLP_ENDPOINT").is_some())
            .then_some(None),
        }
    }

    fn span_exporter(&self) -> Result<Option<opentelemetry_otlp::SpanExporter>> {
        let protocol = self.resolved_protocol("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")?;
        let Some(endpoint) =
            self.signal_endpoint("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "/v1/traces", protocol)
        else {
            return Ok(None);
        };
        let exporter = match protocol {
            OtlpProtocol::HttpProtobuf => {
                let builder = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary);
                match endpoint {
                    Some(url) => builder.with_endpoint(url).build()?,
                    None => builder.build()?,
                }
            }
            OtlpProtocol::Grpc => {
                require_runtime()?;
                let builder = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_protocol(Protocol::Grpc);
                match endpoint {
                    Some(url) => builder.with_endpoint(url).build()?,
                    None => builder.build()?,
                }
            }
        };
        Ok(Some(exporter))
    }

    fn metric_exporter(&self) -> Result<Option<opentelemetry_otlp::MetricExporter>> {
        let protocol = self.resolved_protocol("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")?;
        let Some(endpoint) = self.signal_endpoint(
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "/v1/metrics",
            protocol,
        ) else {
            return Ok(None);
        };
        let exporter = match protocol {
            OtlpProtocol::HttpProtobuf => {
                let builder = opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary);
                match endpoint {
                    Some(url) => builder.with_endpoint(url).build()?,
                    None => builder.build()?,
                }
            }
            OtlpProtocol::Grpc => {
                require_runtime()?;
                let builder = opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .with_protocol(Protocol::Grpc);
                match endpoint {
                    Some(url) => builder.with_endpoint(url).build()?,
                    None => builder.build()?,
                }
            }
        };
        Ok(Some(exporter))
    }

    /// Installs the global tracer provider, meter provider, propagator and `tracing`
    /// subscriber. Fails if the OTLP configuration is unusable or another global subscriber is
    /// already installed.
    pub fn install(mut self) -> Result<TelemetryGuard> {
        let service_name = self
            .service_name
            .clone()
            .or_else(|| env_non_empty("OTEL_SERVICE_NAME"))
            .unwrap_or_else(|| self.default_service_name.clone());
        let resource = Resource::builder().with_service_name(service_name).build();

        let (propagator, unknown_styles) = match self.propagator.take() {
            Some(propagator) => (propagator, Vec::new()),
            None => Propagator::parse(&std::env::var("OTEL_PROPAGATORS").unwrap_or_default()),
        };

        let span_exporter = self.span_exporter()?;
        let metric_exporter = self.metric_exporter()?;

        let mut tracer_builder = SdkTracerProvider::builder().with_resource(resource.clone());
        if env_non_empty("OTEL_SPAN_LINK_COUNT_LIMIT").is_none() {
            tracer_builder = tracer_builder.with_max_links_per_span(SPAN_LINK_LIMIT);
        }
        if let Some(exporter) = span_exporter {
            tracer_builder = tracer_builder.with_batch_exporter(exporter);
        }
        for hook in std::mem::take(&mut self.processors) {
            tracer_builder = hook(tracer_builder);
        }
        let tracer_provider = tracer_builder.build();

        let mut meter_builder = SdkMeterProvider::builder().with_resource(resource);
        let exports_metrics = metric_exporter.is_some();
        if let Some(exporter) = metric_exporter {
            meter_builder = meter_builder.with_periodic_exporter(exporter);
        }
        let meter_provider = meter_builder.build();

        let span_filter = EnvFilter::builder()
            .parse_lossy(self.span_filter.as_deref().unwrap_or(DEFAULT_SPAN_FILTER));
        let otel_layer = tracing_opentelemetry::layer()
            .with_tracer(tracer_provider.tracer(INSTRUMENTATION_SCOPE))
            .with_filter(span_filter);
        let log_layer = if self.logs {
            let directives = self
                .log_filter
                .clone()
                .or_else(|| env_non_empty("RUST_LOG"))
                .unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
            let filter = EnvFilter::builder().parse_lossy(directives);
            let writer = self
                .log_writer
                .take()
                .unwrap_or_else(|| BoxMakeWriter::new(std::io::stderr));
            Some(JsonLogLayer::new(writer).with_filter(filter))
        } else {
            None
        };
        let subscriber = Registry::default().with(otel_layer).with(log_layer);
        tracing::subscriber::set_global_default(subscriber)
            .map_err(|_| Error::SubscriberAlreadySet)?;

        opentelemetry::global::set_tracer_provider(tracer_provider.clone());
        // A provider with no reader logs an error for every observable instrument made from it;
        // without an export, the global no-op meter is the quiet and cheaper choice.
        if exports_metrics {
            opentelemetry::global::set_meter_provider(meter_provider.clone());
        }
        opentelemetry::global::set_text_map_propagator(propagator.clone());
        propagation::set_global(propagator);
        // Only now is there a subscriber to receive the warning.
        propagation::warn_unknown_once(&unknown_styles);

        Ok(TelemetryGuard {
            tracer_provider,
            meter_provider,
            shut_down: false,
        })
    }
}

fn require_runtime() -> Result<()> {
    tokio::runtime::Handle::try_current()
        .map(|_| ())
        .map_err(|_| {
            Error::Config("OTLP over gRPC must be initialised inside a Tokio runtime".to_owned())
        })
}

/// Installs everything from the `OTEL_*` variables; see [`Builder`].
pub fn init(default_service_name: &str) -> Result<TelemetryGuard> {
    Builder::new(default_service_name).install()
}

/// Keeps the providers alive; flushes and shuts them down when dropped (or on
/// [`TelemetryGuard::shutdown`]). With gRPC export, drop it while the Tokio runtime still runs.
#[must_use = "dropping the guard shuts the telemetry down"]
pub struct TelemetryGuard {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    shut_down: bool,
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("shut_down", &self.shut_down)
            .finish_non_exhaustive()
    }
}

/// How long shutdown may wait for the last export.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

impl TelemetryGuard {
    /// The tracer provider (e.g. to flush it in tests).
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer_provider
    }

    /// The meter provider.
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter_provider
    }

    /// Exports whatever spans and metrics are pending.
    pub fn force_flush(&self) -> Result<()> {
        both(
            self.tracer_provider.force_flush(),
            self.meter_provider.force_flush(),
        )
    }

    /// Flushes and shuts down, reporting failures (dropping the guard ignores them).
    pub fn shutdown(mut self) -> Result<()> {
        self.shut_down = true;
        self.close()
    }

    fn close(&self) -> Result<()> {
        // Shutdown exports what the batch processor still holds, then stops its thread.
        both(
            self.tracer_provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT),
            self.meter_provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT),
        )
    }
}

/// Both outcomes, saying which signal failed.
fn both(spans: OTelSdkResult, metrics: OTelSdkResult) -> Result<()> {
    match (spans, metrics) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(error), Ok(())) => Err(Error::Shutdown(format!("spans: {error}"))),
        (Ok(()), Err(error)) => Err(Error::Shutdown(format!("metrics: {error}"))),
        (Err(spans), Err(metrics)) => Err(Error::Shutdown(format!(
            "spans: {spans}; metrics: {metrics}"
        ))),
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if !self.shut_down {
            self.shut_down = true;
            let _ = self.close();
        }
    }
}
