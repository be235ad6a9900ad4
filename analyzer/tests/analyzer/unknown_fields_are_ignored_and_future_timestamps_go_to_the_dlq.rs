//! The topic reader's policy, end to end: a record carrying fields outside the schema (another
//! producer's additions) and its amount as a JSON number gets its verdict, with the amount
//! stored exactly as the same amount sent as a string would be; a record dated more than the
//! future margin ahead (the year 9999, outside every fraud window forever) goes to the DLQ
//! with its own reason, and the partition moves on.

use analyzer::dlq;
use fixtures::testkit::unique;
use rdkafka::message::Message;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_are_ignored_and_future_timestamps_go_to_the_dlq() {
    // One partition: the records are handled in order.
    let h = Harness::start("topic-policy", 1).await;
    let running = h.spawn(h.config()).await;
    let mut dlq_reader = h.dlq();
    let mut verdicts = h.verdicts();

    let future_id = unique("future");
    let future = ordinary(&future_id).replace("2026-03-02T09:15:00Z", "9999-12-31T23:59:59Z");
    h.produce(&future_id, future.as_bytes()).await;
    let extra_id = unique("extra");
    let extra = ordinary(&extra_id)
        .replace(r#""amount":"12.34""#, r#""amount":129.95"#)
        .replacen(
            '{',
            r#"{"channel":"web","risk":{"score":0.7,"tags":["a"]},"#,
            1,
        );
    assert!(extra.contains(r#""amount":129.95"#), "{extra}");
    h.produce(&extra_id, extra.as_bytes()).await;

    let dead = dlq_reader.wait_for(1, WAIT).await;
    let v = verdicts.wait_for(1, WAIT).await;
    let by_id = verdicts_by_id(&v);
    assert_eq!(by_id[&extra_id].len(), 1, "unknown fields are ignored");
    assert!(!by_id[&extra_id][0].suspicious);

    let record = &dead[0];
    assert_eq!(record.key(), Some(future_id.as_bytes()));
    assert_eq!(
        record.payload(),
        Some(future.as_bytes()),
        "original payload"
    );
    assert_eq!(
        header_values(record, dlq::ERROR_TYPE),
        ["timestamp_in_future"]
    );
    assert_eq!(
        header_values(record, dlq::ERROR_MESSAGE),
        ["field timestamp: more than 300000 ms ahead of the analyzer's clock"]
    );
    assert_eq!(header_values(record, dlq::ATTEMPTS), ["1"]);

    // Stored as "129.95" and 12,995 hundredths: read from the number's text, not an f64.
    let graph = h.graph();
    let mut rows = graph
        .execute(
            neo4rs::query(
                "MATCH (t:Transaction {id: $id}) RETURN t.amount AS amount, t.amount_minor AS minor",
            )
            .param("id", extra_id.as_str()),
        )
        .await
        .expect("query runs");
    let row = rows
        .next()
        .await
        .expect("row")
        .expect("the transaction is in the graph");
    assert_eq!(row.get::<String>("amount").unwrap(), "129.95");
    assert_eq!(row.get::<i64>("minor").unwrap(), 12_995);
    let unknown_kept = count(
        &graph,
        "MATCH (t:Transaction {id: $prefix}) WHERE t.channel IS NOT NULL RETURN count(t) AS n",
        &extra_id,
    )
    .await;
    assert_eq!(unknown_kept, 0, "fields outside the schema are not written");
    let future_written = count(
        &graph,
        "MATCH (t:Transaction {id: $prefix}) RETURN count(t) AS n",
        &future_id,
    )
    .await;
    assert_eq!(future_written, 0, "a poison record never reaches the graph");

    let counts = running.stop().await;
    assert_eq!((counts.dead_lettered, counts.verdicts), (1, 1));
    assert_eq!(h.committed(0), Some(2));
}
