//! Validation at definition time: each row is a definition and the (state, field) pairs that must
//! be reported. All problems are collected, not only the first.

use serde_json::{json, Value};
use skald_asl::{Definition, ValidationError};

fn errors(def: Value) -> Vec<ValidationError> {
    Definition::from_value(&def).err().unwrap_or_default()
}

fn has(errors: &[ValidationError], state: Option<&str>, field: &str) -> bool {
    errors.iter().any(|e| e.state.as_deref() == state && e.field == field)
}

/// Where an error must be reported: (state, JSON pointer).
type Expected<'a> = Vec<(Option<&'a str>, &'a str)>;

#[test]
fn reports_state_and_field() {
    let pass_end = json!({"Type": "Pass", "End": true});
    let table: Vec<(Value, Expected)> = vec![
        (json!({"States": {"A": pass_end}}), vec![(None, "/StartAt")]),
        (json!({"StartAt": "A"}), vec![(None, "/States")]),
        (json!({"StartAt": "A", "States": {}}), vec![(None, "/States")]),
        (json!({"StartAt": "B", "States": {"A": pass_end}}), vec![(None, "/StartAt")]),
        (json!({"StartAt": "A", "States": {"A": pass_end}, "Bogus": 1}), vec![(None, "/Bogus")]),
        (json!({"StartAt": "A", "States": {"A": pass_end}, "TimeoutSeconds": 0}), vec![(None, "/TimeoutSeconds")]),
        (json!({"StartAt": "A", "States": {"A": pass_end}, "Version": 1}), vec![(None, "/Version")]),
        (
            json!({"StartAt": "A", "States": {"A": pass_end}, "QueryLanguage": "JSONata"}),
            vec![(None, "/QueryLanguage")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "QueryLanguage": "JSONata", "End": true}}}),
            vec![(Some("A"), "/States/A/QueryLanguage")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Output": "{% $x %}", "End": true}}}),
            vec![(Some("A"), "/States/A/Output")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Frobnicate", "End": true}}}),
            vec![(Some("A"), "/States/A/Type")],
        ),
        (json!({"StartAt": "A", "States": {"A": {"End": true}}}), vec![(Some("A"), "/States/A/Type")]),
        (json!({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}), vec![(Some("A"), "/States/A")]),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A", "End": true}}}),
            vec![(Some("A"), "/States/A/End")],
        ),
        (json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": false}}}), vec![(Some("A"), "/States/A/End")]),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}),
            vec![(Some("A"), "/States/A/Next")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": pass_end, "Orphan": pass_end}}),
            vec![(Some("Orphan"), "/States/Orphan")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Resource": "x", "End": true}}}),
            vec![(Some("A"), "/States/A/Resource")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Succeed", "Next": "A"}}}),
            vec![(Some("A"), "/States/A/Next")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}}}),
            vec![(Some("A"), "/States/A/Error")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Fail", "CausePath": "States.Nope()"}}}),
            vec![(Some("A"), "/States/A/CausePath")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [], "End": true}}}),
            vec![(Some("A"), "/States/A/Choices"), (Some("A"), "/States/A/End")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "B"}], "Default": "Z"}, "B": {"Type": "Succeed"}}}),
            vec![(Some("A"), "/States/A/Default")],
        ),
        // Paths.
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "InputPath": "a.b", "End": true}}}),
            vec![(Some("A"), "/States/A/InputPath")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "OutputPath": "$.[", "End": true}}}),
            vec![(Some("A"), "/States/A/OutputPath")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "ResultPath": "$.a[*]", "End": true}}}),
            vec![(Some("A"), "/States/A/ResultPath")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "ResultPath": "$$.a", "End": true}}}),
            vec![(Some("A"), "/States/A/ResultPath")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"x.$": "nope"}, "End": true}}}),
            vec![(Some("A"), "/States/A/Parameters/x.$")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"x.$": 1}, "End": true}}}),
            vec![(Some("A"), "/States/A/Parameters/x.$")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "ResultSelector": {"x.$": "$.[bad"}, "End": true}}}),
            vec![(Some("A"), "/States/A/ResultSelector/x.$")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": {"1bad": 1, "ok": 2}, "End": true}}}),
            vec![(Some("A"), "/States/A/Assign/1bad")],
        ),
        // Task fields.
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "End": true}}}),
            vec![(Some("A"), "/States/A/Resource")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "TimeoutSeconds": 10, "TimeoutSecondsPath": "$.t", "End": true}}}),
            vec![(Some("A"), "/States/A/TimeoutSeconds")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "TimeoutSeconds": 10, "HeartbeatSeconds": 10, "End": true}}}),
            vec![(Some("A"), "/States/A/HeartbeatSeconds")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "HeartbeatSecondsPath": "$.h[*]", "End": true}}}),
            vec![(Some("A"), "/States/A/HeartbeatSecondsPath")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "TimeoutSeconds": -1, "End": true}}}),
            vec![(Some("A"), "/States/A/TimeoutSeconds")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "x.waitForTaskToken", "Parameters": {"t.$": "$.token"}, "End": true}}}),
            vec![(Some("A"), "/States/A/Parameters")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "x.waitForTaskToken", "End": true}}}),
            vec![(Some("A"), "/States/A/Parameters")],
        ),
        // Retry and Catch.
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "Retry": [{"ErrorEquals": []}], "End": true}}}),
            vec![(Some("A"), "/States/A/Retry/0/ErrorEquals")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "Retry": [{"ErrorEquals": ["States.ALL", "X"]}], "End": true}}}),
            vec![(Some("A"), "/States/A/Retry/0/ErrorEquals")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}], "End": true}}}),
            vec![(Some("A"), "/States/A/Retry/0/ErrorEquals")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "Retry": [{"ErrorEquals": ["States.Bogus"]}], "End": true}}}),
            vec![(Some("A"), "/States/A/Retry/0/ErrorEquals/0")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5, "MaxAttempts": -1, "IntervalSeconds": 0, "JitterStrategy": "SOME", "MaxDelaySeconds": 0, "Extra": 1}], "End": true}}}),
            vec![
                (Some("A"), "/States/A/Retry/0/BackoffRate"),
                (Some("A"), "/States/A/Retry/0/MaxAttempts"),
                (Some("A"), "/States/A/Retry/0/IntervalSeconds"),
                (Some("A"), "/States/A/Retry/0/JitterStrategy"),
                (Some("A"), "/States/A/Retry/0/MaxDelaySeconds"),
                (Some("A"), "/States/A/Retry/0/Extra"),
            ],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "Catch": [{"ErrorEquals": ["X"]}], "End": true}}}),
            vec![(Some("A"), "/States/A/Catch/0/Next")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "Catch": [{"ErrorEquals": ["X"], "Next": "Gone"}], "End": true}}}),
            vec![(Some("A"), "/States/A/Catch/0/Next")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "Catch": [{"ErrorEquals": ["X"], "Next": "A", "ResultPath": "$.a[0:1]"}], "End": true}}}),
            vec![(Some("A"), "/States/A/Catch/0/ResultPath")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Retry": [], "End": true}}}),
            vec![(Some("A"), "/States/A/Retry")],
        ),
        // Wait.
        (json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "End": true}}}), vec![(Some("A"), "/States/A")]),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 1, "Timestamp": "2020-01-01T00:00:00Z", "End": true}}}),
            vec![(Some("A"), "/States/A")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "Timestamp": "tomorrow", "End": true}}}),
            vec![(Some("A"), "/States/A/Timestamp")],
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": -5, "End": true}}}),
            vec![(Some("A"), "/States/A/Seconds")],
        ),
        // Parallel and Map, with errors inside their machines.
        (
            json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [], "End": true}}}),
            vec![(Some("P"), "/States/P/Branches")],
        ),
        (
            json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Outside"}}}], "End": true}, "Outside": pass_end}}),
            vec![(Some("X"), "/States/P/Branches/0/States/X/Next"), (Some("Outside"), "/States/Outside")],
        ),
        (
            json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [{"StartAt": "Y", "States": {"X": pass_end}}], "End": true}}}),
            vec![(Some("P"), "/States/P/Branches/0/StartAt")],
        ),
        (json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true}}}), vec![(Some("M"), "/States/M")]),
        (
            json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "X", "States": {"X": pass_end}}, "ItemReader": {}, "End": true}}}),
            vec![(Some("M"), "/States/M/ItemProcessor/ProcessorConfig/Mode"), (Some("M"), "/States/M/ItemReader")],
        ),
        (
            json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"StartAt": "X", "States": {"X": pass_end}}, "Iterator": {"StartAt": "X", "States": {"X": pass_end}}, "End": true}}}),
            vec![(Some("M"), "/States/M/Iterator")],
        ),
        (
            json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemSelector": {}, "Parameters": {}, "ItemProcessor": {"StartAt": "X", "States": {"X": pass_end}}, "End": true}}}),
            vec![(Some("M"), "/States/M/Parameters")],
        ),
        (
            json!({"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": 1.5, "ToleratedFailurePercentage": 150, "ToleratedFailureCount": 1, "ToleratedFailureCountPath": "$.c", "ItemsPath": "$.a[*]", "ItemProcessor": {"StartAt": "X", "States": {"X": pass_end}}, "End": true}}}),
            vec![
                (Some("M"), "/States/M/MaxConcurrency"),
                (Some("M"), "/States/M/ToleratedFailurePercentage"),
                (Some("M"), "/States/M/ToleratedFailureCount"),
                (Some("M"), "/States/M/ItemsPath"),
            ],
        ),
        (
            json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "QueryLanguage": "JSONata", "End": true}}}, "End": true}}}),
            vec![(Some("X"), "/States/M/ItemProcessor/States/X/QueryLanguage")],
        ),
    ];
    let mut failures = Vec::new();
    for (def, want) in &table {
        let errs = errors(def.clone());
        if errs.is_empty() {
            failures.push(format!("accepted: {def}"));
            continue;
        }
        for (state, field) in want {
            if !has(&errs, *state, field) {
                failures.push(format!("{def}\n   missing ({state:?}, {field}); got {errs:?}"));
            }
        }
        for e in &errs {
            assert!(!e.message.is_empty());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn collects_every_error() {
    let errs = errors(json!({
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Next": "Nowhere", "InputPath": "bad"},
            "B": {"Type": "Nope"},
            "C": {"Type": "Wait", "Seconds": 1}
        }
    }));
    assert!(has(&errs, Some("A"), "/States/A/Resource"), "{errs:?}");
    assert!(has(&errs, Some("A"), "/States/A/InputPath"), "{errs:?}");
    assert!(has(&errs, Some("B"), "/States/B/Type"), "{errs:?}");
    assert!(has(&errs, Some("C"), "/States/C"), "{errs:?}");
    assert!(errs.len() >= 4);
}

#[test]
fn graph_errors_are_all_reported() {
    let errs = errors(json!({
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "Nowhere"},
            "B": {"Type": "Pass", "End": true},
            "C": {"Type": "Pass", "Next": "B"}
        }
    }));
    assert!(has(&errs, Some("A"), "/States/A/Next"));
    assert!(has(&errs, Some("B"), "/States/B"));
    assert!(has(&errs, Some("C"), "/States/C"));
    assert_eq!(errs.len(), 3, "{errs:?}");
}

