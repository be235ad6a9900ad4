//! Bolt 4.4 client <-> Bolt 5.x server: what changes between the two, as pure functions.
//!
//! - Authentication: 4.4 puts the auth keys in HELLO; 5.1+ moves them to LOGON (and 5.3+ wants
//!   `bolt_agent` in HELLO). [`split_hello`] builds both, [`fold_hello_success`] merges the two
//!   answers back into the one SUCCESS a 4.4 client waits for.
//! - Structures: 5.x Node/Relationship/UnboundRelationship carry element ids that 4.4 has no
//!   room for; zoned DateTimes are UTC-based in 5.x and local-time-based in 4.4 unless the client
//!   negotiated the `utc` patch. [`to_client`] and [`to_server`] rewrite values both ways.
//! - Errors: 5.7 FAILUREs say `neo4j_code`/`description`/`gql_status`; 4.4 reads `code`/`message`
//!   ([`failure_to_v4`]).

use chrono::{Offset, TimeZone};

use bolt::packstream::Decoder;
use bolt::{Map, RunView, Value, Version, tag};

/// Auth keys of a 4.4 HELLO, in the order LOGON must carry them: FalkorDB reads LOGON's map by
/// position, so `scheme`, `principal`, `credentials` come first whatever order the client used.
const AUTH_KEYS: [&str; 5] = ["scheme", "principal", "credentials", "realm", "parameters"];

/// A 4.4 HELLO split for a 5.x server.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SplitHello {
    /// The HELLO to send.
    pub hello: Map,
    /// The LOGON to send right after it (5.1+), or `None` when HELLO still carries auth (5.0).
    pub logon: Option<Map>,
    /// Whether the client asked for the `utc` patch.
    pub utc: bool,
}

/// Splits a Bolt 4.4 HELLO `extra` for a server speaking `upstream` (5.x).
pub(crate) fn split_hello(mut extra: Map, upstream: Version) -> SplitHello {
    let utc = match extra.remove("patch_bolt") {
        Some(Value::List(patches)) => patches.iter().any(|p| p.as_str() == Some("utc")),
        _ => false,
    };
    if upstream < Version::new(5, 1) {
        return SplitHello {
            hello: extra,
            logon: None,
            utc,
        };
    }
    let mut auth = Map::with_capacity(3);
    for key in AUTH_KEYS {
        if let Some(v) = extra.remove(key) {
            // An empty password is dropped rather than sent: FalkorDB refuses a LOGON whose
            // `credentials` is "" (measured) and accepts one without the key, and a server that
            // checks passwords refuses an empty one either way.
            if key == "credentials" && v.as_str() == Some("") {
                continue;
            }
            auth.0.push((key.to_owned(), v));
        }
    }
    if !auth.contains_key("scheme") {
        auth.0.insert(0, ("scheme".to_owned(), Value::from("none")));
    }
    if upstream >= Version::new(5, 3) && !extra.contains_key("bolt_agent") {
        // 5.3+ requires bolt_agent.product; a 4.4 driver's user_agent is exactly that
        // ("neo4rs/0.9.0"), so reuse it rather than claim the proxy is the driver.
        let product = extra
            .get_str("user_agent")
            .map(str::to_owned)
            .unwrap_or_else(|| concat!("bolt-proxy/", env!("CARGO_PKG_VERSION")).to_owned());
        let mut agent = Map::with_capacity(1);
        agent.insert("product", product);
        extra.insert("bolt_agent", agent);
    }
    SplitHello {
        hello: extra,
        logon: Some(auth),
        utc,
    }
}

/// The one SUCCESS a 4.4 client gets for its HELLO: the server's HELLO metadata, then any new
/// keys from the LOGON answer, plus `patch_bolt: ["utc"]` when the client asked for it (the
/// proxy honours the patch itself: the 5.x server's DateTimes are UTC-based already).
pub(crate) fn fold_hello_success(hello: Map, logon: Option<Map>, utc: bool) -> Map {
    let mut out = hello;
    for (k, v) in logon.into_iter().flatten() {
        if !out.contains_key(&k) {
            out.0.push((k, v));
        }
    }
    if utc {
        out.insert("patch_bolt", Value::List(vec![Value::from("utc")]));
    }
    out
}

