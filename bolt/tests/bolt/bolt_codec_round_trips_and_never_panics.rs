//! Property tests of the Bolt codec: every value and message survives encode -> decode
//! unchanged, through the framing layer too, and decoding arbitrary bytes never panics.

use bolt_wire::{
    BoltStruct, Date, DateTime, DateTimeEncoding, DateTimeZoneId, Duration, Frame, Handshake,
    LocalDateTime, LocalTime, Map, MessageReader, MessageWriter, Node, Path, Point2D, Point3D,
    Relationship, Request, Response, Time, UnboundRelationship, Value, framing, packstream,
};
use proptest::prelude::*;

/// Floats are compared by bits, so NaN payloads and -0.0 must survive too.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        (
            Value::Struct {
                tag: ta,
                fields: fa,
            },
            Value::Struct {
                tag: tb,
                fields: fb,
            },
        ) => ta == tb && fa.len() == fb.len() && fa.iter().zip(fb).all(|(a, b)| same(a, b)),
        _ => a == b,
    }
}

fn int() -> impl Strategy<Value = i64> {
    // Bias towards the marker boundaries, where off-by-one errors live.
    prop_oneof![
        -20i64..130,
        -140i64..-110,
        prop::sample::select(vec![
            i64::MIN,
            i64::MAX,
            -32_769,
            -32_768,
            32_767,
            32_768,
            -2_147_483_649,
            -2_147_483_648,
            2_147_483_647,
            2_147_483_648,
        ]),
        any::<i64>(),
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,20}",
        (0usize..3).prop_map(|i| "é".repeat([8, 128, 40_000][i])),
    ]
}

fn map_of(v: impl Strategy<Value = Value>) -> impl Strategy<Value = Map> {
    prop::collection::vec((".{0,8}", v), 0..6).prop_map(Map)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        int().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Value::Bytes),
        string().prop_map(Value::String),
    ]
}

fn typed_struct() -> impl Strategy<Value = Value> {
    let props = || map_of(leaf());
    let eid = || prop::option::of(".{0,6}");
    let node = || {
        (int(), prop::collection::vec(".{0,6}", 0..3), props(), eid()).prop_map(
            |(id, labels, properties, element_id)| Node {
                id,
                labels,
                properties,
                element_id,
            },
        )
    };
    let unbound = || {
        (int(), ".{0,6}", props(), eid()).prop_map(|(id, rel_type, properties, e)| {
            UnboundRelationship {
                id,
                rel_type,
                properties,
                element_id: e,
            }
        })
    };
    let rel = (
        int(),
        int(),
        int(),
        ".{0,6}",
        props(),
        prop::option::of((".{0,4}", ".{0,4}", ".{0,4}")),
    )
        .prop_map(|(id, s, e, rel_type, properties, ids)| Relationship {
            id,
            start_node_id: s,
            end_node_id: e,
            rel_type,
            properties,
            element_ids: ids.map(|(a, b, c)| [a, b, c]),
        });
    let encoding = prop_oneof![Just(DateTimeEncoding::Legacy), Just(DateTimeEncoding::Utc)];
    prop_oneof![
        node().prop_map(Node::into_value),
        rel.prop_map(Relationship::into_value),
        unbound().prop_map(UnboundRelationship::into_value),
        (
            prop::collection::vec(node(), 0..3),
            prop::collection::vec(unbound(), 0..3),
            prop::collection::vec(int(), 0..5)
        )
            .prop_map(|(nodes, rels, indices)| Path {
                nodes,
                rels,
                indices
            }
            .into_value()),
        int().prop_map(|days| Date { days }.into_value()),
        (int(), int()).prop_map(|(n, o)| Time {
            nanoseconds: n,
            tz_offset_seconds: o
        }
        .into_value()),
        int().prop_map(|n| LocalTime { nanoseconds: n }.into_value()),
        (int(), int(), int(), encoding.clone()).prop_map(|(s, n, o, encoding)| DateTime {
            seconds: s,
            nanoseconds: n,
            tz_offset_seconds: o,
            encoding
        }
        .into_value()),
        (int(), int(), ".{0,12}", encoding).prop_map(|(s, n, tz_id, encoding)| {
            DateTimeZoneId {
                seconds: s,
                nanoseconds: n,
                tz_id,
                encoding,
            }
            .into_value()
        }),
        (int(), int()).prop_map(|(s, n)| LocalDateTime {
            seconds: s,
            nanoseconds: n
        }
        .into_value()),
        (int(), int(), int(), int()).prop_map(|(months, days, seconds, nanoseconds)| {
            Duration {
                months,
                days,
                seconds,
                nanoseconds,
            }
            .into_value()
        }),
        (int(), any::<f64>(), any::<f64>())
            .prop_map(|(srid, x, y)| Point2D { srid, x, y }.into_value()),
        (int(), any::<f64>(), any::<f64>(), any::<f64>()).prop_map(|(srid, x, y, z)| Point3D {
            srid,
            x,
            y,
            z
        }
        .into_value()),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let base = prop_oneof![4 => leaf(), 1 => typed_struct()];
    base.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..10).prop_map(Value::List),
            // Collections past the tiny (15) and 8-bit (255) size markers.
            (0usize..2).prop_map(|i| Value::List(vec![Value::Int(1); [16, 300][i]])),
            map_of(inner.clone()).prop_map(Value::Map),
            (any::<u8>(), prop::collection::vec(inner, 0..16))
                .prop_map(|(tag, fields)| Value::Struct { tag, fields }),
        ]
    })
}

