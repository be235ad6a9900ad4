use std::future::Future;
use std::sync::Arc;

use neo4rs::{Query, RunResult, Txn};
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use super::instrument::{Instrumentation, QuerySpan, TxnFailure, classify};
use super::stream::TracedRowStream;
use crate::conventions::TransactionOutcome;
use crate::conventions::attribute::{
    DB_RESPONSE_STATUS_CODE, ERROR_TYPE, NEO4J_TRANSACTION_OUTCOME,
};

/// A [`neo4rs::Txn`] with a span of its own; the queries run in it are the span's children.
///
/// The span ends with the transaction: `neo4j.transaction.outcome` is `committed`,
/// `rolled_back`, or `dropped` when the transaction is dropped unfinished. A dropped
/// transaction's work is never committed: neo4rs puts its connection back in the pool with the
/// transaction still open, and the server rolls it back (releasing its locks) when neo4rs next
/// takes that connection out and resets it, or when the connection closes. A failure ends the
/// span as `begin_failed`, `commit_failed` or `rollback_failed`, with `error.type`,
/// `db.response.status_code` and status ERROR. A query of the transaction that the server
/// fails (a constraint violation, a deadlock) ends the transaction there: whatever the outcome,
/// the span then carries that query's status code as its error.
///
/// With trace-context injection on, the transaction's `traceparent` (its span's) is attached
/// to the server's transaction right after BEGIN, by `CALL tx.setMetaData(...)`: neo4rs does
/// not let a caller set BEGIN's `tx_metadata`, and queries inside a transaction cannot carry
/// one. That is one more round trip per transaction.
pub struct TracedTxn {
    inner: Txn,
    span: TxnSpan,
    inst: Arc<Instrumentation>,
    db: Option<String>,
}

impl std::fmt::Debug for TracedTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedTxn")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

/// Ends the transaction span exactly once, on drop at the latest.
struct TxnSpan {
    cx: Option<Context>,
    /// The first server failure of the transaction's queries.
    failure: TxnFailure,
}

impl TxnSpan {
    /// Ends the span as `outcome`. Its error is the first server failure of a query, which is
    /// what ended the transaction on the server (a later COMMIT or ROLLBACK then fails only
    /// because of it), else `error`, the failure of the BEGIN, COMMIT or ROLLBACK itself.
    fn end(&mut self, outcome: TransactionOutcome, error: Option<&neo4rs::Error>) {
        let Some(cx) = self.cx.take() else { return };
        let span = cx.span();
        span.set_attribute(KeyValue::new(NEO4J_TRANSACTION_OUTCOME, outcome.as_str()));
        let failure = match (self.failure.get(), error) {
            (Some(code), _) => Some((code.clone(), Some(code.clone()))),
            (None, Some(e)) => Some(classify(e)),
            (None, None) => None,
        };
        if let Some((error_type, code)) = failure {
            span.set_attribute(KeyValue::new(ERROR_TYPE, error_type.clone()));
            if let Some(code) = code {
                span.set_attribute(KeyValue::new(DB_RESPONSE_STATUS_CODE, code));
            }
            span.set_status(Status::error(error_type));
        }
        span.end();
    }
}

impl Drop for TxnSpan {
    fn drop(&mut self) {
        self.end(TransactionOutcome::Dropped, None);
    }
}

