//! The Bolt handshake: magic preamble, four version proposals, one answer.
//!
//! A client opens with `60 60 B0 17` and four 4-byte proposals `[0, range, minor, major]`
//! (range = how many minor versions below `minor` are also accepted), in preference order; the
//! server answers `[0, 0, minor, major]`, or four zero bytes when nothing fits. Newer drivers
//! also send a "manifest" proposal (`00 00 01 FF`) that opens a longer negotiation; this codec
//! recognises it and treats it as unsupported, choosing from the other proposals.

use std::fmt;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::{Error, Result};

/// The 4 bytes that open every Bolt connection.
pub const MAGIC: [u8; 4] = [0x60, 0x60, 0xB0, 0x17];

/// Length of a client's opening: magic plus four proposals.
pub const HANDSHAKE_LEN: usize = 20;

/// A Bolt protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
}

impl Version {
    /// A version.
    pub const fn new(major: u8, minor: u8) -> Self {
        Version { major, minor }
    }

    /// Bolt 4.4.
    pub const V4_4: Version = Version::new(4, 4);
    /// Bolt 5.0.
    pub const V5_0: Version = Version::new(5, 0);
    /// Bolt 5.7.
    pub const V5_7: Version = Version::new(5, 7);

    /// The server's answer selecting this version: `[0, 0, minor, major]`.
    pub fn to_bytes(self) -> [u8; 4] {
        [0, 0, self.minor, self.major]
    }

    /// Reads a server's answer; `None` for "no version" (all zeros).
    pub fn from_bytes(b: [u8; 4]) -> Option<Version> {
        match b {
            [0, 0, 0, 0] => None,
            [_, _, minor, major] => Some(Version { major, minor }),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Every version this codec speaks, best first: 5.7 down to 5.0, then 4.4.
pub const SUPPORTED: [Version; 9] = [
    Version::new(5, 7),
    Version::new(5, 6),
    Version::new(5, 5),
    Version::new(5, 4),
    Version::new(5, 3),
    Version::new(5, 2),
    Version::new(5, 1),
    Version::new(5, 0),
    Version::new(4, 4),
];

/// One of the four proposals of a client's handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proposal {
    /// An unused slot (`00 00 00 00`).
    Empty,
    /// `major.minor` and the `range` minor versions below it.
    Range {
        /// Major version.
        major: u8,
        /// Highest minor version.
        minor: u8,
        /// How many lower minor versions are accepted too.
        range: u8,
    },
    /// A manifest-style negotiation request (`00 00 vv FF`, manifest version `vv`), which this
    /// codec does not speak.
    Manifest(u8),
}

impl Proposal {
    /// A proposal of exactly one version.
    pub fn exact(v: Version) -> Self {
        Proposal::Range {
            major: v.major,
            minor: v.minor,
            range: 0,
        }
    }

    /// Reads a proposal from its 4 bytes.
    pub fn from_bytes(b: [u8; 4]) -> Self {
        match b {
            [0, 0, 0, 0] => Proposal::Empty,
            [_, _, v, 0xFF] => Proposal::Manifest(v),
            [_, range, minor, major] => Proposal::Range {
                major,
                minor,
                range,
            },
        }
    }

    /// The 4 bytes of this proposal.
    pub fn to_bytes(self) -> [u8; 4] {
        match self {
            Proposal::Empty => [0; 4],
            Proposal::Manifest(v) => [0, 0, v, 0xFF],
            Proposal::Range {
                major,
                minor,
                range,
            } => [0, range, minor, major],
        }
    }

    /// Whether `v` is one of the versions this proposal accepts.
    pub fn accepts(self, v: Version) -> bool {
        match self {
            Proposal::Range {
                major,
                minor,
                range,
            } => v.major == major && v.minor <= minor && v.minor >= minor.saturating_sub(range),
            _ => false,
        }
    }
}

/// A client's opening: four proposals in preference order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// The proposals, best first.
    pub proposals: [Proposal; 4],
}

impl Handshake {
    /// A handshake proposing up to four entries, padded with empty slots.
    pub fn new(proposals: &[Proposal]) -> Self {
        let mut p = [Proposal::Empty; 4];
        for (slot, prop) in p.iter_mut().zip(proposals) {
            *slot = *prop;
        }
        Handshake { proposals: p }
    }

    /// Reads the 20 opening bytes; fails on a wrong magic preamble.
    pub fn parse(bytes: &[u8; HANDSHAKE_LEN]) -> Result<Self> {
        if bytes[..4] != MAGIC {
            return Err(Error::BadMagic);
        }
        let mut proposals = [Proposal::Empty; 4];
        for (i, p) in proposals.iter_mut().enumerate() {
            let at = 4 + 4 * i;
            *p = Proposal::from_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        }
        Ok(Handshake { proposals })
    }

    /// The 20 opening bytes.
    pub fn to_bytes(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[..4].copy_from_slice(&MAGIC);
        for (i, p) in self.proposals.iter().enumerate() {
            out[4 + 4 * i..8 + 4 * i].copy_from_slice(&p.to_bytes());
        }
        out
    }

    /// Whether any proposal accepts `v`.
    pub fn accepts(&self, v: Version) -> bool {
        self.proposals.iter().any(|p| p.accepts(v))
    }

