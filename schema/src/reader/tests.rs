use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use super::*;

const VALID: &str = r#"{"id":"tx-1","account_id":"acc_1","card_id":"card:9","device_id":"dev.7","merchant_id":"m-3","amount":"12.34","currency":"EUR","timestamp":"2024-05-01T12:00:00Z"}"#;

/// 2024-05-01T12:00:00Z, the timestamp of [`VALID`].
fn valid_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800)
}

fn api() -> Reader {
    Reader::new(UnknownFields::Refuse)
}

fn topic() -> Reader {
    Reader::new(UnknownFields::Ignore)
}

/// `VALID` with `field` set to the JSON text `value` (added at the end if it is not there).
fn with(field: &str, value: &str) -> String {
    let mut fields: Vec<(String, String)> = Field::ALL
        .iter()
        .map(|f| {
            let v: serde_json::Value = serde_json::from_str(VALID).unwrap();
            (f.name().to_owned(), v[f.name()].to_string())
        })
        .collect();
    match fields.iter_mut().find(|(name, _)| name == field) {
        Some(entry) => entry.1 = value.to_owned(),
        None => fields.push((serde_json::to_string(field).unwrap(), value.to_owned())),
    }
    let body: Vec<String> = fields
        .into_iter()
        .map(|(name, value)| {
            let name = if name.starts_with('"') {
                name
            } else {
                format!("\"{name}\"")
            };
            format!("{name}:{value}")
        })
        .collect();
    format!("{{{}}}", body.join(","))
}

fn read(reader: Reader, body: &str) -> Result<Transaction<'_>> {
    reader.read_at(body.as_bytes(), valid_time())
}

fn problem(body: &str) -> Option<(Field, Problem)> {
    match read(api(), body) {
        Err(Error::Field { field, problem }) => Some((field, problem)),
        _ => None,
    }
}

#[test]
fn a_valid_body_round_trips_to_canonical_json() {
    let tx = read(api(), VALID).unwrap();
    assert_eq!(tx.id(), "tx-1");
    assert_eq!(tx.account_id(), "acc_1");
    assert_eq!(tx.card_id(), "card:9");
    assert_eq!(tx.device_id(), "dev.7");
    assert_eq!(tx.merchant_id(), "m-3");
    assert_eq!(tx.amount().hundredths(), 1234);
    assert_eq!(tx.currency(), "EUR");
    assert_eq!(tx.timestamp_millis(), 1_714_564_800_000);
    let borrowed = VALID.as_bytes().as_ptr_range();
    assert!(
        borrowed.contains(&tx.id().as_ptr()),
        "borrowed from the input"
    );
    assert_eq!(String::from_utf8(tx.to_json()).unwrap(), VALID);
    assert_eq!(tx.clone().into_owned(), tx);
}

#[test]
fn whitespace_and_key_order_do_not_change_the_canonical_form() {
    let body = "{ \"timestamp\" : \"2024-05-01T12:00:00Z\",\n \"currency\":\"EUR\", \"amount\":\"12.34\", \"merchant_id\":\"m-3\", \"device_id\":\"dev.7\", \"card_id\":\"card:9\", \"account_id\":\"acc_1\", \"id\":\"tx-1\" }";
    assert_eq!(read(api(), body).unwrap().to_json(), VALID.as_bytes());
}

