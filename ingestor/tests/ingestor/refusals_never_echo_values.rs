//! Error bodies name fields and rules, never the values that were sent: a card number in a
//! rejected request must not come back in the answer.

use serde_json::json;

use crate::support::{Harness, valid, with};

const PAN: &str = "4111111111111111";

#[tokio::test]
async fn refusals_never_echo_values() {
    let h = Harness::start().await;
    let mut bodies = vec![
        with("card_id", json!(format!("{PAN} "))),
        with("card_id", json!(format!("{PAN}/{PAN}"))),
        with("card_id", json!(PAN.repeat(5))),
        with("card_id", json!(PAN.parse::<u64>().unwrap())),
        with("card_id", json!({"pan": PAN})),
        with("amount", json!(PAN)),
        with("amount", json!(PAN.parse::<u64>().unwrap())),
        with("currency", json!(PAN)),
        with("timestamp", json!(PAN)),
        with(PAN, json!(PAN)),
    ];
    let mut missing = valid("x");
    missing.as_object_mut().unwrap().remove("id");
    missing["card_id"] = json!(PAN);
    bodies.push(missing);

    for body in &bodies {
        let response = h.post(body).await;
        assert_eq!(response.status(), 400, "{body}");
        let text = response.text().await.unwrap();
        assert!(!text.contains(PAN), "value echoed: {text}");
    }
    for raw in [
        format!("{{\"card_id\":\"{PAN}\""),
        format!("\"{PAN}\""),
        format!("[{PAN}]"),
    ] {
        let response = h.post_raw("application/json", raw).await;
        assert_eq!(response.status(), 400);
        let text = response.text().await.unwrap();
        assert!(!text.contains(PAN), "value echoed: {text}");
    }
    h.stop().await;
}
