//! Frames from the server: RECORDs counted for the stream at the front of the FIFO (and
//! rewritten when translating), each summary matched with the request it answers, fed to the
//! query spans and forwarded as it is, or rewritten where the client must see something else
//! (routing tables, folded HELLO answers, 4.4 FAILUREs). HELLO and LOGON answers are in
//! `login`.

use bolt::message::{map_message_view, peek_signature, signature as sig};
use bolt::{Frame, Limits, Map, MapView, Response};

use super::stop::Stop;
use super::{Io, Pending, Session};
use crate::routing;
use crate::trace::End;
use crate::translate;

impl Session {
    /// Handles every complete upstream message buffered.
    pub(super) fn upstream_frames(&mut self, io: &mut Io) -> Result<(), Stop> {
        loop {
            if self.record_batch(io) {
                continue;
            }
            let frame = match io.up_r.next_buffered() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return Err(Stop::UpstreamLost),
            };
            self.upstream_frame(frame, io);
        }
        for _ in 0..io.up_r.take_noops() {
            io.client_w.queue_noop();
        }
        Ok(())
    }

    /// The RECORDs of the stream being read, as many as are buffered, go through in one copy:
    /// per-message framing and copying was most of the proxy's CPU on large results. RECORDs a
    /// translation must rewrite take the path of single frames. Whether there was a batch.
    fn record_batch(&mut self, io: &mut Io) -> bool {
        let Some(&Pending::Stream(target)) = self.pending.front() else {
            return false;
        };
        let (translate, utc) = (self.translate, self.utc);
        let batch = io.up_r.take_batch(|payload| {
            peek_signature(payload) == Some(sig::RECORD)
                && !(translate && translate::record_needs_rewrite(payload, utc))
        });
        let Some((raw, n)) = batch else {
            return false;
        };
        if let Some(id) = target {
            self.queries.records(id, n);
        }
        io.client_w.queue_raw(&raw);
        true
    }

    fn upstream_frame(&mut self, frame: Frame, io: &mut Io) {
        let s = frame.signature();
        tracing::trace!(
            signature = s,
            bytes = frame.payload().len(),
            "bolt-proxy: upstream message"
        );
        match s {
            Some(sig::RECORD) => self.upstream_record(frame, io),
            Some(s @ (sig::SUCCESS | sig::FAILURE | sig::IGNORED)) => self.summary(s, frame, io),
            _ => {
                // Not a response of any Bolt version we speak: forward it and let the client
                // judge.
                tracing::debug!("bolt-proxy: unexpected message from upstream, forwarded");
                io.client_w.queue_frame(&frame);
            }
        }
    }

    fn upstream_record(&mut self, frame: Frame, io: &mut Io) {
        match self.pending.front() {
            Some(Pending::Stream(Some(id))) => self.queries.records(*id, 1),
            Some(Pending::Answered | Pending::Discarding(_)) => return,
            None => {
                if let Some(id) = self.unasked {
                    self.queries.records(id, 1);
                }
            }
            _ => {}
        }
        if self.translate
            && translate::record_needs_rewrite(frame.payload(), self.utc)
            && let Ok(Response::Record { mut fields }) =
                Response::decode_with(frame.payload(), self.limits)
        {
            fields
                .iter_mut()
                .for_each(|f| translate::to_client(f, self.utc));
            if io
                .client_w
                .queue_response(&Response::Record { fields })
                .is_ok()
            {
                return;
            }
        }
        io.client_w.queue_frame(&frame);
    }

    /// SUCCESS, FAILURE or IGNORED (`s`): the answer to the request at the front.
    fn summary(&mut self, s: u8, frame: Frame, io: &mut Io) {
        let Some(pending) = self.pending.pop_front() else {
            self.unasked_summary(s, &frame, io);
            return;
        };
        match (s, pending) {
            (_, Pending::Answered) => {}
            (sig::SUCCESS, pending) => self.upstream_success(pending, &frame, io),
            (sig::FAILURE, pending) => self.upstream_failure(pending, &frame, io),
            (_, pending) => self.upstream_ignored(pending, &frame, io),
        }
    }

    /// A summary with no request in flight: the end of a stream the server sent unasked (see
    /// `Session::unasked`), which answers the PULL the client has yet to send.
    fn unasked_summary(&mut self, s: u8, frame: &Frame, io: &mut Io) {
        match self.unasked.take() {
            Some(id) if s == sig::SUCCESS => {
                let meta = summary_map(frame, self.limits);
                if !self.queries.stream_summary(id, frame.payload(), meta) {
                    self.unasked = Some(id);
                }
                self.answered_early += 1;
            }
            Some(id) => {
                // The unasked stream failed: that FAILURE (or IGNORED) answers the PULL the
                // client has yet to send.
                match Response::decode_with(frame.payload(), self.limits) {
                    Ok(Response::Failure { metadata }) => self.queries.fail_all(&metadata),
                    _ => self.queries.end(id, End::Ignored),
                }
                self.answered_early += 1;
            }
            None => tracing::debug!("bolt-proxy: upstream answered a request that was not sent"),
        }
        io.client_w.queue_frame(frame);
    }

    fn upstream_success(&mut self, pending: Pending, frame: &Frame, io: &mut Io) {
        match pending {
            Pending::Run(id) => {
                // Once or twice per query, and forwarded unchanged: read in place.
                self.queries
                    .run_succeeded(id, summary_map(frame, self.limits));
                if self.pending.is_empty() {
                    self.unasked = Some(id);
                }
            }
            Pending::Stream(Some(id)) | Pending::Discarding(Some(id)) => {
                let meta = summary_map(frame, self.limits);
                self.queries.stream_summary(id, frame.payload(), meta);
            }
            // The home database the server resolved (5.8+), read in place.
            Pending::Begin => self
                .queries
                .begin_succeeded(summary_map(frame, self.limits)),
            Pending::TxEnd => self.queries.end_all(End::TransactionClosed),
            Pending::Reset => self.queries.end_all(End::Reset),
            Pending::HelloHalf => return self.hello_half_succeeded(frame),
            Pending::LogonHalf { swallow: true } => return,
            Pending::LogonHalf { swallow: false } => return self.logon_half_succeeded(frame, io),
            Pending::Hello if self.translate && self.utc => {
                return self.hello_succeeded_utc(frame, io);
            }
            Pending::Logon(address) => return self.logon_succeeded(&address, frame, io),
            Pending::Route(address) => return self.route_succeeded(&address, frame, io),
            _ => {}
        }
        io.client_w.queue_frame(frame);
    }

    /// The routing table names the proxy for every role (see [`routing`]).
    fn route_succeeded(&mut self, address: &str, frame: &Frame, io: &mut Io) {
        let mut metadata = metadata(frame, self.limits);
        if routing::point_at(&mut metadata, address) {
            tracing::debug!(%address, "bolt-proxy: routing table points at the proxy");
            self.answer(io, &Response::Success { metadata }, frame);
        } else {
            tracing::warn!(
                "bolt-proxy: a ROUTE answer without a readable routing table was forwarded as is; the driver may connect around the proxy"
            );
            io.client_w.queue_frame(frame);
        }
    }

    /// A FAILURE fails every open stream; a 4.4 client gets it in 4.4's words, and the
    /// requests behind it their IGNORED at once.
    fn upstream_failure(&mut self, pending: Pending, frame: &Frame, io: &mut Io) {
        let meta = metadata(frame, self.limits);
        self.queries.fail_all(&meta);
        match pending {
            Pending::HelloHalf => self.hello_half_refused(),
            Pending::LogonHalf { swallow: true } => return,
            _ => {}
        }
        match translate::failure_to_v4(&meta).filter(|_| self.translate) {
            Some(metadata) => self.answer(io, &Response::Failure { metadata }, frame),
            None => io.client_w.queue_frame(frame),
        }
        self.ignore_in_flight(io);
    }

    fn upstream_ignored(&mut self, pending: Pending, frame: &Frame, io: &mut Io) {
        match pending {
            Pending::Run(id) | Pending::Stream(Some(id)) | Pending::Discarding(Some(id)) => {
                self.queries.end(id, End::Ignored);
            }
            Pending::HelloHalf => self.hello_half_refused(),
            Pending::LogonHalf { swallow: true } => return,
            _ => {}
        }
        io.client_w.queue_frame(frame);
    }

    /// After a FAILURE the server IGNOREs every request until RESET. The requests already in
    /// flight are answered IGNORED now, in order, and the server's own answers dropped when
    /// they come: FalkorDB holds them back until the client sends something else (measured),
    /// and a client such as neo4rs waits for them before it sends RESET.
    fn ignore_in_flight(&mut self, io: &mut Io) {
        let mut reset_in_flight = false;
        for p in self.pending.iter_mut() {
            match p {
                Pending::Reset => {
                    reset_in_flight = true;
                    break;
                }
                Pending::Run(id) | Pending::Stream(Some(id)) | Pending::Discarding(Some(id)) => {
                    self.queries.end(*id, End::Ignored);
                }
                _ => {}
            }
            if p.client_visible() {
                let _ = io.client_w.queue_response(&Response::Ignored);
                *p = Pending::Answered;
            }
        }
        self.failed = !reset_in_flight;
    }

    /// Queues a rewritten answer, or the original frame if it cannot be encoded.
    pub(super) fn answer(&self, io: &mut Io, response: &Response, original: &Frame) {
        if io.client_w.queue_response(response).is_err() {
            io.client_w.queue_frame(original);
        }
    }
}

/// The metadata of a server's SUCCESS, read in place (empty if unreadable: it is forwarded
/// as it is anyway).
fn summary_map(frame: &Frame, limits: Limits) -> MapView<'_> {
    map_message_view(frame.payload(), limits)
        .map(|(_, map)| map)
        .unwrap_or_default()
}

/// The metadata of a server's SUCCESS or FAILURE, decoded for rewriting or reading (empty if
/// unreadable).
pub(super) fn metadata(frame: &Frame, limits: Limits) -> Map {
    match Response::decode_with(frame.payload(), limits) {
        Ok(Response::Success { metadata } | Response::Failure { metadata }) => metadata,
        _ => Map::new(),
    }
}
