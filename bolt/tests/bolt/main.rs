//! The behaviour tests of `bolt`, one module per claim, linked into one test binary.
//!
//! proptest keeps the failures it found in `tests/proptest-regressions/<module>.txt` (its
//! default place for a test crate rooted at `tests/bolt/main.rs`) and runs them again first.

mod bolt_codec_round_trips_and_never_panics;
