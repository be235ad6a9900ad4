//! JSON log lines that carry the current trace and span ids.
//!
//! One line per event: `{"timestamp","level","target","message","fields":{..},"trace_id","span_id"}`.
//! The ids are read from the current OpenTelemetry context, which tracing-opentelemetry keeps in
//! step with the entered `tracing` span (and which a consumer scope attaches), so the lookup is
//! a thread-local read, not a registry walk. Lines are built in a per-thread buffer and written
//! with one `write_all`, so concurrent lines do not interleave.

use std::cell::RefCell;
use std::fmt;
use std::io::Write;

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The `tracing` layer writing JSON lines to `make_writer`.
pub(crate) struct JsonLogLayer<W> {
    make_writer: W,
}

impl<W> JsonLogLayer<W> {
    pub(crate) fn new(make_writer: W) -> Self {
        Self { make_writer }
    }
}

thread_local! {
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl<S, W> Layer<S> for JsonLogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        let metadata = event.metadata();
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);

        let mut line = Map::with_capacity(7);
        line.insert(
            "timestamp".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert("level".into(), Value::String(metadata.level().to_string()));
        line.insert("target".into(), Value::String(metadata.target().to_owned()));
        line.insert(
            "message".into(),
            Value::String(visitor.message.unwrap_or_default()),
        );
        line.insert("fields".into(), Value::Object(visitor.fields));
        let ids = Context::map_current(|cx| {
            let span = cx.span();
            let span_context = span.span_context();
            span_context
                .is_valid()
                .then(|| (span_context.trace_id(), span_context.span_id()))
        });
        if let Some((trace_id, span_id)) = ids {
            line.insert("trace_id".into(), Value::String(trace_id.to_string()));
            line.insert("span_id".into(), Value::String(span_id.to_string()));
        }

        LINE.with(|buffer| {
            // A log call made while writing (e.g. by the writer itself) must not panic on the
            // already borrowed buffer: it gets a fresh one.
            let mut fresh = Vec::new();
            let mut borrowed = buffer.try_borrow_mut();
            let buffer = match borrowed.as_deref_mut() {
                Ok(buffer) => buffer,
                Err(_) => &mut fresh,
            };
            buffer.clear();
            if serde_json::to_writer(&mut *buffer, &Value::Object(line)).is_ok() {
                buffer.push(b'\n');
                let mut writer = self.make_writer.make_writer_for(metadata);
                // A log line that cannot be written is dropped: logging must never fail the
                // operation being logged.
                let _ = writer.write_all(buffer);
            }
        });
    }
}

/// Collects an event's fields as JSON values.
#[derive(Default)]
struct FieldVisitor {
    message: Option<String>,
    fields: Map<String, Value>,
}

impl FieldVisitor {
    fn put(&mut self, field: &Field, value: Value) {
        match field.name() {
            "message" => {
                self.message = Some(match value {
                    Value::String(text) => text,
                    other => other.to_string(),
                });
            }
            // Metadata that the `log` bridge turns into fields; already in level/target.
            name if name.starts_with("log.") => {}
            name => {
                self.fields.insert(name.to_owned(), value);
            }
        }
    }
}

impl Visit for FieldVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(value.to_string()));
        self.put(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}
