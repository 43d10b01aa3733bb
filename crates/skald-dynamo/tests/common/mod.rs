//! Helpers shared by the table tests: items and placeholders written as wire JSON.
#![allow(dead_code)]

use skald_dynamo::names::Placeholders;
use skald_dynamo::value::{AttributeValue, Item};
use skald_dynamo::wire::{from_json, item_from_json, item_to_json};

/// An item from wire JSON (`{"a": {"N": "1"}}`).
pub fn item(json: &str) -> Item {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("bad test JSON {json}: {e}"));
    item_from_json(&value).unwrap_or_else(|e| panic!("bad test item {json}: {e}"))
}

/// An attribute value from wire JSON.
pub fn value(json: &str) -> AttributeValue {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("bad test JSON {json}: {e}"));
    from_json(&value).unwrap_or_else(|e| panic!("bad test value {json}: {e}"))
}

/// Placeholders from one JSON object: `#keys` map to names, `:keys` to wire values.
pub fn placeholders(json: &str) -> Placeholders {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("bad test JSON {json}: {e}"));
    let mut p = Placeholders::new();
    for (key, v) in value.as_object().into_iter().flatten() {
        if key.starts_with('#') {
            p.names.insert(key.clone(), v.as_str().unwrap_or_default().to_owned());
        } else {
            p.values.insert(key.clone(), from_json(v).unwrap_or_else(|e| panic!("bad test value {v}: {e}")));
        }
    }
    p
}

/// An item as compact wire JSON text, for comparing in assertions.
pub fn show(item: &Item) -> String {
    item_to_json(item).to_string()
}

/// Parses JSON text (panics on a bad test fixture).
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("bad test JSON {text}: {e}"))
}
