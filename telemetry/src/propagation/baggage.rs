//! W3C Baggage (<https://www.w3.org/TR/baggage/>): the `baggage` header, a comma-separated
//! list of `key=value;property;key=value` members, read into and written from
//! `opentelemetry::baggage::Baggage`.
//!
//! Reading is lenient member by member: a member that is not well formed is skipped and the
//! rest of the header is kept. Keys are tokens and are taken as they are; values and property
//! values are percent-decoded, and byte sequences that are not UTF-8 become U+FFFD (the W3C
//! rule). Properties are kept as the entry's metadata, `;`-joined and decoded, the form
//! opentelemetry-sdk's propagator gives them, so both read the same header the same way.
//!
//! Both directions keep to the W3C limits, 64 members and 8192 bytes of header: members that
//! would go past them are left out whole, never cut. Nothing here logs: a baggage value may
//! carry anything, and must not reach logs.

use opentelemetry::Context;
use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};

pub(crate) const BAGGAGE: &str = "baggage";

/// At most this many list members are read or written.
const MAX_MEMBERS: usize = 64;
/// At most this many bytes of list members, with their commas, are read or written.
const MAX_BYTES: usize = 8192;

/// A `tchar` of RFC 9110: the characters of a baggage key.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Whether `b` may be written unencoded: a `baggage-octet` other than `%` (which must be
/// encoded) and `=` (encoded too, because readers that split a member on every `=`, as
/// opentelemetry-sdk's does, would otherwise cut the value).
fn is_plain_byte(b: u8) -> bool {
    matches!(b, 0x21..=0x7e) && !matches!(b, b'"' | b',' | b';' | b'\\' | b'%' | b'=')
}

/// Whether `s` may stand as an encoded value once its surrounding blanks are trimmed: visible
/// ASCII. The W3C grammar also forbids `"` and `\`; they are let through because
/// opentelemetry-sdk writes `\` unencoded and rejecting it would lose its peers' baggage.
fn is_encoded_value(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, 0x21..=0x7e))
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