impl TracedTxn {
    /// Wraps a transaction neo4rs has begun (or its failure to begin), whose span is `cx`'s;
    /// with injection on, first attaches the span's context to the server's transaction.
    pub(crate) async fn started(
        result: neo4rs::Result<Txn>,
        cx: Context,
        inst: &Arc<Instrumentation>,
        db: Option<String>,
    ) -> neo4rs::Result<Self> {
        let mut span = TxnSpan {
            cx: Some(cx),
            failure: TxnFailure::default(),
        };
        let mut inner = match result {
            Ok(inner) => inner,
            Err(e) => {
                span.end(TransactionOutcome::BeginFailed, Some(&e));
                return Err(e);
            }
        };
        if let Some(metadata) = span
            .cx
            .as_ref()
            .and_then(|cx| inst.transaction_metadata(cx))
        {
            // A failure leaves the transaction unusable (the server fails everything after it
            // until the connection is reset), so it fails the start, as a failed BEGIN would.
            if let Err(e) = inner.run(metadata).await {
                span.end(TransactionOutcome::BeginFailed, Some(&e));
                return Err(e);
            }
        }
        Ok(Self {
            inner,
            span,
            inst: Arc::clone(inst),
            db,
        })
    }

    fn context(&self) -> Context {
        self.span.cx.clone().unwrap_or_default()
    }

    /// Sends `q` with `send` on the wrapped transaction under a query span, the child of the
    /// transaction's. Queries inside a transaction carry no `tx_metadata` (the transaction's is
    /// set when it starts, see `started`).
    async fn send<'a, T, F>(
        &'a mut self,
        q: Query,
        send: impl FnOnce(&'a mut Txn, Query) -> F,
    ) -> (QuerySpan, neo4rs::Result<T>)
    where
        F: Future<Output = neo4rs::Result<T>>,
    {
        let cx = self.context();
        let TracedTxn {
            inner,
            span,
            inst,
            db,
        } = self;
        inst.send(
            q,
            db.as_deref(),
            || cx,
            Some(&span.failure),
            |q| send(inner, q),
        )
        .await
    }

    /// [`Txn::run`], traced.
    pub async fn run(&mut self, q: impl Into<Query>) -> neo4rs::Result<RunResult> {
        let (span, result) = self.send(q.into(), |inner, q| inner.run(q)).await;
        span.end_with_summary(&result);
        result
    }

    /// [`Txn::run_queries`], traced: one span per query.
    pub async fn run_queries<Q: Into<Query>>(
        &mut self,
        queries: impl IntoIterator<Item = Q>,
    ) -> neo4rs::Result<()> {
        for q in queries {
            self.run(q).await?;
        }
        Ok(())
    }

    /// [`Txn::execute`], traced: the span lasts until the returned stream is finished.
    pub async fn execute(&mut self, q: impl Into<Query>) -> neo4rs::Result<TracedRowStream> {
        let (span, result) = self.send(q.into(), |inner, q| inner.execute(q)).await;
        match result {
            Ok(stream) => Ok(TracedRowStream::new(stream, span)),
            Err(e) => {
                span.fail(&e);
                Err(e)
            }
        }
    }

    /// [`Txn::commit`], traced.
    pub async fn commit(mut self) -> neo4rs::Result<Option<String>> {
        let result = self.inner.commit().await;
        match &result {
            Ok(_) => self.span.end(TransactionOutcome::Committed, None),
            Err(e) => self.span.end(TransactionOutcome::CommitFailed, Some(e)),
        }
        result
    }

    /// [`Txn::rollback`], traced.
    pub async fn rollback(mut self) -> neo4rs::Result<()> {
        let result = self.inner.rollback().await;
        match &result {
            Ok(()) => self.span.end(TransactionOutcome::RolledBack, None),
            Err(e) => self.span.end(TransactionOutcome::RollbackFailed, Some(e)),
        }
        result
    }

    /// [`Txn::last_bookmark`].
    pub fn last_bookmark(&self) -> Option<&str> {
        self.inner.last_bookmark()
    }

    /// The wrapped transaction, for anything not covered here (untraced).
    pub fn inner(&mut self) -> &mut Txn {
        &mut self.inner
    }

    /// The transaction handle that [`TracedRowStream`]'s methods take, like [`Txn::handle`].
    pub fn handle(&mut self) -> &mut Txn {
        &mut self.inner
    }

    /// Unwraps the transaction; its span ends now, as `dropped`.
    pub fn into_inner(self) -> Txn {
        self.inner
    }
}
