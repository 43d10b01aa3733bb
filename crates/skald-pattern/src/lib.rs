//! Event filters in the Amazon EventBridge event-pattern syntax.
//!
//! This crate owns Skald's server-side event filter: subscriptions and consumer groups use it to
//! decide which events to deliver. It compiles a pattern once ([`Pattern::compile`],
//! [`Pattern::parse`]) and then matches events ([`Pattern::matches`]) by walking their stored JSON
//! text in place, **without allocating**. It does no I/O and knows nothing of storage or HTTP.
//!
//! ```
//! use skald_pattern::{Envelope, Pattern};
//!
//! let pattern = Pattern::parse(r#"{
//!     "type": ["OrderPlaced", "OrderAmended"],
//!     "data": {
//!         "total": [{"numeric": [">", 100]}],
//!         "customer": {"tier": [{"anything-but": "trial"}]}
//!     }
//! }"#)?;
//! let event = Envelope {
//!     stream: "order-42",
//!     category: "order",
//!     event_type: "OrderPlaced",
//!     timestamp: "2026-11-30T11:00:00Z",
//!     data: br#"{"total": 250.5, "customer": {"tier": "gold"}}"#,
//!     metadata: b"{}",
//! };
//! assert!(pattern.matches(&event));
//!
//! let err = Pattern::parse(r#"{"data": {"total": [{"numeric": [">", "100"]}]}}"#).unwrap_err();
//! assert_eq!(err.pointer(), "/data/total/0/numeric/1");
//! # Ok::<(), skald_pattern::PatternError>(())
//! ```
//!
//! # What a pattern matches
//!
//! A pattern is a JSON object over the event *envelope*: `stream`, `category`, `type`,
//! `timestamp` (RFC 3339 text), `data` and `metadata` (the event's JSON), plus `$or`.
//! - Every field named in an object must match (AND); a field whose value is an object descends
//!   into the event's object of that name.
//! - A leaf is always a **list**, and any element may match (OR): exact strings, numbers,
//!   `true`/`false` and `null`, or one-key operator objects:
//!   `{"prefix": "us-"}`, `{"suffix": ".png"}` (both also as
//!   `{"prefix": {"equals-ignore-case": "us-"}}`), `{"equals-ignore-case": "gold"}`,
//!   `{"wildcard": "order-*-eu"}` (`*` is any run of characters, `\*` a star, `\\` a backslash;
//!   `**` is rejected), `{"anything-but": …}` (a value, a list of values, or `{"prefix": …}`,
//!   `{"suffix": …}`, `{"equals-ignore-case": …}`, `{"wildcard": …}`),
//!   `{"numeric": [">", 0, "<=", 5]}` (operators `<`, `<=`, `=`, `>=`, `>`; one bound or a lower
//!   and an upper one), `{"exists": true}` / `{"exists": false}`.
//! - `"$or": [pattern, pattern, …]` at any object level: at least one alternative must match, in
//!   addition to the object's other fields.
//! - Types are never coerced: the string `"5"` does not match the number `5`; `null` matches JSON
//!   null only; `numeric`, `prefix` and the other string operators never match a value of the
//!   other kind. Numbers compare as numbers: `5`, `5.0` and `1e2`/`100` style spellings are equal.
//! - A field missing from the event fails every test except `{"exists": false}`; `anything-but`
//!   too needs the field to be present.
//! - An array in the event matches when any of its elements matches (arrays nested in arrays are
//!   searched too). An empty array, an object where the pattern lists values, or a scalar where
//!   the pattern names nested fields count as missing.
//! - JSON escapes in the event are decoded before comparing (`"caf\u00e9"` equals `"café"`).
//!
//! # Where Skald differs from EventBridge
//!
//! - The top level names envelope fields only; any other name (`detail`, `source`, a typo) is
//!   rejected with [`PatternErrorKind::UnknownField`] instead of silently never matching.
//!   `stream`, `category`, `type` and `timestamp` are strings, so their patterns must be lists.
//! - An empty pattern `{}` matches every event. Empty lists, empty nested objects and empty `$or`
//!   alternatives are rejected, since they are almost always mistakes.
//! - `cidr` is not supported (rejected with [`PatternErrorKind::Unsupported`]).
//! - Numbers: integers written without fraction or exponent compare exactly (as `i128`), all
//!   others as `f64`; there is no restriction to a range or number of decimals.
//! - `anything-but` lists may mix strings and numbers, and its `prefix`/`suffix`/
//!   `equals-ignore-case`/`wildcard` forms also take a list of strings. The string forms match
//!   string values only; the value forms match any present value not equal to a listed one (the
//!   number `5` is "anything but `"5"`").
//! - In an array of objects each element is matched on its own: `{"items": {"sku": ["a"], "qty":
//!   [2]}}` needs one item with both, never `sku` from one item and `qty` from another.
//! - `equals-ignore-case` lower-cases both sides character by character (`char::to_lowercase`).
//! - A key that appears twice in one event object: the last occurrence counts, as for consumers
//!   that decode the event with `serde_json` or JavaScript.
//! - `data`/`metadata` that is empty, not UTF-8, not JSON, or nested deeper than
//!   [`EVENT_DEPTH_MAX`] counts as missing.
//! - A key `$or` is always the operator, never an event field named `$or`.
//!
//! # Design: why a hand-written scanner
//!
//! Event data is stored as JSON text, so matching must read that text. Decoding it into a
//! `serde_json::Value` allocates per node; deserialising into borrowed structures still needs
//! containers for objects and arrays, and cannot borrow strings that contain escapes. Instead, the
//! `scan` module is a small, grammar-checking JSON cursor over `&str` that returns slices; the
//! `matcher` module walks an event object once, looking each key up in the pattern's sorted field
//! list and skipping the values of keys the pattern does not name. Escaped strings are compared by
//! decoding one `char` at a time. Per-object state is two `u64` bit sets on the stack, so
//! matching allocates nothing — `tests/no_alloc.rs` checks that with a counting global
//! allocator. The cost is linear in the event size times the number of `$or` alternatives that
//! re-read an object.
//!
//! # Tests
//!
//! `tests/patterns.rs` is the behaviour table (one line per case, with a floor on the count) and
//! the malformed-pattern table with expected pointers; `tests/model.rs` checks the matcher against
//! a naive matcher over decoded values on seeded random patterns and events, including damaged
//! event text; `tests/no_alloc.rs` counts allocations; `benches/matching.rs` prints events/s.
//!
//! # Limits
//!
//! Every pattern is bounded: [`PATTERN_TEXT_BYTES_MAX`], [`PATTERN_DEPTH_MAX`],
//! [`PATTERN_FIELDS_MAX`], [`PATTERN_VALUES_MAX`] and [`PATTERN_STRING_BYTES_MAX`]; a pattern over
//! a limit is rejected with [`PatternErrorKind::TooLarge`].

