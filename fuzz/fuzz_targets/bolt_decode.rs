//! Bolt codec on arbitrary bytes: decoding never panics, whatever decodes re-encodes and
//! decodes to the same thing, the proxy's in-place readers accept only what decodes, and the
//! chunk reader never panics either, read frame by frame or in batches.
#![no_main]

use bolt::message::{RunView, map_message_view};
use bolt::{Handshake, Limits, MessageReader, Request, Response, packstream};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = packstream::decode(data) {
        let bytes = packstream::to_vec(&v).expect("a decoded value encodes");
        let again = packstream::decode(&bytes).expect("re-encoded value decodes");
        // Minimal markers: a second round gives the same bytes.
        assert_eq!(packstream::to_vec(&again).unwrap(), bytes);
    }
    if let Ok(r) = Request::decode(data) {
        let bytes = r.to_vec().expect("a decoded request encodes");
        let again = Request::decode(&bytes).expect("re-encoded request decodes");
        assert_eq!(again.to_vec().unwrap(), bytes);
    }
    if let Ok(r) = Response::decode(data) {
        let bytes = r.to_vec().expect("a decoded response encodes");
        let again = Response::decode(&bytes).expect("re-encoded response decodes");
        assert_eq!(again.to_vec().unwrap(), bytes);
    }
    // The in-place readers the proxy uses accept only what decoding accepts.
    if let Ok((_, map)) = map_message_view(data, Limits::default()) {
        map.to_map().expect("a checked map view decodes");
        assert!(Request::decode(data).is_ok() || Response::decode(data).is_ok());
    }
    if let Ok(run) = RunView::parse(data, Limits::default()) {
        run.extra.to_map().expect("a checked map view decodes");
        assert!(Request::decode(data).is_ok());
    }
    let mut d = packstream::Decoder::new(data);
    let _ = d.skip_value(&mut |_| {});
    if let Some(head) = data.get(..20) {
        let _ = Handshake::parse(head.try_into().unwrap());
    }
    // The chunk reader over the same bytes; a byte slice never blocks, so no runtime is needed.
    let mut reader = MessageReader::with_max_message_size(data, 4096);
    let mut single = Vec::new();
    while let Ok(Some(frame)) = futures::executor::block_on(reader.read_message()) {
        let _ = Request::decode(frame.payload());
        single.extend_from_slice(frame.raw());
    }
    // Taking runs of messages in batches (as the proxy does with RECORDs) hands over the
    // same bytes; the predicate is arbitrary so batches start and stop anywhere.
    let mut reader = MessageReader::with_max_message_size(data, 4096);
    let mut batched = Vec::new();
    loop {
        while let Some((raw, n)) = reader.take_batch(|p| p.len() % 3 != 0) {
            assert!(n > 0 && raw.len() >= 4 * n);
            batched.extend_from_slice(&raw);
        }
        match futures::executor::block_on(reader.read_message()) {
            Ok(Some(frame)) => batched.extend_from_slice(frame.raw()),
            _ => break,
        }
    }
    assert_eq!(single, batched);
});
