//! A fuzzing entry point: arbitrary bytes in, every parser and evaluator exercised, invariants
//! asserted. A panic here is a bug (either a crash in the crate or a broken invariant); errors
//! are expected and ignored.
//!
//! Input layout: lines of UTF-8 (lossy). Line 1 is an expression; line 2 an item as wire JSON;
//! line 3 `ExpressionAttributeValues` as JSON; line 4 `ExpressionAttributeNames`; line 5 a
//! number. Missing lines are empty.

use std::collections::BTreeMap;

use crate::condition::Condition;
use crate::error::ExpressionKind;
use crate::key::{KeySchema, KeyType};
use crate::key_condition::KeyCondition;
use crate::names::Placeholders;
use crate::number::Number;
use crate::projection::Projection;
use crate::update::Update;
use crate::value::Item;
use crate::wire::{from_json, item_from_json, item_to_json};

/// Runs one fuzz case. Never panics unless an invariant is broken.
pub fn fuzz(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let mut next = || lines.next().unwrap_or("");
    let (expression, item, values, names, number) = (next(), next(), next(), next(), next());
    fuzz_number(number);
    let item = json(item).and_then(|j| item_from_json(&j).ok()).unwrap_or_default();
    if !item.is_empty() {
        let again = item_from_json(&item_to_json(&item));
        assert_eq!(again.as_ref(), Ok(&item), "an item must survive its wire form");
    }
    let placeholders = placeholders(values, names);
    fuzz_expressions(expression, &placeholders, &item);
}

fn json(text: &str) -> Option<serde_json::Value> {
    serde_json::from_str(text).ok()
}

fn placeholders(values: &str, names: &str) -> Placeholders {
    let values = json(values)
        .and_then(|j| j.as_object().cloned())
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), from_json(v).ok()?))).collect())
        .unwrap_or_default();
    let names: BTreeMap<String, String> = json(names).and_then(|j| serde_json::from_value(j).ok()).unwrap_or_default();
    Placeholders { names, values }
}

fn fuzz_number(text: &str) {
    if let Ok(n) = Number::parse(text) {
        let printed = n.to_string();
        assert_eq!(Number::parse(&printed).ok(), Some(n), "format(parse(x)) must parse back to x");
        if let Ok(sum) = n.checked_add(&n.negated()) {
            assert!(sum.is_zero(), "x + -x must be zero");
        }
    }
}

fn fuzz_expressions(expression: &str, placeholders: &Placeholders, item: &Item) {
    for kind in [ExpressionKind::Condition, ExpressionKind::Filter] {
        if let Ok((condition, _)) = Condition::parse(expression, kind, placeholders) {
            let _ = condition.evaluate(Some(item));
            let _ = condition.evaluate(None);
        }
    }
    if let Ok((update, _)) = Update::parse(expression, placeholders) {
        if let Ok(outcome) = update.apply(Some(item), &Item::new()) {
            check_update_then_projection(&outcome);
        }
    }
    if let Ok((projection, _)) = Projection::parse(expression, placeholders) {
        let _ = projection.apply(item);
    }
    let schema = KeySchema::partition("pk", KeyType::S).with_sort("sk", KeyType::N);
    if let Ok((key_condition, _)) = KeyCondition::parse(expression, placeholders, &schema) {
        let _ = key_condition.matches(item);
    }
}

/// What an update wrote is what a projection of that path reads back (for paths without list
/// indexes, which a projection compacts).
fn check_update_then_projection(outcome: &crate::apply::UpdateOutcome) {
    for path in &outcome.changed {
        let plain = path.elements().iter().all(|e| matches!(e, crate::path::PathElement::Name(_)));
        let Some(value) = path.get(&outcome.new).filter(|_| plain) else { continue };
        let projected = Projection { paths: vec![path.clone()] }.apply(&outcome.new);
        assert_eq!(path.get(&projected), Some(value), "projection of {path} must read what the update wrote");
    }
}
