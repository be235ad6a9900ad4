//! The fraud rules: each a name (what verdicts list in `reasons`), a Cypher query with two
//! parameters (`$id`, `$window_ms`) and a threshold.
//!
//! Every query starts from the transaction being judged and walks its own neighbourhood, so its
//! cost depends on how busy one card or device is, not on the size of the graph. Windows are
//! symmetric in event time (`abs(t1 - t2) <= window`): records arrive out of order, and a
//! transaction that lands late must still be caught against one analysed before it.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// A fraud rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rule {
    /// Another transaction within 5 minutes shares both the card and the device (the seed's
    /// ring rule: a stolen card tried again and again from one device).
    CardDeviceRing,
    /// The card was used on at least 3 distinct devices within 1 hour (card details shared
    /// across a fraud ring).
    CardManyDevices,
    /// The device was used by at least 3 distinct accounts within 24 hours (one fraudster's
    /// phone cycling through stolen accounts).
    DeviceManyAccounts,
}

impl Rule {
    /// Every rule, in name order (the order of `reasons`).
    pub const ALL: [Rule; 3] = [
        Rule::CardDeviceRing,
        Rule::CardManyDevices,
        Rule::DeviceManyAccounts,
    ];

    /// The name used in verdicts.
    pub fn name(self) -> &'static str {
        match self {
            Rule::CardDeviceRing => "card_device_ring",
            Rule::CardManyDevices => "card_many_devices",
            Rule::DeviceManyAccounts => "device_many_accounts",
        }
    }

    /// The rule's window, either side of the transaction's event time.
    pub fn window(self) -> Duration {
        match self {
            Rule::CardDeviceRing => Duration::from_secs(5 * 60),
            Rule::CardManyDevices => Duration::from_secs(60 * 60),
            Rule::DeviceManyAccounts => Duration::from_secs(24 * 60 * 60),
        }
    }

    /// The count the query must reach for the rule to fire.
    pub fn threshold(self) -> i64 {
        match self {
            Rule::CardDeviceRing => 1,
            Rule::CardManyDevices | Rule::DeviceManyAccounts => 3,
        }
    }

    /// The query: one row with one integer column, `matches`.
    ///
    /// - `card_device_ring`: other transactions with the same card and device in the window;
    /// - `card_many_devices`: distinct devices of the card's transactions in the window (the
    ///   transaction's own included);
    /// - `device_many_accounts`: distinct accounts behind the device's transactions in the
    ///   window (the transaction's own included).
    ///
    /// The two counting rules walk from the card or device in a second `MATCH`: within one
    /// pattern Neo4j never uses a relationship twice, so `(t)-[:PAID_WITH]->(c)<-[:PAID_WITH]-(o)`
    /// can never give `o = t` there, and the transaction's own device or account would go
    /// uncounted (FalkorDB has no such rule, which hid the difference). Across clauses the
    /// relationship may be used again, on both servers.
    pub fn cypher(self) -> &'static str {
        match self {
            Rule::CardDeviceRing => {
                "MATCH (t:Transaction {id: $id})-[:PAID_WITH]->(:Card)<-[:PAID_WITH]-(o:Transaction), \
                 (t)-[:ON_DEVICE]->(:Device)<-[:ON_DEVICE]-(o) \
                 WHERE o.id <> t.id AND abs(o.timestamp_ms - t.timestamp_ms) <= $window_ms \
                 RETURN count(DISTINCT o) AS matches"
            }
            Rule::CardManyDevices => {
                "MATCH (t:Transaction {id: $id})-[:PAID_WITH]->(c:Card) \
                 MATCH (c)<-[:PAID_WITH]-(o:Transaction)-[:ON_DEVICE]->(d:Device) \
                 WHERE abs(o.timestamp_ms - t.timestamp_ms) <= $window_ms \
                 RETURN count(DISTINCT d) AS matches"
            }
            Rule::DeviceManyAccounts => {
                "MATCH (t:Transaction {id: $id})-[:ON_DEVICE]->(v:Device) \
                 MATCH (v)<-[:ON_DEVICE]-(o:Transaction)<-[:INITIATED]-(a:Account) \
                 WHERE abs(o.timestamp_ms - t.timestamp_ms) <= $window_ms \
                 RETURN count(DISTINCT a) AS matches"
            }
        }
    }

    /// Whether a query result fires the rule.
    pub fn fires(self, matches: i64) -> bool {
        matches >= self.threshold()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_match_serde() {
        for rule in Rule::ALL {
            assert_eq!(
                serde_json::to_string(&rule).unwrap(),
                format!("\"{}\"", rule.name())
            );
            assert!(
                rule.name()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
        }
        let mut names: Vec<_> = Rule::ALL.iter().map(|r| r.name()).collect();
        names.dedup();
        assert_eq!(names.len(), 3);
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "ALL is in name order"
        );
    }

    #[test]
    fn queries_take_only_the_id_and_the_window() {
        for rule in Rule::ALL {
            let q = rule.cypher();
            let params: Vec<&str> = q
                .split('$')
                .skip(1)
                .map(|s| {
                    s.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                        .next()
                        .unwrap()
                })
                .collect();
            assert!(
                params.iter().all(|p| *p == "id" || *p == "window_ms"),
                "{q}"
            );
            assert!(q.contains("AS matches"));
            assert!(!q.contains('\''), "no string literals in rule queries");
        }
    }

    #[test]
    fn thresholds() {
        assert!(Rule::CardDeviceRing.fires(1));
        assert!(!Rule::CardDeviceRing.fires(0));
        assert!(!Rule::CardManyDevices.fires(2));
        assert!(Rule::DeviceManyAccounts.fires(3));
    }
}
