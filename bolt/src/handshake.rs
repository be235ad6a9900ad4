//! The Bolt handshake: magic preamble, four version proposals, one answer.
//!
//! A client opens with `60 60 B0 17` and four 4-byte proposals `[0, range, minor, major]`
//! (range = how many minor versions below `minor` are also accepted), in preference order; the
//! server answers `[0, 0, minor, major]`, or four zero bytes when nothing fits.
//!
//! Drivers since 5.7 also propose **manifest v1** (`00 00 01 FF`), the only way to reach
//! Bolt 6.0: a server that takes it answers `00 00 01 FF`, a varint count, that many 4-byte
//! version ranges and a varint capability mask ([`Manifest`]); the client then writes the one
//! version it chose (`[0, 0, minor, major]`) and a varint of the capabilities it takes
//! ([`ManifestChoice`]), and may send its first messages right behind it, unanswered.
//! [`Handshake::choose`] is the server's pick, [`client_open`] the client's side up to the
//! server's answer.

use std::fmt;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::{Error, Result};

/// The 4 bytes that open every Bolt connection.
pub const MAGIC: [u8; 4] = [0x60, 0x60, 0xB0, 0x17];

/// Length of a client's opening: magic plus four proposals.
pub const HANDSHAKE_LEN: usize = 20;

/// The handshake manifest version this codec speaks.
pub const MANIFEST_V1: u8 = 1;

/// Most version ranges a manifest may list: a real server lists a handful, and a hostile one
/// must not make a reader loop or allocate without bound.
pub const MAX_MANIFEST_OFFERS: u64 = 64;

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
    /// Bolt 5.8.
    pub const V5_8: Version = Version::new(5, 8);
    /// Bolt 6.0.
    pub const V6_0: Version = Version::new(6, 0);

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

/// Every version this codec speaks, best first: 6.0, 5.8 down to 5.0, then 4.4.
///
/// Bolt 6.1 (Neo4j 2026.x, Python driver 6.x) is left out on purpose: it moves to PackStream
/// v2, whose new UUID marker (`E0` + 16 bytes) this codec does not read, so a 6.1 RECORD would
/// not decode (a RUN with a UUID parameter, a summary holding one). Through the proxy, drivers
/// and servers that speak 6.1 agree on 6.0.
pub const SUPPORTED: [Version; 11] = [
    Version::new(6, 0),
    Version::new(5, 8),
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
    /// A manifest-style negotiation request (`00 00 vv FF`, manifest version `vv`); this codec
    /// speaks version [`MANIFEST_V1`].
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
    pack_ranges(versions, 4)
}

/// `versions` (best first) as at most `max` ranges of consecutive minors of one major.
fn pack_ranges(versions: &[Version], max: usize) -> Vec<Proposal> {
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
        if out.len() == max {
            break;
        }
        out.push(Proposal::exact(*v));
    }
    out
}

/// What a server picks from a client's opening (see [`Handshake::choose`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Answer with this version, the classic way.
    Version(Version),
    /// Answer with a manifest v1 offer; the client chooses.
    Manifest,
}

impl Handshake {
    /// The server's pick when it speaks `supported` and, if `manifest`, manifest v1: the first
    /// proposal in the client's order that it can serve (a manifest v1 proposal counts, as it
    /// does for Neo4j), and within a range the highest version. `None`: nothing fits.
    pub fn choose(&self, supported: &[Version], manifest: bool) -> Option<Choice> {
        self.proposals.iter().find_map(|p| match *p {
            Proposal::Manifest(MANIFEST_V1) if manifest => Some(Choice::Manifest),
            p => supported
                .iter()
                .copied()
                .filter(|v| p.accepts(*v))
                .max()
                .map(Choice::Version),
        })
    }

    /// Whether the client proposes manifest v1.
    pub fn offers_manifest(&self) -> bool {
        self.proposals.contains(&Proposal::Manifest(MANIFEST_V1))
    }
}

/// A server's manifest v1 offer: the versions it speaks, as ranges, and a capability mask
/// (reserved for vendor amendments; none is defined, and this codec offers and takes none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// Version ranges, as [`Proposal::Range`] (other kinds never match a version).
    pub offers: Vec<Proposal>,
    /// Capability bits offered.
    pub capabilities: u64,
}