/// A 5.7-style FAILURE metadata map reshaped for a 4.4 client: `code` + `message`.
/// Returns `None` when the map already has that shape.
pub(crate) fn failure_to_v4(meta: &Map) -> Option<Map> {
    if !meta.contains_key("neo4j_code") && meta.contains_key("code") {
        return None;
    }
    let code = meta
        .get_str("neo4j_code")
        .or_else(|| meta.get_str("code"))
        .unwrap_or("Neo.DatabaseError.General.UnknownError");
    let message = meta
        .get_str("message")
        .or_else(|| meta.get_str("description"))
        .unwrap_or("");
    let mut out = Map::with_capacity(2);
    out.insert("code", code);
    out.insert("message", message);
    Some(out)
}

/// Whether a structure of this tag may need rewriting on its way to a 4.4 client.
fn downgrade_tag(t: u8, utc: bool) -> bool {
    matches!(
        t,
        tag::NODE | tag::RELATIONSHIP | tag::UNBOUND_RELATIONSHIP | tag::PATH
    ) || (!utc && matches!(t, tag::DATE_TIME | tag::DATE_TIME_ZONE_ID))
}

/// Whether an encoded value (e.g. a RECORD payload) holds a structure [`to_client`] would
/// rewrite; a cheap walk that allocates nothing, so plain rows are forwarded untouched.
pub(crate) fn record_needs_rewrite(payload: &[u8], utc: bool) -> bool {
    // A structure to rewrite shows in the bytes as a structure marker followed by its tag. A
    // short row without any such pair is plain: most rows of a large result take this test
    // alone, a few ns instead of the walk. (A pair may also sit inside a string or an integer:
    // then the walk decides. Longer rows go straight to the walk, which skips string bodies.)
    const SCAN_UP_TO: usize = 128;
    if payload.len() <= SCAN_UP_TO
        && !payload
            .windows(2)
            .any(|w| (0xB0..=0xBF).contains(&w[0]) && downgrade_tag(w[1], utc))
    {
        return false;
    }
    let mut d = Decoder::new(payload);
    let mut found = false;
    // The message's own structure (RECORD) is reported first and is not one of ours.
    let ok = d
        .skip_value(&mut |t| found |= downgrade_tag(t, utc))
        .is_ok();
    // Undecodable: say yes, so the full decode tries and, failing, forwards the row as it is.
    found || !ok
}

