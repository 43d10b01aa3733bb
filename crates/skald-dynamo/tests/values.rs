//! Attribute values on the wire (reading, writing, DynamoDB's checks), item sizes, key schemas
//! and key ordering, projections and key conditions.

mod common;

use std::cmp::Ordering;

use common::{item, json, placeholders, show, value};
use skald_dynamo::error::{ErrorKind, Exception};
use skald_dynamo::key::{compare_key_values, KeySchema, KeyType};
use skald_dynamo::key_condition::KeyCondition;
use skald_dynamo::limits::ITEM_SIZE_BYTES_MAX;
use skald_dynamo::projection::Projection;
use skald_dynamo::value::{item_size, AttributeValue};
use skald_dynamo::wire::{from_json, item_from_json, to_json};

#[test]
fn wire_round_trips_in_dynamodb_form() {
    #[rustfmt::skip]
    let cases = [
        (r#"{"S":"x"}"#, r#"{"S":"x"}"#), (r#"{"S":""}"#, r#"{"S":""}"#), (r#"{"N":"1.50"}"#, r#"{"N":"1.5"}"#),
        (r#"{"N":"-0"}"#, r#"{"N":"0"}"#), (r#"{"N":"1E2"}"#, r#"{"N":"100"}"#), (r#"{"B":"aGVsbG8="}"#, r#"{"B":"aGVsbG8="}"#),
        (r#"{"B":""}"#, r#"{"B":""}"#), (r#"{"BOOL":false}"#, r#"{"BOOL":false}"#), (r#"{"NULL":true}"#, r#"{"NULL":true}"#),
        (r#"{"L":[]}"#, r#"{"L":[]}"#), (r#"{"M":{}}"#, r#"{"M":{}}"#),
        (r#"{"L":[{"N":"1"},{"S":"a"},{"L":[{"NULL":true}]}]}"#, r#"{"L":[{"N":"1"},{"S":"a"},{"L":[{"NULL":true}]}]}"#),
        (r#"{"M":{"b":{"N":"2"},"a":{"M":{"c":{"SS":["z","y"]}}}}}"#, r#"{"M":{"a":{"M":{"c":{"SS":["y","z"]}}},"b":{"N":"2"}}}"#),
        (r#"{"SS":["b","a"]}"#, r#"{"SS":["a","b"]}"#), (r#"{"NS":["10","9","1.0"]}"#, r#"{"NS":["1","9","10"]}"#),
        (r#"{"BS":["Ag==","AQ=="]}"#, r#"{"BS":["AQ==","Ag=="]}"#), (r#"{"S":"x","Q":"ignored"}"#, r#"{"S":"x"}"#),
    ];
    for (input, output) in cases {
        let v = from_json(&json(input)).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(to_json(&v).to_string(), output, "{input}");
        let via_serde: AttributeValue = serde_json::from_str(input).unwrap();
        assert_eq!(serde_json::to_string(&via_serde).unwrap(), output);
    }
}

#[test]
fn wire_errors() {
    #[rustfmt::skip]
    let cases: &[(&str, ErrorKind, &str)] = &[
        ("{}", ErrorKind::InvalidValue, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
        (r#"{"X":"1"}"#, ErrorKind::InvalidValue, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
        (r#"{"S":"a","N":"1"}"#, ErrorKind::InvalidValue, "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"),
        (r#"{"N":"x"}"#, ErrorKind::InvalidNumber, "The parameter cannot be converted to a numeric value: x"),
        (r#"{"N":"1e200"}"#, ErrorKind::NumberOverflow, "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        (r#"{"NULL":false}"#, ErrorKind::InvalidValue, "One or more parameter values were invalid: Null attribute value types must have the value of true"),
        (r#"{"SS":[]}"#, ErrorKind::InvalidValue, "One or more parameter values were invalid: An string set  may not be empty"),
        (r#"{"NS":[]}"#, ErrorKind::InvalidValue, "One or more parameter values were invalid: An number set  may not be empty"),
        (r#"{"BS":[]}"#, ErrorKind::InvalidValue, "One or more parameter values were invalid: Binary sets should not be empty"),
        (r#"{"SS":["a",""]}"#, ErrorKind::InvalidValue, "One or more parameter values were invalid: An string set may not have a empty string as a member"),
        (r#"{"BS":["AQ==",""]}"#, ErrorKind::InvalidValue, "One or more parameter values were invalid: Binary sets may not contain null or empty values"),
        (r#"{"SS":["a","b","a"]}"#, ErrorKind::InvalidValue, "One or more parameter values were invalid: Input collection [a, b, a] contains duplicates."),
        (r#"{"NS":["1","1.0"]}"#, ErrorKind::InvalidValue, "Input collection contains duplicates"),
        (r#"{"BS":["AQ==","AQ=="]}"#, ErrorKind::InvalidValue, "One or more parameter values were invalid: Input collection [AQ==, AQ==]of type BS contains duplicates."),
        (r#"{"L":[{"S":"a"},{}]}"#, ErrorKind::InvalidValue, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
    ];
    for (input, kind, message) in cases {
        let error = from_json(&json(input)).expect_err(input);
        assert_eq!((error.kind(), error.message()), (*kind, *message), "{input}");
        assert_eq!(error.exception(), Exception::Validation);
    }
    for input in
        [r#"{"N":5}"#, r#"{"S":1}"#, r#"{"B":"***"}"#, r#"{"BOOL":"true"}"#, r#"{"L":{}}"#, "[]", r#"{"SS":"a"}"#]
    {
        let error = from_json(&json(input)).expect_err(input);
        assert_eq!(error.exception(), Exception::Serialization, "{input}");
    }
    let deep = format!("{}{{\"N\":\"1\"}}{}", r#"{"L":["#.repeat(33), "]}".repeat(33));
    assert_eq!(from_json(&json(&deep)).unwrap_err().message(), "Nesting Levels have exceeded supported limits");
    let ok = format!("{}{{\"N\":\"1\"}}{}", r#"{"L":["#.repeat(32), "]}".repeat(32));
    assert!(from_json(&json(&ok)).is_ok());
    let error = item_from_json(&json(r#"{"a":{"S":"x"},"b":{"SS":[]}}"#)).unwrap_err();
    assert_eq!(error.location(), &skald_dynamo::error::Location::Attribute("b".into()));
}

#[test]
fn item_sizes() {
    #[rustfmt::skip]
    let cases = [
        (r#"{"a":{"S":"hello"}}"#, 6), (r#"{"ab":{"S":"é"}}"#, 4), (r#"{"a":{"N":"123"}}"#, 4), (r#"{"a":{"B":"aGVsbG8="}}"#, 6),
        (r#"{"a":{"BOOL":true}}"#, 2), (r#"{"a":{"NULL":true}}"#, 2), (r#"{"a":{"L":[]}}"#, 4), (r#"{"a":{"M":{}}}"#, 4),
        (r#"{"a":{"L":[{"S":"xy"},{"N":"1"}]}}"#, 1 + 3 + (1 + 2) + (1 + 2)), (r#"{"a":{"M":{"k":{"S":"xy"}}}}"#, 1 + 3 + (1 + 1 + 2)),
        (r#"{"a":{"SS":["x","yz"]}}"#, 4), (r#"{"a":{"NS":["1","22"]}}"#, 5), (r#"{"a":{"S":""},"bb":{"N":"0"}}"#, 5),
    ];
    for (input, size) in cases {
        assert_eq!(item_size(&item(input)), size, "{input}");
    }
}

#[test]
fn key_schemas() {
    let schema = KeySchema::partition("pk", KeyType::S).with_sort("sk", KeyType::N);
    let long = |n: usize| format!(r#"{{"pk":{{"S":"{}"}},"sk":{{"N":"1"}}}}"#, "x".repeat(n));
    #[rustfmt::skip]
    let keys: &[(String, Option<&str>)] = &[
        (r#"{"pk":{"S":"a"},"sk":{"N":"1"}}"#.into(), None),
        (r#"{"pk":{"S":"a"}}"#.into(), Some("The provided key element does not match the schema")),
        (r#"{"pk":{"S":"a"},"sk":{"S":"1"}}"#.into(), Some("The provided key element does not match the schema")),
        (r#"{"pk":{"S":"a"},"sk":{"N":"1"},"x":{"N":"1"}}"#.into(), Some("The provided key element does not match the schema")),
        (r#"{"pk":{"S":""},"sk":{"N":"1"}}"#.into(), Some("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk")),
        (long(2048), None),
        (long(2049), Some("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes")),
    ];
    for (key, expected) in keys {
        assert_eq!(schema.check_key(&item(key)).err().map(|e| e.message().to_owned()).as_deref(), *expected, "{key}");
    }
    let binary = KeySchema::partition("pk", KeyType::B).with_sort("sk", KeyType::S);
    let sort = format!(r#"{{"pk":{{"B":"AQ=="}},"sk":{{"S":"{}"}}}}"#, "y".repeat(1025));
    assert_eq!(
        binary.check_key(&item(&sort)).unwrap_err().message(),
        "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
    );
    #[rustfmt::skip]
    let items: &[(&str, Option<&str>)] = &[
        (r#"{"pk":{"S":"a"},"sk":{"N":"1"},"x":{"S":""}}"#, None),
        (r#"{"sk":{"N":"1"}}"#, Some("One or more parameter values were invalid: Missing the key pk in the item")),
        (r#"{"pk":{"S":"a"},"sk":{"S":"1"}}"#, Some("One or more parameter values were invalid: Type mismatch for key sk expected: N actual: S")),
    ];
    for (it, expected) in items {
        assert_eq!(schema.check_item(&item(it)).err().map(|e| e.message().to_owned()).as_deref(), *expected, "{it}");
    }
    let big = format!(r#"{{"pk":{{"S":"a"}},"sk":{{"N":"1"}},"x":{{"S":"{}"}}}}"#, "z".repeat(ITEM_SIZE_BYTES_MAX));
    assert_eq!(
        schema.check_item(&item(&big)).unwrap_err().message(),
        "Item size has exceeded the maximum allowed size"
    );
    assert_eq!(show(&schema.key_of(&item(items[0].0))), r#"{"pk":{"S":"a"},"sk":{"N":"1"}}"#);
}

#[test]
fn key_order() {
    #[rustfmt::skip]
    let cases = [
        (r#"{"S":"a"}"#, r#"{"S":"b"}"#, Ordering::Less), (r#"{"S":"B"}"#, r#"{"S":"a"}"#, Ordering::Less),
        (r#"{"S":"z"}"#, r#"{"S":"é"}"#, Ordering::Less), (r#"{"S":"ab"}"#, r#"{"S":"a"}"#, Ordering::Greater),
        (r#"{"N":"9"}"#, r#"{"N":"10"}"#, Ordering::Less), (r#"{"N":"-10"}"#, r#"{"N":"-9"}"#, Ordering::Less),
        (r#"{"N":"1.0"}"#, r#"{"N":"1"}"#, Ordering::Equal), (r#"{"B":"AQ=="}"#, r#"{"B":"/w=="}"#, Ordering::Less),
        (r#"{"B":"AQI="}"#, r#"{"B":"AQ=="}"#, Ordering::Greater),
    ];
    for (a, b, expected) in cases {
        assert_eq!(compare_key_values(&value(a), &value(b)), expected, "{a} {b}");
    }
}

#[test]
fn projections() {
    let it = item(
        r#"{"a":{"N":"1"},"b":{"S":"x"},"m":{"M":{"x":{"N":"1"},"y":{"M":{"z":{"S":"deep"}}}}},
            "l":{"L":[{"S":"l0"},{"S":"l1"},{"M":{"k":{"N":"2"},"j":{"N":"3"}}},{"S":"l3"}]}}"#,
    );
    let p = placeholders(r##"{"#m": "m", "#z": "z"}"##);
    #[rustfmt::skip]
    let cases = [
        ("a", r#"{"a":{"N":"1"}}"#), ("a, b", r#"{"a":{"N":"1"},"b":{"S":"x"}}"#), ("absent", "{}"),
        ("m.x", r#"{"m":{"M":{"x":{"N":"1"}}}}"#), ("#m.y.#z", r#"{"m":{"M":{"y":{"M":{"z":{"S":"deep"}}}}}}"#),
        ("m.x, m.y.z", r#"{"m":{"M":{"x":{"N":"1"},"y":{"M":{"z":{"S":"deep"}}}}}}"#),
        ("l[1], l[3]", r#"{"l":{"L":[{"S":"l1"},{"S":"l3"}]}}"#), ("l[3], l[1]", r#"{"l":{"L":[{"S":"l1"},{"S":"l3"}]}}"#),
        ("l[2].k", r#"{"l":{"L":[{"M":{"k":{"N":"2"}}}]}}"#), ("l[9]", "{}"), ("m.absent, a", r#"{"a":{"N":"1"}}"#),
        ("a.x", "{}"), ("m[0]", "{}"),
    ];
    for (expression, expected) in cases {
        let (projection, _) = Projection::parse(expression, &p).unwrap_or_else(|e| panic!("{expression}: {e}"));
        assert_eq!(show(&projection.apply(&it)), show(&item(expected)), "{expression}");
    }
}

#[test]
fn key_conditions_match() {
    let schema = KeySchema::partition("pk", KeyType::S).with_sort("sk", KeyType::N);
    let p = placeholders(r##"{":p": {"S": "a"}, ":one": {"N": "1"}, ":five": {"N": "5"}, "#s": "sk"}"##);
    let row = |pk: &str, sk: &str| item(&format!(r#"{{"pk":{{"S":"{pk}"}},"sk":{{"N":"{sk}"}}}}"#));
    #[rustfmt::skip]
    let cases = [
        ("pk = :p", "a", "3", true), ("pk = :p", "b", "3", false), (":p = pk", "a", "3", true),
        ("pk = :p AND sk = :one", "a", "1", true), ("pk = :p AND sk = :one", "a", "1.0", true),
        ("pk = :p AND sk < :five", "a", "4.99", true), ("pk = :p AND sk < :five", "a", "5", false),
        ("pk = :p AND sk <= :five", "a", "5", true), ("pk = :p AND sk > :one", "a", "1", false),
        ("pk = :p AND sk >= :one", "a", "1", true), ("pk = :p AND :five > sk", "a", "4", true),
        ("pk = :p AND :one >= sk", "a", "2", false), ("sk BETWEEN :one AND :five AND pk = :p", "a", "5", true),
        ("pk = :p AND #s BETWEEN :one AND :five", "a", "6", false), ("(pk = :p) AND (sk = :five)", "a", "5", true),
    ];
    for (expression, pk, sk, expected) in cases {
        let (condition, _) =
            KeyCondition::parse(expression, &p, &schema).unwrap_or_else(|e| panic!("{expression}: {e}"));
        assert_eq!(condition.matches(&row(pk, sk)), expected, "{expression} on {pk}/{sk}");
    }
    let strings = KeySchema::partition("pk", KeyType::S).with_sort("sk", KeyType::S);
    let p = placeholders(r#"{":p": {"S": "a"}, ":pre": {"S": "ord#"}}"#);
    let (condition, _) = KeyCondition::parse("pk = :p AND begins_with(sk, :pre)", &p, &strings).unwrap();
    assert!(condition.matches(&item(r#"{"pk":{"S":"a"},"sk":{"S":"ord#42"}}"#)));
    assert!(!condition.matches(&item(r#"{"pk":{"S":"a"},"sk":{"S":"inv#42"}}"#)));
}
