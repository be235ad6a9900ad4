//! Fuzz target for the lexer and the normaliser: on arbitrary bytes (as UTF-8, lossily), the
//! token stream gives the input back, normalising never panics, its summary is never empty, and
//! normalising the resource again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let mut text = String::with_capacity(input.len());
    let mut at = 0;
    for t in cypher::tokenize(&input) {
        assert_eq!(t.span.start, at);
        assert!(t.span.end > t.span.start);
        at = t.span.end;
        text.push_str(t.text(&input));
    }
    assert_eq!(text, input);

    let n = cypher::normalize(&input);
    assert!(!n.summary.is_empty() && !n.operation.is_empty());
    assert!(n.summary.chars().count() <= 255);
    let again = cypher::normalize(&n.resource);
    assert_eq!(again.resource, n.resource, "not idempotent");
});