fn request() -> impl Strategy<Value = Request> {
    let m = || map_of(value());
    prop_oneof![
        m().prop_map(|extra| Request::Hello { extra }),
        m().prop_map(|auth| Request::Logon { auth }),
        Just(Request::Logoff),
        int().prop_map(|api| Request::Telemetry { api }),
        Just(Request::Goodbye),
        Just(Request::Reset),
        (string(), m(), m()).prop_map(|(query, parameters, extra)| Request::Run {
            query,
            parameters,
            extra
        }),
        m().prop_map(|extra| Request::Begin { extra }),
        Just(Request::Commit),
        Just(Request::Rollback),
        m().prop_map(|extra| Request::Discard { extra }),
        m().prop_map(|extra| Request::Pull { extra }),
        (m(), prop::collection::vec(value(), 0..3), m()).prop_map(|(routing, bookmarks, extra)| {
            Request::Route {
                routing,
                bookmarks,
                extra,
            }
        }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        map_of(value()).prop_map(|metadata| Response::Success { metadata }),
        prop::collection::vec(value(), 0..8).prop_map(|fields| Response::Record { fields }),
        Just(Response::Ignored),
        map_of(value()).prop_map(|metadata| Response::Failure { metadata }),
    ]
}

fn same_request(a: &Request, b: &Request) -> bool {
    // Compare through the generic value form so floats compare by bits.
    let va = packstream::decode(&a.to_vec().unwrap()).unwrap();
    let vb = packstream::decode(&b.to_vec().unwrap()).unwrap();
    same(&va, &vb)
}

/// `map_message_view` and `RunView::parse` against full decoding of the same bytes.
fn check_views_agree_with_decoding(bytes: &[u8]) -> Result<(), TestCaseError> {
    use bolt_wire::message::{RunView, map_message_view, signature as sig};
    let limits = packstream::Limits::default();
    let map_of_message = match bytes.get(1).copied() {
        Some(sig::PULL | sig::DISCARD | sig::BEGIN | sig::HELLO | sig::LOGON) => {
            Some(Request::decode(bytes).map(|r| match r {
                Request::Pull { extra }
                | Request::Discard { extra }
                | Request::Begin { extra }
                | Request::Hello { extra } => extra,
                Request::Logon { auth } => auth,
                other => panic!("decoded as {other:?}"),
            }))
        }
        Some(sig::SUCCESS | sig::FAILURE) => Some(Response::decode(bytes).map(|r| match r {
            Response::Success { metadata } | Response::Failure { metadata } => metadata,
            other => panic!("decoded as {other:?}"),
        })),
        _ => None,
    };
    if let Some(decoded) = map_of_message {
        let viewed = map_message_view(bytes, limits);
        prop_assert_eq!(
            viewed.is_ok(),
            decoded.is_ok(),
            "{:?} vs {:?}",
            viewed,
            decoded
        );
        if let (Ok((_, view)), Ok(map)) = (viewed, decoded) {
            prop_assert!(same(&Value::Map(view.to_map().unwrap()), &Value::Map(map)));
        }
    }
    if bytes.get(1) == Some(&sig::RUN) {
        let viewed = RunView::parse(bytes, limits);
        let decoded = Request::decode(bytes);
        prop_assert_eq!(
            viewed.is_ok(),
            decoded.is_ok(),
            "{:?} vs {:?}",
            viewed.is_ok(),
            decoded
        );
        if let (Ok(view), Ok(Request::Run { query, extra, .. })) = (viewed, decoded) {
            prop_assert_eq!(view.query, query.as_str());
            prop_assert!(same(
                &Value::Map(view.extra.to_map().unwrap()),
                &Value::Map(extra)
            ));
        }
    }
    Ok(())
}

/// An async reader that hands out `data` in pieces of the given sizes (cycled), as a socket
/// does, so messages straddle reads.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    next: usize,
}

