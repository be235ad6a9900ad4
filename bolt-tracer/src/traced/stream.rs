use futures::TryStream;
use futures::stream::try_unfold;
use neo4rs::summary::ResultSummary;
use neo4rs::{DetachedRowStream, Error, Row, RowStream, RunResult, Txn};
use serde::de::DeserializeOwned;

use super::instrument::{Ending, QuerySpan};

/// Where a traced stream is: reading, or done with the summary kept for `finish`.
enum State<S> {
    Reading(S),
    /// Read to the end: the span is closed, the server's summary is kept for `finish()`.
    Done(Box<ResultSummary>),
    /// Failed: neo4rs leaves such a stream unusable; so do we, without a second span end.
    Failed,
}

/// The span side of a traced stream, the same for both stream kinds: rows are counted as they
/// are handed out, and the span ends once, with the server's summary when there is one.
struct Tracking(Option<QuerySpan>);

impl Tracking {
    fn row(&mut self, row: Option<Row>) -> Option<Row> {
        if row.is_some()
            && let Some(s) = &mut self.0
        {
            s.add_row();
        }
        row
    }

    fn end(&mut self, result: &neo4rs::Result<ResultSummary>, ending: Ending) {
        if let Some(mut s) = self.0.take() {
            match result {
                Ok(summary) => {
                    s.record_summary(summary);
                    s.end(ending);
                }
                Err(e) => s.fail(e),
            }
        }
    }

    fn fail(&mut self, e: &Error) {
        if let Some(s) = self.0.take() {
            s.fail(e);
        }
    }
}

/// What `next` does after the inner stream answered: count, or close the span (fetching the
/// summary, which for a complete stream is no I/O), or record the failure.
async fn advance<S, F>(
    state: &mut State<S>,
    span: &mut Tracking,
    answer: neo4rs::Result<Option<Row>>,
    finish: impl FnOnce(S) -> F,
) -> neo4rs::Result<Option<Row>>
where
    F: std::future::Future<Output = neo4rs::Result<ResultSummary>>,
{
    match answer {
        Ok(Some(row)) => Ok(span.row(Some(row))),
        Ok(None) => {
            let State::Reading(inner) = std::mem::replace(state, State::Failed) else {
                return Ok(None);
            };
            let result = finish(inner).await;
            span.end(&result, Ending::Completed);
            *state = State::Done(Box::new(result?));
            Ok(None)
        }
        Err(e) => {
            *state = State::Failed;
            span.fail(&e);
            Err(e)
        }
    }
}

/// [`neo4rs::DetachedRowStream`], traced: its query span ends when the rows are read to the
/// end, on the first error, on `finish`, or when the stream is dropped (as abandoned), always
/// with the number of rows handed out so far.
pub struct TracedDetachedRowStream {
    state: State<DetachedRowStream>,
    span: Tracking,
}

impl std::fmt::Debug for TracedDetachedRowStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedDetachedRowStream")
            .finish_non_exhaustive()
    }
}

impl TracedDetachedRowStream {
    pub(crate) fn new(inner: DetachedRowStream, span: QuerySpan) -> Self {
        Self {
            state: State::Reading(inner),
            span: Tracking(Some(span)),
        }
    }

    /// [`DetachedRowStream::next`].
    pub async fn next(&mut self) -> neo4rs::Result<Option<Row>> {
        let State::Reading(inner) = &mut self.state else {
            return Ok(None);
        };
        let answer = inner.next().await;
        advance(&mut self.state, &mut self.span, answer, |inner| {
            inner.finish()
        })
        .await
    }

    /// [`DetachedRowStream::next_as`].
    pub async fn next_as<T: DeserializeOwned>(&mut self) -> neo4rs::Result<T> {
        self.next()
            .await
            .and_then(|row| row.ok_or(Error::NoMoreRows))
            .and_then(|row| row.to::<T>().map_err(Error::DeserializationError))
    }

    /// [`DetachedRowStream::single`].
    pub async fn single(&mut self) -> neo4rs::Result<Row> {
        let row = self
            .next()
            .await
            .and_then(|row| row.ok_or(Error::NoMoreRows))?;
        let None = self.next().await? else {
            return Err(Error::NotSingleResult);
        };
        Ok(row)
    }

    /// [`DetachedRowStream::single_as`].
    pub async fn single_as<T: DeserializeOwned>(&mut self) -> neo4rs::Result<T> {
        self.single()
            .await
            .and_then(|row| row.to::<T>().map_err(Error::DeserializationError))
    }

    /// [`DetachedRowStream::peek`].
    pub fn peek(&self) -> Option<&Row> {
        match &self.state {
            State::Reading(inner) => inner.peek(),
            _ => None,
        }
    }

    /// [`DetachedRowStream::pop`]: a row popped from the buffer counts as returned.
    pub fn pop(&mut self) -> Option<Row> {
        let State::Reading(inner) = &mut self.state else {
            return None;
        };
        self.span.row(inner.pop())
    }