impl Manifest {
    /// An offer of exactly `versions` (packed into ranges of consecutive minors), no
    /// capabilities.
    pub fn new(versions: &[Version]) -> Self {
        Manifest {
            offers: pack_ranges(versions, usize::MAX),
            capabilities: 0,
        }
    }

    /// Whether `v` is offered.
    pub fn offers(&self, v: Version) -> bool {
        self.offers.iter().any(|p| p.accepts(v))
    }

    /// The versions of `supported` that are offered, in `supported`'s order.
    pub fn versions(&self, supported: &[Version]) -> Vec<Version> {
        supported
            .iter()
            .copied()
            .filter(|v| self.offers(*v))
            .collect()
    }

    /// What a server writes: `00 00 01 FF`, the count, the ranges, the capabilities.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(6 + 4 * self.offers.len());
        out.extend_from_slice(&Proposal::Manifest(MANIFEST_V1).to_bytes());
        put_varint(self.offers.len() as u64, &mut out);
        for p in &self.offers {
            out.extend_from_slice(&p.to_bytes());
        }
        put_varint(self.capabilities, &mut out);
        out
    }

    /// Reads what follows a server's `00 00 01 FF`: the count, the ranges, the capabilities.
    pub async fn read<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Self> {
        let n = read_varint(stream).await?;
        if n > MAX_MANIFEST_OFFERS {
            return Err(Error::BadHandshake("too many versions in a manifest"));
        }
        let mut offers = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let mut b = [0u8; 4];
            read_exact(stream, &mut b).await?;
            offers.push(Proposal::from_bytes(b));
        }
        let capabilities = read_varint(stream).await?;
        Ok(Manifest {
            offers,
            capabilities,
        })
    }
}

/// A client's answer to a [`Manifest`]: one version (no range) and the capabilities it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestChoice {
    /// The version chosen; `None` when the client found nothing it speaks (it sends zeros).
    pub version: Option<Version>,
    /// Capability bits taken.
    pub capabilities: u64,
}

impl ManifestChoice {
    /// What a client writes: the version's 4 bytes, then the capabilities.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5);
        out.extend_from_slice(&self.version.map_or([0; 4], Version::to_bytes));
        put_varint(self.capabilities, &mut out);
        out
    }

    /// Reads a client's choice (server side, after writing a [`Manifest`]).
    pub async fn read<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Self> {
        let mut b = [0u8; 4];
        read_exact(stream, &mut b).await?;
        let version = match b {
            [0, 0, 0, 0] => None,
            [0, 0, minor, major] => Some(Version { major, minor }),
            _ => return Err(Error::BadHandshake("a manifest choice holds a range")),
        };
        let capabilities = read_varint(stream).await?;
        Ok(ManifestChoice {
            version,
            capabilities,
        })
    }
}

/// A server's answer to a client's opening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The version the server chose.
    Version(Version),
    /// A manifest v1 offer: the client must still write its [`ManifestChoice`].
    Manifest(Manifest),
}

/// Appends `n` as a varint: 7 bits per byte, least significant group first, high bit set on
/// every byte but the last.
pub fn put_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7F) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a varint of at most 64 bits; longer or overflowing ones are errors.
async fn read_varint<S: AsyncRead + Unpin>(stream: &mut S) -> Result<u64> {
    let mut n: u64 = 0;
    for i in 0..10 {
        let mut b = [0u8; 1];
        read_exact(stream, &mut b).await?;
        let bits = u64::from(b[0] & 0x7F);
        // The tenth byte holds the 64th bit alone.
        if i == 9 && bits > 1 {
            return Err(Error::BadHandshake("varint over 64 bits"));
        }
        n |= bits << (7 * i);
        if b[0] & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(Error::BadHandshake("varint over 64 bits"))
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

/// Client side: sends `handshake` and reads the server's answer, a manifest offer included
/// (then the caller writes its [`ManifestChoice`]). Checks the answer is one the handshake
/// asked for.
pub async fn client_open<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    handshake: &Handshake,
) -> Result<Answer> {
    stream.write_all(&handshake.to_bytes()).await?;
    stream.flush().await?;
    let mut answer = [0u8; 4];
    read_exact(stream, &mut answer).await?;
    if Proposal::from_bytes(answer) == Proposal::Manifest(MANIFEST_V1)
        && handshake.offers_manifest()
    {
        return Ok(Answer::Manifest(Manifest::read(stream).await?));
    }
    let v = Version::from_bytes(answer).ok_or(Error::NoCommonVersion)?;
    if !handshake.accepts(v) {
        return Err(Error::UnexpectedVersion(v.major, v.minor));
    }
    Ok(Answer::Version(v))
}

/// Client side, to the end: sends `handshake`, and when the server answers with a manifest,
/// chooses the highest version of `speaks` it offers (no capabilities) and writes that choice.
/// Returns the version the connection speaks.
pub async fn client_handshake_speaking<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    handshake: &Handshake,
    speaks: &[Version],
) -> Result<Version> {
    match client_open(stream, handshake).await? {
        Answer::Version(v) => Ok(v),
        Answer::Manifest(offer) => {
            let version = offer.versions(speaks).into_iter().max();
            let choice = ManifestChoice {
                version,
                capabilities: 0,
            };
            stream.write_all(&choice.to_bytes()).await?;
            stream.flush().await?;
            version.ok_or(Error::NoCommonVersion)
        }
    }
}

