//! Exactly-once verdicts: every verdict and DLQ record is produced inside a Kafka transaction
//! that also commits the offsets of the records it answers (`send_offsets_to_transaction`), so
//! a `read_committed` reader of `transactions.verdicts` sees one verdict per record whatever
//! crashes: a transaction either commits the verdict and moves the group's offset past its
//! record, or neither.
//!
//! One producer per process holds one transaction at a time, and the partition workers run in
//! parallel, so a transaction is a batch: workers add their records to the open one, and it is
//! committed every commit interval, when partitions are revoked and at shutdown ([`Settle`]).
//! A worker adds a record while holding the state's lock, which the commit also takes to close
//! the batch: every record of a batch was queued in librdkafka before `commit_transaction`
//! started, and none after.
//!
//! What a failed commit does: the transaction is aborted (none of its verdicts or offsets
//! becomes visible), each record of the batch gets an `abort` span in its trace, and the
//! records go back, in order, to the front of their partition's queue to be processed again
//! (the graph writes are idempotent). A worker holding a later record of such a partition
//! finds its partition's generation changed when it tries to publish, and puts its record
//! back behind them: within a partition, records are always published in offset order, so an
//! offset committed is never past a record not yet answered. A revoked partition's records
//! are dropped instead: its new owner starts from the last committed offset. A fatal error
//! (this producer fenced by a newer incarnation with the same transactional id) stops the
//! analyzer: it is a zombie and must not publish anything more.
//!
//! The graph is not part of the transaction: see DESIGN.md, "Exactly-once verdicts".

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanContext, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use rdkafka::TopicPartitionList;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::Producer;
use rdkafka::{Message, Offset};
use telemetry::attribute::ERROR_TYPE;
use telemetry::kafka::{OutgoingRecord, SettleScope, Settlement, TracedProducer};
use tokio::sync::Notify;

use crate::counters::Counters;
use crate::partition::{PartitionKey, PartitionQueue, Partitions};

/// How many times an abort that timed out is called again before the producer is given up.
const ABORT_TRIES: u32 = 6;
/// How many times a commit step that failed with a retriable error is made again.
const RETRIES: u32 = 6;
/// How many times the producer is made again without a commit in between before the process
/// gives up.
const RENEWALS: u32 = 3;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where the transactional producer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `init_transactions` has not succeeded yet (the brokers may be away).
    Starting,
    /// A transaction is open: workers may add records.
    Open,
    /// The batch is being committed or aborted: workers wait.
    Settling,
    /// Shut down after the last commit: nothing more is published.
    Closed,
    /// Fenced or otherwise fatally failed: nothing more is published, the analyzer stops.
    Fatal,
}

/// One record answered in the open transaction.
#[derive(Debug)]
struct Answered {
    key: PartitionKey,
    /// The record itself, to process again if the transaction aborts.
    record: OwnedMessage,
    /// Its CONSUMER span, for the settle span's links and the abort span's parent.
    span: SpanContext,
    /// `Some(suspicious)` for a verdict, `None` for a DLQ record: counted once committed.
    verdict: Option<bool>,
}

#[derive(Debug, Default)]
struct Batch {
    answered: Vec<Answered>,
    /// A delivery of this batch failed: committing would fail, so it is aborted at once.
    doomed: Option<String>,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    batch: Batch,
    /// Counts the transactions opened: a delivery that fails after its transaction was settled
    /// must not doom the next one.
    epoch: u64,
}

/// A record's claim to publish: the partition queue it came from and that queue's generation
/// when it was taken. A claim is void once the generation moved on (the partition was revoked,
/// or a transaction holding an earlier record of it aborted).
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    pub(crate) queue: Arc<PartitionQueue>,
    pub(crate) generation: u64,
    pub(crate) record: OwnedMessage,
    pub(crate) span: SpanContext,
}

