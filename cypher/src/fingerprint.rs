//! The fingerprint: a stable 64-bit hash of the normalised text.
//!
//! The algorithm is part of the crate's contract (fingerprints are stored and compared across
//! releases and processes), so it is spelled out here and pinned by tests:
//!
//! ```text
//! M(a, b)  = let p = a as u128 * b as u128 in (p as u64) ^ ((p >> 64) as u64)
//! K0..K3   = 0xa0761d6478bd642f, 0xe7037ed1a0b428db, 0x8ebc6af09c88c6e3, 0x589965cc75374cc3
//! h        = seed ^ K0 ^ (len as u64)            (seed = 0 for fingerprints)
//! for each full 16-byte block (a = first 8 bytes, b = last 8, little endian):
//!     h = M(a ^ K1, b ^ h)
//! the remaining 0..15 bytes, zero-padded to 16: h = M(a ^ K2, b ^ h ^ K3)   (always done)
//! fingerprint = M(h ^ K1, (len as u64) ^ K3)
//! ```
//!
//! It is a wyhash-style multiply-fold hash: word at a time (a 75-byte resource costs a handful of
//! nanoseconds), not cryptographic, and for our purposes collision-free (the tests check every
//! resource of the corpus and its variants).

use std::fmt;

const K0: u64 = 0xa076_1d64_78bd_642f;
const K1: u64 = 0xe703_7ed1_a0b4_28db;
const K2: u64 = 0x8ebc_6af0_9c88_c6e3;
const K3: u64 = 0x5899_65cc_7537_4cc3;

#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline(always)]
fn read_u64(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(buf)
}

/// The hash described in the module docs, with a seed (0 for fingerprints; the cache uses a
/// random one).
#[inline]
pub(crate) fn hash64(bytes: &[u8], seed: u64) -> u64 {
    let len = bytes.len() as u64;
    let mut h = seed ^ K0 ^ len;
    let mut chunks = bytes.chunks_exact(16);
    for c in &mut chunks {
        let a = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let b = u64::from_le_bytes([c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15]]);
        h = fold_mul(a ^ K1, b ^ h);
    }
    let rest = chunks.remainder();
    let (a, b) = if rest.len() > 8 {
        (read_u64(&rest[..8]), read_u64(&rest[8..]))
    } else {
        (read_u64(rest), 0)
    };
    h = fold_mul(a ^ K2, b ^ h ^ K3);
    fold_mul(h ^ K1, len ^ K3)
}

/// A 64-bit fingerprint of a normalised query. Equal resources have equal fingerprints; its
/// [`Display`](fmt::Display) is 16 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// The fingerprint of a normalised text (the [`resource`](crate::Normalized::resource)).
    pub fn of(resource: &str) -> Fingerprint {
        Fingerprint(hash64(resource.as_bytes(), 0))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::LowerHex for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}
