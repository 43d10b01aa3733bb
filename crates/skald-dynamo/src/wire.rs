//! DynamoDB's JSON wire form of attribute values (`{"S": "x"}`, `{"N": "1.5"}`, `{"B": "<base64>"}`,
//! `{"BOOL": true}`, `{"NULL": true}`, `{"L": [...]}`, `{"M": {...}}`, `{"SS": [...]}`, …), read
//! with DynamoDB's checks and messages and written the way DynamoDB returns values (numbers
//! normalised, sets in their canonical order).
//!
//! Reading goes through [`from_json`]/[`item_from_json`], which return DynamoDB's errors; the
//! serde impls use the same code, with the message as the serde error.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::Error as _;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Json;

use crate::error::{Error, ErrorKind, Location, Result};
use crate::limits::DOCUMENT_DEPTH_MAX;
use crate::number::Number;
use crate::value::{AttributeValue, Item};

/// Reads one attribute value from its wire JSON.
pub fn from_json(json: &Json) -> Result<AttributeValue> {
    read(json, 0)
}

/// Reads an item (`{"name": {"S": "x"}, …}`); an error's location names the attribute.
pub fn item_from_json(json: &Json) -> Result<Item> {
    let Json::Object(map) = json else {
        return Err(serialization("Start of structure or map expected"));
    };
    map.iter()
        .map(|(name, value)| Ok((name.clone(), from_json(value).map_err(|e| e.at(Location::Attribute(name.clone())))?)))
        .collect()
}

/// Writes one attribute value as wire JSON.
pub fn to_json(value: &AttributeValue) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

/// Writes an item as wire JSON.
pub fn item_to_json(item: &Item) -> Json {
    Json::Object(item.iter().map(|(name, value)| (name.clone(), to_json(value))).collect())
}

/// The type letters DynamoDB knows; other keys in a value object are ignored, as DynamoDB ignores
/// unknown members.
const TYPE_KEYS: [&str; 10] = ["S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS"];

fn read(json: &Json, depth: usize) -> Result<AttributeValue> {
    let Json::Object(map) = json else {
        return Err(serialization("Start of structure or map expected"));
    };
    let mut known = map.iter().filter(|(key, value)| TYPE_KEYS.contains(&key.as_str()) && !value.is_null());
    let Some((key, body)) = known.next() else {
        return Err(validation(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ));
    };
    if known.next().is_some() {
        return Err(validation(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        ));
    }
    match key.as_str() {
        "S" => Ok(AttributeValue::S(string(body)?.to_owned())),
        "N" => Ok(AttributeValue::N(Number::parse(string(body)?)?)),
        "B" => Ok(AttributeValue::B(binary(body)?)),
        "BOOL" => Ok(AttributeValue::Bool(boolean(body)?)),
        "NULL" => null(body),
        "L" => read_list(body, depth),
        "M" => read_map(body, depth),
        "SS" => string_set(body),
        "NS" => number_set(body),
        _ => binary_set(body),
    }
}

fn read_list(body: &Json, depth: usize) -> Result<AttributeValue> {
    let Json::Array(items) = body else {
        return Err(serialization("Expected list or null"));
    };
    nested(depth)?;
    items.iter().map(|item| read(item, depth + 1)).collect::<Result<_>>().map(AttributeValue::L)
}

fn read_map(body: &Json, depth: usize) -> Result<AttributeValue> {
    let Json::Object(map) = body else {
        return Err(serialization("Expected map or null"));
    };
    nested(depth)?;
    map.iter()
        .map(|(k, v)| Ok((k.clone(), read(v, depth + 1)?)))
        .collect::<Result<BTreeMap<_, _>>>()
        .map(AttributeValue::M)
}

fn nested(depth: usize) -> Result<()> {
    if depth >= DOCUMENT_DEPTH_MAX {
        return Err(Error::new(
            ErrorKind::DocumentTooDeep,
            Location::Request,
            "Nesting Levels have exceeded supported limits",
        ));
    }
    Ok(())
}

fn null(body: &Json) -> Result<AttributeValue> {
    if boolean(body)? {
        Ok(AttributeValue::Null)
    } else {
        Err(invalid("Null attribute value types must have the value of true"))
    }
}