/// Why a record could not be added to a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The claim is void: the record was put back in its queue (abort) or dropped (revoke).
    Void,
    /// The producer is closed or fenced: the record stays unanswered.
    Closed,
    /// librdkafka refused the record itself (too large, unknown topic...): its `error.type`.
    Rejected(String),
}

/// The outcome of one settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Nothing was waiting, or no transaction is open.
    Idle,
    Committed(usize),
    Aborted(usize),
    /// The producer cannot go on; the analyzer must stop.
    Fatal,
}

/// The transactional producer, its open batch and the commit.
pub(crate) struct Settle {
    /// Replaced when it is left in a state no abort gets it out of (see [`Settle::renew`]).
    producer: RwLock<Arc<TracedProducer>>,
    /// What the producer was made from, to make it again.
    config: ClientConfig,
    /// Producers made again since the last commit: a process fenced by another with the same
    /// transactional id would only fence it back, so after a few the process gives up.
    renewals: Mutex<u32>,
    group: String,
    partitions: Partitions,
    counters: Arc<Counters>,
    timeout: Duration,
    state: Mutex<State>,
    /// One settle at a time: the periodic one, a revocation's and the last one.
    settling: Mutex<()>,
    /// Woken when the phase leaves `Settling` or `Starting`.
    phase_changed: Notify,
    /// Offsets committed by this process, per partition: the group's committed offset as far
    /// as this process knows (for the lag).
    committed: Mutex<HashMap<PartitionKey, i64>>,
    /// Records whose answer failed to be delivered, with how many times: each failure aborts
    /// a transaction, so a record that can never be answered must be given up on (the
    /// pipeline then dead-letters it) instead of aborting every batch forever.
    failed_deliveries: Mutex<HashMap<(PartitionKey, i64), u32>>,
}

impl std::fmt::Debug for Settle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settle")
            .field("group", &self.group)
            .field("phase", &lock(&self.state).phase)
            .finish_non_exhaustive()
    }
}

impl Settle {
    /// `producer` must have been created from `config`, which has a `transactional.id`.
    pub(crate) fn new(
        producer: Arc<TracedProducer>,
        config: ClientConfig,
        group: String,
        partitions: Partitions,
        counters: Arc<Counters>,
        timeout: Duration,
    ) -> Settle {
        Settle {
            producer: RwLock::new(producer),
            config,
            renewals: Mutex::new(0),
            group,
            partitions,
            counters,
            timeout,
            state: Mutex::new(State {
                phase: Phase::Starting,
                batch: Batch::default(),
                epoch: 0,
            }),
            settling: Mutex::new(()),
            phase_changed: Notify::new(),
            committed: Mutex::default(),
            failed_deliveries: Mutex::default(),
        }
    }

    /// Registers the producer's transactional id with the coordinator (fencing any earlier
    /// incarnation and aborting what it left open) and opens the first transaction. Blocks;
    /// retried by the caller while it fails with a retriable error.
    pub(crate) fn start(&self) -> Result<(), KafkaError> {
        let producer = self.producer();
        let producer = producer.inner();
        producer.init_transactions(self.timeout)?;
        producer.begin_transaction()?;
        self.set_phase(Phase::Open);
        tracing::info!("transactional producer ready");
        Ok(())
    }

