//! What happens to one record: validate, write, judge, mark, publish; retry what is
//! transient, dead-letter what cannot succeed.
//!
//! Each record gets its own CONSUMER span (`telemetry::kafka::ConsumeScope`), child of the
//! producer's context, and everything done for it runs with that span current, so the Cypher
//! spans (bolt-tracer) and the verdict or DLQ PRODUCER span are its children.
//!
//! Attempts and their spans: the first attempt runs directly under the consumer span, so a
//! record that succeeds at once reads `process -> queries -> send`. When an attempt fails, the
//! failure becomes visible as its own span: `attempt 1` is recorded after the fact over the
//! time the first attempt took, and every later attempt runs inside an `attempt N` span that
//! parents its queries; failed ones carry `error.type` and an error status. Between attempts
//! the worker sleeps with exponential backoff and full jitter.
//!
//! A record is answered only once its verdict or its DLQ record has been acknowledged by the
//! broker: with exactly-once, inside the open Kafka transaction together with the record's
//! offset ([`crate::settle`]), which the next commit makes visible; with at-least-once,
//! before its offset may be stored for commit. A DLQ send that fails is retried until it
//! succeeds or the analyzer shuts down: moving on without it would let a later offset commit
//! past a record that went nowhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use opentelemetry::context::FutureExt;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Message, OwnedMessage};
use telemetry::attribute::ERROR_TYPE;
use telemetry::kafka::{ConsumeScope, OutgoingRecord, SendError, TracedProducer};
use tokio::sync::watch;

use crate::config::RetryPolicy;
use crate::counters::Counters;
use crate::dlq::{self, DeadLetter};
use crate::graph::{FraudGraph, Recorded};
use crate::partition::PartitionQueue;
use crate::settle::{Claim, Refused, Settle};
use crate::transaction::{PayloadReader, Transaction};
use crate::verdict::Verdict;

/// A shutdown request, shared by the run loop and the workers.
#[derive(Debug, Clone)]
pub(crate) struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    pub(crate) fn new(rx: watch::Receiver<bool>) -> Shutdown {
        Shutdown { rx }
    }

    pub(crate) fn requested(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown is requested (or the requester is gone).
    pub(crate) async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Sleeps for `delay`; `false` if shutdown was requested first.
    pub(crate) async fn sleep(&self, delay: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = self.wait() => false,
        }
    }
}

/// What became of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Handled {
    /// Its verdict was acknowledged by the broker.
    Verdict(Verdict),
    /// Its DLQ record was acknowledged by the broker.
    DeadLettered(DeadLetter),
    /// Shutdown came before either: the record must not be acknowledged.
    Interrupted,
    /// With exactly-once: the record's claim was voided before it could be answered (its
    /// partition was revoked, or an earlier record of it is being processed again).
    Void,
}

/// The partition queue a record was taken from, and that queue's generation then.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub(crate) queue: Arc<PartitionQueue>,
    pub(crate) generation: u64,
}

/// Why an attempt ends the record's processing without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Abandon {
    /// The claim was voided (see [`Handled::Void`]).
    Void,
    /// The transactional producer is closed or fenced.
    Closed,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// Low-cardinality name, for `error.type`.
    pub(crate) error_type: String,
    /// What failed, without values.
    pub(crate) message: String,
    /// Retrying cannot help.
    pub(crate) permanent: bool,
    /// The graph database could not be reached: when it answers again it may have restarted
    /// empty (a server without persistence), without its indexes.
    pub(crate) database_away: bool,
    /// Not a failure to retry: the record is left unanswered.
    pub(crate) abandon: Option<Abandon>,
}

