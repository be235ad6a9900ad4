//! What several test modules share.

use std::collections::HashMap;

#[cfg(feature = "otlp")]
pub mod child;
#[cfg(all(feature = "kafka", feature = "otlp"))]
pub mod kafka;

/// A header map holding `pairs`, as a carrier to extract from.
pub fn carrier(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}
