//! The fingerprint is part of the crate's contract: pinned values, format, and its relation to
//! the resource.

use cypher::{Fingerprint, normalize};

#[test]
fn pinned_values_never_change_across_releases() {
    // Computed once from the algorithm documented in src/fingerprint.rs; a change here breaks
    // every stored fingerprint, so it must be deliberate.
    let table = [
        ("", "e2c4a4a507a06179"),
        ("RETURN ?", "2694dfa4a551ac6b"),
        ("MATCH (n) RETURN ?", "38ecabbde8ea18f8"),
        (
            "MATCH (t:Transaction {id: $id})-[:USES_CARD]->(c:Card) RETURN c",
            "412e9e87ffb5a37f",
        ),
    ];
    for (resource, hex) in table {
        assert_eq!(Fingerprint::of(resource).to_string(), hex, "{resource:?}");
    }
}

#[test]
fn displays_as_16_lowercase_hex_digits() {
    assert_eq!(Fingerprint(0).to_string(), "0000000000000000");
    assert_eq!(Fingerprint(0xABC).to_string(), "0000000000000abc");
    assert_eq!(Fingerprint(u64::MAX).to_string(), "ffffffffffffffff");
    assert_eq!(format!("{:x}", Fingerprint(255)), "ff");
}

#[test]
fn is_the_hash_of_the_resource() {
    let a = normalize("MATCH (n:Person {name: 'Ann'}) RETURN n");
    let b = normalize("match (n:Person {name: \"Bob\"})   return n // other");
    assert_eq!(a.resource, b.resource);
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.fingerprint, Fingerprint::of(&a.resource));
    let c = normalize("MATCH (n:Company {name: 'Ann'}) RETURN n");
    assert_ne!(a.fingerprint, c.fingerprint);
}

#[test]
fn every_length_and_every_byte_counts() {
    // Lengths around the 8- and 16-byte blocks, one byte changed at each position.
    let mut seen = std::collections::HashSet::new();
    for len in 0..40 {
        let base: String = (0..len)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        assert!(
            seen.insert(Fingerprint::of(&base)),
            "collision at len {len}"
        );
        for pos in 0..len {
            let mut bytes = base.clone().into_bytes();
            bytes[pos] = b'?';
            let changed = String::from_utf8(bytes).unwrap();
            assert!(
                seen.insert(Fingerprint::of(&changed)),
                "collision at {len}/{pos}"
            );
        }
    }
    // Trailing zero bytes are not padding.
    assert_ne!(Fingerprint::of("a"), Fingerprint::of("a\0"));
}
