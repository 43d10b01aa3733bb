//! Table-driven semantic tests: every `tests/cases/*.json` file holds an array of cases
//! `{name, definition, input, script?, status?, output?, error?, cause_contains?, events?,
//! task_inputs?, seed?}`. The script answers tasks in order: `{"ok": value}`, `{"err": name,
//! "cause": text}`, `{"heartbeat": true}`, `{"wait": seconds}`, `{"stop": name}`, each optionally
//! with `"resource"` to pick the oldest outstanding task of that resource. When the script is
//! used up and the execution still waits, the earliest timer fires. Every run must replay from its
//! history.

mod common;

use common::Driver;
use serde_json::Value;
use skald_asl::{Definition, Input};

fn run_case(case: &Value) -> Result<(), String> {
    let name = case["name"].as_str().unwrap_or("?");
    let def = Definition::from_value(&case["definition"]).map_err(|e| format!("{name}: definition rejected: {e:?}"))?;
    let input = case.get("input").cloned().unwrap_or(Value::Object(Default::default()));
    let seed = case.get("seed").and_then(|s| s.as_u64()).unwrap_or(7);
    let mut d = Driver::start_seeded(&def, input, seed);
    let script = case.get("script").and_then(|s| s.as_array()).cloned().unwrap_or_default();
    let mut steps = script.iter();
    let mut guard = 0;
    while d.running() {
        guard += 1;
        if guard > 10_000 {
            return Err(format!("{name}: did not finish"));
        }
        match steps.next() {
            Some(step) => {
                let resource = step.get("resource").and_then(|r| r.as_str());
                if let Some(out) = step.get("ok") {
                    if d.task(resource).is_none() {
                        return Err(format!(
                            "{name}: script answers a task but none is outstanding ({:?})",
                            d.event_types()
                        ));
                    }
                    d.succeed(resource, out.clone());
                } else if let Some(err) = step.get("err") {
                    if d.task(resource).is_none() {
                        return Err(format!(
                            "{name}: script fails a task but none is outstanding ({:?})",
                            d.event_types()
                        ));
                    }
                    d.fail(
                        resource,
                        err.as_str().unwrap_or(""),
                        step.get("cause").and_then(|c| c.as_str()).unwrap_or(""),
                    );
                } else if step.get("heartbeat").is_some() {
                    d.heartbeat(resource);
                } else if let Some(secs) = step.get("wait").and_then(|w| w.as_f64()) {
                    d.advance((secs * 1000.0) as u64);
                } else if let Some(err) = step.get("stop") {
                    d.send(Input::Stop { error: err.as_str().unwrap_or("").into(), cause: "stopped".into() });
                } else {
                    return Err(format!("{name}: unknown script step {step}"));
                }
            }
            None => {
                if !d.fire_next_timer() {
                    return Err(format!(
                        "{name}: stuck waiting (outstanding tasks {:?}); events {:?}",
                        d.tasks.values().map(|t| &t.resource).collect::<Vec<_>>(),
                        d.event_types()
                    ));
                }
            }
        }
    }
    let got = d.result();
    let want_status = case.get("status").and_then(|s| s.as_str()).unwrap_or("SUCCEEDED");
    if got["status"] != want_status {
        return Err(format!(
            "{name}: status {} (want {want_status}); result {got}; events {:?}",
            got["status"],
            d.event_types()
        ));
    }
    if let Some(out) = case.get("output") {
        if &got["output"] != out {
            return Err(format!("{name}: output {} want {out}", got["output"]));
        }
    }
    if let Some(err) = case.get("error") {
        if &got["error"] != err {
            return Err(format!("{name}: error {} want {err} (cause {})", got["error"], got["cause"]));
        }
    }
    if let Some(c) = case.get("cause_contains").and_then(|c| c.as_str()) {
        if !got["cause"].as_str().unwrap_or("").contains(c) {
            return Err(format!("{name}: cause {} does not contain {c:?}", got["cause"]));
        }
    }
    if let Some(events) = case.get("events") {
        let types: Vec<Value> = d.event_types().into_iter().map(Value::String).collect();
        if &Value::Array(types.clone()) != events {
            return Err(format!("{name}: events\n  got  {}\n  want {events}", Value::Array(types)));
        }
    }
    if let Some(inputs) = case.get("task_inputs") {
        let got: Vec<Value> = d.scheduled.iter().map(|t| t.input.clone()).collect();
        if &Value::Array(got.clone()) != inputs {
            return Err(format!("{name}: task inputs {} want {inputs}", Value::Array(got)));
        }
    }
    d.check_replay();
    Ok(())
}

#[test]
fn semantic_cases() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let (mut total, mut failures) = (0, Vec::new());
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "json")) {
        let text = std::fs::read_to_string(file).unwrap();
        let cases: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for case in &cases {
            total += 1;
            if let Err(e) = run_case(case) {
                failures.push(format!("{}: {e}", file.file_name().unwrap().to_string_lossy()));
            }
        }
    }
    println!("{total} semantic cases");
    assert!(failures.is_empty(), "{} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
    assert!(total > 0);
}