    /// The server's choice: for the first proposal (in the client's order) that accepts any of
    /// `supported`, the highest such version. Manifest proposals are skipped.
    pub fn negotiate(&self, supported: &[Version]) -> Option<Version> {
        self.proposals
            .iter()
            .find_map(|p| supported.iter().copied().filter(|v| p.accepts(*v)).max())
    }

    /// The versions of `supported` the client accepts, best first by the client's preference.
    pub fn acceptable(&self, supported: &[Version]) -> Vec<Version> {
        let mut out = Vec::new();
        for p in &self.proposals {
            let mut vs: Vec<Version> = supported
                .iter()
                .copied()
                .filter(|v| p.accepts(*v) && !out.contains(v))
                .collect();
            vs.sort_by(|a, b| b.cmp(a));
            out.extend(vs);
        }
        out
    }
}

/// Proposals covering `versions` (best first) in at most four slots, each slot a run of
/// consecutive minor versions of one major.
pub fn proposals_for(versions: &[Version]) -> Vec<Proposal> {
    let mut out: Vec<Proposal> = Vec::new();
    for v in versions {
        if let Some(Proposal::Range {
            major,
            minor,
            range,
        }) = out.last_mut()
            && *major == v.major
            && minor.checked_sub(*range + 1) == Some(v.minor)
        {
            *range += 1;
            continue;
        }
        if out.len() == 4 {
            break;
        }
        out.push(Proposal::exact(*v));
    }
    out
}

/// Reads a client's 20 opening bytes from `stream`.
pub async fn read_handshake<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Handshake> {
    let mut buf = [0u8; HANDSHAKE_LEN];
    // Check the magic first, so a client speaking something else (HTTP, TLS to a plain port)
    // is told apart from one that is merely slow or stopped half-way.
    read_exact(stream, &mut buf[..4]).await?;
    if buf[..4] != MAGIC {
        return Err(Error::BadMagic);
    }
    read_exact(stream, &mut buf[4..]).await?;
    Handshake::parse(&buf)
}

/// Client side: sends `handshake`, reads the server's choice, and checks it was offered.
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    handshake: &Handshake,
) -> Result<Version> {
    stream.write_all(&handshake.to_bytes()).await?;
    stream.flush().await?;
    let mut answer = [0u8; 4];
    read_exact(stream, &mut answer).await?;
    let v = Version::from_bytes(answer).ok_or(Error::NoCommonVersion)?;
    if !handshake.accepts(v) {
        return Err(Error::UnexpectedVersion(v.major, v.minor));
    }
    Ok(v)
}

async fn read_exact<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut [u8]) -> Result<()> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Error::ConnectionClosed),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python_5_28() -> Handshake {
        let mut b = [0u8; 20];
        b[..4].copy_from_slice(&MAGIC);
        b[4..].copy_from_slice(&[
            0x00, 0x00, 0x01, 0xFF, 0x00, 0x08, 0x08, 0x05, 0x00, 0x02, 0x04, 0x04, 0x00, 0x00,
            0x00, 0x03,
        ]);
        Handshake::parse(&b).unwrap()
    }

    #[test]
    fn manifest_is_recognised_and_skipped() {
        let h = python_5_28();
        assert_eq!(h.proposals[0], Proposal::Manifest(1));
        assert_eq!(h.negotiate(&SUPPORTED), Some(Version::new(5, 7)));
        assert_eq!(h.negotiate(&[Version::V4_4]), Some(Version::V4_4));
        assert_eq!(h.negotiate(&[Version::new(3, 0)]), Some(Version::new(3, 0)));
    }

    #[test]
    fn neo4rs_proposals_pick_4_4() {
        let h = Handshake::new(&[
            Proposal::exact(Version::new(4, 4)),
            Proposal::exact(Version::new(4, 3)),
            Proposal::exact(Version::new(4, 1)),
            Proposal::exact(Version::new(4, 0)),
        ]);
        assert_eq!(h.negotiate(&SUPPORTED), Some(Version::V4_4));
        assert_eq!(h.negotiate(&SUPPORTED[..8]), None);
        assert_eq!(Handshake::parse(&h.to_bytes()).unwrap(), h);
    }

    #[test]
    fn ranges_and_acceptable() {
        let p = Proposal::from_bytes([0, 2, 4, 4]);
        assert!(p.accepts(Version::new(4, 2)));
        assert!(!p.accepts(Version::new(4, 1)));
        let h = python_5_28();
        let acc = h.acceptable(&SUPPORTED);
        assert_eq!(acc.first(), Some(&Version::new(5, 7)));
        assert_eq!(acc.last(), Some(&Version::V4_4));
    }

    #[test]
    fn proposals_pack_runs() {
        let p = proposals_for(&SUPPORTED);
        assert_eq!(
            p,
            [
                Proposal::Range {
                    major: 5,
                    minor: 7,
                    range: 7
                },
                Proposal::exact(Version::V4_4)
            ]
        );
    }

    #[test]
    fn bad_magic() {
        let mut b = [0u8; 20];
        b[..4].copy_from_slice(b"GET ");
        assert!(matches!(Handshake::parse(&b), Err(Error::BadMagic)));
    }
}
