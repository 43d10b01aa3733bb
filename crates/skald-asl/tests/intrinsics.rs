//! Every intrinsic function, as a table of (expression, input) → result, with the examples of the
//! Step Functions documentation as expected values where it gives them. Each row runs a real
//! execution (a Pass state with `Parameters: {"r.$": expression}`).

mod common;

use common::Driver;
use serde_json::{json, Value};
use skald_asl::Definition;

fn eval(expr: &str, input: Value) -> Result<Value, String> {
    let def = Definition::from_value(&json!({
        "StartAt": "P",
        "States": { "P": { "Type": "Pass", "Parameters": { "r.$": expr }, "End": true } }
    }))
    .map_err(|e| format!("definition rejected: {e:?}"))?;
    let d = Driver::start(&def, input);
    d.check_replay();
    match d.exec.output() {
        Some(out) => Ok(out["r"].clone()),
        None => Err(d.exec.error().map(|e| format!("{}: {}", e.error, e.cause)).unwrap_or_default()),
    }
}

#[test]
fn intrinsic_values() {
    let nine = json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5, "lookingFor": 5});
    let table: Vec<(&str, Value, Value)> = vec![
        ("States.Format('Hello, my name is {}.', $.name)", json!({"name": "Arnav"}), json!("Hello, my name is Arnav.")),
        ("States.Format('{} {} {} {}', $.n, $.b, $.z, 'x')", json!({"n": 1.5, "b": true, "z": null}), json!("1.5 true null x")),
        ("States.Format('\\{{}\\} it\\'s', $.n)", json!({"n": 5}), json!("{5} it's")),
        ("States.Format('no holes')", json!({}), json!("no holes")),
        ("States.StringToJson($.escapedJsonString)", json!({"escapedJsonString": "{\"foo\": \"bar\"}"}), json!({"foo": "bar"})),
        ("States.JsonToString($.unescapedJson)", json!({"unescapedJson": {"foo": "bar"}}), json!("{\"foo\":\"bar\"}")),
        ("States.Array($.Id)", json!({"Id": 123456}), json!([123456])),
        ("States.Array('a', 1, true, null, $.x)", json!({"x": {"y": 1}}), json!(["a", 1, true, null, {"y": 1}])),
        ("States.Array()", json!({}), json!([])),
        ("States.ArrayPartition($.inputArray, 4)", nine.clone(), json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]])),
        ("States.ArrayPartition($.inputArray, 20)", nine.clone(), json!([[1, 2, 3, 4, 5, 6, 7, 8, 9]])),
        ("States.ArrayContains($.inputArray, $.lookingFor)", nine.clone(), json!(true)),
        ("States.ArrayContains($.inputArray, 10)", nine.clone(), json!(false)),
        ("States.ArrayContains($.a, $.o)", json!({"a": [{"k": [1]}], "o": {"k": [1.0]}}), json!(true)),
        ("States.ArrayRange(1, 9, 2)", json!({}), json!([1, 3, 5, 7, 9])),
        ("States.ArrayRange(10, 0, -5)", json!({}), json!([10, 5, 0])),
        ("States.ArrayRange(1, 0, 1)", json!({}), json!([])),
        ("States.ArrayGetItem($.inputArray, $.index)", nine.clone(), json!(6)),
        ("States.ArrayLength($.inputArray)", nine.clone(), json!(9)),
        ("States.ArrayUnique($.inputArray)", json!({"inputArray": [1, 2, 3, 3, 3, 3, 3, 3, 4]}), json!([1, 2, 3, 4])),
        ("States.Base64Encode($.input)", json!({"input": "Data to encode"}), json!("RGF0YSB0byBlbmNvZGU=")),
        ("States.Base64Decode($.base64)", json!({"base64": "RGF0YSB0byBlbmNvZGU="}), json!("Data to encode")),
        ("States.Hash($.Data, $.Algorithm)", json!({"Data": "input data", "Algorithm": "SHA-1"}), json!("aaff4a450a104cd177d28d18d74485e8cae074b7")),
        ("States.Hash('input data', 'MD5')", json!({}), json!("812f45842bc6d66ee14572ce20db8e86")),
        ("States.Hash('input data', 'SHA-256')", json!({}), json!("b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3")),
        (
            "States.Hash('input data', 'SHA-384')",
            json!({}),
            json!("d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562"),
        ),
        (
            "States.Hash('input data', 'SHA-512')",
            json!({}),
            json!("6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4"),
        ),
        (
            "States.JsonMerge($.json1, $.json2, false)",
            json!({"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}}),
            json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3}),
        ),
        ("States.MathRandom(5, 5)", json!({}), json!(5)),
        ("States.ArrayContains(States.ArrayRange(1, 10, 1), States.MathRandom(1, 10))", json!({}), json!(true)),
        ("States.ArrayContains(States.ArrayRange(1, 999, 1), States.MathRandom($.start, $.end, 42))", json!({"start": 1, "end": 999}), json!(true)),
        ("States.MathAdd($.value1, $.step)", json!({"value1": 111, "step": -1}), json!(110)),
        ("States.StringSplit($.inputString, $.splitter)", json!({"inputString": "1,2,3,4,5", "splitter": ","}), json!(["1", "2", "3", "4", "5"])),
        (
            "States.StringSplit($.inputString, $.splitter)",
            json!({"inputString": "This.is+a,test=string", "splitter": ".+,="}),
            json!(["This", "is", "a", "test", "string"]),
        ),
        ("States.ArrayLength(States.StringSplit(States.UUID(), '-'))", json!({}), json!(5)),
        // Nesting, as in the Step Functions documentation's ARN example.
        (
            "States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1))",
            json!({"ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:111122223333:image-recipe/external-client-image/1.0.2"}}),
            json!("1.0"),
        ),
        ("States.JsonToString(States.StringToJson('[1, {\"a\": null}]'))", json!({}), json!("[1,{\"a\":null}]")),
        ("States.Format('{}', $$.Execution.Name)", json!({}), json!("test-1")),
    ];
    let mut failures = Vec::new();
    for (expr, input, want) in &table {
        match eval(expr, input.clone()) {
            Ok(got) if &got == want => {}
            other => failures.push(format!("{expr}: got {other:?}, want {want}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seeded_random_and_uuid_are_deterministic() {
    let a = eval("States.Array(States.MathRandom(1, 1000000), States.UUID())", json!({})).unwrap();
    let b = eval("States.Array(States.MathRandom(1, 1000000), States.UUID())", json!({})).unwrap();
    assert_eq!(a, b, "same execution seed, same numbers");
    let s1 = eval("States.MathRandom(1, 1000000, 9)", json!({})).unwrap();
    let s2 = eval("States.MathRandom(1, 1000000, 9)", json!({})).unwrap();
    assert_eq!(s1, s2);
    let uuid = a[1].as_str().unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "4");
}

#[test]
fn intrinsic_runtime_failures() {
    let table: Vec<(&str, Value, &str)> = vec![
        ("States.ArrayGetItem($.a, 3)", json!({"a": [1]}), "out of bounds"),
        ("States.Hash('x', 'SHA-3')", json!({}), "unknown algorithm"),
        ("States.StringToJson('{nope')", json!({}), "not valid JSON"),
        ("States.MathAdd(1.5, 1)", json!({}), "integers"),
        ("States.JsonMerge($.a, $.a, true)", json!({"a": {}}), "shallow"),
        ("States.ArrayRange(1, 5000, 1)", json!({}), "at most 1000"),
        ("States.ArrayRange(1, 5, 0)", json!({}), "step"),
        ("States.Base64Decode('***')", json!({}), "base64"),
        ("States.ArrayPartition($.a, 0)", json!({"a": [1]}), "positive"),
        ("States.ArrayLength($.missing)", json!({}), "could not be found"),
        ("States.Format('{}', $.o)", json!({"o": {"a": 1}}), "strings, numbers"),
        ("States.MathRandom(5, 1)", json!({}), "less than start"),
    ];
    for (expr, input, cause) in table {
        let err = eval(expr, input).expect_err(expr);
        assert!(err.starts_with("States.Runtime"), "{expr}: {err}");
        assert!(err.contains(cause), "{expr}: {err} lacks {cause:?}");
    }
}

#[test]
fn intrinsic_syntax_errors_are_validation_errors() {
    let bad = [
        "States.Nope($.a)",
        "States.Format('{} {}', $.a)",
        "States.ArrayLength()",
        "States.ArrayLength($.a, $.b)",
        "States.UUID(1)",
        "States.Array('unterminated)",
        "States.Array($.a",
        "States.Array(@)",
        "States.Array($.a) trailing",
        "States.Array('bad \\n escape')",
        "States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(1)))))))))))",
    ];
    for expr in bad {
        let errors = Definition::from_value(&json!({
            "StartAt": "P",
            "States": { "P": { "Type": "Pass", "Parameters": { "r.$": expr }, "End": true } }
        }))
        .expect_err(expr);
        assert_eq!(errors.len(), 1, "{expr}: {errors:?}");
        assert_eq!(errors[0].state.as_deref(), Some("P"));
        assert_eq!(errors[0].field, "/States/P/Parameters/r.$", "{expr}");
    }
}