impl Failure {
    fn transient(error_type: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            error_type: error_type.into(),
            message: message.into(),
            permanent: false,
            database_away: false,
            abandon: None,
        }
    }

    fn abandoned(abandon: Abandon) -> Failure {
        let error_type = match abandon {
            Abandon::Void => "claim_void",
            Abandon::Closed => "producer_closed",
        };
        Failure {
            abandon: Some(abandon),
            ..Failure::transient(error_type, "the record is left unanswered")
        }
    }

    fn permanent(error_type: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            permanent: true,
            ..Failure::transient(error_type, message)
        }
    }

    /// Classifies a graph client error. Only names go into the result: a server's error text
    /// can quote the query or its values.
    pub(crate) fn graph(e: neo4rs::Error) -> Failure {
        use neo4rs::Error as E;
        let unreachable = |kind: &str| Failure {
            database_away: true,
            ..Failure::transient(kind, format!("graph database unreachable ({kind})"))
        };
        match &e {
            E::Neo4j(n) => Failure::answered(n.kind(), n.code()),
            E::IOError { .. } => unreachable("io"),
            E::ConnectionError => unreachable("connection"),
            E::ConnectionClosed(_) => unreachable("connection_closed"),
            E::ConnectionTimedOut => unreachable("connection_timeout"),
            E::ServerUnavailableError(_) => unreachable("server_unavailable"),
            E::RoutingTableError(_) | E::RoutingTableRefreshFailed(_) => unreachable("routing"),
            E::IncompleteBoltExchange
            | E::UnexpectedMessage(_)
            | E::UnknownMessage(_)
            | E::Ignored(_)
            | E::RequestIgnoredError => unreachable("protocol"),
            E::AuthenticationError(_) => unreachable("authentication"),
            E::DeserializationError(_) | E::ConversionError | E::UnknownType(_) => {
                Failure::permanent("deserialization", "graph answer not understood")
            }
            _ => Failure::permanent("client", "graph client refused the request"),
        }
    }

    /// Classifies a status the graph database answered with (`Neo.<class>.<category>.<title>`).
    ///
    /// Retried: `Neo.TransientError.*` (deadlocks, lock timeouts, a database that is starting
    /// or stopping, constraints changed under the transaction), `Neo.DatabaseError.*` (the
    /// server failed, not the query), and the client errors whose cause is outside the query:
    /// expired sessions (`Cluster.NotALeader`, a read-only member), terminated transactions
    /// (Neo4j answers `Neo.TransientError.Transaction.Terminated` when a transaction is ended
    /// under it, e.g. by a shutdown, which neo4rs files as a client error), security and
    /// database-not-found answers (credentials or databases being changed). Not retried: every
    /// other client error (syntax, types, parameters, constraint violations): the query fails
    /// the same way every time.
    pub(crate) fn answered(kind: neo4rs::Neo4jErrorKind, code: &str) -> Failure {
        use neo4rs::{Neo4jClientErrorKind as Client, Neo4jErrorKind as Kind};
        let message = format!("graph database answered {code}");
        match kind {
            Kind::Client(Client::Other | Client::ProtocolViolation | Client::Unknown) => {
                Failure::permanent(code, message)
            }
            _ => Failure::transient(code, message),
        }
    }

    fn publish(e: &SendError) -> Failure {
        let error_type = e.error_type().to_owned();
        let message = format!("verdict not acknowledged by Kafka ({error_type})");
        let permanent = matches!(
            e.kafka_error().rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::MessageSizeTooLarge
                    | RDKafkaErrorCode::InvalidMessageSize
                    | RDKafkaErrorCode::InvalidRecord
                    | RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::InvalidTopic
            )
        );
        Failure {
            error_type,
            message,
            permanent,
            database_away: false,
            abandon: None,
        }
    }

    fn refused(refused: Refused) -> Failure {
        match refused {
            Refused::Void => Failure::abandoned(Abandon::Void),
            Refused::Closed => Failure::abandoned(Abandon::Closed),
            Refused::Rejected(error_type) => {
                let message = format!("answer not accepted by the producer ({error_type})");
                Failure::transient(error_type, message)
            }
        }
    }
}

/// Everything needed to process records; shared by the partition workers.
pub(crate) struct Pipeline {
    pub(crate) graph: FraudGraph,
    pub(crate) producer: Arc<TracedProducer>,
    /// With exactly-once: the transactions the answers go into.
    pub(crate) settle: Option<Arc<Settle>>,
    pub(crate) group: String,
    pub(crate) verdict_topic: String,
    pub(crate) dlq_topic: String,
    pub(crate) send_timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) counters: Arc<Counters>,
    pub(crate) tracer: BoxedTracer,
    /// The topic's reader of payloads (unknown fields ignored, the configured future margin).
    pub(crate) reader: PayloadReader,
    /// Set while the indexes may be missing: at start when the database did not answer, and
    /// whenever an attempt found it away (it may come back empty). The next attempt that
    /// succeeds, of any partition, re-creates them; the flag stays set until the database
    /// answered for every label.
    pub(crate) reindex: AtomicBool,
}