fn string_set(body: &Json) -> Result<AttributeValue> {
    let members = array(body)?.iter().map(string).collect::<Result<Vec<_>>>()?;
    if members.is_empty() {
        // Sic: DynamoDB's message has the doubled space.
        return Err(invalid("An string set  may not be empty"));
    }
    if members.iter().any(|m| m.is_empty()) {
        return Err(invalid("An string set may not have a empty string as a member"));
    }
    let set: BTreeSet<String> = members.iter().map(|m| (*m).to_owned()).collect();
    if set.len() != members.len() {
        return Err(invalid(format!("Input collection [{}] contains duplicates.", members.join(", "))));
    }
    Ok(AttributeValue::Ss(set))
}

fn number_set(body: &Json) -> Result<AttributeValue> {
    let members = array(body)?.iter().map(|m| Number::parse(string(m)?)).collect::<Result<Vec<_>>>()?;
    if members.is_empty() {
        return Err(invalid("An number set  may not be empty"));
    }
    let set: BTreeSet<Number> = members.iter().copied().collect();
    if set.len() != members.len() {
        return Err(validation("Input collection contains duplicates"));
    }
    Ok(AttributeValue::Ns(set))
}

fn binary_set(body: &Json) -> Result<AttributeValue> {
    let members = array(body)?.iter().map(binary).collect::<Result<Vec<_>>>()?;
    if members.is_empty() {
        return Err(invalid("Binary sets should not be empty"));
    }
    if members.iter().any(Vec::is_empty) {
        return Err(invalid("Binary sets may not contain null or empty values"));
    }
    let set: BTreeSet<Vec<u8>> = members.iter().cloned().collect();
    if set.len() != members.len() {
        let shown: Vec<String> = members.iter().map(|m| STANDARD.encode(m)).collect();
        // Sic: no space before "of" in DynamoDB's message.
        return Err(invalid(format!("Input collection [{}]of type BS contains duplicates.", shown.join(", "))));
    }
    Ok(AttributeValue::Bs(set))
}

fn string(body: &Json) -> Result<&str> {
    body.as_str().ok_or_else(|| serialization("Expected a string"))
}

fn boolean(body: &Json) -> Result<bool> {
    body.as_bool().ok_or_else(|| serialization("Expected a boolean"))
}

fn array(body: &Json) -> Result<&Vec<Json>> {
    body.as_array().ok_or_else(|| serialization("Expected list or null"))
}

fn binary(body: &Json) -> Result<Vec<u8>> {
    let text = string(body)?;
    STANDARD.decode(text).map_err(|e| serialization(format!("'{text}' can not be converted to a Blob: {e}")))
}

fn validation(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidValue, Location::Request, message)
}

fn invalid(detail: impl std::fmt::Display) -> Error {
    validation(format!("One or more parameter values were invalid: {detail}"))
}

// unconfirmed: DynamoDB's serialization messages name Java classes (`class java.lang.Boolean can
// not be converted to an String`); Skald says what it expected instead.
fn serialization(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Serialization, Location::Request, message)
}

impl Serialize for AttributeValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        let key = self.value_type().name();
        match self {
            AttributeValue::S(s) => map.serialize_entry(key, s)?,
            AttributeValue::N(n) => map.serialize_entry(key, &n.to_string())?,
            AttributeValue::B(b) => map.serialize_entry(key, &STANDARD.encode(b))?,
            AttributeValue::Bool(b) => map.serialize_entry(key, b)?,
            AttributeValue::Null => map.serialize_entry(key, &true)?,
            AttributeValue::L(items) => map.serialize_entry(key, items)?,
            AttributeValue::M(m) => map.serialize_entry(key, m)?,
            AttributeValue::Ss(set) => map.serialize_entry(key, set)?,
            AttributeValue::Ns(set) => map.serialize_entry(key, &Strings(set.iter().map(Number::to_string)))?,
            AttributeValue::Bs(set) => map.serialize_entry(key, &Strings(set.iter().map(|b| STANDARD.encode(b))))?,
        }
        map.end()
    }
}

/// A sequence of strings produced on the fly, so sets serialise without an intermediate vector.
struct Strings<I>(I);

impl<I: Iterator<Item = String> + Clone> Serialize for Strings<I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for s in self.0.clone() {
            seq.serialize_element(&s)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for AttributeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let json = Json::deserialize(deserializer)?;
        from_json(&json).map_err(D::Error::custom)
    }
}
