//! Parameter values stay out of spans unless their name is allowlisted; texts are capped.

use crate::traced_support::Harness;
use fixtures::testkit::attr;
use neo4rs::query;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowlisted_parameters_are_recorded() {
    let h = Harness::start().await;
    let graph = h.builder().allow_parameter("merchant").build();
    graph
        .run(
            query("MATCH (m:Merchant {id: $merchant}) MATCH (c:Card {id: $card}) RETURN m, c")
                .param("merchant", "shop-7")
                .param("card", "card-5555")
                .param("ids", vec![1_i64, 2, 3]),
        )
        .await
        .unwrap();
    let s = &h.query_spans("MATCH (m:Merchant")[0];
    assert_eq!(
        attr(s, "db.query.parameter.merchant").as_deref(),
        Some("shop-7")
    );
    assert_eq!(attr(s, "db.query.parameter.card"), None);
    for kv in &s.attributes {
        assert!(!kv.value.to_string().contains("card-5555"), "{}", kv.key);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_no_parameter_is_recorded_and_long_texts_are_cut() {
    let h = Harness::start().await;
    let graph = h.builder().max_text_len(24).build();
    graph
        .run(query("MATCH (m:Merchant {id: $merchant}) RETURN m").param("merchant", "shop-8"))
        .await
        .unwrap();
    let spans = h.spans();
    let s = spans
        .iter()
        .find(|s| s.name == "MATCH Merchant")
        .expect("the query span");
    assert!(
        s.attributes
            .iter()
            .all(|kv| !kv.key.as_str().starts_with("db.query.parameter."))
    );
    assert_eq!(
        attr(s, "db.query.text").as_deref(),
        Some("MATCH (m:Merchant {id: $")
    );
}
