//! Size and scale: a large inline Map finishes quickly and stays within the history limit.

mod common;

use std::time::Instant;

use common::Driver;
use serde_json::json;
use skald_asl::{Definition, ExecutionStatus};

#[test]
fn a_large_map_with_a_large_input() {
    let def = Definition::from_value(&json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.xs",
        "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
        "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "OutputPath": "$.i", "End": true}}},
        "ResultSelector": {"n.$": "States.ArrayLength($)"}, "End": true}}}))
    .unwrap();
    let xs: Vec<u32> = (0..4000).collect();
    let started = Instant::now();
    let d = Driver::start(&def, json!({"xs": xs, "blob": "z".repeat(150 * 1024)}));
    let took = started.elapsed();
    assert_eq!(d.exec.status(), ExecutionStatus::Succeeded, "{:?}", d.exec.error());
    assert_eq!(d.exec.output(), Some(&json!({"n": 4000})));
    assert!(d.history.len() < skald_asl::limits::HISTORY_EVENTS_MAX);
    println!("4000 iterations, {} events, {took:?}", d.history.len());
    assert!(took.as_secs() < 20, "{took:?}");
}

#[test]
fn too_many_iterations_hit_the_history_limit() {
    let def = Definition::from_value(&json!({"StartAt": "M", "States": {"M": {"Type": "Map",
        "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}}, "End": true}}}))
    .unwrap();
    let xs: Vec<u32> = (0..6000).collect();
    let d = Driver::start(&def, json!(xs));
    assert_eq!(d.exec.status(), ExecutionStatus::Failed);
    assert!(d.exec.error().unwrap().cause.contains("history limit"));
    assert!(d.history.len() <= skald_asl::limits::HISTORY_EVENTS_MAX);
    d.check_replay();
}