mod compile;
mod error;
mod matcher;
mod number;
mod scan;
mod text;
mod tree;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub use error::{PatternError, PatternErrorKind};

/// Longest pattern text accepted by [`Pattern::parse`], in bytes.
pub const PATTERN_TEXT_BYTES_MAX: usize = 64 * 1024;
/// Deepest nesting of objects in a pattern (nested fields and `$or` alternatives).
pub const PATTERN_DEPTH_MAX: usize = 16;
/// Most fields in one object of a pattern (not counting `$or`); matching keeps one bit per field.
pub const PATTERN_FIELDS_MAX: usize = 64;
/// Most values and operators in a whole pattern, counting each element of an `anything-but` list.
pub const PATTERN_VALUES_MAX: usize = 1024;
/// Longest string in a pattern, in bytes.
pub const PATTERN_STRING_BYTES_MAX: usize = 4096;
/// Deepest nesting of objects and arrays in event JSON that matching will walk; deeper `data` or
/// `metadata` counts as missing. Equal to `serde_json`'s default recursion limit.
pub const EVENT_DEPTH_MAX: usize = 128;

/// The parts of an event a pattern can test, all borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// The stream name (`order-42`).
    pub stream: &'a str,
    /// The stream's category (`order`): the text before the first `-`.
    pub category: &'a str,
    /// The event type; the pattern field is `type`.
    pub event_type: &'a str,
    /// The event time as RFC 3339 text (only read when [`Pattern::uses_timestamp`]).
    pub timestamp: &'a str,
    /// The event data as JSON text; empty or non-JSON data counts as missing.
    pub data: &'a [u8],
    /// The event metadata as JSON text; empty counts as missing.
    pub metadata: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// An envelope whose category is derived from the stream name: the text before the first
    /// `-`, or the whole name (the rule of `skald_core::category_of`).
    pub fn new(stream: &'a str, event_type: &'a str, timestamp: &'a str, data: &'a [u8], metadata: &'a [u8]) -> Self {
        let category = stream.split_once('-').map_or(stream, |(category, _)| category);
        Envelope { stream, category, event_type, timestamp, data, metadata }
    }
}

