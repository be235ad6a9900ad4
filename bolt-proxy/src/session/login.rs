//! HELLO and LOGON, both ways. Passing through, HELLO's routing context tells which address
//! the driver dialed and LOGON's answer (5.8+) is made to name the proxy. Translating, a 4.4
//! HELLO is split into HELLO and LOGON for the 5.x server, and their two answers are folded
//! back into the one SUCCESS the client waits for.

use bolt::{Frame, Request, Response, Value};

use super::client_side::{Onward, request_map};
use super::stop::Stop;
use super::upstream_side::metadata;
use super::{Io, Pending, Session};
use crate::routing;
use crate::translate;

impl Session {
    /// A 4.4 client's HELLO for a 5.x server: HELLO and, from 5.1, LOGON with the credentials.
    pub(super) fn client_hello_translated(
        &mut self,
        frame: &Frame,
        io: &mut Io,
    ) -> Result<Onward, Stop> {
        let Request::Hello { extra } = self.decode(frame)? else {
            unreachable!("decoded by signature")
        };
        self.dialed = extra
            .get("routing")
            .and_then(Value::as_map)
            .and_then(|r| r.get_str("address"))
            .map(str::to_owned);
        let split = translate::split_hello(extra, self.upstream_version);
        self.utc = split.utc;
        if split.logon.is_some() {
            self.pending.push_back(Pending::HelloHalf);
            self.pending
                .push_back(Pending::LogonHalf { swallow: false });
        } else {
            self.pending.push_back(Pending::Hello);
        }
        io.up_w
            .queue_request(&Request::Hello { extra: split.hello })
            .map_err(Stop::own_message("HELLO"))?;
        if let Some(auth) = split.logon {
            io.up_w
                .queue_request(&Request::Logon { auth })
                .map_err(Stop::own_message("LOGON"))?;
        }
        Ok(Onward::Done)
    }

    /// HELLO passing through: its routing context names the address the driver dialed, which
    /// LOGON's answer (5.8+) will be made to name.
    pub(super) fn client_hello(&mut self, frame: &Frame) -> Result<Onward, Stop> {
        let extra = request_map(frame, self.limits)?;
        self.dialed = extra
            .get_map("routing")
            .and_then(|r| r.get_str("address"))
            .map(str::to_owned);
        self.pending.push_back(Pending::Hello);
        Ok(Onward::Forward)
    }

    /// LOGON passing through.
    pub(super) fn client_logon(&mut self) -> Onward {
        let address = self.advertised_address(self.dialed.as_deref());
        self.pending.push_back(Pending::Logon(address));
        Onward::Forward
    }

    /// The HELLO half of a split HELLO succeeded: its answer waits for the LOGON half's.
    pub(super) fn hello_half_succeeded(&mut self, frame: &Frame) {
        self.hello_stash = Some(metadata(frame, self.limits));
    }

    /// The HELLO half failed (or was ignored): that is the client's answer, and the LOGON
    /// half's is dropped.
    pub(super) fn hello_half_refused(&mut self) {
        if let Some(Pending::LogonHalf { swallow }) = self.pending.front_mut() {
            *swallow = true;
        }
    }

    /// The LOGON half succeeded: the client gets both answers as one, naming the proxy.
    pub(super) fn logon_half_succeeded(&mut self, frame: &Frame, io: &mut Io) {
        let hello = self.hello_stash.take().unwrap_or_default();
        let mut logon = metadata(frame, self.limits);
        routing::point_logon_at(&mut logon, &self.advertised_address(self.dialed.as_deref()));
        let metadata = translate::fold_hello_success(hello, Some(logon), self.utc);
        self.answer(io, &Response::Success { metadata }, frame);
    }

    /// A translated HELLO with no LOGON half (5.0) succeeded, for a client that negotiated UTC
    /// DateTimes: the answer says it is on.
    pub(super) fn hello_succeeded_utc(&mut self, frame: &Frame, io: &mut Io) {
        let metadata = translate::fold_hello_success(metadata(frame, self.limits), None, true);
        self.answer(io, &Response::Success { metadata }, frame);
    }

    /// LOGON passing through succeeded: the advertised address it names (5.8+) becomes
    /// `address`.
    pub(super) fn logon_succeeded(&mut self, address: &str, frame: &Frame, io: &mut Io) {
        let mut metadata = metadata(frame, self.limits);
        if routing::point_logon_at(&mut metadata, address) {
            tracing::debug!(%address, "bolt-proxy: LOGON's advertised address is the proxy");
            self.answer(io, &Response::Success { metadata }, frame);
        } else {
            io.client_w.queue_frame(frame);
        }
    }
}
