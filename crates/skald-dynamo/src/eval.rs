//! Evaluating conditions against an item, with DynamoDB's semantics:
//!
//! - an operand whose path is missing has no value; every test on it is false, except `<>`
//!   (a missing value is unequal to anything) and `attribute_not_exists`;
//! - values of different types are unequal and unordered: `=` is false, `<>` true, `<`… false;
//! - `<`, `<=`, `>`, `>=` and `BETWEEN` order `S` by UTF-8 bytes, `N` numerically and `B`
//!   bytewise, and are false for other types;
//! - `begins_with` takes a string and a string prefix or a binary and a binary prefix;
//! - `contains` finds a substring in a string, a subsequence in a binary, a member in a set of the
//!   operand's type, or an element equal to the operand in a list;
//! - `size` is the length of a string in UTF-16 code units (as DynamoDB counts it), of a binary
//!   in bytes, and the element count of a set, list or map; it has no value for other types.
//!
//! Evaluation never fails and never panics. A missing item is evaluated as an empty one.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::condition::{Comparator, Cond, Condition, Operand};
use crate::number::Number;
use crate::value::{AttributeValue, Item};

impl Condition {
    /// Whether `item` satisfies the condition; `None` is an item that does not exist.
    pub fn evaluate(&self, item: Option<&Item>) -> bool {
        let empty = Item::new();
        evaluate(&self.root, item.unwrap_or(&empty))
    }
}

/// Whether `item` satisfies `cond`. Chains of `AND`/`OR` (the only unbounded nesting the parser
/// builds) are walked in a loop, so recursion is bounded by the parser's nesting limit.
pub(crate) fn evaluate(cond: &Cond, item: &Item) -> bool {
    match cond {
        Cond::And(..) => chain(cond, item, true),
        Cond::Or(..) => chain(cond, item, false),
        Cond::Not(inner) => !evaluate(inner, item),
        Cond::Compare(op, a, b) => compare(*op, value(a, item).as_deref(), value(b, item).as_deref()),
        Cond::Between(a, low, high) => {
            between(value(a, item).as_deref(), value(low, item).as_deref(), value(high, item).as_deref())
        }
        Cond::In(a, list) => {
            value(a, item).is_some_and(|a| list.iter().any(|b| value(b, item).is_some_and(|b| *a == *b)))
        }
        Cond::Exists(path) => path.get(item).is_some(),
        Cond::NotExists(path) => path.get(item).is_none(),
        Cond::Type(a, wanted) => value(a, item).is_some_and(|v| v.value_type() == *wanted),
        Cond::BeginsWith(a, b) => begins_with(value(a, item).as_deref(), value(b, item).as_deref()),
        Cond::Contains(a, b) => contains(value(a, item).as_deref(), value(b, item).as_deref()),
    }
}

/// A left-leaning chain of `AND` (`all`) or `OR` (`!all`), short-circuiting left to right.
fn chain(cond: &Cond, item: &Item, all: bool) -> bool {
    let mut rights = Vec::new();
    let mut node = cond;
    while let (Cond::And(left, right), true) | (Cond::Or(left, right), false) = (node, all) {
        rights.push(right.as_ref());
        node = left;
    }
    rights.push(node);
    rights.iter().rev().all(|c| evaluate(c, item) == all) == all
}

/// An operand's value in `item`, if it has one.
pub(crate) fn value<'a>(operand: &'a Operand, item: &'a Item) -> Option<Cow<'a, AttributeValue>> {
    match operand {
        Operand::Path(path) => path.get(item).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(inner) => {
            let n = size_of(value(inner, item)?.as_ref())?;
            Some(Cow::Owned(AttributeValue::N(Number::from(n as i64))))
        }
    }
}

/// `size(value)`, or `None` for types it does not apply to.
pub(crate) fn size_of(value: &AttributeValue) -> Option<usize> {
    Some(match value {
        AttributeValue::S(s) => s.encode_utf16().count(),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Ss(set) => set.len(),
        AttributeValue::Ns(set) => set.len(),
        AttributeValue::Bs(set) => set.len(),
        AttributeValue::L(items) => items.len(),
        AttributeValue::M(map) => map.len(),
        AttributeValue::N(_) | AttributeValue::Bool(_) | AttributeValue::Null => return None,
    })
}

fn compare(op: Comparator, a: Option<&AttributeValue>, b: Option<&AttributeValue>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return op == Comparator::Ne;
    };
    match op {
        Comparator::Eq => a == b,
        Comparator::Ne => a != b,
        Comparator::Lt => a.compare(b) == Some(Ordering::Less),
        Comparator::Le => matches!(a.compare(b), Some(Ordering::Less | Ordering::Equal)),
        Comparator::Gt => a.compare(b) == Some(Ordering::Greater),
        Comparator::Ge => matches!(a.compare(b), Some(Ordering::Greater | Ordering::Equal)),
    }
}

fn between(a: Option<&AttributeValue>, low: Option<&AttributeValue>, high: Option<&AttributeValue>) -> bool {
    let (Some(a), Some(low), Some(high)) = (a, low, high) else { return false };
    matches!(a.compare(low), Some(Ordering::Greater | Ordering::Equal))
        && matches!(a.compare(high), Some(Ordering::Less | Ordering::Equal))
}

pub(crate) fn begins_with(a: Option<&AttributeValue>, prefix: Option<&AttributeValue>) -> bool {
    match (a, prefix) {
        (Some(AttributeValue::S(s)), Some(AttributeValue::S(p))) => s.starts_with(p.as_str()),
        (Some(AttributeValue::B(b)), Some(AttributeValue::B(p))) => b.starts_with(p),
        _ => false,
    }
}

pub(crate) fn contains(a: Option<&AttributeValue>, b: Option<&AttributeValue>) -> bool {
    let (Some(a), Some(b)) = (a, b) else { return false };
    match (a, b) {
        (AttributeValue::S(s), AttributeValue::S(sub)) => s.contains(sub.as_str()),
        (AttributeValue::B(bytes), AttributeValue::B(sub)) => {
            sub.is_empty() || bytes.windows(sub.len()).any(|w| w == sub.as_slice())
        }
        (AttributeValue::Ss(set), AttributeValue::S(m)) => set.contains(m),
        (AttributeValue::Ns(set), AttributeValue::N(m)) => set.contains(m),
        (AttributeValue::Bs(set), AttributeValue::B(m)) => set.contains(m),
        (AttributeValue::L(items), other) => items.contains(other),
        _ => false,
    }
}
