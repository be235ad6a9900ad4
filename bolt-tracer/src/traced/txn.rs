use std::sync::Arc;

use neo4rs::{Query, RunResult, Txn};
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use super::instrument::{Instrumentation, classify};
use super::stream::TracedRowStream;

/// A [`neo4rs::Txn`] with a span of its own; the queries run in it are the span's children.
///
/// The span ends with the transaction: `neo4j.transaction.outcome` is `committed`,
/// `rolled_back`, or `dropped` when the transaction is dropped unfinished (the server then rolls
/// it back when the connection goes back to the pool).
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
}

impl TxnSpan {
    fn end(&mut self, outcome: &'static str, error: Option<&neo4rs::Error>) {
        let Some(cx) = self.cx.take() else { return };
        let span = cx.span();
        span.set_attribute(KeyValue::new("neo4j.transaction.outcome", outcome));
        if let Some(e) = error {
            let (error_type, code) = classify(e);
            span.set_attribute(KeyValue::new("error.type", error_type.clone()));
            if let Some(code) = code {
                span.set_attribute(KeyValue::new("db.response.status_code", code));
            }
            span.set_status(Status::error(error_type));
        }
        span.end();
    }
}

impl Drop for TxnSpan {
    fn drop(&mut self) {
        self.end("dropped", None);
    }
}

impl TracedTxn {
    pub(crate) fn started(
        result: neo4rs::Result<Txn>,
        cx: Context,
        inst: &Arc<Instrumentation>,
        db: Option<String>,
    ) -> neo4rs::Result<Self> {
        let mut span = TxnSpan { cx: Some(cx) };
        match result {
            Ok(inner) => Ok(Self {
                inner,
                span,
                inst: Arc::clone(inst),
                db,
            }),
            Err(e) => {
                span.end("begin_failed", Some(&e));
                Err(e)
            }
        }
    }

    fn context(&self) -> Context {
        self.span.cx.clone().unwrap_or_default()
    }

    /// [`Txn::run`], traced.
    pub async fn run(&mut self, q: impl Into<Query>) -> neo4rs::Result<RunResult> {
        // Explicit transactions carry their metadata on BEGIN, not RUN, and neo4rs does not
        // let us set BEGIN's: queries inside a transaction get no `tx_metadata`.
        let (span, q) = self
            .inst
            .start_query(q.into(), self.db.as_deref(), &self.context(), false);
        let result = self.inner.run(q).await;
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
        let (span, q) = self
            .inst
            .start_query(q.into(), self.db.as_deref(), &self.context(), false);
        match self.inner.execute(q).await {
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
            Ok(_) => self.span.end("committed", None),
            Err(e) => self.span.end("commit_failed", Some(e)),
        }
        result
    }

    /// [`Txn::rollback`], traced.
    pub async fn rollback(mut self) -> neo4rs::Result<()> {
        let result = self.inner.rollback().await;
        match &result {
            Ok(()) => self.span.end("rolled_back", None),
            Err(e) => self.span.end("rollback_failed", Some(e)),
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
