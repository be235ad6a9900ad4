//! The loop of an open connection: one `select!` over reads and writes on both sides, the idle
//! timer and the proxy's lifecycle, until a [`Stop`]; then the close.

use std::pin::Pin;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep, sleep_until, timeout};

use super::stop::Stop;
use super::{FAREWELL_TIMEOUT, Io, Phase, Session};
use bolt::Response;

/// Stop reading a side while this many bytes wait to be written to the other side.
const HIGH_WATER: usize = 256 * 1024;

/// The client's idle timeout and when it last sent something.
struct Idle {
    timeout: Option<Duration>,
    /// The timeout, or a year when there is none.
    after: Duration,
    last_client: Instant,
}

impl Idle {
    fn new(timeout: Option<Duration>) -> Idle {
        Idle {
            timeout,
            after: timeout.unwrap_or(Duration::from_secs(86_400 * 365)),
            last_client: Instant::now(),
        }
    }

    /// When the connection is due to close if the client stays quiet.
    fn due(&self) -> Instant {
        self.last_client + self.after
    }

    /// `timer` went off: the connection closes if the client stayed quiet and nothing of it is
    /// `busy`; otherwise `timer` is set again.
    fn expired(&self, timer: Pin<&mut Sleep>, busy: bool) -> Result<(), Stop> {
        let due = self.due();
        if Instant::now() >= due && !busy {
            return Err(Stop::Idle);
        }
        timer.reset(due.max(Instant::now() + self.after / 4));
        Ok(())
    }
}

/// The proxy's lifecycle as one connection follows it.
struct Lifecycle {
    phase: watch::Receiver<Phase>,
    /// The proxy can still announce a change.
    watching: bool,
    /// Shutting down: the connection closes once nothing is in flight.
    draining: bool,
}

impl Lifecycle {
    fn new(phase: watch::Receiver<Phase>) -> Lifecycle {
        let draining = *phase.borrow() != Phase::Running;
        Lifecycle {
            phase,
            watching: true,
            draining,
        }
    }

    /// Takes in what waiting for a change of phase gave.
    fn changed(&mut self, changed: Result<(), watch::error::RecvError>) -> Result<(), Stop> {
        if changed.is_err() {
            // The proxy is gone without saying so: behave as if closing.
            self.watching = false;
            return Ok(());
        }
        match *self.phase.borrow() {
            Phase::Running => Ok(()),
            Phase::Draining => {
                self.draining = true;
                Ok(())
            }
            Phase::Closing => Err(Stop::Shutdown),
        }
    }
}

impl Session {
    /// Moves frames both ways until the connection ends, then closes it.
    pub(super) async fn run(
        &mut self,
        mut io: Io,
        idle_timeout: Option<Duration>,
        phase: watch::Receiver<Phase>,
    ) -> Stop {
        let mut idle = Idle::new(idle_timeout);
        let idle_timer = sleep_until(idle.due());
        tokio::pin!(idle_timer);
        let mut life = Lifecycle::new(phase);
        let stop = loop {
            if life.draining && !self.busy() && !io.client_w.needs_flush() {
                break Stop::Drained;
            }
            let read_client = io.up_w.pending() < HIGH_WATER;
            let read_up = io.client_w.pending() < HIGH_WATER;
            let turn = tokio::select! {
                r = io.client_r.fill(), if read_client => match r {
                    Ok(true) => {
                        idle.last_client = Instant::now();
                        self.client_readable(&mut io)
                    }
                    Ok(false) | Err(_) => Err(Stop::ClientClosed),
                },
                r = io.up_r.fill(), if read_up => match r {
                    Ok(true) => self.upstream_readable(&mut io),
                    Ok(false) | Err(_) => Err(Stop::UpstreamLost),
                },
                r = io.up_w.flush(), if io.up_w.needs_flush() => r.map_err(|_| Stop::UpstreamLost),
                r = io.client_w.flush(), if io.client_w.needs_flush() => {
                    r.map_err(|_| Stop::ClientClosed)
                }
                () = &mut idle_timer, if idle.timeout.is_some() => {
                    idle.expired(idle_timer.as_mut(), self.busy_requests())
                }
                r = life.phase.changed(), if life.watching => life.changed(r),
            };
            if let Err(stop) = turn {
                break stop;
            }
        };
        self.close(io, &stop).await;
        stop
    }

    /// The client's socket had data: handles the messages it completed, sends what they
    /// produced upstream, then builds the spans of what ended.
    fn client_readable(&mut self, io: &mut Io) -> Result<(), Stop> {
        self.client_frames(io)?;
        // Write at once when the socket takes it; otherwise the flush branch finishes the job.
        if io.up_w.needs_flush() && io.up_w.flush().now_or_never().is_some_and(|r| r.is_err()) {
            return Err(Stop::UpstreamLost);
        }
        // Spans once the request is on its way (see `trace`).
        self.queries.emit();
        Ok(())
    }

    /// The upstream's socket had data: the same the other way.
    fn upstream_readable(&mut self, io: &mut Io) -> Result<(), Stop> {
        self.upstream_frames(io)?;
        // More answers due: do not let a delayed ACK hold them up.
        if !self.pending.is_empty() {
            io.up_r.get_ref().quickack();
        }
        if io.client_w.needs_flush()
            && io
                .client_w
                .flush()
                .now_or_never()
                .is_some_and(|r| r.is_err())
        {
            return Err(Stop::ClientClosed);
        }
        // Spans once the answer is on its way (see `trace`).
        self.queries.emit();
        Ok(())
    }

    /// Ends the connection: tells the client why when it waits for answers, ends every span.
    async fn close(&mut self, mut io: Io, stop: &Stop) {
        stop.log();
        self.queries.end_all(stop.span_end());
        if let Some((code, message)) = stop.failure() {
            // The client gets one FAILURE for the first request it waits on and IGNORED for
            // the rest, as a server would, then the socket closes.
            let waiting = self.pending.iter().filter(|p| p.client_visible()).count();
            for i in 0..stop.answers(waiting) {
                let r = if i == 0 {
                    Response::failure_for(self.client_version, code, message)
                } else {
                    Response::Ignored
                };
                let _ = io.client_w.queue_response(&r);
            }
        }
        if matches!(stop, Stop::Goodbye) {
            let _ = timeout(FAREWELL_TIMEOUT, io.up_w.shutdown()).await;
        }
        let _ = timeout(FAREWELL_TIMEOUT, io.client_w.shutdown()).await;
        self.queries.emit();
        // Dropping the upstream halves closes that socket too.
    }
}
