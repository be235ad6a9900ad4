//! Every planted fraud scenario of the fixtures is flagged with exactly the rules it plants,
//! and ordinary traffic and the near misses (patterns just outside each rule) stay clean.
//!
//! The dataset is posted wave by wave (the fixtures' posting order under which a streaming
//! analyzer must reach exactly the expected verdicts), each wave after the previous one's
//! verdicts, through a 3-partition topic so the partitions run in parallel.

use std::collections::BTreeMap;

use fixtures::testkit::unique;
use fixtures::transactions::{Dataset, DatasetOptions, Rule};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fraud_rules_flag_planted_scenarios_and_nothing_else() {
    let h = Harness::start("rules", 3).await;
    let running = h.spawn(h.config()).await;
    let mut verdicts = h.verdicts();

    // A namespace of our own: the generator's ids are deterministic, and the graph is shared
    // with every other test of the run (and, outside `scripts/test.sh`, with earlier runs).
    let namespace = unique("r");
    let dataset = Dataset::generate(
        &DatasetOptions::new(7)
            .with_namespace(namespace.as_str())
            .with_customers(12)
            .with_fraud_repetitions(1),
    )
    .unwrap();
    let expected = dataset.expected_reasons();
    // The fixtures' own rule engine and the generator's design agree (else the test is moot).
    assert_eq!(expected, dataset.designed_reasons());
    for rule in Rule::ALL {
        assert!(
            expected.values().any(|r| r.contains(&rule)),
            "the dataset plants {rule}"
        );
    }
    assert!(expected.values().any(|r| r.is_empty()), "and clean traffic");

    let mut posted = 0;
    for wave in dataset.waves() {
        for t in &wave {
            h.produce(&t.id, t.to_json().as_bytes()).await;
        }
        posted += wave.len();
        verdicts.wait_for(posted, WAIT).await;
    }

    // Stopped, the analyzer writes nothing more: the verdict topic's end is final.
    let counts = running.stop().await;
    let got = verdicts_by_id(&verdicts.read_to_end().await);
    assert_eq!(got.len(), expected.len(), "one verdict per transaction");
    let mut mismatches = BTreeMap::new();
    for (id, rules) in &expected {
        let verdicts = &got[id];
        assert_eq!(verdicts.len(), 1, "exactly one verdict for {id}");
        let v = &verdicts[0];
        let want: Vec<String> = rules.iter().map(|r| r.name().to_string()).collect();
        if v.reasons != want || v.suspicious == want.is_empty() {
            mismatches.insert(id.clone(), (want, v.reasons.clone()));
        }
    }
    assert!(
        mismatches.is_empty(),
        "(expected, got) by id: {mismatches:#?}"
    );

    for scenario in &dataset.scenarios {
        for t in &scenario.transactions {
            if !scenario.planted.is_empty() && !scenario.designed[&t.id].is_empty() {
                assert!(got[&t.id][0].suspicious, "{} in {}", t.id, scenario.name);
            }
        }
    }
    for t in &dataset.ordinary {
        assert!(!got[&t.id][0].suspicious, "ordinary {} is clean", t.id);
    }

    // The marks in the graph agree with the verdicts.
    let graph = h.graph();
    let flagged = expected.values().filter(|r| !r.is_empty()).count() as i64;
    let n = count(
        &graph,
        "MATCH (t:Transaction) WHERE t.id STARTS WITH $prefix AND t.suspicious = true RETURN count(t) AS n",
        &format!("{namespace}:"),
    )
    .await;
    assert_eq!(n, flagged);

    assert_eq!(counts.verdicts as usize, expected.len());
    assert_eq!(counts.suspicious as i64, flagged);
}