/// Rewrites a 5.x value for a 4.4 client: drops element ids, and turns UTC-based DateTimes into
/// local-time-based ones unless `utc` was negotiated.
pub(crate) fn to_client(v: &mut Value, utc: bool) {
    match v {
        Value::List(items) => items.iter_mut().for_each(|i| to_client(i, utc)),
        Value::Map(m) => m.0.iter_mut().for_each(|(_, i)| to_client(i, utc)),
        Value::Struct { tag: t, fields } => {
            fields.iter_mut().for_each(|f| to_client(f, utc));
            match (*t, fields.len()) {
                (tag::NODE, 4) | (tag::UNBOUND_RELATIONSHIP, 4) => fields.truncate(3),
                (tag::RELATIONSHIP, 8) => fields.truncate(5),
                (tag::DATE_TIME, 3) if !utc => {
                    if let (Value::Int(s), Value::Int(off)) = (&fields[0], &fields[2]) {
                        fields[0] = Value::Int(s.wrapping_add(*off));
                        *t = tag::DATE_TIME_LEGACY;
                    }
                }
                (tag::DATE_TIME_ZONE_ID, 3) if !utc => {
                    if let (Value::Int(s), Value::String(zone)) = (&fields[0], &fields[2])
                        && let Some(off) = zone_offset_at_utc(zone, *s)
                    {
                        fields[0] = Value::Int(s.wrapping_add(off));
                        *t = tag::DATE_TIME_ZONE_ID_LEGACY;
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
}

/// Whether a 4.4 RUN's parameters hold a legacy DateTime [`to_server`] would rewrite; a walk
/// over the encoded parameters that allocates nothing.
pub(crate) fn run_needs_rewrite(run: &RunView<'_>, utc: bool) -> bool {
    let mut found = false;
    if !utc {
        run.parameter_structs(&mut |t| {
            found |= matches!(t, tag::DATE_TIME_LEGACY | tag::DATE_TIME_ZONE_ID_LEGACY)
        });
    }
    found
}

/// Rewrites a 4.4 value for a 5.x server: local-time-based DateTimes become UTC-based, unless
/// `utc` was negotiated (then they already are).
pub(crate) fn to_server(v: &mut Value, utc: bool) {
    if utc {
        return;
    }
    match v {
        Value::List(items) => items.iter_mut().for_each(|i| to_server(i, utc)),
        Value::Map(m) => m.0.iter_mut().for_each(|(_, i)| to_server(i, utc)),
        Value::Struct { tag: t, fields } => {
            fields.iter_mut().for_each(|f| to_server(f, utc));
            match (*t, fields.len()) {
                (tag::DATE_TIME_LEGACY, 3) => {
                    if let (Value::Int(s), Value::Int(off)) = (&fields[0], &fields[2]) {
                        fields[0] = Value::Int(s.wrapping_sub(*off));
                        *t = tag::DATE_TIME;
                    }
                }
                (tag::DATE_TIME_ZONE_ID_LEGACY, 3) => {
                    if let (Value::Int(s), Value::String(zone)) = (&fields[0], &fields[2])
                        && let Some(utc_s) = utc_from_local(zone, *s)
                    {
                        fields[0] = Value::Int(utc_s);
                        *t = tag::DATE_TIME_ZONE_ID;
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
}

/// The UTC offset (seconds) of zone `zone` at the instant `utc_seconds`; `None` for a zone
/// name the tz database does not know (the value is then forwarded unchanged).
fn zone_offset_at_utc(zone: &str, utc_seconds: i64) -> Option<i64> {
    let tz: chrono_tz::Tz = zone.parse().ok()?;
    let at = chrono::DateTime::from_timestamp(utc_seconds, 0)?.naive_utc();
    Some(i64::from(
        tz.offset_from_utc_datetime(&at).fix().local_minus_utc(),
    ))
}

/// UTC seconds of the wall-clock time `local_seconds` in `zone`. An ambiguous time (clocks going
/// back) takes the earlier instant; a time in a gap (clocks going forward) takes the offset in
/// force before the gap, as Neo4j does.
fn utc_from_local(zone: &str, local_seconds: i64) -> Option<i64> {
    let tz: chrono_tz::Tz = zone.parse().ok()?;
    let naive = chrono::DateTime::from_timestamp(local_seconds, 0)?.naive_utc();
    let off = match tz.offset_from_local_datetime(&naive) {
        chrono::LocalResult::Single(o) | chrono::LocalResult::Ambiguous(o, _) => o,
        chrono::LocalResult::None => {
            // The offset in force before the gap: read it a few hours earlier, longer than any
            // real-world gap.
            let before = naive - chrono::Duration::hours(3);
            tz.offset_from_utc_datetime(&before)
        }
    };
    Some(local_seconds - i64::from(off.fix().local_minus_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bolt::{
        BoltStruct, DateTimeEncoding, DateTimeZoneId, Node, Relationship, Response, packstream,
    };

    fn hello44() -> Map {
        [
            ("user_agent", Value::from("neo4rs/0.9")),
            ("credentials", Value::from("secret")),
            ("scheme", Value::from("basic")),
            ("principal", Value::from("falkordb")),
            ("routing", Value::Null),
            ("patch_bolt", Value::List(vec![Value::from("utc")])),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn hello_is_split_with_auth_in_order() {
        let s = split_hello(hello44(), Version::new(5, 7));
        let keys: Vec<_> = s.logon.as_ref().unwrap().iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["scheme", "principal", "credentials"]);
        assert!(s.utc);
        assert!(!s.hello.contains_key("credentials"));
        assert!(!s.hello.contains_key("patch_bolt"));
        let agent = s.hello.get("bolt_agent").unwrap().as_map().unwrap();
        assert_eq!(agent.get_str("product"), Some("neo4rs/0.9"));
    }

    #[test]
    fn hello_for_5_0_and_5_2_and_empty_password() {
        let s = split_hello(hello44(), Version::new(5, 0));
        assert!(s.logon.is_none());
        assert!(s.hello.contains_key("credentials"));
        let mut h = hello44();
        h.insert("credentials", "");
        let s = split_hello(h, Version::new(5, 2));
        assert!(!s.hello.contains_key("bolt_agent"));
        let keys: Vec<_> = s.logon.as_ref().unwrap().iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["scheme", "principal"]);
    }

    #[test]
    fn fold_merges_and_adds_patch() {
        let hello: Map = [("server", "Neo4j/5.13.0"), ("connection_id", "c1")]
            .into_iter()
            .collect();
        let logon: Map = [("server", "ignored"), ("extra", "x")]
            .into_iter()
            .collect();
        let m = fold_hello_success(hello, Some(logon), true);
        assert_eq!(m.get_str("server"), Some("Neo4j/5.13.0"));
        assert_eq!(m.get_str("extra"), Some("x"));
        assert!(m.contains_key("patch_bolt"));
    }

    #[test]
    fn failure_5_7_becomes_code_and_message() {
        let m: Map = [
            ("gql_status", "42001"),
            ("description", "d"),
            ("neo4j_code", "Neo.ClientError.Statement.SyntaxError"),
            ("message", "m"),
        ]
        .into_iter()
        .collect();
        let out = failure_to_v4(&m).unwrap();
        assert_eq!(
            out.get_str("code"),
            Some("Neo.ClientError.Statement.SyntaxError")
        );
        assert_eq!(out.get_str("message"), Some("m"));
        assert_eq!(out.len(), 2);
        let old: Map = [("code", "SyntaxError"), ("message", "m")]
            .into_iter()
            .collect();
        assert!(failure_to_v4(&old).is_none());
    }

    #[test]
    fn structures_lose_element_ids_inside_paths_and_lists() {
        let node = Node {
            id: 1,
            labels: vec!["P".into()],
            properties: Map::new(),
            element_id: Some("node_1".into()),
        };
        let rel = Relationship {
            id: 2,
            start_node_id: 1,
            end_node_id: 1,
            rel_type: "K".into(),
            properties: Map::new(),
            element_ids: Some(["r".into(), "a".into(), "b".into()]),
        };
        let mut v = Value::List(vec![node.clone().into_value(), rel.into_value()]);
        let bytes = packstream::to_vec(&v).unwrap();
        assert!(record_needs_rewrite(&bytes, true));
        to_client(&mut v, false);
        let l = v.as_list().unwrap();
        assert_eq!(Node::from_value(&l[0]).unwrap().element_id, None);
        assert_eq!(Relationship::from_value(&l[1]).unwrap().element_ids, None);
        let plain = packstream::to_vec(&Value::List(vec![Value::Int(1)])).unwrap();
        assert!(!record_needs_rewrite(&plain, false));
    }

    #[test]
    fn rows_needing_a_rewrite_are_found_short_or_long() {
        let record = |fields: Vec<Value>| Response::Record { fields }.to_vec().unwrap();
        let node = Node {
            id: 1,
            labels: vec![],
            properties: Map::new(),
            element_id: Some("1".into()),
        }
        .into_value();
        let dt = DateTimeZoneId {
            seconds: 0,
            nanoseconds: 0,
            tz_id: "Europe/Paris".into(),
            encoding: DateTimeEncoding::Utc,
        }
        .into_value();
        let long = Value::from("x".repeat(200));
        // Short and long rows, the structure first, nested, or after a long string.
        for fields in [
            vec![node.clone()],
            vec![Value::Int(7), Value::List(vec![Value::Null, node.clone()])],
            vec![long.clone(), node.clone()],
        ] {
            assert!(record_needs_rewrite(&record(fields.clone()), false));
            assert!(record_needs_rewrite(&record(fields), true));
        }
        // A UTC DateTime needs rewriting only for a client that did not negotiate UTC.
        assert!(record_needs_rewrite(&record(vec![dt.clone()]), false));
        assert!(!record_needs_rewrite(&record(vec![dt]), true));
        assert!(!record_needs_rewrite(
            &record(vec![Value::Int(1), Value::from("a")]),
            false
        ));
        // Plain rows whose bytes hold a marker-and-tag pair inside an integer (0xB44E) or a
        // string ("\u{b4}N" is C2 B4 4E): the walk clears them.
        for fields in [
            vec![Value::Int(0xB44E)],
            vec![Value::from("\u{b4}N")],
            vec![long, Value::Int(0xB44E)],
        ] {
            let bytes = record(fields);
            assert!(bytes.windows(2).any(|w| w == [0xB4, 0x4E]));
            assert!(!record_needs_rewrite(&bytes, false));
        }
    }

    #[test]
    fn datetimes_round_trip_between_encodings() {
        // 2024-03-31 01:30 UTC is 03:30 in Paris (CEST, just after the switch).
        let utc_s = 1_711_848_600;
        let z = DateTimeZoneId {
            seconds: utc_s,
            nanoseconds: 0,
            tz_id: "Europe/Paris".into(),
            encoding: bolt::DateTimeEncoding::Utc,
        };
        let mut v = z.clone().into_value();
        to_client(&mut v, false);
        let legacy = DateTimeZoneId::from_value(&v).unwrap();
        assert_eq!(legacy.seconds, utc_s + 7_200);
        let mut params: Map = [("t", v)].into_iter().collect();
        let run = bolt::Request::Run {
            query: "RETURN $t".into(),
            parameters: params.clone(),
            extra: Map::new(),
        }
        .to_vec()
        .unwrap();
        let view = RunView::parse(&run, bolt::Limits::default()).unwrap();
        assert!(run_needs_rewrite(&view, false));
        assert!(!run_needs_rewrite(&view, true));
        to_server(params.get_mut("t").unwrap(), false);
        assert_eq!(
            DateTimeZoneId::from_value(params.get("t").unwrap()).unwrap(),
            z
        );
        // With the utc patch nothing changes.
        let mut v = z.clone().into_value();
        to_client(&mut v, true);
        assert_eq!(DateTimeZoneId::from_value(&v).unwrap(), z);
        // Unknown zones are left alone.
        let mut v = DateTimeZoneId {
            tz_id: "Not/AZone".into(),
            ..z
        }
        .into_value();
        let before = v.clone();
        to_client(&mut v, false);
        assert_eq!(v, before);
    }

    #[test]
    fn local_time_in_a_gap_or_overlap_resolves() {
        // 2024-03-31 02:30 local does not exist in Paris; 2024-10-27 02:30 exists twice.
        let gap_local = 1_711_852_200; // 2024-03-31T02:30:00 as "local epoch seconds"
        assert_eq!(
            utc_from_local("Europe/Paris", gap_local),
            Some(gap_local - 3_600)
        );
        let overlap_local = 1_729_996_200; // 2024-10-27T02:30:00
        assert_eq!(
            utc_from_local("Europe/Paris", overlap_local),
            Some(overlap_local - 7_200)
        );
    }
}