    /// [`DetachedRowStream::finish`]: stops reading (the server discards the rest) and returns
    /// the summary; the span ends as `finished` unless the rows were already read to the end.
    pub async fn finish(mut self) -> neo4rs::Result<RunResult> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Done(summary) => Ok(*summary),
            State::Failed => Err(Error::UnexpectedMessage(
                "the stream already failed".to_owned(),
            )),
            State::Reading(inner) => {
                let result = inner.finish().await;
                self.span.end(&result, Ending::Finished);
                result
            }
        }
    }

    /// [`DetachedRowStream::into_stream`]: a `TryStream` of rows, counted like `next`.
    #[allow(clippy::wrong_self_convention)]
    pub fn into_stream(&mut self) -> impl TryStream<Ok = Row, Error = Error> + '_ {
        try_unfold(
            self,
            |s| async move { Ok(s.next().await?.map(|row| (row, s))) },
        )
    }

    /// [`DetachedRowStream::into_stream_as`].
    #[allow(clippy::wrong_self_convention)]
    pub fn into_stream_as<T: DeserializeOwned>(
        &mut self,
    ) -> impl TryStream<Ok = T, Error = Error> + '_ {
        try_unfold(self, |s| async move {
            match s.next().await? {
                Some(row) => Ok(Some((
                    row.to::<T>().map_err(Error::DeserializationError)?,
                    s,
                ))),
                None => Ok(None),
            }
        })
    }

    /// [`DetachedRowStream::column_into_stream`].
    pub fn column_into_stream<'a, T: DeserializeOwned + 'a>(
        &'a mut self,
        column: &'a str,
    ) -> impl TryStream<Ok = T, Error = Error> + 'a {
        try_unfold(self, move |s| async move {
            match s.next().await? {
                Some(row) => Ok(Some((
                    row.get::<T>(column).map_err(Error::DeserializationError)?,
                    s,
                ))),
                None => Ok(None),
            }
        })
    }
}

/// [`neo4rs::RowStream`] from a traced transaction, traced like [`TracedDetachedRowStream`];
/// its methods take the transaction handle ([`crate::TracedTxn::handle`]) as neo4rs's do.
pub struct TracedRowStream {
    state: State<RowStream>,
    span: Tracking,
}

impl std::fmt::Debug for TracedRowStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedRowStream").finish_non_exhaustive()
    }
}

impl TracedRowStream {
    pub(crate) fn new(inner: RowStream, span: QuerySpan) -> Self {
        Self {
            state: State::Reading(inner),
            span: Tracking(Some(span)),
        }
    }

    /// [`RowStream::next`].
    pub async fn next(&mut self, handle: &mut Txn) -> neo4rs::Result<Option<Row>> {
        let State::Reading(inner) = &mut self.state else {
            return Ok(None);
        };
        let answer = inner.next(&mut *handle).await;
        advance(&mut self.state, &mut self.span, answer, |inner| {
            inner.finish(handle)
        })
        .await
    }

    /// [`RowStream::next_as`].
    pub async fn next_as<T: DeserializeOwned>(&mut self, handle: &mut Txn) -> neo4rs::Result<T> {
        self.next(handle)
            .await
            .and_then(|row| row.ok_or(Error::NoMoreRows))
            .and_then(|row| row.to::<T>().map_err(Error::DeserializationError))
    }

    /// [`RowStream::single`].
    pub async fn single(&mut self, handle: &mut Txn) -> neo4rs::Result<Row> {
        let row = self
            .next(handle)
            .await
            .and_then(|row| row.ok_or(Error::NoMoreRows))?;
        let None = self.next(handle).await? else {
            return Err(Error::NotSingleResult);
        };
        Ok(row)
    }

    /// [`RowStream::peek`].
    pub fn peek(&self) -> Option<&Row> {
        match &self.state {
            State::Reading(inner) => inner.peek(),
            _ => None,
        }
    }

    /// [`RowStream::pop`]: a row popped from the buffer counts as returned.
    pub fn pop(&mut self) -> Option<Row> {
        let State::Reading(inner) = &mut self.state else {
            return None;
        };
        self.span.row(inner.pop())
    }

    /// [`RowStream::finish`]; the span ends as `finished` unless the rows were read to the end.
    pub async fn finish(mut self, handle: &mut Txn) -> neo4rs::Result<RunResult> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Done(summary) => Ok(*summary),
            State::Failed => Err(Error::UnexpectedMessage(
                "the stream already failed".to_owned(),
            )),
            State::Reading(inner) => {
                let result = inner.finish(handle).await;
                self.span.end(&result, Ending::Finished);
                result
            }
        }
    }

    /// [`RowStream::into_stream`]: a `TryStream` of rows, counted like `next`.
    #[allow(clippy::wrong_self_convention)]
    pub fn into_stream<'a>(
        &'a mut self,
        handle: &'a mut Txn,
    ) -> impl TryStream<Ok = Row, Error = Error> + 'a {
        try_unfold((self, handle), |(s, h)| async move {
            Ok(s.next(h).await?.map(|row| (row, (s, h))))
        })
    }

    /// [`RowStream::into_stream_as`].
    #[allow(clippy::wrong_self_convention)]
    pub fn into_stream_as<'a, T: DeserializeOwned + 'a>(
        &'a mut self,
        handle: &'a mut Txn,
    ) -> impl TryStream<Ok = T, Error = Error> + 'a {
        try_unfold((self, handle), |(s, h)| async move {
            match s.next(h).await? {
                Some(row) => Ok(Some((
                    row.to::<T>().map_err(Error::DeserializationError)?,
                    (s, h),
                ))),
                None => Ok(None),
            }
        })
    }
}