/// A compiled event pattern.
///
/// Build it once with [`Pattern::compile`] or [`Pattern::parse`] and share it; [`Pattern::matches`]
/// takes `&self` and never allocates. It serialises as its source JSON and deserialises by
/// compiling, so it can sit directly in configuration structs.
#[derive(Clone)]
pub struct Pattern {
    top: tree::Top,
    source: Value,
    uses: Uses,
}

/// Which envelope parts the pattern reads, anywhere (including `$or`).
#[derive(Clone, Copy, Default, Debug)]
struct Uses {
    data: bool,
    metadata: bool,
    timestamp: bool,
}

impl Uses {
    fn of(top: &tree::Top) -> Uses {
        top.any_of.iter().map(Uses::of).fold(
            Uses { data: top.data.is_some(), metadata: top.metadata.is_some(), timestamp: top.timestamp.is_some() },
            |a, b| Uses {
                data: a.data || b.data,
                metadata: a.metadata || b.metadata,
                timestamp: a.timestamp || b.timestamp,
            },
        )
    }
}

impl Pattern {
    /// Compiles a pattern from JSON.
    pub fn compile(pattern: &Value) -> Result<Pattern, PatternError> {
        let top = compile::compile(pattern)?;
        let uses = Uses::of(&top);
        Ok(Pattern { top, source: pattern.clone(), uses })
    }

    /// Parses and compiles pattern text.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if text.len() > PATTERN_TEXT_BYTES_MAX {
            return Err(PatternError::new(
                PatternErrorKind::TooLarge,
                String::new(),
                format!(
                    "the pattern is {} bytes long, over PATTERN_TEXT_BYTES_MAX ({PATTERN_TEXT_BYTES_MAX})",
                    text.len()
                ),
            ));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            PatternError::new(PatternErrorKind::Json, String::new(), format!("the pattern is not valid JSON: {e}"))
        })?;
        Pattern::compile(&value)
    }

    /// Whether the event matches. Never allocates.
    pub fn matches(&self, event: &Envelope<'_>) -> bool {
        fn json(used: bool, bytes: &[u8]) -> Option<&str> {
            if used {
                std::str::from_utf8(bytes).ok()
            } else {
                None
            }
        }
        let event = matcher::Event {
            stream: event.stream,
            category: event.category,
            event_type: event.event_type,
            timestamp: event.timestamp,
            data: json(self.uses.data, event.data),
            metadata: json(self.uses.metadata, event.metadata),
        };
        matcher::matches_top(&self.top, &event)
    }

    /// The pattern as it was given.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Whether the pattern tests `timestamp`; when not, callers may pass `""` and skip formatting.
    pub fn uses_timestamp(&self) -> bool {
        self.uses.timestamp
    }

    /// Whether the pattern tests `data`; when not, callers need not load it.
    pub fn uses_data(&self) -> bool {
        self.uses.data
    }

    /// Whether the pattern tests `metadata`; when not, callers need not load it.
    pub fn uses_metadata(&self) -> bool {
        self.uses.metadata
    }
}

// Patterns are shared between subscription tasks.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Pattern>();
};

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({})", self.source)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl FromStr for Pattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Pattern::parse(text)
    }
}

impl TryFrom<&Value> for Pattern {
    type Error = PatternError;

    fn try_from(value: &Value) -> Result<Self, Self::Error> {
        Pattern::compile(value)
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Pattern::compile(&value).map_err(serde::de::Error::custom)
    }
}