impl tokio::io::AsyncRead for Trickle {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let size = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        let n = size.min(buf.remaining()).min(self.data.len() - self.at);
        let at = self.at;
        buf.put_slice(&self.data[at..at + n]);
        self.at += n;
        std::task::Poll::Ready(Ok(()))
    }
}

/// What a proxy forwards reading `wire` in pieces: every message's wire bytes in order, the
/// number of RECORDs, and the NOOPs skipped. With `batch`, runs of RECORDs are taken with
/// `take_batch` first.
async fn forward(wire: &[u8], sizes: &[usize], batch: bool) -> (Vec<u8>, usize, u64) {
    let record = |p: &[u8]| {
        bolt_wire::message::peek_signature(p) == Some(bolt_wire::message::signature::RECORD)
    };
    let mut r = MessageReader::new(Trickle {
        data: wire.to_vec(),
        at: 0,
        sizes: sizes.to_vec(),
        next: 0,
    });
    let (mut out, mut records) = (Vec::new(), 0);
    loop {
        while let Some((raw, n)) = batch.then(|| r.take_batch(record)).flatten() {
            // The batch is exactly `n` whole RECORD messages.
            let mut inner = MessageReader::new(&raw[..]);
            for _ in 0..n {
                let f = inner.read_message().await.unwrap().unwrap();
                assert!(record(f.payload()));
            }
            assert!(inner.read_message().await.unwrap().is_none());
            out.extend_from_slice(&raw);
            records += n;
        }
        match r.next_buffered().unwrap() {
            Some(f) => {
                records += usize::from(record(f.payload()));
                out.extend_from_slice(f.raw());
            }
            None if r.fill().await.unwrap() => {}
            None => break,
        }
    }
    (out, records, r.take_noops())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn values_round_trip(v in value()) {
        let bytes = packstream::to_vec(&v).unwrap();
        let back = packstream::decode(&bytes).unwrap();
        prop_assert!(same(&v, &back), "{v:?} != {back:?}");
        // Minimal markers: re-encoding gives the same bytes.
        prop_assert_eq!(packstream::to_vec(&back).unwrap(), bytes);
    }

    #[test]
    fn requests_round_trip_through_framing(reqs in prop::collection::vec(request(), 1..4)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut w = MessageWriter::new(Vec::new());
            for r in &reqs {
                w.queue_request(r).unwrap();
            }
            w.flush().await.unwrap();
            let wire = w.into_inner();
            let mut reader = MessageReader::new(&wire[..]);
            for r in &reqs {
                let frame = reader.read_message().await.unwrap().unwrap();
                let back = Request::decode(frame.payload()).unwrap();
                assert!(same_request(r, &back));
                assert_eq!(frame.signature(), Some(r.signature()));
                // The raw bytes are exactly what a re-chunking of the payload gives.
                assert_eq!(Frame::from_payload(frame.payload()).raw(), frame.raw());
            }
            assert!(reader.read_message().await.unwrap().is_none());
        });
    }

    #[test]
    fn batched_records_forward_exactly_what_single_frames_do(
        msgs in prop::collection::vec(
            prop_oneof![
                6 => response().prop_map(Some),
                // A RECORD over one chunk (multi-chunk messages stop a batch).
                1 => Just(Some(Response::Record { fields: vec![Value::from("x".repeat(70_000))] })),
                1 => Just(None),
            ],
            0..24,
        ),
        sizes in prop::collection::vec(1usize..300, 1..6),
    ) {
        let mut wire = Vec::new();
        for m in &msgs {
            match m {
                Some(r) => framing::write_chunked(&r.to_vec().unwrap(), &mut wire),
                None => wire.extend_from_slice(&framing::NOOP),
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let single = rt.block_on(forward(&wire, &sizes, false));
        let batched = rt.block_on(forward(&wire, &sizes, true));
        prop_assert_eq!(&single, &batched);
        let records = msgs.iter().filter(|m| matches!(m, Some(Response::Record { .. }))).count();
        prop_assert_eq!(single.1, records);
    }

    #[test]
    fn responses_round_trip(r in response()) {
        let bytes = r.to_vec().unwrap();
        let back = Response::decode(&bytes).unwrap();
        prop_assert_eq!(back.to_vec().unwrap(), bytes);
        prop_assert_eq!(back.is_summary(), r.is_summary());
    }

    #[test]
    fn typed_structs_round_trip(v in typed_struct()) {
        let (tag, _) = v.as_struct().unwrap();
        let bytes = packstream::to_vec(&v).unwrap();
        let back = packstream::decode(&bytes).unwrap();
        let again = match tag {
            b'N' => Node::from_value(&back).map(Node::into_value),
            b'R' => Relationship::from_value(&back).map(Relationship::into_value),
            b'r' => UnboundRelationship::from_value(&back).map(UnboundRelationship::into_value),
            b'P' => Path::from_value(&back).map(Path::into_value),
            b'D' => Date::from_value(&back).map(Date::into_value),
            b'T' => Time::from_value(&back).map(Time::into_value),
            b't' => LocalTime::from_value(&back).map(LocalTime::into_value),
            b'I' | b'F' => DateTime::from_value(&back).map(DateTime::into_value),
            b'i' | b'f' => DateTimeZoneId::from_value(&back).map(DateTimeZoneId::into_value),
            b'd' => LocalDateTime::from_value(&back).map(LocalDateTime::into_value),
            b'E' => Duration::from_value(&back).map(Duration::into_value),
            b'X' => Point2D::from_value(&back).map(Point2D::into_value),
            b'Y' => Point3D::from_value(&back).map(Point3D::into_value),
            other => panic!("unexpected tag {other}"),
        }
        .unwrap();
        prop_assert!(same(&v, &again));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = packstream::decode(&bytes);
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
        let mut d = packstream::Decoder::new(&bytes);
        let _ = d.skip_value(&mut |_| {});
        if let Ok(arr) = <[u8; 20]>::try_from(&bytes[..bytes.len().min(20)]) {
            let _ = Handshake::parse(&arr);
        }
    }

    #[test]
    fn a_map_view_reads_what_decoding_reads(m in map_of(value()), extra_key in ".{0,8}") {
        let bytes = packstream::to_vec(&Value::Map(m.clone())).unwrap();
        let mut d = packstream::Decoder::new(&bytes);
        let view = d.map_view().unwrap();
        d.finish().unwrap();
        prop_assert_eq!(view.len(), m.len());
        prop_assert!(same(&Value::Map(view.to_map().unwrap()), &Value::Map(m.clone())));
        for (i, (k, raw)) in view.iter().enumerate() {
            prop_assert_eq!(k, m.0[i].0.as_str());
            prop_assert!(same(&packstream::decode(raw).unwrap(), &m.0[i].1));
        }
        // Lookups agree with the decoded map's, duplicates (last wins) and absent keys included.
        for key in m.0.iter().map(|(k, _)| k.as_str()).chain([extra_key.as_str()]) {
            let decoded = m.get(key);
            let raw = view.get(key).map(|r| packstream::decode(r).unwrap());
            prop_assert_eq!(raw.is_some(), decoded.is_some());
            if let (Some(a), Some(b)) = (&raw, decoded) {
                prop_assert!(same(a, b));
            }
            prop_assert_eq!(view.get_str(key), decoded.and_then(Value::as_str));
            prop_assert_eq!(view.get_int(key), decoded.and_then(Value::as_int));
            prop_assert_eq!(view.get_bool(key), decoded.and_then(Value::as_bool));
            let nested = view.get_map(key).map(|v| Value::Map(v.to_map().unwrap()));
            let expected = decoded.and_then(Value::as_map).map(|m| Value::Map(m.clone()));
            prop_assert_eq!(nested.is_some(), expected.is_some());
            if let (Some(a), Some(b)) = (&nested, &expected) {
                prop_assert!(same(a, b));
            }
        }
    }

    #[test]
    fn a_map_view_accepts_exactly_what_decoding_accepts(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut a = packstream::Decoder::new(&bytes);
        let mut b = packstream::Decoder::new(&bytes);
        let viewed = a.map_view().map(|v| v.to_map().unwrap());
        let decoded = b.decode_map();
        prop_assert_eq!(viewed.is_ok(), decoded.is_ok(), "{:?} vs {:?}", viewed, decoded);
        if let (Ok(v), Ok(m)) = (viewed, decoded) {
            prop_assert!(same(&Value::Map(v), &Value::Map(m)));
            prop_assert_eq!(a.position(), b.position());
        }
    }

    #[test]
    fn mutated_messages_never_panic(r in request(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        // Valid messages with a few bytes changed reach much deeper than random bytes do.
        let mut bytes = r.to_vec().unwrap();
        for (at, b) in flips {
            let n = bytes.len();
            bytes[at % n] = b;
        }
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
        // The in-place readers accept exactly what decoding accepts, and read the same map.
        check_views_agree_with_decoding(&bytes)?;
    }

    #[test]
    fn in_place_readers_agree_with_decoding(r in request(), s in response()) {
        check_views_agree_with_decoding(&r.to_vec().unwrap())?;
        check_views_agree_with_decoding(&s.to_vec().unwrap())?;
    }

    #[test]
    fn framing_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut r = MessageReader::with_max_message_size(&bytes[..], 1024);
            while let Ok(Some(f)) = r.read_message().await {
                let _ = Request::decode(f.payload());
            }
        });
    }
}

#[test]
fn chunk_boundary_sizes() {
    // Payloads right at and around the 65,535-byte chunk limit.
    for n in [65_533usize, 65_534, 65_535, 65_536, 131_070, 131_071] {
        let payload = vec![0xC0u8; n];
        let mut wire = Vec::new();
        framing::write_chunked(&payload, &mut wire);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let f = rt.block_on(async {
            MessageReader::new(&wire[..])
                .read_message()
                .await
                .unwrap()
                .unwrap()
        });
        assert_eq!(f.payload().len(), n);
        assert_eq!(&f.raw()[..], &wire[..]);
    }
}
