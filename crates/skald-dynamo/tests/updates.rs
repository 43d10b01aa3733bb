//! UpdateExpression application: one line per behaviour (update, item before, item after), the
//! runtime errors, and what each ReturnValues returns.

mod common;

use common::{item, placeholders, show};
use skald_dynamo::apply::ReturnValues;
use skald_dynamo::error::ErrorKind;
use skald_dynamo::key::{KeySchema, KeyType};
use skald_dynamo::update::Update;
use skald_dynamo::value::Item;

/// The table may grow, never shrink.
const CASES_MIN: usize = 45;

const VALUES: &str = r##"{
    ":one": {"N": "1"}, ":two": {"N": "2"}, ":half": {"N": "0.5"}, ":neg": {"N": "-3"}, ":s": {"S": "x"},
    ":big": {"N": "99999999999999999999999999999999999999"}, ":tiny": {"N": "1e-130"}, ":e50": {"N": "1e50"},
    ":l1": {"L": [{"N": "1"}]}, ":l2": {"L": [{"S": "a"}, {"S": "b"}]}, ":empty_l": {"L": []},
    ":m": {"M": {"k": {"S": "v"}}}, ":ss": {"SS": ["a", "c"]}, ":ss_b": {"SS": ["b"]}, ":ns": {"NS": ["1", "3"]},
    ":bs": {"BS": ["AQ=="]}, ":t": {"BOOL": true}, ":null": {"NULL": true}, "#a": "a", "#dot": "x.y"
}"##;