#[test]
fn text_errors_and_limits() {
    let errs = Definition::parse("{not json").unwrap_err();
    assert_eq!(errs[0].field, "");
    let errs = Definition::parse("[1]").unwrap_err();
    assert_eq!(errs[0].field, "");
    let long = "x".repeat(81);
    let errs = errors(json!({"StartAt": long, "States": {long.clone(): {"Type": "Succeed"}}}));
    assert!(errs[0].message.contains("80"), "{errs:?}");
    // Deep nesting is bounded.
    let mut machine = json!({"StartAt": "X", "States": {"X": {"Type": "Succeed"}}});
    for _ in 0..20 {
        machine = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [machine], "End": true}}});
    }
    let errs = errors(machine);
    assert!(errs.iter().any(|e| e.message.contains("nest deeper")), "{errs:?}");
    let display = errs[0].to_string();
    assert!(display.contains("state \"P\""), "{display}");
}

#[test]
fn accepts_a_full_definition_and_round_trips_through_serde() {
    let def = Definition::from_value(&json!({
        "Comment": "all the top-level fields",
        "Version": "1.0",
        "TimeoutSeconds": 300,
        "QueryLanguage": "JSONPath",
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Comment": "c", "QueryLanguage": "JSONPath", "End": true}}
    }))
    .unwrap();
    assert_eq!(def.comment(), Some("all the top-level fields"));
    assert_eq!(def.version(), Some("1.0"));
    assert_eq!(def.timeout_seconds(), Some(300));
    let text = serde_json::to_string(&def).unwrap();
    let back: Definition = serde_json::from_str(&text).unwrap();
    assert_eq!(back, def);
}
