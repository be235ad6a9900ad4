//! A new client connection up to its first message: TLS, the client's handshake, the upstream
//! connection and the versions both sides speak; and the farewells of a connection that cannot
//! be served.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};

use super::connect::connect_upstream;
use super::negotiation::Negotiation;
use super::stop::UNAVAILABLE;
use super::{FAREWELL_TIMEOUT, Io, Shared};
use crate::socket::{SocketRead, SocketWrite, tcp_halves, tls_halves};
use crate::upstream::keep_alive;
use bolt::handshake::{self, SUPPORTED};
use bolt::{
    Choice, Handshake, Manifest, ManifestChoice, MessageReader, MessageWriter, Response, Version,
};

/// A client connection whose versions are agreed on both sides, ready for its session.
pub(super) struct Opened {
    pub io: Io,
    /// The client's version and the upstream's.
    pub versions: (Version, Version),
    /// The proxy address this client's connection reached.
    pub proxy_addr: SocketAddr,
}

/// What the client's handshake asks for.
struct ClientOpening {
    /// The client's versions the proxy speaks, best first.
    acceptable: Vec<Version>,
    /// The client ranks manifest v1 above them: it is answered with a manifest, after the
    /// upstream connection (see [`Negotiation`]).
    manifest: bool,
}

impl ClientOpening {
    /// `None` when the client offers nothing the proxy speaks.
    fn of(hs: &Handshake) -> Option<ClientOpening> {
        let manifest = match hs.choose(&SUPPORTED, true)? {
            Choice::Manifest => true,
            Choice::Version(_) => false,
        };
        Some(ClientOpening {
            acceptable: hs.acceptable(&SUPPORTED),
            manifest,
        })
    }

    /// What to ask the server for, best first: what the client takes, and for a 4.4 client any
    /// 5.x too, through translation. A client that offered nothing but the manifest may get
    /// anything the proxy speaks.
    fn wanted(&self) -> Vec<Version> {
        let mut wanted = if self.acceptable.is_empty() {
            SUPPORTED.to_vec()
        } else {
            self.acceptable.clone()
        };
        if wanted.contains(&Version::V4_4) {
            for v in SUPPORTED.iter().filter(|v| v.major == 5) {
                if !wanted.contains(v) {
                    wanted.push(*v);
                }
            }
        }
        wanted
    }

    /// The version a farewell answers the handshake with (`None`: a manifest).
    fn farewell_version(&self) -> Option<Version> {
        (!self.manifest).then(|| self.acceptable[0])
    }
}

/// Takes a new client from its first byte to versions agreed on both sides. `None` when the
/// connection ended on the way (the client was told what it could be told, and why is logged).
pub(super) async fn open(client: TcpStream, peer: SocketAddr, shared: &Shared) -> Option<Opened> {
    // Bolt is request/response with small messages: Nagle's algorithm would add latency.
    let _ = client.set_nodelay(true);
    // A client host that vanishes while its connection is quiet is noticed within about a
    // minute, long before the idle timeout.
    let _ = keep_alive(&client, None);
    // Where this client reached the proxy: routing tables name it when nothing better is known.
    let proxy_addr = client.local_addr().unwrap_or(shared.config.listen);
    let deadline = Instant::now() + shared.config.handshake_timeout;
    let (mut cr, mut cw) = accept(client, peer, shared, deadline).await?;
    let hs = read_opening(&mut cr, peer, deadline).await?;
    let Some(opening) = ClientOpening::of(&hs) else {
        tracing::debug!(%peer, "bolt-proxy: client offers no supported Bolt version");
        no_version(&mut cw, deadline).await;
        return None;
    };
    let upstream = timeout_at(
        deadline,
        connect_upstream(shared, &opening.wanted(), opening.manifest),
    )
    .await;
    let (answer, up_r, up_w) = match upstream {
        Ok(Ok(up)) => up,
        Ok(Err(e)) => return turn_away(peer, Some(e), (cr, cw), &opening, deadline).await,
        Err(_) => return turn_away(peer, None, (cr, cw), &opening, deadline).await,
    };
    let Some(negotiation) = Negotiation::offer(&answer, opening.manifest, &opening.acceptable)
    else {
        tracing::warn!(%peer, "bolt-proxy: upstream speaks none of the client's versions");
        no_version(&mut cw, deadline).await;
        return None;
    };
    let (client_version, upstream_version, upstream_choice) = if opening.manifest {
        agree_by_manifest(&mut cr, &mut cw, &negotiation, peer, deadline).await?
    } else {
        agree_classic(&mut cw, &negotiation, deadline).await?
    };
    let translate = client_version != upstream_version;
    tracing::debug!(%peer, client = %client_version, upstream = %upstream_version, translate, "bolt-proxy: connection open");
    let mut io = Io::new((cr, cw), (up_r, up_w), shared.config.max_message_size);
    if let Some(choice) = upstream_choice {
        // The end of the upstream's manifest handshake, which needs no answer: it goes out
        // with the client's first messages, or on its own at the session's first turn.
        io.up_w.queue_raw(&choice.to_bytes());
    }
    Some(Opened {
        io,
        versions: (client_version, upstream_version),
        proxy_addr,
    })
}