    fn producer(&self) -> Arc<TracedProducer> {
        self.producer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Makes the producer again from its configuration and registers it (`init_transactions`
    /// with the same transactional id, which aborts whatever the old one left open on the
    /// coordinator): for a producer no abort gets out of its state (a commit interrupted by a
    /// broker's loss, a transaction the coordinator timed out). The next transaction is begun
    /// by the caller. Gives up after [`RENEWALS`] without a commit in between.
    fn renew(&self) -> Result<(), String> {
        let mut renewals = lock(&self.renewals);
        if *renewals >= RENEWALS {
            return Err("renewals_exhausted".into());
        }
        *renewals += 1;
        tracing::warn!(
            renewals = *renewals,
            "making the transactional producer again"
        );
        let fresh = TracedProducer::from_config(&self.config)
            .map_err(|e| telemetry::kafka::error_type(&e))?;
        let mut tries = 0;
        while let Err(e) = fresh.inner().init_transactions(self.timeout) {
            tries += 1;
            let retriable = matches!(&e, KafkaError::Transaction(t) if t.is_retriable());
            if !retriable || tries >= RETRIES {
                return Err(telemetry::kafka::error_type(&e));
            }
        }
        *self.producer.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    /// Marks the producer as failed for good: no more records are added.
    pub(crate) fn fail(&self) {
        self.set_phase(Phase::Fatal);
    }

    fn set_phase(&self, phase: Phase) {
        lock(&self.state).phase = phase;
        self.phase_changed.notify_waiters();
    }

    /// Voids every claim on `queues` (their partitions were revoked): a worker holding one of
    /// their records drops it instead of publishing. Taken under the state's lock, so a
    /// record is either in the open batch already or never gets into it.
    pub(crate) fn revoke(&self, queues: &[Arc<PartitionQueue>]) {
        let _state = lock(&self.state);
        for queue in queues {
            queue.revoke();
        }
    }

    /// The offsets this process committed, per partition.
    pub(crate) fn committed(&self) -> HashMap<PartitionKey, i64> {
        lock(&self.committed).clone()
    }

    /// Produces `record` in the open transaction as the answer to `claim`'s record, and adds
    /// that record's offset to the transaction; then waits for the broker's acknowledgement.
    /// `verdict` is `Some(suspicious)` for a verdict, `None` for a DLQ record. Waits while a
    /// commit is in progress.
    pub(crate) async fn publish<'r>(
        &self,
        claim: &Claim,
        record: impl Fn() -> OutgoingRecord<'r>,
        verdict: Option<bool>,
    ) -> Result<(), Refused> {
        let (pending, epoch) = loop {
            let changed = self.phase_changed.notified();
            tokio::pin!(changed);
            // Registered before the phase is read, so a change in between is not missed.
            changed.as_mut().enable();
            {
                let mut state = lock(&self.state);
                if claim.queue.generation() != claim.generation {
                    return Err(Refused::Void);
                }
                match state.phase {
                    Phase::Open => match self.producer().enqueue(record()) {
                        Ok(pending) => {
                            state.batch.answered.push(Answered {
                                key: claim.queue.key(),
                                record: claim.record.clone(),
                                span: claim.span.clone(),
                                verdict,
                            });
                            break (pending, state.epoch);
                        }
                        Err(e) if e.is_queue_full() => {}
                        Err(e) => return Err(Refused::Rejected(e.error_type().to_owned())),
                    },
                    Phase::Closed | Phase::Fatal => return Err(Refused::Closed),
                    Phase::Starting | Phase::Settling => {}
                }
            }
            // The queue is full (the commit will drain it) or a commit is running: wait for
            // the phase to change, or a moment for room in the queue.
            let _ = tokio::time::timeout(Duration::from_millis(10), changed).await;
        };
        if let Err(e) = pending.await {
            // The transaction cannot commit with a record missing: it aborts at the next
            // settle and the record is processed again.
            *lock(&self.failed_deliveries)
                .entry((claim.queue.key(), claim.record.offset()))
                .or_default() += 1;
            let mut state = lock(&self.state);
            if state.epoch == epoch {
                state
                    .batch
                    .doomed
                    .get_or_insert_with(|| e.error_type().to_owned());
            }
        }
        Ok(())
    }

    /// How many times the answer to `claim`'s record failed to be delivered.
    pub(crate) fn failed_deliveries(&self, claim: &Claim) -> u32 {
        lock(&self.failed_deliveries)
            .get(&(claim.queue.key(), claim.record.offset()))
            .copied()
            .unwrap_or(0)
    }

    /// Commits the open transaction with the offsets of the records it answers, or aborts it
    /// and hands its records back to their queues. `metadata` is the consumer's current group
    /// metadata (the coordinator refuses offsets from a member of an older generation).
    /// Blocks: call it from a blocking context.
    pub(crate) fn settle(&self, metadata: Option<ConsumerGroupMetadata>) -> Settled {
        let _one = lock(&self.settling);
        let batch = {
            let mut state = lock(&self.state);
            if state.phase != Phase::Open || state.batch.answered.is_empty() {
                return Settled::Idle;
            }
            state.phase = Phase::Settling;
            state.epoch += 1;
            std::mem::take(&mut state.batch)
        };
        let clock = Instant::now();
        let count = batch.answered.len();
        let result = match (&batch.doomed, metadata) {
            (Some(cause), _) => Err(cause.clone()),
            (None, None) => Err("no_group_metadata".to_owned()),
            (None, Some(metadata)) => {
                let span = self.settle_scope(&batch, Settlement::Commit);
                let committed = self.commit(&batch, &metadata);
                match &committed {
                    Ok(()) => span.end_ok(),
                    Err(cause) => span.end_error(cause),
                }
                committed
            }
        };
        let outcome = match result {
            Ok(()) => {
                let next = next_offsets(&batch);
                lock(&self.failed_deliveries)
                    .retain(|(key, offset), _| next.get(key).is_none_or(|n| offset >= n));
                lock(&self.committed).extend(next);
                for answered in &batch.answered {
                    match answered.verdict {
                        Some(suspicious) => self.counters.verdict(suspicious),
                        None => self.counters.dead_lettered(),
                    }
                }
                *lock(&self.renewals) = 0;
                Settled::Committed(count)
            }
            Err(cause) => {
                let span = self.settle_scope(&batch, Settlement::Abort);
                let outcome = self.abort(&batch, &cause);
                match outcome {
                    Settled::Fatal => span.end_error("abort_failed"),
                    _ => span.end_ok(),
                }
                outcome
            }
        };
        tracing::debug!(
            records = count,
            elapsed_ms = clock.elapsed().as_millis() as u64,
            outcome = ?outcome,
            "transaction settled"
        );
        if outcome != Settled::Fatal {
            match self.producer().inner().begin_transaction() {
                Ok(()) => self.set_phase(Phase::Open),
                Err(e) => {
                    tracing::error!(error.type = %telemetry::kafka::error_type(&e), "no new transaction could be opened");
                    self.set_phase(Phase::Fatal);
                    return Settled::Fatal;
                }
            }
        }
        outcome
    }

    /// Settles what is open, then lets nothing more in. Blocks.
    pub(crate) fn close(&self, metadata: Option<ConsumerGroupMetadata>) -> Settled {
        let settled = self.settle(metadata);
        let _one = lock(&self.settling);
        let mut state = lock(&self.state);
        if state.phase != Phase::Fatal {
            state.phase = Phase::Closed;
        }
        drop(state);
        self.phase_changed.notify_waiters();
        settled
    }

    fn commit(&self, batch: &Batch, metadata: &ConsumerGroupMetadata) -> Result<(), String> {
        let producer = self.producer();
        let producer = producer.inner();
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), next) in next_offsets(batch) {
            offsets
                .add_partition_offset(&topic, partition, Offset::Offset(next))
                .map_err(|e| telemetry::kafka::error_type(&e))?;
        }
        // librdkafka's rule: a call that failed with a retriable error (a timeout, a
        // coordinator moving to another broker) is made again; an abortable one means abort;
        // anything else is decided. Aborting after a retriable failure would find the commit
        // still in progress.
        retry(|| producer.send_offsets_to_transaction(&offsets, metadata, self.timeout))?;
        retry(|| producer.commit_transaction(self.timeout))
    }

