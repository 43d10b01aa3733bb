//! Runs a compiled pattern against one event, walking the event's JSON text in place.
//!
//! Each object of the event is read in one pass: its keys are looked up among the pattern's fields
//! (a binary search), the values of named keys are matched recursively, and every other value is
//! skipped without being looked at. Which fields were seen and which held are kept in two `u64`
//! bit sets on the stack, which is why an object pattern has at most
//! [`PATTERN_FIELDS_MAX`](crate::PATTERN_FIELDS_MAX) fields. `$or` alternatives re-read the same
//! object from a saved scanner position. Nothing here allocates.
//!
//! The semantics follow EventBridge's view of an event as a set of leaf values:
//! - an array is transparent: a leaf test holds if any scalar element (at any array depth) passes,
//!   and an object pattern holds if any object element matches it;
//! - a value of the wrong shape (an object where the pattern lists values, a scalar where the
//!   pattern nests fields, an empty array) counts as missing, so only `{"exists": false}` holds;
//! - a key that appears twice in one object: the last occurrence wins, as in `serde_json` and
//!   JavaScript, so a filter sees what a consumer decoding the event sees.

use crate::scan::{Kind, Malformed, Scalar, Scan, Scanner};
use crate::text::JsonStr;
use crate::tree::{Leaf, Node, Object, Top};
use crate::EVENT_DEPTH_MAX;

const _: () = assert!(crate::PATTERN_FIELDS_MAX <= 64, "an object's fields are tracked in a u64 bit set");

/// The envelope with `data` and `metadata` checked to be UTF-8 (`None`: absent or not text).
pub(crate) struct Event<'e> {
    pub(crate) stream: &'e str,
    pub(crate) category: &'e str,
    pub(crate) event_type: &'e str,
    pub(crate) timestamp: &'e str,
    pub(crate) data: Option<&'e str>,
    pub(crate) metadata: Option<&'e str>,
}

/// Whether the event matches the top level of a pattern.
pub(crate) fn matches_top(top: &Top, event: &Event<'_>) -> bool {
    leaf_on_text(top.stream.as_ref(), event.stream)
        && leaf_on_text(top.category.as_ref(), event.category)
        && leaf_on_text(top.event_type.as_ref(), event.event_type)
        && leaf_on_text(top.timestamp.as_ref(), event.timestamp)
        && node_on_json(top.data.as_ref(), event.data)
        && node_on_json(top.metadata.as_ref(), event.metadata)
        && (top.any_of.is_empty() || top.any_of.iter().any(|alt| matches_top(alt, event)))
}

/// An envelope string field: always present.
fn leaf_on_text(leaf: Option<&Leaf>, text: &str) -> bool {
    leaf.is_none_or(|leaf| leaf.matches(&Scalar::Str(JsonStr::plain(text))))
}

/// `data` or `metadata`. Absent, empty or malformed JSON counts as a missing field.
fn node_on_json(node: Option<&Node>, text: Option<&str>) -> bool {
    let Some(node) = node else { return true };
    let Some(text) = text else { return node.missing_ok() };
    let mut scanner = Scanner::new(text);
    let matched = match_node(node, &mut scanner, 0).and_then(|matched| scanner.finish().map(|()| matched));
    matched.unwrap_or_else(|Malformed| node.missing_ok())
}

/// Matches the value at the scanner, consuming it.
fn match_node(node: &Node, s: &mut Scanner<'_>, depth: usize) -> Scan<bool> {
    match node {
        Node::Object(object) => match_object_value(object, s, depth),
        Node::Leaf(leaf) => match_leaf_value(leaf, s, depth),
    }
}

fn match_object_value(object: &Object, s: &mut Scanner<'_>, depth: usize) -> Scan<bool> {
    match s.peek()? {
        Kind::Object => match_object(object, s, depth),
        Kind::Array => {
            let mut saw_object = false;
            let matched = any_object_in_array(object, s, depth, &mut saw_object)?;
            Ok(matched || (!saw_object && object.missing_ok))
        }
        Kind::Scalar => {
            s.skip_value()?;
            Ok(object.missing_ok)
        }
    }
}