impl Pipeline {
    /// Processes one record, taken from `origin`, in its own CONSUMER span.
    pub(crate) async fn handle(
        &self,
        message: &OwnedMessage,
        shutdown: &Shutdown,
        origin: &Origin,
    ) -> Handled {
        let scope = ConsumeScope::start(message, &self.group);
        let cx = scope.context();
        let claim = self.settle.as_ref().map(|_| Claim {
            queue: origin.queue.clone(),
            generation: origin.generation,
            record: message.clone(),
            span: scope.span_context(),
        });
        let (handled, attempts) = self
            .process(message, &cx, shutdown, claim.as_ref())
            .with_context(cx.clone())
            .await;
        scope.set_attribute(KeyValue::new("analyzer.attempts", i64::from(attempts)));
        // With exactly-once, answers are counted when their transaction commits.
        let count = self.settle.is_none();
        match &handled {
            Handled::Verdict(verdict) => {
                if count {
                    self.counters.verdict(verdict.suspicious);
                }
                scope.set_attribute(KeyValue::new("analyzer.outcome", "verdict"));
                scope.set_attribute(KeyValue::new("analyzer.suspicious", verdict.suspicious));
                let reasons: Vec<StringValue> = verdict
                    .reasons
                    .iter()
                    .cloned()
                    .map(StringValue::from)
                    .collect();
                scope.set_attribute(KeyValue::new(
                    "analyzer.reasons",
                    Value::Array(Array::String(reasons)),
                ));
                scope.end_ok();
            }
            Handled::DeadLettered(reason) => {
                if count {
                    self.counters.dead_lettered();
                }
                scope.set_attribute(KeyValue::new("analyzer.outcome", "dead_lettered"));
                scope.end_error(&reason.error_type);
            }
            Handled::Interrupted => {
                self.counters.interrupted();
                scope.set_attribute(KeyValue::new("analyzer.outcome", "interrupted"));
                scope.end_error("interrupted");
            }
            Handled::Void => {
                scope.set_attribute(KeyValue::new("analyzer.outcome", "void"));
                scope.end_error("claim_void");
            }
        }
        handled
    }

    /// Returns what became of the record and how many attempts were made.
    async fn process(
        &self,
        message: &OwnedMessage,
        cx: &Context,
        shutdown: &Shutdown,
        claim: Option<&Claim>,
    ) -> (Handled, u32) {
        let tx = match self.reader.read(message.payload()) {
            Ok(tx) => tx,
            Err(invalid) => {
                tracing::warn!(
                    error.type = invalid.error_type(),
                    partition = message.partition(),
                    offset = message.offset(),
                    "poison record sent to the DLQ"
                );
                let reason = DeadLetter {
                    error_type: invalid.error_type().to_owned(),
                    message: invalid.to_string(),
                    attempts: 1,
                };
                return (self.dead_letter(message, reason, shutdown, claim).await, 1);
            }
        };

        let mut attempt = 1u32;
        loop {
            let failure = match self.traced_attempt(&tx, attempt, cx, claim).await {
                Ok(verdict) => {
                    self.reindex_if_needed().await;
                    return (Handled::Verdict(verdict), attempt);
                }
                Err(failure) => failure,
            };
            match failure.abandon {
                Some(Abandon::Void) => return (Handled::Void, attempt),
                Some(Abandon::Closed) => return (Handled::Interrupted, attempt),
                None => {}
            }
            let give_up = failure.permanent || attempt >= self.retry.max_attempts;
            tracing::warn!(
                error.type = failure.error_type.as_str(),
                attempt,
                permanent = failure.permanent,
                partition = message.partition(),
                offset = message.offset(),
                "attempt failed{}",
                if give_up { "; sending the record to the DLQ" } else { "; retrying" }
            );
            if give_up {
                let message_text = if failure.permanent {
                    failure.message
                } else {
                    format!("gave up after {attempt} attempts: {}", failure.message)
                };
                let reason = DeadLetter {
                    error_type: failure.error_type,
                    message: message_text,
                    attempts: attempt,
                };
                return (
                    self.dead_letter(message, reason, shutdown, claim).await,
                    attempt,
                );
            }
            self.counters.retried();
            if failure.database_away {
                self.reindex.store(true, Ordering::Relaxed);
            }
            if shutdown.requested() || !shutdown.sleep(self.retry.backoff(attempt)).await {
                return (Handled::Interrupted, attempt);
            }
            attempt += 1;
        }
    }