#[rustfmt::skip]
const CASES: &[(&str, &str, &str)] = &[
    // ----- SET -----
    ("SET a = :s", "{}", r#"{"a":{"S":"x"}}"#),
    ("SET a = :s", r#"{"a":{"N":"1"}}"#, r#"{"a":{"S":"x"}}"#),
    ("SET a = :s, b = :one", "{}", r#"{"a":{"S":"x"},"b":{"N":"1"}}"#),
    ("SET #a = :t", "{}", r#"{"a":{"BOOL":true}}"#),
    ("SET #dot = :null", "{}", r#"{"x.y":{"NULL":true}}"#),
    ("SET a = b", r#"{"b":{"S":"q"}}"#, r#"{"a":{"S":"q"},"b":{"S":"q"}}"#),
    ("SET a = b, b = a", r#"{"a":{"N":"1"},"b":{"N":"2"}}"#, r#"{"a":{"N":"2"},"b":{"N":"1"}}"#),
    ("SET a.b = :s", r#"{"a":{"M":{}}}"#, r#"{"a":{"M":{"b":{"S":"x"}}}}"#),
    ("SET a.b.c = :one", r#"{"a":{"M":{"b":{"M":{"c":{"N":"0"}}}}}}"#, r#"{"a":{"M":{"b":{"M":{"c":{"N":"1"}}}}}}"#),
    ("SET a[0] = :s", r#"{"a":{"L":[{"N":"1"},{"N":"2"}]}}"#, r#"{"a":{"L":[{"S":"x"},{"N":"2"}]}}"#),
    ("SET a[5] = :s", r#"{"a":{"L":[{"N":"1"}]}}"#, r#"{"a":{"L":[{"N":"1"},{"S":"x"}]}}"#),
    ("SET a[7] = :s, a[5] = :one", r#"{"a":{"L":[]}}"#, r#"{"a":{"L":[{"S":"x"},{"N":"1"}]}}"#),
    ("SET a[1].k = :s", r#"{"a":{"L":[{"N":"1"},{"M":{}}]}}"#, r#"{"a":{"L":[{"N":"1"},{"M":{"k":{"S":"x"}}}]}}"#),
    ("SET a = :m", "{}", r#"{"a":{"M":{"k":{"S":"v"}}}}"#),
    // ----- arithmetic -----
    ("SET n = n + :one", r#"{"n":{"N":"41"}}"#, r#"{"n":{"N":"42"}}"#),
    ("SET n = n - :half", r#"{"n":{"N":"1"}}"#, r#"{"n":{"N":"0.5"}}"#),
    ("SET n = :one + :two", "{}", r#"{"n":{"N":"3"}}"#),
    ("SET n = :neg - n", r#"{"n":{"N":"-3"}}"#, r#"{"n":{"N":"0"}}"#),
    ("SET n = n + :big", r#"{"n":{"N":"1"}}"#, r#"{"n":{"N":"100000000000000000000000000000000000000"}}"#),
    ("SET n = (n + :one)", r#"{"n":{"N":"1"}}"#, r#"{"n":{"N":"2"}}"#),
    ("SET n = (n) + (:one)", r#"{"n":{"N":"1"}}"#, r#"{"n":{"N":"2"}}"#),
    ("SET n = if_not_exists(n, :one) + :two", "{}", r#"{"n":{"N":"3"}}"#),
    ("SET n = if_not_exists(n, :one) + :two", r#"{"n":{"N":"10"}}"#, r#"{"n":{"N":"12"}}"#),
    // ----- if_not_exists, list_append -----
    ("SET a = if_not_exists(a, :s)", "{}", r#"{"a":{"S":"x"}}"#),
    ("SET a = if_not_exists(a, :s)", r#"{"a":{"N":"1"}}"#, r#"{"a":{"N":"1"}}"#),
    ("SET a = if_not_exists(b, a)", r#"{"a":{"N":"1"}}"#, r#"{"a":{"N":"1"}}"#),
    ("SET a = list_append(a, :l2)", r#"{"a":{"L":[{"N":"1"}]}}"#, r#"{"a":{"L":[{"N":"1"},{"S":"a"},{"S":"b"}]}}"#),
    ("SET a = list_append(:l2, a)", r#"{"a":{"L":[{"N":"1"}]}}"#, r#"{"a":{"L":[{"S":"a"},{"S":"b"},{"N":"1"}]}}"#),
    ("SET a = list_append(if_not_exists(a, :empty_l), :l1)", "{}", r#"{"a":{"L":[{"N":"1"}]}}"#),
    // ----- REMOVE -----
    ("REMOVE a", r#"{"a":{"N":"1"},"b":{"N":"2"}}"#, r#"{"b":{"N":"2"}}"#),
    ("REMOVE absent", r#"{"b":{"N":"2"}}"#, r#"{"b":{"N":"2"}}"#),
    ("REMOVE a.b", r#"{"a":{"M":{"b":{"N":"1"},"c":{"N":"2"}}}}"#, r#"{"a":{"M":{"c":{"N":"2"}}}}"#),
    ("REMOVE a.z", r#"{"a":{"M":{"b":{"N":"1"}}}}"#, r#"{"a":{"M":{"b":{"N":"1"}}}}"#),
    ("REMOVE a[1]", r#"{"a":{"L":[{"N":"0"},{"N":"1"},{"N":"2"}]}}"#, r#"{"a":{"L":[{"N":"0"},{"N":"2"}]}}"#),
    ("REMOVE a[1], a[2]", r#"{"a":{"L":[{"N":"0"},{"N":"1"},{"N":"2"},{"N":"3"}]}}"#, r#"{"a":{"L":[{"N":"0"},{"N":"3"}]}}"#),
    ("REMOVE a[2], a[1]", r#"{"a":{"L":[{"N":"0"},{"N":"1"},{"N":"2"},{"N":"3"}]}}"#, r#"{"a":{"L":[{"N":"0"},{"N":"3"}]}}"#),
    ("REMOVE a[9]", r#"{"a":{"L":[{"N":"0"}]}}"#, r#"{"a":{"L":[{"N":"0"}]}}"#),
    ("SET a[1] = :s REMOVE a[0]", r#"{"a":{"L":[{"N":"0"},{"N":"1"}]}}"#, r#"{"a":{"L":[{"S":"x"}]}}"#),
    ("REMOVE a, b SET c = a", r#"{"a":{"N":"1"},"b":{"N":"2"}}"#, r#"{"c":{"N":"1"}}"#),
    // ----- ADD -----
    ("ADD n :one", r#"{"n":{"N":"1"}}"#, r#"{"n":{"N":"2"}}"#),
    ("ADD n :one", "{}", r#"{"n":{"N":"1"}}"#),
    ("ADD n :neg", r#"{"n":{"N":"1.5"}}"#, r#"{"n":{"N":"-1.5"}}"#),
    ("ADD s :ss", r#"{"s":{"SS":["a","b"]}}"#, r#"{"s":{"SS":["a","b","c"]}}"#),
    ("ADD s :ss", "{}", r#"{"s":{"SS":["a","c"]}}"#),
    ("ADD s :ns", r#"{"s":{"NS":["1.0","2"]}}"#, r#"{"s":{"NS":["1","2","3"]}}"#),
    ("ADD s :bs", r#"{"s":{"BS":["Ag=="]}}"#, r#"{"s":{"BS":["AQ==","Ag=="]}}"#),
    ("ADD m.n :one", r#"{"m":{"M":{}}}"#, r#"{"m":{"M":{"n":{"N":"1"}}}}"#),
    // ----- DELETE -----
    ("DELETE s :ss", r#"{"s":{"SS":["a","b","c"]}}"#, r#"{"s":{"SS":["b"]}}"#),
    ("DELETE s :ss", r#"{"s":{"SS":["a","c"]}}"#, "{}"),
    ("DELETE s :ss", "{}", "{}"),
    ("DELETE s :ss_b", r#"{"s":{"SS":["a"]}}"#, r#"{"s":{"SS":["a"]}}"#),
    ("DELETE s :ns", r#"{"s":{"NS":["3.0","4"]}}"#, r#"{"s":{"NS":["4"]}}"#),
    // ----- several sections -----
    ("SET a = :s REMOVE b ADD n :one DELETE s :ss", r#"{"b":{"N":"0"},"n":{"N":"1"},"s":{"SS":["a","z"]}}"#, r#"{"a":{"S":"x"},"n":{"N":"2"},"s":{"SS":["z"]}}"#),
    ("delete s :ss add n :one remove b set a = :s", r#"{"b":{"N":"0"},"n":{"N":"1"},"s":{"SS":["a","z"]}}"#, r#"{"a":{"S":"x"},"n":{"N":"2"},"s":{"SS":["z"]}}"#),
];

#[test]
fn update_table() {
    let p = placeholders(VALUES);
    for (expression, before, after) in CASES {
        let (update, _) = Update::parse(expression, &p).unwrap_or_else(|e| panic!("{expression}: {e}"));
        let outcome = update.apply(Some(&item(before)), &Item::new()).unwrap_or_else(|e| panic!("{expression}: {e}"));
        assert_eq!(show(&outcome.new), show(&item(after)), "{expression} on {before}");
    }
    assert!(CASES.len() >= CASES_MIN, "{} cases", CASES.len());
}

#[test]
fn runtime_errors() {
    let p = placeholders(VALUES);
    #[rustfmt::skip]
    let cases: &[(&str, &str, ErrorKind, &str)] = &[
        ("SET a = b", "{}", ErrorKind::MissingAttribute, "The provided expression refers to an attribute that does not exist in the item"),
        ("SET n = n + :one", "{}", ErrorKind::MissingAttribute, "The provided expression refers to an attribute that does not exist in the item"),
        ("SET a = list_append(a, :l1)", "{}", ErrorKind::MissingAttribute, "The provided expression refers to an attribute that does not exist in the item"),
        ("SET n = n + :one", r#"{"n":{"S":"1"}}"#, ErrorKind::IncorrectDataType, "An operand in the update expression has an incorrect data type"),
        ("SET a = list_append(a, :l1)", r#"{"a":{"S":"1"}}"#, ErrorKind::IncorrectDataType, "An operand in the update expression has an incorrect data type"),
        ("ADD n :one", r#"{"n":{"S":"1"}}"#, ErrorKind::IncorrectDataType, "An operand in the update expression has an incorrect data type"),
        ("ADD s :ss", r#"{"s":{"NS":["1"]}}"#, ErrorKind::IncorrectDataType, "An operand in the update expression has an incorrect data type"),
        ("DELETE s :ss", r#"{"s":{"S":"a"}}"#, ErrorKind::IncorrectDataType, "An operand in the update expression has an incorrect data type"),
        ("SET a.b = :s", "{}", ErrorKind::InvalidDocumentPath, "The document path provided in the update expression is invalid for update"),
        ("SET a.b = :s", r#"{"a":{"S":"x"}}"#, ErrorKind::InvalidDocumentPath, "The document path provided in the update expression is invalid for update"),
        ("SET a[0] = :s", r#"{"a":{"M":{}}}"#, ErrorKind::InvalidDocumentPath, "The document path provided in the update expression is invalid for update"),
        ("SET a.b.c = :s", r#"{"a":{"M":{}}}"#, ErrorKind::InvalidDocumentPath, "The document path provided in the update expression is invalid for update"),
        ("REMOVE a.b", "{}", ErrorKind::InvalidDocumentPath, "The document path provided in the update expression is invalid for update"),
        ("ADD a.n :one", "{}", ErrorKind::InvalidDocumentPath, "The document path provided in the update expression is invalid for update"),
        ("DELETE a.s :ss", "{}", ErrorKind::InvalidDocumentPath, "The document path provided in the update expression is invalid for update"),
        ("SET n = n + :one", r#"{"n":{"N":"99999999999999999999999999999999999999e88"}}"#, ErrorKind::NumberOverflow, "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("SET n = :e50 + :one", "{}", ErrorKind::NumberOverflow, "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("ADD n :tiny", r#"{"n":{"N":"1"}}"#, ErrorKind::NumberOverflow, "Number overflow. Attempting to store a number with magnitude larger than supported range"),
    ];
    for (expression, before, kind, message) in cases {
        let (update, _) = Update::parse(expression, &p).unwrap();
        let error = update.apply(Some(&item(before)), &Item::new()).expect_err(expression);
        assert_eq!((error.kind(), error.message()), (*kind, *message), "{expression} on {before}");
    }
}

#[test]
fn limits_on_the_result() {
    let p = placeholders(r#"{":big": {"S": "x"}}"#.replace('x', &"x".repeat(300 * 1024)).as_str());
    let (update, _) = Update::parse("SET a = :big, b = :big", &p).unwrap();
    let error = update.apply(None, &item(r#"{"pk":{"S":"k"}}"#)).unwrap_err();
    assert_eq!(error.message(), "Item size to update has exceeded the maximum allowed size");

    let deep = format!("{}{{\"N\":\"1\"}}{}", r#"{"L":["#.repeat(32), "]}".repeat(32));
    let p = placeholders(&format!(r#"{{":deep": {deep}}}"#));
    let (update, _) = Update::parse("SET a.b = :deep", &p).unwrap();
    let error = update.apply(Some(&item(r#"{"a":{"M":{}}}"#)), &Item::new()).unwrap_err();
    assert_eq!(error.message(), "Nesting Levels have exceeded supported limits");
    let (update, _) = Update::parse("SET a = :deep", &p).unwrap();
    assert!(update.apply(None, &Item::new()).is_ok());
}

#[test]
fn return_values() {
    let p = placeholders(VALUES);
    let before = item(
        r#"{"pk":{"S":"k"},"a":{"N":"1"},"m":{"M":{"x":{"N":"1"},"y":{"N":"2"}}},"gone":{"S":"g"},"keep":{"S":"k"}}"#,
    );
    let (update, _) = Update::parse("SET a = a + :one, m.x = :s REMOVE gone ADD fresh :one", &p).unwrap();
    let outcome = update.apply(Some(&before), &Item::new()).unwrap();
    let returned = |rv| outcome.returned(rv).map(|i| show(&i));
    assert_eq!(returned(ReturnValues::None), None);
    assert_eq!(returned(ReturnValues::AllOld), Some(show(&before)));
    assert_eq!(
        returned(ReturnValues::AllNew),
        Some(r#"{"a":{"N":"2"},"fresh":{"N":"1"},"keep":{"S":"k"},"m":{"M":{"x":{"S":"x"},"y":{"N":"2"}}},"pk":{"S":"k"}}"#.to_owned())
    );
    assert_eq!(
        returned(ReturnValues::UpdatedOld),
        Some(r#"{"a":{"N":"1"},"gone":{"S":"g"},"m":{"M":{"x":{"N":"1"}}}}"#.to_owned())
    );
    assert_eq!(
        returned(ReturnValues::UpdatedNew),
        Some(r#"{"a":{"N":"2"},"fresh":{"N":"1"},"m":{"M":{"x":{"S":"x"}}}}"#.to_owned())
    );

    // A new item: nothing old to return; the key starts the item.
    let (update, _) = Update::parse("SET a = :one", &p).unwrap();
    let outcome = update.apply(None, &item(r#"{"pk":{"S":"k"}}"#)).unwrap();
    assert_eq!(outcome.returned(ReturnValues::AllOld), None);
    assert_eq!(outcome.returned(ReturnValues::UpdatedOld), None);
    assert_eq!(
        outcome.returned(ReturnValues::AllNew).map(|i| show(&i)),
        Some(r#"{"a":{"N":"1"},"pk":{"S":"k"}}"#.to_owned())
    );
    assert_eq!(ReturnValues::parse("UPDATED_NEW"), Some(ReturnValues::UpdatedNew));
    assert_eq!(ReturnValues::parse("ALL"), None);

    // An append lands at the list's end, and UPDATED_NEW shows it there.
    let (update, _) = Update::parse("SET l[9] = :s", &p).unwrap();
    let outcome = update.apply(Some(&item(r#"{"l":{"L":[{"N":"0"}]}}"#)), &Item::new()).unwrap();
    assert_eq!(
        outcome.returned(ReturnValues::UpdatedNew).map(|i| show(&i)),
        Some(r#"{"l":{"L":[{"S":"x"}]}}"#.to_owned())
    );
}

#[test]
fn key_attributes_cannot_be_updated() {
    let p = placeholders(VALUES);
    let schema = KeySchema::partition("pk", KeyType::S).with_sort("sk", KeyType::N);
    for expression in ["SET pk = :s", "REMOVE sk", "ADD sk :one", "SET a = :s, pk.x = :s"] {
        let (update, _) = Update::parse(expression, &p).unwrap();
        let error = update.check_keys(&schema).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::KeyUpdate, "{expression}");
        assert!(
            error.message().starts_with("One or more parameter values were invalid: Cannot update attribute "),
            "{error}"
        );
        assert!(error.message().ends_with(". This attribute is part of the key"), "{error}");
    }
    let (update, _) = Update::parse("SET pkx = :s", &p).unwrap();
    assert!(update.check_keys(&schema).is_ok());
}
