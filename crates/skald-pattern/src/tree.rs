//! The compiled pattern: a tree mirroring the pattern's objects, with leaf tests ready to run.
//!
//! Everything a match needs is decided here, at compile time: strings are decoded and
//! lower-cased, numbers parsed, wildcards tokenised, fields sorted for binary search, and each node
//! knows whether it holds when its field is missing. [`Leaf::matches`] tests one scalar value.

use crate::number::Num;
use crate::scan::Scalar;
use crate::text::{JsonStr, WildToken};

/// The top level: conditions on the envelope, all of which must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Top {
    pub(crate) stream: Option<Leaf>,
    pub(crate) category: Option<Leaf>,
    pub(crate) event_type: Option<Leaf>,
    pub(crate) timestamp: Option<Leaf>,
    pub(crate) data: Option<Node>,
    pub(crate) metadata: Option<Node>,
    /// `$or`: when not empty, at least one alternative must hold too.
    pub(crate) any_of: Vec<Top>,
}

/// The pattern for one JSON value.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// Nested fields: `{"customer": {"tier": ["gold"]}}`.
    Object(Object),
    /// A list of values and operators, any of which may match: `["gold", {"prefix": "plat"}]`.
    Leaf(Leaf),
}

impl Node {
    /// Whether the node holds for a field that is absent (or has no value of the needed shape).
    pub(crate) fn missing_ok(&self) -> bool {
        match self {
            Node::Object(object) => object.missing_ok,
            Node::Leaf(leaf) => leaf.missing_ok,
        }
    }
}

/// Fields that must all hold, plus an optional `$or`.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    /// Sorted by name, unique, at most [`PATTERN_FIELDS_MAX`](crate::PATTERN_FIELDS_MAX).
    pub(crate) fields: Vec<Field>,
    pub(crate) any_of: Vec<Object>,
    /// Whether the object holds when matched against nothing (every field missing).
    pub(crate) missing_ok: bool,
}

impl Object {
    /// The index of the field named `key`.
    pub(crate) fn field(&self, key: JsonStr<'_>) -> Option<usize> {
        match key.plain_text() {
            Some(text) if self.fields.len() <= 8 => self.fields.iter().position(|f| f.name == text),
            Some(text) => self.fields.binary_search_by(|f| f.name.as_str().cmp(text)).ok(),
            None => self.fields.iter().position(|f| key.equals(&f.name)),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) node: Node,
}

/// Alternatives for a leaf value; one matching is enough.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub(crate) tests: Vec<Test>,
    /// Whether the list contains `{"exists": false}`.
    pub(crate) missing_ok: bool,
}

impl Leaf {
    /// Whether any test accepts this present value.
    pub(crate) fn matches(&self, value: &Scalar<'_>) -> bool {
        let number = match value {
            Scalar::Num(text) => Num::parse(text),
            _ => None,
        };
        self.tests.iter().any(|test| test.matches(value, number))
    }
}

/// One element of a value list.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    Str(String),
    Num(Num),
    Bool(bool),
    Null,
    Prefix(String),
    Suffix(String),
    /// Lower-cased.
    PrefixIgnoreCase(String),
    /// Lower-cased.
    SuffixIgnoreCase(String),
    /// Lower-cased.
    EqualsIgnoreCase(String),
    Wildcard(Vec<WildToken>),
    Numeric(Range),
    Exists(bool),
    /// Present and matching none of these; `strings_only` when they are string operators.
    AnythingBut {
        excluded: Vec<Test>,
        strings_only: bool,
    },
}

impl Test {
    fn matches(&self, value: &Scalar<'_>, number: Option<Num>) -> bool {
        let text = match value {
            Scalar::Str(s) => Some(s),
            _ => None,
        };
        match self {
            Test::Str(want) => text.is_some_and(|s| s.equals(want)),
            Test::Num(want) => number.is_some_and(|n| n.equals(*want)),
            Test::Bool(want) => matches!(value, Scalar::Bool(b) if b == want),
            Test::Null => matches!(value, Scalar::Null),
            Test::Prefix(p) => text.is_some_and(|s| s.starts_with(p)),
            Test::Suffix(p) => text.is_some_and(|s| s.ends_with(p)),
            Test::PrefixIgnoreCase(p) => text.is_some_and(|s| s.starts_with_ignore_case(p)),
            Test::SuffixIgnoreCase(p) => text.is_some_and(|s| s.ends_with_ignore_case(p)),
            Test::EqualsIgnoreCase(p) => text.is_some_and(|s| s.equals_ignore_case(p)),
            Test::Wildcard(tokens) => text.is_some_and(|s| s.matches_wildcard(tokens)),
            Test::Numeric(range) => number.is_some_and(|n| range.contains(n)),
            Test::Exists(want) => *want,
            Test::AnythingBut { excluded, strings_only } => {
                (!strings_only || text.is_some()) && !excluded.iter().any(|t| t.matches(value, number))
            }
        }
    }
}

/// A numeric interval; a bound is `(value, inclusive)`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Range {
    pub(crate) lower: Option<(Num, bool)>,
    pub(crate) upper: Option<(Num, bool)>,
}

impl Range {
    fn contains(&self, n: Num) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let above = self.lower.is_none_or(|(bound, inclusive)| match n.compare(bound) {
            Some(Greater) => true,
            Some(Equal) => inclusive,
            Some(Less) | None => false,
        });
        let below = self.upper.is_none_or(|(bound, inclusive)| match n.compare(bound) {
            Some(Less) => true,
            Some(Equal) => inclusive,
            Some(Greater) | None => false,
        });
        above && below
    }
}
