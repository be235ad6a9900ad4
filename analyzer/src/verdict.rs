//! The verdict record published to `transactions.verdicts`.

use serde::{Deserialize, Serialize};

use crate::rules::Rule;

/// `{"id", "suspicious", "reasons": [rule names]}`, keyed by the transaction id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The transaction id.
    pub id: String,
    /// Whether any rule fired.
    pub suspicious: bool,
    /// Names of the rules that fired, in name order.
    pub reasons: Vec<String>,
}

impl Verdict {
    /// The verdict for `id` given the rules that fired.
    pub fn new(id: &str, fired: &[Rule]) -> Verdict {
        let mut reasons: Vec<String> = fired.iter().map(|r| r.name().to_owned()).collect();
        reasons.sort();
        reasons.dedup();
        Verdict {
            id: id.to_owned(),
            suspicious: !reasons.is_empty(),
            reasons,
        }
    }

    /// The JSON value of the record.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings and a bool always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let v = Verdict::new("tx-1", &[Rule::DeviceManyAccounts, Rule::CardDeviceRing]);
        assert_eq!(
            String::from_utf8(v.to_json()).unwrap(),
            r#"{"id":"tx-1","suspicious":true,"reasons":["card_device_ring","device_many_accounts"]}"#
        );
        let clean = Verdict::new("tx-2", &[]);
        assert_eq!(
            String::from_utf8(clean.to_json()).unwrap(),
            r#"{"id":"tx-2","suspicious":false,"reasons":[]}"#
        );
    }
}