/// [`client_handshake_speaking`] for a client that speaks every version of [`SUPPORTED`].
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    handshake: &Handshake,
) -> Result<Version> {
    client_handshake_speaking(stream, handshake, &SUPPORTED).await
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
        assert_eq!(h.negotiate(&SUPPORTED), Some(Version::new(5, 8)));
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
        assert_eq!(h.negotiate(&SUPPORTED[..SUPPORTED.len() - 1]), None);
        assert_eq!(Handshake::parse(&h.to_bytes()).unwrap(), h);
    }

    #[test]
    fn ranges_and_acceptable() {
        let p = Proposal::from_bytes([0, 2, 4, 4]);
        assert!(p.accepts(Version::new(4, 2)));
        assert!(!p.accepts(Version::new(4, 1)));
        let h = python_5_28();
        let acc = h.acceptable(&SUPPORTED);
        assert_eq!(acc.first(), Some(&Version::new(5, 8)));
        assert_eq!(acc.last(), Some(&Version::V4_4));
    }

    #[test]
    fn proposals_pack_runs() {
        let p = proposals_for(&SUPPORTED);
        assert_eq!(
            p,
            [
                Proposal::exact(Version::V6_0),
                Proposal::Range {
                    major: 5,
                    minor: 8,
                    range: 8
                },
                Proposal::exact(Version::V4_4)
            ]
        );
    }

    #[test]
    fn a_manifest_proposal_is_chosen_where_the_client_puts_it() {
        let h = python_5_28();
        assert_eq!(h.choose(&SUPPORTED, true), Some(Choice::Manifest));
        assert_eq!(
            h.choose(&SUPPORTED, false),
            Some(Choice::Version(Version::V5_8))
        );
        // Ranges before the manifest win: the client prefers them.
        let h = Handshake::new(&[
            Proposal::exact(Version::V4_4),
            Proposal::Manifest(MANIFEST_V1),
        ]);
        assert_eq!(
            h.choose(&SUPPORTED, true),
            Some(Choice::Version(Version::V4_4))
        );
        // A manifest version this codec does not speak is skipped.
        let h = Handshake::new(&[Proposal::Manifest(2), Proposal::exact(Version::V5_7)]);
        assert_eq!(
            h.choose(&SUPPORTED, true),
            Some(Choice::Version(Version::V5_7))
        );
        let h = Handshake::new(&[Proposal::exact(Version::new(3, 0))]);
        assert_eq!(h.choose(&SUPPORTED, true), None);
    }

    /// What Neo4j 2026.09 answers a manifest proposal (measured): 4.0-4.4, 5.0-5.4, 5.6-5.8,
    /// 6.0-6.1, no capabilities.
    const NEO4J_2026_OFFER: [u8; 22] = [
        0x00, 0x00, 0x01, 0xFF, 0x04, 0x00, 0x04, 0x04, 0x04, 0x00, 0x04, 0x04, 0x05, 0x00, 0x02,
        0x08, 0x05, 0x00, 0x01, 0x01, 0x06, 0x00,
    ];

    #[tokio::test]
    async fn a_server_manifest_reads_and_writes_back_the_same() {
        let mut input = &NEO4J_2026_OFFER[4..];
        let m = Manifest::read(&mut input).await.unwrap();
        assert!(input.is_empty());
        assert_eq!(m.capabilities, 0);
        assert_eq!(m.offers.len(), 4);
        assert!(m.offers(Version::V6_0) && m.offers(Version::new(6, 1)));
        assert!(!m.offers(Version::new(5, 5)));
        assert_eq!(
            m.versions(&SUPPORTED),
            [
                Version::V6_0,
                Version::V5_8,
                Version::V5_7,
                Version::new(5, 6),
                Version::new(5, 4),
                Version::new(5, 3),
                Version::new(5, 2),
                Version::new(5, 1),
                Version::V5_0,
                Version::V4_4,
            ]
        );
        assert_eq!(m.to_bytes(), NEO4J_2026_OFFER);
        // Built from versions, ranges are packed the same way.
        let built = Manifest::new(&m.versions(&SUPPORTED));
        assert!(built.offers(Version::V6_0) && !built.offers(Version::new(5, 5)));
        assert_eq!(built.offers.len(), 4);
    }

    #[tokio::test]
    async fn the_client_side_chooses_the_best_offered_version() {
        let (mut client, mut server) = tokio::io::duplex(256);
        let hs = Handshake::new(&[
            Proposal::Manifest(MANIFEST_V1),
            Proposal::Range {
                major: 5,
                minor: 8,
                range: 8,
            },
        ]);
        let srv = tokio::spawn(async move {
            let opening = read_handshake(&mut server).await.unwrap();
            assert_eq!(opening.choose(&SUPPORTED, true), Some(Choice::Manifest));
            server.write_all(&NEO4J_2026_OFFER).await.unwrap();
            ManifestChoice::read(&mut server).await.unwrap()
        });
        let v = client_handshake_speaking(&mut client, &hs, &SUPPORTED)
            .await
            .unwrap();
        assert_eq!(v, Version::V6_0);
        let choice = srv.await.unwrap();
        assert_eq!(
            choice,
            ManifestChoice {
                version: Some(Version::V6_0),
                capabilities: 0
            }
        );
        // Without a manifest proposal, a manifest answer is an unexpected version.
        let (mut client, mut server) = tokio::io::duplex(256);
        server.write_all(&NEO4J_2026_OFFER).await.unwrap();
        let hs = Handshake::new(&[Proposal::exact(Version::V5_8)]);
        assert!(matches!(
            client_open(&mut client, &hs).await,
            Err(Error::UnexpectedVersion(0xFF, 1))
        ));
    }

    #[tokio::test]
    async fn varints_round_trip_and_bad_ones_are_errors() {
        for n in [0, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut out = Vec::new();
            put_varint(n, &mut out);
            let mut input = &out[..];
            assert_eq!(read_varint(&mut input).await.unwrap(), n);
            assert!(input.is_empty());
        }
        // The example of the Bolt documentation.
        let mut input = &[0xFF, 0x82, 0x71][..];
        assert_eq!(read_varint(&mut input).await.unwrap(), 0x1C417F);
        let mut too_long = &[0xFF; 11][..];
        assert!(matches!(
            read_varint(&mut too_long).await,
            Err(Error::BadHandshake(_))
        ));
        let mut cut = &[0x80][..];
        assert!(matches!(
            read_varint(&mut cut).await,
            Err(Error::ConnectionClosed)
        ));
        // A hostile count is refused before anything is allocated for it.
        let mut huge = &[0xFF, 0xFF, 0xFF, 0xFF, 0x0F][..];
        assert!(matches!(
            Manifest::read(&mut huge).await,
            Err(Error::BadHandshake(_))
        ));
        let mut ranged = &[0x00, 0x02, 0x08, 0x05, 0x00][..];
        assert!(matches!(
            ManifestChoice::read(&mut ranged).await,
            Err(Error::BadHandshake(_))
        ));
    }

    #[test]
    fn bad_magic() {
        let mut b = [0u8; 20];
        b[..4].copy_from_slice(b"GET ");
        assert!(matches!(Handshake::parse(&b), Err(Error::BadMagic)));
    }
}