    /// Aborts the transaction and puts its records back (or, for fatal errors, stops).
    fn abort(&self, batch: &Batch, cause: &str) -> Settled {
        tracing::warn!(
            error.type = cause,
            records = batch.answered.len(),
            "transaction aborted; its records are processed again"
        );
        // An abort that timed out may be called again (librdkafka keeps it going meanwhile);
        // the next transaction cannot begin before it completed.
        let mut tries = 0;
        while let Err(e) = self.producer().inner().abort_transaction(self.timeout) {
            tries += 1;
            let retriable = matches!(&e, KafkaError::Transaction(t) if t.is_retriable());
            tracing::warn!(error.type = %telemetry::kafka::error_type(&e), tries, retriable, "abort failed");
            if !retriable || tries >= ABORT_TRIES {
                if let Err(error_type) = self.renew() {
                    tracing::error!(error.type = %error_type, "the transactional producer could not be made again");
                    self.set_phase(Phase::Fatal);
                    return Settled::Fatal;
                }
                break;
            }
        }
        for answered in &batch.answered {
            abort_span(&answered.span, cause);
        }
        // Back to the front of their queues, in offset order; the generation moves on so a
        // worker holding a later record puts it back behind them.
        let mut by_partition: BTreeMap<&PartitionKey, Vec<OwnedMessage>> = BTreeMap::new();
        for answered in &batch.answered {
            by_partition
                .entry(&answered.key)
                .or_default()
                .push(answered.record.clone());
        }
        let queues = lock(&self.partitions);
        let _state = lock(&self.state);
        for (key, mut records) in by_partition {
            records.sort_by_key(|r| r.offset());
            if let Some(queue) = queues.get(key) {
                queue.replay(records);
            }
        }
        Settled::Aborted(batch.answered.len())
    }

