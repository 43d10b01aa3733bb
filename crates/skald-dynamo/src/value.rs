//! Attribute values and items: the ten DynamoDB types, their names, their ordering and equality,
//! and an item's size by DynamoDB's rules.
//!
//! Sets are `BTreeSet`s, so they never hold duplicates and compare equal whatever the order they
//! arrived in; numbers are [`Number`]s, so `{"N": "1.0"}` equals `{"N": "1"}`. Every value that
//! enters through the wire ([`crate::wire`]) is at most [`DOCUMENT_DEPTH_MAX`] levels deep, and
//! every update result is checked against the same bound, so the recursive derives (`PartialEq`,
//! `Clone`) only ever see bounded values; the walks this module writes itself use an explicit
//! stack.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::limits::DOCUMENT_DEPTH_MAX;
use crate::number::Number;

/// An item: attribute names to values. A `BTreeMap`, so output is deterministic.
pub type Item = BTreeMap<String, AttributeValue>;

/// One DynamoDB attribute value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AttributeValue {
    /// String (`S`); empty allowed except in keys.
    S(String),
    /// Number (`N`).
    N(Number),
    /// Binary (`B`), base64 on the wire; empty allowed except in keys.
    B(Vec<u8>),
    /// Boolean (`BOOL`).
    Bool(bool),
    /// Null (`NULL`, always `true` on the wire).
    Null,
    /// List (`L`).
    L(Vec<AttributeValue>),
    /// Map (`M`).
    M(Item),
    /// String set (`SS`); never empty.
    Ss(BTreeSet<String>),
    /// Number set (`NS`); never empty.
    Ns(BTreeSet<Number>),
    /// Binary set (`BS`); never empty.
    Bs(BTreeSet<Vec<u8>>),
}

/// The type of an attribute value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ValueType {
    /// `S`.
    S,
    /// `N`.
    N,
    /// `B`.
    B,
    /// `BOOL`.
    Bool,
    /// `NULL`.
    Null,
    /// `L`.
    L,
    /// `M`.
    M,
    /// `SS`.
    Ss,
    /// `NS`.
    Ns,
    /// `BS`.
    Bs,
}

impl ValueType {
    /// Every type, in the order DynamoDB lists them in its "valid types" message.
    pub const ALL: [ValueType; 10] = [
        ValueType::B,
        ValueType::Null,
        ValueType::Ss,
        ValueType::Bool,
        ValueType::L,
        ValueType::Bs,
        ValueType::N,
        ValueType::Ns,
        ValueType::S,
        ValueType::M,
    ];

    /// The wire name (`S`, `BOOL`, `NS`, …).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::S => "S",
            ValueType::N => "N",
            ValueType::B => "B",
            ValueType::Bool => "BOOL",
            ValueType::Null => "NULL",
            ValueType::L => "L",
            ValueType::M => "M",
            ValueType::Ss => "SS",
            ValueType::Ns => "NS",
            ValueType::Bs => "BS",
        }
    }

    /// The type named by a wire name (`attribute_type`'s second operand).
    pub fn from_name(name: &str) -> Option<ValueType> {
        ValueType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The long name UpdateExpression's `ADD`/`DELETE` messages use (`STRING`, `NUMBER`, …);
    /// `None` for sets, which those messages never name.
    pub fn long_name(self) -> Option<&'static str> {
        Some(match self {
            ValueType::S => "STRING",
            ValueType::N => "NUMBER",
            ValueType::B => "BINARY",
            ValueType::Bool => "BOOLEAN",
            ValueType::Null => "NULL",
            ValueType::L => "LIST",
            ValueType::M => "MAP",
            ValueType::Ss | ValueType::Ns | ValueType::Bs => return None,
        })
    }

    /// Whether values of this type are sets.
    pub fn is_set(self) -> bool {
        matches!(self, ValueType::Ss | ValueType::Ns | ValueType::Bs)
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl AttributeValue {
    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            AttributeValue::S(_) => ValueType::S,
            AttributeValue::N(_) => ValueType::N,
            AttributeValue::B(_) => ValueType::B,
            AttributeValue::Bool(_) => ValueType::Bool,
            AttributeValue::Null => ValueType::Null,
            AttributeValue::L(_) => ValueType::L,
            AttributeValue::M(_) => ValueType::M,
            AttributeValue::Ss(_) => ValueType::Ss,
            AttributeValue::Ns(_) => ValueType::Ns,
            AttributeValue::Bs(_) => ValueType::Bs,
        }
    }

    /// A string value.
    pub fn s(text: impl Into<String>) -> AttributeValue {
        AttributeValue::S(text.into())
    }

    /// A number value from an integer.
    pub fn n(value: i64) -> AttributeValue {
        AttributeValue::N(Number::from(value))
    }

    /// DynamoDB's ordering, defined for two values of the same scalar type `S`, `N` or `B`
    /// (strings by UTF-8 bytes, numbers numerically, binaries bytewise); `None` otherwise.
    /// Key conditions, `BETWEEN` and `<`… use it.
    pub fn compare(&self, other: &AttributeValue) -> Option<Ordering> {
        match (self, other) {
            (AttributeValue::S(a), AttributeValue::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (AttributeValue::N(a), AttributeValue::N(b)) => Some(a.cmp(b)),
            (AttributeValue::B(a), AttributeValue::B(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// The value's size in bytes by DynamoDB's rules, without the attribute name: strings and
    /// binaries their byte length, numbers per [`Number::size_bytes`], booleans and nulls 1,
    /// sets the sum of their members, lists and maps 3 plus 1 per element plus the elements
    /// (and, for maps, their keys).
    pub fn size_bytes(&self) -> usize {
        let mut total = 0;
        let mut stack = vec![self];
        while let Some(value) = stack.pop() {
            total += own_size(value);
            match value {
                AttributeValue::L(items) => stack.extend(items.iter()),
                AttributeValue::M(map) => stack.extend(map.values()),
                _ => {}
            }
        }
        total
    }

    /// How deeply lists and maps nest in this value: 0 for a scalar or set, 1 for a list of
    /// scalars, and so on. Walks at most `limit + 1` levels, so it answers `limit + 1` for
    /// anything deeper.
    pub fn depth(&self, limit: usize) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(self, 0usize)];
        while let Some((value, depth)) = stack.pop() {
            let children: Box<dyn Iterator<Item = &AttributeValue>> = match value {
                AttributeValue::L(items) => Box::new(items.iter()),
                AttributeValue::M(map) => Box::new(map.values()),
                _ => continue,
            };
            deepest = deepest.max(depth + 1);
            if deepest > limit {
                return deepest;
            }
            stack.extend(children.map(|child| (child, depth + 1)));
        }
        deepest
    }

    /// Whether this value nests deeper than DynamoDB allows ([`DOCUMENT_DEPTH_MAX`]).
    pub fn too_deep(&self) -> bool {
        self.depth(DOCUMENT_DEPTH_MAX) > DOCUMENT_DEPTH_MAX
    }
}

/// The bytes a value takes besides its nested list and map elements.
fn own_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.size_bytes(),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Bool(_) | AttributeValue::Null => 1,
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(Number::size_bytes).sum(),
        AttributeValue::Bs(set) => set.iter().map(Vec::len).sum(),
        AttributeValue::L(items) => 3 + items.len(),
        AttributeValue::M(map) => 3 + map.keys().map(|k| k.len() + 1).sum::<usize>(),
    }
}

/// An item's size: the UTF-8 length of each attribute name plus the size of its value.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(name, value)| name.len() + value.size_bytes()).sum()
}