/// Whether any object element (through nested arrays) matches; `saw_object` reports whether
/// there was one at all.
fn any_object_in_array(object: &Object, s: &mut Scanner<'_>, depth: usize, saw_object: &mut bool) -> Scan<bool> {
    let depth = deeper(depth)?;
    let mut elements = s.enter_array()?;
    let mut matched = false;
    while elements.next(s)? {
        if matched {
            s.skip_value()?;
            continue;
        }
        matched = match s.peek()? {
            Kind::Object => {
                *saw_object = true;
                match_object(object, s, depth)?
            }
            Kind::Array => any_object_in_array(object, s, depth, saw_object)?,
            Kind::Scalar => {
                s.skip_value()?;
                false
            }
        };
    }
    Ok(matched)
}

/// Matches an event object (the scanner is at its `{`) against an object pattern.
fn match_object(object: &Object, s: &mut Scanner<'_>, depth: usize) -> Scan<bool> {
    let depth = deeper(depth)?;
    let start = *s;
    let mut seen = 0u64;
    let mut held = 0u64;
    let mut members = s.enter_object()?;
    while let Some(key) = members.next(s)? {
        match object.field(key) {
            Some(index) => {
                let bit = 1u64 << index;
                seen |= bit;
                if match_node(&object.fields[index].node, s, depth)? {
                    held |= bit;
                } else {
                    held &= !bit;
                }
            }
            None => s.skip_value()?,
        }
    }
    for (index, field) in object.fields.iter().enumerate() {
        if seen & (1 << index) == 0 && field.node.missing_ok() {
            held |= 1 << index;
        }
    }
    let all = u64::MAX.checked_shr(64 - object.fields.len() as u32).unwrap_or(0);
    if held != all {
        return Ok(false);
    }
    for alternative in &object.any_of {
        let mut again = start;
        if match_object(alternative, &mut again, depth)? {
            return Ok(true);
        }
    }
    Ok(object.any_of.is_empty())
}

fn match_leaf_value(leaf: &Leaf, s: &mut Scanner<'_>, depth: usize) -> Scan<bool> {
    match s.peek()? {
        Kind::Scalar => Ok(leaf.matches(&s.scalar()?)),
        Kind::Array => {
            let mut saw_scalar = false;
            let matched = any_scalar_in_array(leaf, s, depth, &mut saw_scalar)?;
            Ok(matched || (!saw_scalar && leaf.missing_ok))
        }
        Kind::Object => {
            s.skip_value()?;
            Ok(leaf.missing_ok)
        }
    }
}

/// Whether any scalar element (through nested arrays) passes; `saw_scalar` reports whether there
/// was one at all.
fn any_scalar_in_array(leaf: &Leaf, s: &mut Scanner<'_>, depth: usize, saw_scalar: &mut bool) -> Scan<bool> {
    let depth = deeper(depth)?;
    let mut elements = s.enter_array()?;
    let mut matched = false;
    while elements.next(s)? {
        if matched {
            s.skip_value()?;
            continue;
        }
        matched = match s.peek()? {
            Kind::Scalar => {
                *saw_scalar = true;
                leaf.matches(&s.scalar()?)
            }
            Kind::Array => any_scalar_in_array(leaf, s, depth, saw_scalar)?,
            Kind::Object => {
                s.skip_value()?;
                false
            }
        };
    }
    Ok(matched)
}

/// One level deeper, within [`EVENT_DEPTH_MAX`].
fn deeper(depth: usize) -> Scan<usize> {
    if depth < EVENT_DEPTH_MAX {
        Ok(depth + 1)
    } else {
        Err(Malformed)
    }
}