/// The client's side of the connection: TLS when configured, within `deadline`.
async fn accept(
    client: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    deadline: Instant,
) -> Option<(SocketRead, SocketWrite)> {
    let Some(acceptor) = &shared.tls else {
        return Some(tcp_halves(client));
    };
    match timeout_at(deadline, acceptor.accept(client)).await {
        Ok(Ok(tls)) => Some(tls_halves(tls)),
        Ok(Err(e)) => {
            // A plain Bolt client on a TLS port lands here too.
            tracing::debug!(%peer, error = %e, "bolt-proxy: TLS handshake with client failed, closing");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "bolt-proxy: client TLS handshake timed out, closing");
            None
        }
    }
}

/// The client's handshake, read within `deadline`.
async fn read_opening(
    r: &mut SocketRead,
    peer: SocketAddr,
    deadline: Instant,
) -> Option<Handshake> {
    match timeout_at(deadline, handshake::read_handshake(r)).await {
        Ok(Ok(hs)) => Some(hs),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "bolt-proxy: bad client handshake, closing");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "bolt-proxy: client handshake timed out, closing");
            None
        }
    }
}

/// The upstream could not be had (`error`; `None`: the handshake deadline passed): tells the
/// client so as far as its handshake allows, and closes. Always `None`, for [`open`].
async fn turn_away(
    peer: SocketAddr,
    error: Option<bolt::Error>,
    (r, mut w): (SocketRead, SocketWrite),
    opening: &ClientOpening,
    deadline: Instant,
) -> Option<Opened> {
    match error {
        Some(bolt::Error::NoCommonVersion) => {
            tracing::warn!(%peer, "bolt-proxy: upstream speaks none of the client's versions");
            no_version(&mut w, deadline).await;
        }
        Some(e) => {
            tracing::warn!(%peer, error = %e, "bolt-proxy: upstream unavailable");
            unavailable(r, w, opening.farewell_version(), deadline).await;
        }
        None => {
            tracing::warn!(%peer, "bolt-proxy: upstream connection timed out");
            // The handshake deadline has passed: the farewell gets its own.
            let farewell = Instant::now() + FAREWELL_TIMEOUT;
            unavailable(r, w, opening.farewell_version(), farewell).await;
        }
    }
    None
}

/// A manifest client: offers it every version `negotiation` can serve and reads its choice.
/// The client's version, the upstream's and the upstream's manifest choice, if any.
async fn agree_by_manifest(
    r: &mut SocketRead,
    w: &mut SocketWrite,
    negotiation: &Negotiation,
    peer: SocketAddr,
    deadline: Instant,
) -> Option<(Version, Version, Option<ManifestChoice>)> {
    let offer = Manifest::new(&negotiation.client_offer);
    let chosen = timeout_at(deadline, async {
        w.write_all(&offer.to_bytes()).await?;
        w.flush().await?;
        ManifestChoice::read(r).await
    })
    .await;
    let chosen = match chosen {
        Ok(Ok(c)) => c.version,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "bolt-proxy: client's manifest choice unreadable, closing");
            return None;
        }
        Err(_) => {
            tracing::debug!(%peer, "bolt-proxy: client's manifest choice timed out, closing");
            return None;
        }
    };
    let versions = chosen.and_then(|v| negotiation.serve(v));
    if versions.is_none() {
        // It chose nothing, or something not offered: no Bolt can follow.
        tracing::debug!(%peer, "bolt-proxy: client chose no offered version, closing");
        let _ = timeout(FAREWELL_TIMEOUT, w.shutdown()).await;
    }
    versions
}

/// A classic client: is offered exactly one version, which is served.
async fn agree_classic(
    w: &mut SocketWrite,
    negotiation: &Negotiation,
    deadline: Instant,
) -> Option<(Version, Version, Option<ManifestChoice>)> {
    let Some(versions) = negotiation.serve(negotiation.client_offer[0]) else {
        no_version(w, deadline).await;
        return None;
    };
    if w.write_all(&versions.0.to_bytes()).await.is_err() || w.flush().await.is_err() {
        return None;
    }
    Some(versions)
}

/// Answers a handshake with "no version" (four zero bytes) and closes, TLS included.
async fn no_version(w: &mut SocketWrite, deadline: Instant) {
    let _ = timeout_at(deadline, async {
        w.write_all(&[0; 4]).await?;
        w.shutdown().await
    })
    .await;
}

/// The upstream cannot be reached: answer the handshake (with `version`, or for a client that
/// chose the manifest, with a manifest of every version the proxy speaks and the client's
/// choice read back), answer the first request with a FAILURE drivers treat as transient, and
/// close.
async fn unavailable(
    mut r: SocketRead,
    mut w: SocketWrite,
    version: Option<Version>,
    deadline: Instant,
) {
    let _ = timeout_at(deadline, async {
        let version = match version {
            Some(v) => {
                w.write_all(&v.to_bytes()).await?;
                v
            }
            None => {
                w.write_all(&Manifest::new(&SUPPORTED).to_bytes()).await?;
                w.flush().await?;
                match ManifestChoice::read(&mut r).await?.version {
                    Some(v) if SUPPORTED.contains(&v) => v,
                    _ => return Err(bolt::Error::NoCommonVersion),
                }
            }
        };
        let mut w = MessageWriter::new(w);
        let mut r = MessageReader::new(r);
        w.flush().await?;
        if r.read_message().await?.is_some() {
            w.queue_response(&Response::failure_for(
                version,
                UNAVAILABLE,
                "bolt-proxy: the database server cannot be reached",
            ))?;
            w.shutdown().await?;
        }
        Ok::<_, bolt::Error>(())
    })
    .await;
}
