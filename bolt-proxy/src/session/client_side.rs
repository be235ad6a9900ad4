//! Frames from the client: each request is recorded in the FIFO of requests in flight, fed to
//! the query spans, and forwarded upstream as it is, or rewritten where a translation or a
//! quirk of the server asks for it. HELLO and LOGON are in `login`.

use bolt::message::{map_message_view, signature as sig};
use bolt::{Frame, Limits, Map, MapView, Request, Response, RunView};

use super::stop::Stop;
use super::{Io, Pending, Session};
use crate::routing;
use crate::trace::End;
use crate::translate;

/// What becomes of a client's message once it is handled.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Onward {
    /// Forwarded upstream unchanged.
    Forward,
    /// Handled: whatever goes upstream in its place is already queued.
    Done,
}

impl Session {
    /// Handles every complete client message buffered.
    pub(super) fn client_frames(&mut self, io: &mut Io) -> Result<(), Stop> {
        loop {
            let frame = match io.client_r.next_buffered() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return Err(Stop::ClientProtocol("oversized message")),
            };
            self.client_frame(frame, io)?;
        }
        for _ in 0..io.client_r.take_noops() {
            io.up_w.queue_noop();
        }
        Ok(())
    }

    fn client_frame(&mut self, frame: Frame, io: &mut Io) -> Result<(), Stop> {
        let s = frame
            .signature()
            .ok_or(Stop::ClientProtocol("not a structure"))?;
        tracing::trace!(
            signature = s,
            bytes = frame.payload().len(),
            "bolt-proxy: client message"
        );
        let onward = if self.failed && !matches!(s, sig::RESET | sig::GOODBYE) {
            self.client_ignored(s, &frame, io)?
        } else {
            self.client_request(s, &frame, io)?
        };
        if onward == Onward::Forward {
            io.up_w.queue_frame(&frame);
        }
        Ok(())
    }

    /// A request after a FAILURE and before RESET. The server would IGNORE it too; answering
    /// here keeps the client going even with servers that hold IGNOREDs back until the next
    /// request (FalkorDB).
    fn client_ignored(&mut self, s: u8, frame: &Frame, io: &mut Io) -> Result<Onward, Stop> {
        if s == sig::RUN {
            let view = RunView::parse(frame.payload(), self.limits).map_err(|_| undecodable())?;
            let id = self.queries.start(view.query, view.extra);
            self.queries.end(id, End::Ignored);
        } else if bolt::message::request_name(s).is_none() {
            return Err(Stop::ClientProtocol("unknown request"));
        }
        io.client_w
            .queue_response(&Response::Ignored)
            .map_err(Stop::own_message("IGNORED"))?;
        Ok(Onward::Done)
    }

    fn client_request(&mut self, s: u8, frame: &Frame, io: &mut Io) -> Result<Onward, Stop> {
        match s {
            sig::RUN => self.client_run(frame, io),
            sig::PULL | sig::DISCARD if self.answered_early > 0 => {
                // Its answer already went to the client.
                self.answered_early -= 1;
                request_map(frame, self.limits)?;
                Ok(Onward::Forward)
            }
            sig::PULL => self.client_pull(frame),
            sig::DISCARD => self.client_discard(frame, io),
            sig::BEGIN => self.client_begin(frame, io),
            sig::COMMIT | sig::ROLLBACK => {
                self.queries.leave_transaction();
                self.pending.push_back(Pending::TxEnd);
                Ok(Onward::Forward)
            }
            sig::RESET => {
                self.queries.leave_transaction();
                self.failed = false;
                self.pending.push_back(Pending::Reset);
                Ok(Onward::Forward)
            }
            sig::GOODBYE => {
                // Without it, the upstream connection is just closed (see `Quirks`).
                if self.quirks.forward_goodbye {
                    io.up_w.queue_frame(frame);
                }
                Err(Stop::Goodbye)
            }
            sig::HELLO if self.translate => self.client_hello_translated(frame, io),
            sig::LOGON | sig::LOGOFF | sig::TELEMETRY if self.translate => {
                // Not messages of Bolt 4.4: a 4.4 server would fail the connection too.
                Err(Stop::ClientProtocol("message not in Bolt 4.4"))
            }
            sig::ROUTE => self.client_route(frame),
            sig::HELLO => self.client_hello(frame),
            sig::LOGON => Ok(self.client_logon()),
            sig::LOGOFF | sig::TELEMETRY => {
                self.pending.push_back(Pending::Other);
                Ok(Onward::Forward)
            }
            _ => Err(Stop::ClientProtocol("unknown request")),
        }
    }

    /// RUN opens a query span. Its parameters are rewritten when translating needs it; with
    /// the quirk, its extras (read for tracing) do not go upstream.
    fn client_run(&mut self, frame: &Frame, io: &mut Io) -> Result<Onward, Stop> {
        let view = RunView::parse(frame.payload(), self.limits).map_err(|_| undecodable())?;
        let id = self.queries.start(view.query, view.extra);
        self.pending.push_back(Pending::Run(id));
        let rewrite_params = self.translate && translate::run_needs_rewrite(&view, self.utc);
        let strip = self.quirks.strip_extras && !view.extra.is_empty();
        if strip && !rewrite_params {
            // The bytes up to the extras stay as they are: no parameter is decoded.
            io.up_w
                .queue_with(|b| {
                    view.write_without_extra(b);
                    Ok(())
                })
                .map_err(Stop::own_message("RUN without extras"))?;
            return Ok(Onward::Done);
        }
        if !rewrite_params && !strip {
            return Ok(Onward::Forward);
        }
        let Request::Run {
            query,
            mut parameters,
            extra,
        } = self.decode(frame)?
        else {
            unreachable!("decoded by signature")
        };
        if rewrite_params {
            for (_, v) in parameters.0.iter_mut() {
                translate::to_server(v, self.utc);
            }
        }
        let run = Request::Run {
            query,
            parameters,
            extra: if strip { Map::new() } else { extra },
        };
        io.up_w
            .queue_request(&run)
            .map_err(Stop::own_message("rewritten RUN"))?;
        Ok(Onward::Done)
    }

    fn client_pull(&mut self, frame: &Frame) -> Result<Onward, Stop> {
        self.unasked = None;
        let extra = request_map(frame, self.limits)?;
        self.pending
            .push_back(Pending::Stream(self.queries.target(extra)));
        Ok(Onward::Forward)
    }

    fn client_discard(&mut self, frame: &Frame, io: &mut Io) -> Result<Onward, Stop> {
        self.unasked = None;
        let extra = request_map(frame, self.limits)?;
        let target = self.queries.target(extra);
        if !self.translate {
            self.pending.push_back(Pending::Stream(target));
            return Ok(Onward::Forward);
        }
        // FalkorDB holds back its answer to the COMMIT that follows a DISCARD in a transaction
        // until yet another request arrives (measured), and neo4rs discards every `run`
        // result: pull instead and drop the records here.
        self.pending.push_back(Pending::Discarding(target));
        let extra = extra.to_map().map_err(|_| undecodable())?;
        io.up_w
            .queue_request(&Request::Pull { extra })
            .map_err(Stop::own_message("PULL for a DISCARD"))?;
        Ok(Onward::Done)
    }

    /// BEGIN opens the transaction later RUNs belong to; with the quirk, its extras (read for
    /// tracing) do not go upstream.
    fn client_begin(&mut self, frame: &Frame, io: &mut Io) -> Result<Onward, Stop> {
        let extra = request_map(frame, self.limits)?;
        self.queries.begin(extra);
        self.pending.push_back(Pending::Begin);
        let strip = self.quirks.strip_extras && !extra.is_empty();
        if !strip {
            return Ok(Onward::Forward);
        }
        io.up_w
            .queue_request(&Request::Begin {
                extra: Map::default(),
            })
            .map_err(Stop::own_message("BEGIN without extras"))?;
        Ok(Onward::Done)
    }

    /// ROUTE: the same message in 4.4 and 5.x, forwarded as is; its answer is rewritten.
    fn client_route(&mut self, frame: &Frame) -> Result<Onward, Stop> {
        let route = self.decode(frame)?;
        let address = self.advertised_address(routing::route_address(&route));
        self.pending.push_back(Pending::Route(address));
        Ok(Onward::Forward)
    }

    /// The whole client request, decoded.
    pub(super) fn decode(&self, frame: &Frame) -> Result<Request, Stop> {
        Request::decode_with(frame.payload(), self.limits).map_err(|_| undecodable())
    }
}

/// A client request the codec cannot read.
fn undecodable() -> Stop {
    Stop::ClientProtocol("undecodable request")
}

/// The one map of a client's PULL, DISCARD, BEGIN or HELLO, read in place.
pub(super) fn request_map(frame: &Frame, limits: Limits) -> Result<MapView<'_>, Stop> {
    map_message_view(frame.payload(), limits)
        .map(|(_, map)| map)
        .map_err(|_| undecodable())
}