    /// Re-creates the indexes if they may be missing. Called right after a successful
    /// attempt, when the database has just answered; the queries start traces of their own,
    /// not the record's.
    async fn reindex_if_needed(&self) {
        // A load first: the common case reads the flag without taking its cache line.
        if !self.reindex.load(Ordering::Relaxed) || !self.reindex.swap(false, Ordering::Relaxed) {
            return;
        }
        let prepared = self.graph.prepare().with_context(Context::new()).await;
        if prepared.unanswered > 0 {
            self.reindex.store(true, Ordering::Relaxed);
        }
        tracing::info!(
            created = prepared.created,
            unanswered = prepared.unanswered,
            "graph indexes ensured after the database was away"
        );
    }

    /// Runs attempt `n` with its span (see the module docs for which spans exist when).
    async fn traced_attempt(
        &self,
        tx: &Transaction<'_>,
        n: u32,
        cx: &Context,
        claim: Option<&Claim>,
    ) -> Result<Verdict, Failure> {
        let name = format!("attempt {n}");
        if n == 1 {
            let started = SystemTime::now();
            let result = self.attempt(tx, claim).await;
            if let Err(failure) = &result {
                let span = self
                    .tracer
                    .span_builder(name)
                    .with_kind(SpanKind::Internal)
                    .with_start_time(started)
                    .with_attributes([KeyValue::new("analyzer.attempt", 1i64)])
                    .start_with_context(&self.tracer, cx);
                let attempt_cx = cx.with_span(span);
                fail_span(&attempt_cx, failure);
                attempt_cx.span().end();
            }
            return result;
        }
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Internal)
            .with_attributes([KeyValue::new("analyzer.attempt", i64::from(n))])
            .start_with_context(&self.tracer, cx);
        let attempt_cx = cx.with_span(span);
        let result = self
            .attempt(tx, claim)
            .with_context(attempt_cx.clone())
            .await;
        if let Err(failure) = &result {
            fail_span(&attempt_cx, failure);
        }
        attempt_cx.span().end();
        result
    }

    /// One try at the whole job, bounded by the attempt timeout.
    async fn attempt(
        &self,
        tx: &Transaction<'_>,
        claim: Option<&Claim>,
    ) -> Result<Verdict, Failure> {
        let timeout = self.retry.attempt_timeout;
        match tokio::time::timeout(timeout, self.attempt_inner(tx, claim)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::transient(
                "timeout",
                format!("attempt timed out after {} ms", timeout.as_millis()),
            )),
        }
    }

    async fn attempt_inner(
        &self,
        tx: &Transaction<'_>,
        claim: Option<&Claim>,
    ) -> Result<Verdict, Failure> {
        match self.graph.record(tx).await.map_err(Failure::graph)? {
            Recorded::Stored => {}
            Recorded::Conflict => {
                return Err(Failure::permanent(
                    "conflicting_duplicate",
                    "field id: already used by a different transaction",
                ));
            }
        }
        let fired = self.graph.evaluate(tx).await.map_err(Failure::graph)?;
        if !self
            .graph
            .mark(tx.id(), &fired)
            .await
            .map_err(Failure::graph)?
        {
            // Recorded a moment ago and gone now: the database lost data (a restart without
            // persistence). The next attempt writes it again.
            return Err(Failure::transient(
                "transaction_missing",
                "transaction vanished from the graph before its verdict was stored",
            ));
        }
        let verdict = Verdict::new(tx.id(), &fired);
        let payload = verdict.to_json();
        let record = || OutgoingRecord::new(&self.verdict_topic, tx.id().as_bytes(), &payload);
        match (claim, &self.settle) {
            (Some(claim), Some(settle)) => {
                if settle.failed_deliveries(claim) >= self.retry.max_attempts {
                    return Err(Failure::permanent(
                        "verdict_undeliverable",
                        "the verdict could not be delivered in any transaction",
                    ));
                }
                settle
                    .publish(claim, record, Some(verdict.suspicious))
                    .await
                    .map_err(Failure::refused)?
            }
            _ => {
                self.producer
                    .send(record(), self.send_timeout)
                    .await
                    .map_err(|e| Failure::publish(&e))?;
            }
        }
        Ok(verdict)
    }

    /// Sends the record to the DLQ, retrying the send until the broker acknowledges it or
    /// shutdown is requested.
    async fn dead_letter(
        &self,
        message: &OwnedMessage,
        reason: DeadLetter,
        shutdown: &Shutdown,
        claim: Option<&Claim>,
    ) -> Handled {
        let headers = dlq::headers(message, &reason);
        let record = || OutgoingRecord {
            topic: &self.dlq_topic,
            key: message.key(),
            payload: message.payload().unwrap_or_default(),
            headers: Some(headers.clone()),
            key_on_span: false,
        };
        let mut tries = 0u32;
        loop {
            tries += 1;
            let sent = match (claim, &self.settle) {
                (Some(claim), Some(settle)) => match settle.publish(claim, record, None).await {
                    Ok(()) => Ok(()),
                    Err(Refused::Void) => return Handled::Void,
                    Err(Refused::Closed) => return Handled::Interrupted,
                    Err(Refused::Rejected(error_type)) => Err(error_type),
                },
                _ => self
                    .producer
                    .send(record(), self.send_timeout)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.error_type().to_owned()),
            };
            match sent {
                Ok(()) => return Handled::DeadLettered(reason),
                Err(error_type) => {
                    tracing::error!(
                        error.type = error_type,
                        tries,
                        "DLQ record not acknowledged; the partition waits and retries"
                    );
                    if shutdown.requested() || !shutdown.sleep(self.retry.backoff(tries)).await {
                        return Handled::Interrupted;
                    }
                }
            }
        }
    }
}