fn encode_into(out: &mut String, s: &str) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if is_plain_byte(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        }
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s`; a `%` not followed by two hex digits stands for itself.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = match bytes[i..] {
            [b'%', high, low, ..] => hex_digit(high).zip(hex_digit(low)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match byte {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `key = value` at its first `=`, blanks around both trimmed.
fn split_pair(s: &str) -> Option<(&str, &str)> {
    s.split_once('=')
        .map(|(key, value)| (trim_ows(key), trim_ows(value)))
}

/// One list member: key, decoded value and the metadata made of its properties; `None` when
/// it is not well formed.
fn parse_member(member: &str) -> Option<(String, String, String)> {
    let mut parts = member.split(';');
    let (key, value) = split_pair(parts.next()?)?;
    if !is_token(key) || !is_encoded_value(value) {
        return None;
    }
    let mut metadata = String::new();
    for property in parts {
        let property = trim_ows(property);
        // A property that is not well formed is dropped alone; the member stays.
        let decoded = match split_pair(property) {
            Some((key, value)) if is_token(key) && is_encoded_value(value) => {
                format!("{key}={}", decode(value))
            }
            None if is_token(property) => property.to_owned(),
            _ => continue,
        };
        if !metadata.is_empty() {
            metadata.push(';');
        }
        metadata.push_str(&decoded);
    }
    Some((key.to_owned(), decode(value), metadata))
}

/// The baggage a `baggage` header carries: its well-formed members, in order, while they fit
/// the limits (a member that would go past the byte limit is skipped, later ones may still
/// fit). A key repeated keeps its last value.
pub(crate) fn parse(header: &str) -> Baggage {
    let mut baggage = Baggage::new();
    let (mut members, mut bytes) = (0, 0);
    for member in header.split(',').map(trim_ows) {
        if members == MAX_MEMBERS {
            break;
        }
        let size = member.len() + usize::from(members > 0);
        if bytes + size > MAX_BYTES {
            continue;
        }
        let Some((key, value, metadata)) = parse_member(member) else {
            continue;
        };
        baggage.insert_with_metadata(key, value, metadata);
        members += 1;
        bytes += size;
    }
    baggage
}

/// One list member for `key`, `value` and `metadata`; `None` when the key is not a token.
/// Properties whose key is not a token are left out.
fn format_member(key: &str, value: &str, metadata: &str) -> Option<String> {
    if !is_token(key) {
        return None;
    }
    let mut member = String::with_capacity(key.len() + 1 + value.len());
    member.push_str(key);
    member.push('=');
    encode_into(&mut member, value);
    for property in metadata.split(';') {
        let (key, value) = match property.split_once('=') {
            Some((key, value)) => (key.trim(), Some(value)),
            None => (property.trim(), None),
        };
        if !is_token(key) {
            continue;
        }
        member.push(';');
        member.push_str(key);
        if let Some(value) = value {
            member.push('=');
            encode_into(&mut member, value);
        }
    }
    Some(member)
}

/// The `baggage` header for `baggage`, `None` when there is nothing to write. Members are
/// written in key order, so the header, and which members fit the limits, does not depend on
/// the map's order.
pub(crate) fn format(baggage: &Baggage) -> Option<String> {
    let mut entries: Vec<_> = baggage.iter().collect();
    entries.sort_unstable_by(|(a, _), (b, _)| a.as_str().cmp(b.as_str()));
    let mut header = String::new();
    let mut members = 0;
    for (key, (value, metadata)) in entries {
        if members == MAX_MEMBERS {
            break;
        }
        let Some(member) = format_member(key.as_str(), value.as_str(), metadata.as_str()) else {
            continue;
        };
        let size = member.len() + usize::from(members > 0);
        if header.len() + size > MAX_BYTES {
            continue;
        }
        if members > 0 {
            header.push(',');
        }
        header.push_str(&member);
        members += 1;
    }
    (members > 0).then_some(header)
}

/// The baggage of the `baggage` header, `None` when there is no such header.
pub(crate) fn extract(extractor: &dyn Extractor) -> Option<Baggage> {
    extractor.get(BAGGAGE).map(parse)
}

/// Writes `baggage`'s header; nothing for an empty baggage.
pub(crate) fn inject(baggage: &Baggage, injector: &mut dyn Injector) {
    if let Some(header) = format(baggage) {
        injector.set(BAGGAGE, header);
    }
}

/// W3C Baggage alone, as an OpenTelemetry [`TextMapPropagator`] (for code that wants the
/// plain trait; [`crate::Propagator`] composes it with the trace styles).
///
/// Extraction replaces the context's baggage with the header's, and leaves the context as it
/// is when there is no `baggage` header. Members that are not well formed are skipped, and at
/// most 64 members and 8192 bytes are read or written; see the module docs.
#[derive(Clone, Debug)]
pub struct BaggagePropagator {
    fields: [String; 1],
}

impl BaggagePropagator {
    /// A baggage propagator.
    pub fn new() -> Self {
        Self {
            fields: [BAGGAGE.to_owned()],
        }
    }
}

impl Default for BaggagePropagator {
    fn default() -> Self {
        Self::new()
    }
}

impl TextMapPropagator for BaggagePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        inject(cx.baggage(), injector);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match extract(extractor) {
            Some(baggage) => cx.with_baggage(baggage),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::propagation::BaggagePropagator as SdkBaggagePropagator;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashMap};

    /// Key to (value, metadata), ordered, for comparing baggages.
    fn entries(baggage: &Baggage) -> Entries {
        baggage
            .iter()
            .map(|(key, (value, metadata))| {
                (
                    key.as_str().to_owned(),
                    (value.as_str().to_owned(), metadata.as_str().to_owned()),
                )
            })
            .collect()
    }

    type Entries = BTreeMap<String, (String, String)>;

    fn sdk_extract(header: &str) -> Entries {
        let headers = HashMap::from([(BAGGAGE.to_owned(), header.to_owned())]);
        entries(SdkBaggagePropagator::new().extract(&headers).baggage())
    }

    fn sdk_format(baggage: Baggage) -> String {
        let cx = Context::new().with_baggage(baggage);
        let mut headers = HashMap::new();
        SdkBaggagePropagator::new().inject_context(&cx, &mut headers);
        headers.remove(BAGGAGE).unwrap_or_default()
    }

    fn baggage(members: &[(&str, &str, &str)]) -> Baggage {
        let mut baggage = Baggage::new();
        for (key, value, metadata) in members {
            baggage.insert_with_metadata(key.to_string(), value.to_string(), *metadata);
        }
        baggage
    }

    #[test]
    fn percent_encodes_what_the_grammar_reserves_and_round_trips() {
        let original = baggage(&[
            ("spaces", " two  words ", ""),
            ("separators", "a,b;c=d", ""),
            ("quoted", "\"back\\slash\"", ""),
            ("percent", "100% and %41", ""),
            ("unicode", "héllo wörld ✓ 😀", ""),
            ("empty", "", ""),
            ("plain", "Az09-._~!#$&'*+/:<>?@[]^`{|}", ""),
        ]);
        let header = format(&original).unwrap();
        assert!(header.bytes().all(|b| matches!(b, 0x21..=0x7e)));
        assert!(header.contains("spaces=%20two%20%20words%20"));
        assert!(header.contains("separators=a%2Cb%3Bc%3Dd"));
        assert!(header.contains("quoted=%22back%5Cslash%22"));
        assert!(header.contains("percent=100%25%20and%20%2541"));
        assert!(header.contains("unicode=h%C3%A9llo%20w%C3%B6rld%20%E2%9C%93%20%F0%9F%98%80"));
        assert!(header.contains("plain=Az09-._~!#$&'*+/:<>?@[]^`{|}"));
        assert_eq!(entries(&parse(&header)), entries(&original));
    }

    #[test]
    fn reads_members_with_blanks_and_raw_equals_signs() {
        let parsed = parse(" a = 1 ,\tb=x=y , c=%zz%4 ,d=%FFok");
        assert_eq!(parsed.get("a").map(|v| v.as_str()), Some("1"));
        assert_eq!(parsed.get("b").map(|v| v.as_str()), Some("x=y"));
        // A `%` that starts no escape stands for itself; bytes that are not UTF-8 become U+FFFD.
        assert_eq!(parsed.get("c").map(|v| v.as_str()), Some("%zz%4"));
        assert_eq!(parsed.get("d").map(|v| v.as_str()), Some("\u{FFFD}ok"));
    }

    #[test]
    fn properties_are_kept_as_the_sdk_keeps_them() {
        let header = "k=v;p1=a%20b ; flag;p2=x%3By,k2=v2;only";
        let ours = parse(header);
        assert_eq!(
            ours.get_with_metadata("k").map(|(_, m)| m.as_str()),
            Some("p1=a b;flag;p2=x;y")
        );
        assert_eq!(
            ours.get_with_metadata("k2").map(|(_, m)| m.as_str()),
            Some("only")
        );
        assert_eq!(entries(&ours), sdk_extract(header));
        // Written back, property values are encoded and the SDK reads the same metadata.
        let again = format(&ours).unwrap();
        assert_eq!(again, "k=v;p1=a%20b;flag;p2=x;y,k2=v2;only");
        assert_eq!(sdk_extract(&again), entries(&ours));
        // Blanks around a property's `=` are not part of it (the SDK keeps them).
        assert_eq!(
            parse("k=v;p = x")
                .get_with_metadata("k")
                .map(|(_, m)| m.as_str()),
            Some("p=x")
        );
    }

    #[test]
    fn malformed_properties_are_dropped_and_the_member_kept() {
        let parsed = parse("k=v;bad key=1;;=2;ok=fine;x=a b");
        assert_eq!(
            parsed
                .get_with_metadata("k")
                .map(|(v, m)| (v.as_str(), m.as_str())),
            Some(("v", "ok=fine"))
        );
        let written = format(&baggage(&[("k", "v", "ok=a b;bad key;=x; flag ")])).unwrap();
        assert_eq!(written, "k=v;ok=a%20b;flag");
    }

    #[test]
    fn garbage_members_are_skipped_and_the_rest_kept() {
        let parsed = parse(
            "good=1,bad key=2,=3,noequals,spaced=a b,(paren)=x,,  ,é=1,raw=é,\
             good2=%E2%9C%93",
        );
        assert_eq!(
            entries(&parsed),
            entries(&baggage(&[("good", "1", ""), ("good2", "✓", "")]))
        );
        assert!(parse("").is_empty());
        assert!(parse(",,,").is_empty());
    }

    #[test]
    fn reads_at_most_64_members() {
        let header: Vec<String> = (0..70).map(|i| format!("k{i}={i}")).collect();
        let parsed = parse(&header.join(","));
        assert_eq!(parsed.len(), 64);
        assert!(parsed.get("k63").is_some() && parsed.get("k64").is_none());
        // Skipped garbage does not count.
        let header = format!("bad key=1,{}", header.join(","));
        assert!(parse(&header).get("k63").is_some());
    }

    #[test]
    fn reads_at_most_8192_bytes_of_whole_members() {
        let exact = format!("big={}", "x".repeat(MAX_BYTES - 4));
        let parsed = parse(&format!("{exact},a=1"));
        assert_eq!(parsed.len(), 1);
        assert_eq!(
            parsed.get("big").map(|v| v.as_str().len()),
            Some(MAX_BYTES - 4)
        );
        // An oversized member is skipped whole; smaller ones around it still fit.
        let too_big = format!("big={}", "x".repeat(MAX_BYTES));
        let parsed = parse(&format!("a=1,{too_big},b=2"));
        assert_eq!(
            entries(&parsed),
            entries(&baggage(&[("a", "1", ""), ("b", "2", "")]))
        );
    }

    #[test]
    fn writes_only_whole_members_that_fit() {
        // Each value is 800 bytes in memory and 2400 encoded: the baggage holds ten, the
        // header has room for three.
        let value = "é".repeat(400);
        let mut original = Baggage::new();
        for i in 0..10 {
            original.insert(format!("k{i}"), value.clone());
        }
        assert_eq!(original.len(), 10);
        let header = format(&original).unwrap();
        assert!(header.len() <= MAX_BYTES);
        let written = parse(&header);
        assert_eq!(written.len(), 3);
        for (key, (value, _)) in &written {
            assert_eq!(original.get(key.as_str()), Some(value));
        }

        let mut many = Baggage::new();
        for i in 0..64 {
            many.insert(format!("k{i:02}"), "v");
        }
        let header = format(&many).unwrap();
        assert_eq!(header.split(',').count(), 64);
        assert!(format(&Baggage::new()).is_none());
    }

    #[test]
    fn propagator_replaces_baggage_only_when_the_header_is_there() {
        let propagator = BaggagePropagator::new();
        let cx = Context::new().with_baggage(baggage(&[("old", "1", "")]));
        let none: HashMap<String, String> = HashMap::new();
        assert!(
            propagator
                .extract_with_context(&cx, &none)
                .baggage()
                .get("old")
                .is_some()
        );
        let headers = HashMap::from([(BAGGAGE.to_owned(), "new=2".to_owned())]);
        let extracted = propagator.extract_with_context(&cx, &headers);
        assert_eq!(
            entries(extracted.baggage()),
            entries(&baggage(&[("new", "2", "")]))
        );
        let mut out = HashMap::new();
        propagator.inject_context(&extracted, &mut out);
        assert_eq!(out.get(BAGGAGE).map(String::as_str), Some("new=2"));
        let mut out: HashMap<String, String> = HashMap::new();
        propagator.inject_context(&Context::new(), &mut out);
        assert!(out.is_empty());
        assert_eq!(propagator.fields().collect::<Vec<_>>(), ["baggage"]);
    }

    /// A token without `%`: the SDK percent-decodes keys, so `a%41` would come back `aA`.
    fn key() -> impl Strategy<Value = String> {
        "[A-Za-z0-9!#$&'*+.^_`|~-]{1,12}"
    }

    /// Any text, blanks at the ends trimmed because the SDK trims values when it writes them.
    fn value() -> impl Strategy<Value = String> {
        proptest::collection::vec(any::<char>(), 0..16)
            .prop_map(|chars| chars.into_iter().collect::<String>().trim().to_owned())
    }

    /// Properties as metadata, with property values from `value` (without `;`, which would
    /// split the property in two).
    fn metadata(value: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        proptest::collection::vec((key(), proptest::option::of(value)), 0..3).prop_map(
            |properties| {
                properties
                    .into_iter()
                    .map(|(key, value)| match value {
                        Some(value) => format!("{key}={}", value.replace(';', "").trim()),
                        None => key,
                    })
                    .collect::<Vec<_>>()
                    .join(";")
            },
        )
    }

    fn baggage_of(members: Vec<(String, String, String)>) -> Baggage {
        let mut baggage = Baggage::new();
        for (key, value, metadata) in members {
            baggage.insert_with_metadata(key, value, metadata);
        }
        baggage
    }

    proptest! {
        /// What we write, the SDK reads back as it was.
        #[test]
        fn the_sdk_reads_what_we_write(
            members in proptest::collection::vec(
                (key(), value(), metadata(value())),
                // Few enough that even values made of 4-byte characters, encoded, fit.
                0..8,
            )
        ) {
            let original = baggage_of(members);
            let header = format(&original).unwrap_or_default();
            prop_assert_eq!(sdk_extract(&header), entries(&original));
            prop_assert_eq!(entries(&parse(&header)), entries(&original));
        }

        /// What the SDK writes, we read as it was, and as the SDK does. Except when a value
        /// holds a `%`: the SDK writes it unencoded, so `%41` comes back `A` either way, and
        /// `%A0` (not UTF-8) is U+FFFD for us, the W3C rule, where the SDK drops the member.
        /// The SDK writes metadata unencoded, so property values are kept to plain characters.
        #[test]
        fn we_read_what_the_sdk_writes(
            members in proptest::collection::vec(
                (key(), value(), metadata("[A-Za-z0-9._~-]{0,8}")),
                0..20,
            )
        ) {
            let original = baggage_of(members.clone());
            let header = sdk_format(baggage_of(members));
            let ours = entries(&parse(&header));
            let sdk = sdk_extract(&header);
            if original.iter().all(|(_, (value, _))| !value.as_str().contains('%')) {
                prop_assert_eq!(&ours, &entries(&original));
                prop_assert_eq!(&ours, &sdk);
            } else if sdk.len() == original.len() {
                prop_assert_eq!(&ours, &sdk);
            }
        }
    }
}
