//! Every Choice comparator, its `…Path` form, the `Is…` tests, StringMatches and the boolean
//! combinators, as a table of (rule, input) → matched / not matched / runtime error. Each row runs
//! an execution of `Choice → Yes | No (Default)`.

mod common;

use common::Driver;
use serde_json::{json, Value};
use skald_asl::Definition;

#[derive(Debug, PartialEq)]
enum Outcome {
    Yes,
    No,
    Error,
}

fn run(rule: Value, input: Value) -> Outcome {
    let mut rule = rule;
    rule["Next"] = json!("Yes");
    let def = Definition::from_value(&json!({
        "StartAt": "C",
        "States": {
            "C": { "Type": "Choice", "Choices": [rule], "Default": "No" },
            "Yes": { "Type": "Pass", "Result": "yes", "End": true },
            "No": { "Type": "Pass", "Result": "no", "End": true }
        }
    }))
    .unwrap_or_else(|e| panic!("rejected: {e:?}"));
    let d = Driver::start(&def, input);
    d.check_replay();
    match d.exec.output() {
        Some(v) if v == "yes" => Outcome::Yes,
        Some(_) => Outcome::No,
        None => Outcome::Error,
    }
}

#[test]
fn comparators() {
    use Outcome::*;
    let input = json!({
        "s": "abc", "n": 10, "f": 2.5, "b": true, "t": "2016-03-14T01:59:00Z", "z": null,
        "other_s": "abd", "other_n": 10.0, "other_b": true, "other_t": "2016-03-14T02:59:00+01:00",
        "file": "log-2024-01.txt", "arr": [1, 2], "old_t": "1960-02-29T00:00:00Z", "fine_t": "2016-03-14T01:59:00.0009Z"
    });
    let table: Vec<(Value, Outcome)> = vec![
        (json!({"Variable": "$.s", "StringEquals": "abc"}), Yes),
        (json!({"Variable": "$.s", "StringEquals": "abd"}), No),
        (json!({"Variable": "$.n", "StringEquals": "10"}), No),
        (json!({"Variable": "$.s", "StringEqualsPath": "$.other_s"}), No),
        (json!({"Variable": "$.s", "StringLessThan": "abd"}), Yes),
        (json!({"Variable": "$.s", "StringLessThanPath": "$.other_s"}), Yes),
        (json!({"Variable": "$.s", "StringGreaterThan": "abb"}), Yes),
        (json!({"Variable": "$.s", "StringGreaterThanPath": "$.other_s"}), No),
        (json!({"Variable": "$.s", "StringLessThanEquals": "abc"}), Yes),
        (json!({"Variable": "$.s", "StringLessThanEqualsPath": "$.s"}), Yes),
        (json!({"Variable": "$.s", "StringGreaterThanEquals": "abc"}), Yes),
        (json!({"Variable": "$.s", "StringGreaterThanEqualsPath": "$.other_s"}), No),
        (json!({"Variable": "$.file", "StringMatches": "log-*.txt"}), Yes),
        (json!({"Variable": "$.file", "StringMatches": "log-*.csv"}), No),
        (json!({"Variable": "$.file", "StringMatches": "*"}), Yes),
        (json!({"Variable": "$.n", "NumericEquals": 10}), Yes),
        (json!({"Variable": "$.n", "NumericEqualsPath": "$.other_n"}), Yes),
        (json!({"Variable": "$.s", "NumericEquals": 10}), No),
        (json!({"Variable": "$.f", "NumericLessThan": 3}), Yes),
        (json!({"Variable": "$.f", "NumericLessThanPath": "$.n"}), Yes),
        (json!({"Variable": "$.f", "NumericGreaterThan": 2.5}), No),
        (json!({"Variable": "$.n", "NumericGreaterThanPath": "$.f"}), Yes),
        (json!({"Variable": "$.f", "NumericLessThanEquals": 2.5}), Yes),
        (json!({"Variable": "$.n", "NumericLessThanEqualsPath": "$.other_n"}), Yes),
        (json!({"Variable": "$.f", "NumericGreaterThanEquals": 2.5}), Yes),
        (json!({"Variable": "$.f", "NumericGreaterThanEqualsPath": "$.n"}), No),
        (json!({"Variable": "$.b", "BooleanEquals": true}), Yes),
        (json!({"Variable": "$.b", "BooleanEquals": false}), No),
        (json!({"Variable": "$.b", "BooleanEqualsPath": "$.other_b"}), Yes),
        (json!({"Variable": "$.s", "BooleanEquals": true}), No),
        (json!({"Variable": "$.t", "TimestampEquals": "2016-03-14T01:59:00Z"}), Yes),
        (json!({"Variable": "$.t", "TimestampEqualsPath": "$.other_t"}), Yes),
        (json!({"Variable": "$.t", "TimestampLessThan": "2016-03-14T02:00:00Z"}), Yes),
        (json!({"Variable": "$.t", "TimestampLessThanPath": "$.other_t"}), No),
        (json!({"Variable": "$.t", "TimestampGreaterThan": "2016-03-14T01:58:59Z"}), Yes),
        (json!({"Variable": "$.t", "TimestampGreaterThanPath": "$.other_t"}), No),
        (json!({"Variable": "$.t", "TimestampLessThanEquals": "2016-03-14T01:59:00Z"}), Yes),
        (json!({"Variable": "$.t", "TimestampLessThanEqualsPath": "$.other_t"}), Yes),
        (json!({"Variable": "$.t", "TimestampGreaterThanEquals": "2016-03-14T01:59:00Z"}), Yes),
        (json!({"Variable": "$.t", "TimestampGreaterThanEqualsPath": "$.other_t"}), Yes),
        (json!({"Variable": "$.s", "TimestampEquals": "2016-03-14T01:59:00Z"}), No),
        // Times before 1970 keep their order; times compare to the millisecond, as Step Functions records them.
        (json!({"Variable": "$.old_t", "TimestampLessThan": "1965-01-01T00:00:00-05:00"}), Yes),
        (json!({"Variable": "$.old_t", "TimestampGreaterThan": "1960-02-28T23:59:59.999Z"}), Yes),
        (json!({"Variable": "$.old_t", "IsTimestamp": true}), Yes),
        (json!({"Variable": "$.fine_t", "TimestampEqualsPath": "$.t"}), Yes),
        (json!({"Variable": "$.z", "IsNull": true}), Yes),
        (json!({"Variable": "$.s", "IsNull": true}), No),
        (json!({"Variable": "$.s", "IsNull": false}), Yes),
        (json!({"Variable": "$.s", "IsPresent": true}), Yes),
        (json!({"Variable": "$.missing", "IsPresent": true}), No),
        (json!({"Variable": "$.missing", "IsPresent": false}), Yes),
        (json!({"Variable": "$.z", "IsPresent": true}), Yes),
        (json!({"Variable": "$.n", "IsNumeric": true}), Yes),
        (json!({"Variable": "$.s", "IsNumeric": true}), No),
        (json!({"Variable": "$.s", "IsString": true}), Yes),
        (json!({"Variable": "$.n", "IsString": false}), Yes),
        (json!({"Variable": "$.b", "IsBoolean": true}), Yes),
        (json!({"Variable": "$.z", "IsBoolean": true}), No),
        (json!({"Variable": "$.t", "IsTimestamp": true}), Yes),
        (json!({"Variable": "$.s", "IsTimestamp": true}), No),
        (json!({"Variable": "$.arr[0]", "NumericEquals": 1}), Yes),
        (
            json!({"And": [{"Variable": "$.n", "NumericGreaterThan": 5}, {"Variable": "$.s", "StringEquals": "abc"}]}),
            Yes,
        ),
        (
            json!({"And": [{"Variable": "$.n", "NumericGreaterThan": 50}, {"Variable": "$.s", "StringEquals": "abc"}]}),
            No,
        ),
        (
            json!({"Or": [{"Variable": "$.n", "NumericGreaterThan": 50}, {"Variable": "$.s", "StringEquals": "abc"}]}),
            Yes,
        ),
        (json!({"Or": [{"Variable": "$.n", "NumericGreaterThan": 50}, {"Variable": "$.s", "StringEquals": "x"}]}), No),
        (json!({"Not": {"Variable": "$.s", "StringEquals": "abc"}}), No),
        (json!({"Not": {"Variable": "$.s", "StringEquals": "x"}}), Yes),
        (
            json!({"And": [{"Not": {"Variable": "$.z", "IsNull": false}}, {"Or": [{"Variable": "$.b", "BooleanEquals": false}, {"Variable": "$.f", "NumericEquals": 2.5}]}]}),
            Yes,
        ),
        // Short-circuit: the missing path in the second rule is never evaluated.
        (
            json!({"Or": [{"Variable": "$.b", "BooleanEquals": true}, {"Variable": "$.missing", "NumericEquals": 1}]}),
            Yes,
        ),
        // A Variable that matches nothing is an error (except for IsPresent).
        (json!({"Variable": "$.missing", "StringEquals": "x"}), Error),
        (json!({"Variable": "$.missing", "IsNull": true}), Error),
        (json!({"Variable": "$.s", "StringEqualsPath": "$.missing"}), Error),
        // Variables and the context object in rules.
        (json!({"Variable": "$$.Execution.Name", "StringEquals": "test-1"}), Yes),
        (json!({"Variable": "$$.State.Name", "StringEquals": "C"}), Yes),
    ];
    let mut failures = Vec::new();
    for (rule, want) in table {
        let got = run(rule.clone(), input.clone());
        if got != want {
            failures.push(format!("{rule}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_match_without_default_fails() {
    let def = Definition::from_value(&json!({
        "StartAt": "C",
        "States": {
            "C": { "Type": "Choice", "Choices": [{"Variable": "$.a", "NumericEquals": 1, "Next": "Y"}] },
            "Y": { "Type": "Succeed" }
        }
    }))
    .unwrap();
    let d = Driver::start(&def, json!({"a": 2}));
    assert_eq!(d.exec.error().unwrap().error, "States.NoChoiceMatched");
    assert_eq!(d.event_types(), ["ExecutionStarted", "ChoiceStateEntered", "ExecutionFailed"]);
    let d = Driver::start(&def, json!({"a": 1}));
    assert_eq!(d.exec.output(), Some(&json!({"a": 1})));
    assert_eq!(
        d.event_types(),
        [
            "ExecutionStarted",
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[test]
fn choice_rule_validation() {
    let bad: Vec<(Value, &str)> = vec![
        (json!({"Variable": "$.a", "StringEquals": 1, "Next": "Y"}), "/States/C/Choices/0/StringEquals"),
        (json!({"Variable": "$.a", "NumericEquals": "1", "Next": "Y"}), "/States/C/Choices/0/NumericEquals"),
        (
            json!({"Variable": "$.a", "TimestampEquals": "yesterday", "Next": "Y"}),
            "/States/C/Choices/0/TimestampEquals",
        ),
        (json!({"Variable": "$.a", "IsNull": "yes", "Next": "Y"}), "/States/C/Choices/0/IsNull"),
        (json!({"Variable": "$.a", "StringEqualsPath": "nope", "Next": "Y"}), "/States/C/Choices/0/StringEqualsPath"),
        (json!({"Variable": "$.a", "Bogus": 1, "Next": "Y"}), "/States/C/Choices/0/Bogus"),
        (json!({"Variable": "$.a", "Next": "Y"}), "/States/C/Choices/0"),
        (json!({"StringEquals": "x", "Next": "Y"}), "/States/C/Choices/0/Variable"),
        (json!({"Variable": "$.a", "StringEquals": "x"}), "/States/C/Choices/0/Next"),
        (json!({"Variable": "$.a", "StringEquals": "x", "Next": "Nowhere"}), "/States/C/Choices/0/Next"),
        (json!({"And": [], "Next": "Y"}), "/States/C/Choices/0/And"),
        (
            json!({"Not": {"Variable": "$.a", "StringEquals": "x", "Next": "Y"}, "Next": "Y"}),
            "/States/C/Choices/0/Not/Next",
        ),
        (json!({"Variable": "a", "StringEquals": "x", "Next": "Y"}), "/States/C/Choices/0/Variable"),
    ];
    for (rule, field) in bad {
        let errors = Definition::from_value(&json!({
            "StartAt": "C",
            "States": { "C": { "Type": "Choice", "Choices": [rule], "Default": "Y" }, "Y": { "Type": "Succeed" } }
        }))
        .expect_err(&rule.to_string());
        assert!(
            errors.iter().any(|e| e.state.as_deref() == Some("C") && e.field == field),
            "{rule}: want {field}, got {errors:?}"
        );
    }
}