fn fail_span(cx: &Context, failure: &Failure) {
    let span = cx.span();
    span.set_attribute(KeyValue::new(ERROR_TYPE, failure.error_type.clone()));
    span.set_attribute(KeyValue::new("analyzer.retryable", !failure.permanent));
    span.set_status(Status::error(failure.message.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_errors_are_classified_by_name_only() {
        let io = Failure::graph(neo4rs::Error::IOError {
            detail: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
        });
        assert_eq!(io.error_type, "io");
        assert!(!io.permanent);
        assert!(
            io.database_away,
            "an unreachable database may come back empty"
        );
        assert!(!io.message.contains("refused"));
        let closed = Failure::graph(neo4rs::Error::ConnectionError);
        assert!(!closed.permanent);
        let decode = Failure::graph(neo4rs::Error::ConversionError);
        assert!(decode.permanent);
    }

    /// Neo4j's status codes, as Neo4j 5 sends them, by how the analyzer treats them.
    #[test]
    fn neo4j_transient_errors_are_retried_and_client_errors_are_not() {
        let classify = |code: &str| Failure::answered(neo4rs::Neo4jErrorKind::from(code), code);
        for code in [
            "Neo.TransientError.Transaction.DeadlockDetected",
            "Neo.TransientError.Transaction.LockAcquisitionTimeout",
            "Neo.TransientError.Transaction.ConstraintsChanged",
            "Neo.TransientError.General.DatabaseUnavailable",
            "Neo.TransientError.Transaction.Terminated",
            "Neo.ClientError.Cluster.NotALeader",
            "Neo.DatabaseError.General.UnknownError",
        ] {
            let failure = classify(code);
            assert!(!failure.permanent, "{code} is retried");
            assert_eq!(failure.error_type, code, "the code is the error type");
            assert!(
                !failure.database_away,
                "{code} is an answer: the database is there"
            );
        }
        for code in [
            "Neo.ClientError.Statement.SyntaxError",
            "Neo.ClientError.Statement.ParameterMissing",
            "Neo.ClientError.Statement.TypeError",
            "Neo.ClientError.Schema.ConstraintValidationFailed",
            "Neo.ClientError.Request.Invalid",
        ] {
            assert!(classify(code).permanent, "{code} is not retried");
        }
    }

    #[tokio::test]
    async fn shutdown_cuts_a_backoff_sleep_short() {
        let (tx, rx) = watch::channel(false);
        let shutdown = Shutdown::new(rx);
        let started = std::time::Instant::now();
        let sleeper = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { shutdown.sleep(Duration::from_secs(30)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send(true).unwrap();
        assert!(!sleeper.await.unwrap());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(shutdown.requested());
    }
}