#[test]
fn escaped_strings_are_decoded_then_validated() {
    let body = with("id", r#""tx\u002d1""#);
    assert_eq!(read(api(), &body).unwrap().id(), "tx-1");
    let body = with("id", r#""tx\n1""#);
    assert_eq!(problem(&body), Some((Field::Id, Problem::Invalid)));
    // An escaped key is the same key.
    let body = VALID.replace(r#""id":"tx-1""#, r#""\u0069d":"tx-1""#);
    assert_eq!(read(api(), &body).unwrap().id(), "tx-1");
}

#[test]
fn a_field_given_twice_is_refused_by_both_policies() {
    let twice = VALID.replace(
        r#""currency":"EUR""#,
        r#""currency":"EUR","currency":"EUR""#,
    );
    for reader in [api(), topic()] {
        assert_eq!(
            read(reader, &twice).unwrap_err(),
            Error::at(Field::Currency, Problem::Duplicate)
        );
    }
    // Even when the first is null: "null then a value" must not read as one value.
    let body = VALID.replacen('{', r#"{"amount":null,"#, 1);
    assert_eq!(problem(&body), Some((Field::Amount, Problem::Duplicate)));
    // The field whose second occurrence comes first is the one named.
    let body = VALID.replace('}', r#","timestamp":"x","card_id":"y"}"#);
    assert_eq!(problem(&body), Some((Field::Timestamp, Problem::Duplicate)));
}

#[test]
fn unknown_fields_are_refused_by_the_api_and_ignored_on_the_topic() {
    let body = with("ammount", r#""1.00""#);
    assert_eq!(
        read(api(), &body).unwrap_err(),
        Error::UnknownField {
            name: Some("ammount".into())
        }
    );
    let extra = VALID.replace('}', r#","channel":"web","meta":{"a":[1,{"b":null}]}}"#);
    let tx = read(topic(), &extra).unwrap();
    assert_eq!(tx.to_json(), VALID.as_bytes(), "unknown fields are dropped");
    assert!(matches!(
        read(api(), &extra),
        Err(Error::UnknownField { name: Some(n) }) if n == "channel"
    ));
}

#[test]
fn odd_unknown_keys_are_never_repeated() {
    for key in [
        "4111 1111 1111 1111",
        "4111111111111111",
        "a-b",
        "é",
        "",
        &"k".repeat(65),
    ] {
        let body = with(key, "1");
        let err = read(api(), &body).unwrap_err();
        assert_eq!(err, Error::UnknownField { name: None }, "{key:?}");
        assert!(!err.to_string().contains("4111"));
    }
    let body = with(&"k".repeat(64), "1");
    assert!(matches!(
        read(api(), &body),
        Err(Error::UnknownField { name: Some(_) })
    ));
}

#[test]
fn the_first_problem_wins_in_a_fixed_order() {
    // A duplicate before an unknown field, wherever they are.
    let body = r#"{"ammount":"1","id":"a","id":"b"}"#;
    assert_eq!(
        read(api(), body).unwrap_err(),
        Error::at(Field::Id, Problem::Duplicate)
    );
    // An unknown field before any field's own problem.
    let body = r#"{"ammount":"1","id":7}"#;
    assert!(matches!(read(api(), body), Err(Error::UnknownField { .. })));
    // Then fields in schema order, whatever the document order.
    let body = r#"{"amount":"x","id":"!"}"#;
    assert_eq!(
        read(topic(), body).unwrap_err(),
        Error::at(Field::Id, Problem::Invalid)
    );
    let body = r#"{"amount":"x"}"#;
    assert_eq!(
        read(api(), body).unwrap_err(),
        Error::at(Field::Id, Problem::Missing)
    );
    let body = r#"{"id":"a"}"#;
    assert_eq!(
        read(topic(), body).unwrap_err(),
        Error::at(Field::AccountId, Problem::Missing)
    );
    // Within a field: the type before the rule; the future last of all.
    let body = with("timestamp", r#""9999-01-01T00:00:00Z""#).replace(r#""EUR""#, "7");
    assert_eq!(
        problem(&body),
        Some((Field::Currency, Problem::WrongType(JsonType::Number)))
    );
}

#[test]
fn each_field_names_the_json_type_it_got() {
    for field in Field::ALL {
        for (value, found) in [
            ("true", JsonType::Bool),
            ("null", JsonType::Null),
            ("[\"a\"]", JsonType::Array),
            ("{\"a\":\"b\"}", JsonType::Object),
            ("7", JsonType::Number),
            ("1.5", JsonType::Number),
        ] {
            let got = problem(&with(field.name(), value));
            if field == Field::Amount && found == JsonType::Number {
                assert_ne!(got, Some((field, Problem::WrongType(found))), "{value}");
            } else {
                assert_eq!(
                    got,
                    Some((field, Problem::WrongType(found))),
                    "{field} = {value}"
                );
            }
        }
    }
}

#[test]
fn amounts_are_read_exactly_from_strings_and_numbers() {
    for (value, hundredths, text) in [
        ("129.95", 12_995, "129.95"),
        ("\"129.95\"", 12_995, "129.95"),
        ("12.5", 1250, "12.5"),
        ("12.50", 1250, "12.50"),
        ("7", 700, "7"),
        ("1000.0", 100_000, "1000.0"),
        ("0.01", 1, "0.01"),
        ("0.1", 10, "0.1"),
        (
            "999999999999999.99",
            99_999_999_999_999_999,
            "999999999999999.99",
        ),
        (
            "\"999999999999999.99\"",
            99_999_999_999_999_999,
            "999999999999999.99",
        ),
    ] {
        for reader in [api(), topic()] {
            let body = with("amount", value);
            let tx = read(reader, &body).unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(tx.amount().hundredths(), hundredths, "{value}");
            assert_eq!(tx.text(Field::Amount), text, "{value}");
            let canonical = String::from_utf8(tx.to_json()).unwrap();
            assert!(
                canonical.contains(&format!(r#""amount":"{text}""#)),
                "{canonical}"
            );
        }
    }
    // 17 significant digits: an f64 would have made this 1e15 (or 999999999999999.9).
    assert_ne!(
        format!("{}", "999999999999999.99".parse::<f64>().unwrap()),
        "999999999999999.99"
    );
}

#[test]
fn amounts_break_the_rule_as_numbers_as_they_do_as_strings() {
    for number in [
        "12.345",
        "129.950",
        "1e3",
        "1E3",
        "1.5e2",
        "12e-1",
        "-1",
        "-12.5",
        "-0",
        "0",
        "0.0",
        "0.00",
        "0.001",
        "1000000000000000",
        "1000000000000000.5",
        "1e400",
    ] {
        for reader in [api(), topic()] {
            let body = with("amount", number);
            assert_eq!(
                read(reader, &body).unwrap_err(),
                Error::at(Field::Amount, Problem::Invalid),
                "{number}"
            );
            let quoted = with("amount", &format!("\"{number}\""));
            assert_eq!(
                read(reader, &quoted).unwrap_err(),
                Error::at(Field::Amount, Problem::Invalid),
                "\"{number}\""
            );
        }
    }
}

#[test]
fn a_timestamp_more_than_the_margin_ahead_is_refused() {
    let now = valid_time();
    let at = |seconds_ahead: i64| {
        let t = chrono::DateTime::from_timestamp(1_714_564_800 + seconds_ahead, 0).unwrap();
        with(
            "timestamp",
            &format!(
                "\"{}\"",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        )
    };
    let reader = api();
    assert_eq!(reader.future_margin(), DEFAULT_FUTURE_MARGIN);
    for ok in [-86_400 * 365 * 30, 0, 60, 300] {
        assert!(reader.read_at(at(ok).as_bytes(), now).is_ok(), "{ok} s");
    }
    for ahead in [301, 3600] {
        assert_eq!(
            reader.read_at(at(ahead).as_bytes(), now).unwrap_err(),
            Error::at(Field::Timestamp, Problem::TooFarInFuture),
            "{ahead} s"
        );
    }
    // The offset counts: 12:10 at +02:00 is 10:10Z, in the past.
    let body = with("timestamp", r#""2024-05-01T12:10:00+02:00""#);
    assert!(reader.read_at(body.as_bytes(), now).is_ok());
    // The year 9999, whatever the policy.
    let body = with("timestamp", r#""9999-12-31T23:59:59Z""#);
    for reader in [api(), topic()] {
        assert_eq!(
            reader.read(body.as_bytes()).unwrap_err(),
            Error::at(Field::Timestamp, Problem::TooFarInFuture)
        );
    }
    // Another margin.
    let strict = api().with_future_margin(Duration::ZERO);
    assert!(strict.read_at(at(0).as_bytes(), now).is_ok());
    assert!(strict.read_at(at(1).as_bytes(), now).is_err());
    let lax = api().with_future_margin(Duration::from_secs(3600));
    assert!(lax.read_at(at(3600).as_bytes(), now).is_ok());
    let unbounded = api().with_future_margin(Duration::MAX);
    assert!(unbounded.read_at(body.as_bytes(), now).is_ok());
}

#[test]
fn bodies_that_are_not_json_objects() {
    for reader in [api(), topic()] {
        assert_eq!(reader.read(b"[1,2]").unwrap_err(), Error::NotAnObject);
        assert_eq!(
            reader.read(b"\"4111111111111111\"").unwrap_err(),
            Error::NotAnObject
        );
        assert_eq!(reader.read(b"null").unwrap_err(), Error::NotAnObject);
        for not_json in [
            &b""[..],
            b"{\"id\":",
            b"{} {}",
            b"id=1",
            b"{not json",
            b"{\"id\":\"\xff\"}",
            b"{\"id\":\"\\udc00\"}",
            b"{\"id\":\"\\x\"}",
            b"{\"amount\":01}",
        ] {
            assert!(
                matches!(reader.read(not_json), Err(Error::NotJson { .. })),
                "{:?}",
                String::from_utf8_lossy(not_json)
            );
        }
    }
    // A string the first pass let through still gets a position.
    let body = b"{\n\"id\": \"\\udc00\"}";
    assert!(matches!(
        api().read(body),
        Err(Error::NotJson { line: 2, column }) if column > 1
    ));
}

#[test]
fn errors_never_carry_values() {
    const PAN: &str = "4111111111111111";
    for body in [
        with("card_id", &format!("\"{PAN} \"")),
        with("card_id", PAN),
        with("amount", PAN),
        with("amount", &format!("\"{PAN}\"")),
        with("currency", &format!("\"{PAN}\"")),
        with("timestamp", &format!("\"{PAN}\"")),
        with(PAN, &format!("\"{PAN}\"")),
        format!("{{\"card_id\":\"{PAN}\""),
        format!("[{PAN}]"),
    ] {
        let err = read(api(), &body).unwrap_err();
        assert!(!format!("{err} {err:?}").contains(PAN), "{err:?}");
    }
}

/// A decimal text with at most two decimals, and its value in hundredths.
fn decimal() -> impl Strategy<Value = (String, i64)> {
    (0..1_000_000_000_000_000i64, 0..=2usize, 0..100i64)
        .prop_map(|(whole, decimals, cents)| match decimals {
            0 => (whole.to_string(), whole * 100),
            1 => (
                format!("{whole}.{}", cents / 10),
                whole * 100 + cents / 10 * 10,
            ),
            _ => (format!("{whole}.{cents:02}"), whole * 100 + cents),
        })
        .prop_filter("positive", |(_, hundredths)| *hundredths > 0)
}

proptest! {
    #[test]
    fn any_decimal_with_at_most_two_places_round_trips_exactly((text, hundredths) in decimal()) {
        for value in [text.clone(), format!("\"{text}\"")] {
            for reader in [api(), topic()] {
                let body = with("amount", &value);
                let tx = read(reader, &body).unwrap();
                prop_assert_eq!(tx.amount().hundredths(), hundredths);
                prop_assert_eq!(tx.text(Field::Amount), text.as_str());
                let canonical = String::from_utf8(tx.to_json()).unwrap();
                let expected = format!("\"amount\":\"{text}\"");
                prop_assert!(canonical.contains(&expected));
                // And the canonical record reads back to the same transaction.
                let again = reader.read_at(canonical.as_bytes(), valid_time()).unwrap();
                prop_assert_eq!(&again, &tx);
            }
        }
    }
}