    /// The span of one commit or abort, linked to the CONSUMER span of every record the
    /// transaction answers.
    fn settle_scope(&self, batch: &Batch, settlement: Settlement) -> SettleScope {
        let first = batch.answered.first().map(|a| a.key.0.as_str());
        let one_topic = first.filter(|t| batch.answered.iter().all(|a| a.key.0 == *t));
        SettleScope::start(
            settlement,
            &self.group,
            one_topic,
            batch.answered.iter().map(|a| a.span.clone()),
        )
    }
}

/// In a record's trace, under its CONSUMER span: its answer was produced in a transaction that
/// aborted, so the record is processed again (a second CONSUMER span follows).
fn abort_span(parent: &SpanContext, cause: &str) {
    let tracer = opentelemetry::global::tracer(crate::SCOPE);
    let parent = Context::new().with_remote_span_context(parent.clone());
    let span = tracer
        .span_builder("transaction aborted")
        .with_kind(SpanKind::Internal)
        .with_attributes([KeyValue::new(ERROR_TYPE, cause.to_owned())])
        .start_with_context(&tracer, &parent);
    let cx = Context::new().with_span(span);
    cx.span().set_status(Status::error(cause.to_owned()));
    cx.span().end();
}

/// Calls `call` again while it fails with a retriable error, up to [`RETRIES`] times.
fn retry(mut call: impl FnMut() -> Result<(), KafkaError>) -> Result<(), String> {
    let mut tries = 0;
    loop {
        tries += 1;
        match call() {
            Ok(()) => return Ok(()),
            Err(KafkaError::Transaction(e)) if e.is_retriable() && tries < RETRIES => {
                tracing::info!(error.type = %e.code().to_string(), tries, "transaction call retried");
            }
            Err(e) => return Err(telemetry::kafka::error_type(&e)),
        }
    }
}

/// Per partition, the offset after the last record of the batch: the next one to read.
fn next_offsets(batch: &Batch) -> BTreeMap<PartitionKey, i64> {
    let mut next: BTreeMap<PartitionKey, i64> = BTreeMap::new();
    for answered in &batch.answered {
        let offset = answered.record.offset() + 1;
        next.entry(answered.key.clone())
            .and_modify(|n| *n = (*n).max(offset))
            .or_insert(offset);
    }
    next
}
