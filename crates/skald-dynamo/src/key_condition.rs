//! KeyConditionExpression (and legacy `KeyConditions`): the partition key `=` a value, and
//! optionally one sort-key condition (`=`, `<`, `<=`, `>`, `>=`, `BETWEEN`, `begins_with`), with
//! DynamoDB's restrictions — no `OR`, `NOT`, `IN`, `<>` or other functions, one condition per key,
//! top-level key attributes only, values of the key's type — and a test of an item against it.

use crate::condition::{parse_cond, Comparator, Cond, Operand};
use crate::error::{Error, ErrorKind, ExpressionKind, Result};
use crate::eval::begins_with;
use crate::key::{KeySchema, KeyType};
use crate::names::{Placeholders, Used};
use crate::value::{AttributeValue, Item};

/// A condition on the sort key.
#[derive(Clone, PartialEq, Debug)]
pub enum SortCondition {
    /// `= v`
    Eq(AttributeValue),
    /// `< v`
    Lt(AttributeValue),
    /// `<= v`
    Le(AttributeValue),
    /// `> v`
    Gt(AttributeValue),
    /// `>= v`
    Ge(AttributeValue),
    /// `BETWEEN low AND high`
    Between(AttributeValue, AttributeValue),
    /// `begins_with(key, prefix)`
    BeginsWith(AttributeValue),
}

impl SortCondition {
    /// Whether a sort-key value satisfies the condition.
    pub fn matches(&self, value: &AttributeValue) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let cmp = |bound: &AttributeValue| value.compare(bound);
        match self {
            SortCondition::Eq(v) => cmp(v) == Some(Equal),
            SortCondition::Lt(v) => cmp(v) == Some(Less),
            SortCondition::Le(v) => matches!(cmp(v), Some(Less | Equal)),
            SortCondition::Gt(v) => cmp(v) == Some(Greater),
            SortCondition::Ge(v) => matches!(cmp(v), Some(Greater | Equal)),
            SortCondition::Between(low, high) => {
                matches!(cmp(low), Some(Greater | Equal)) && matches!(cmp(high), Some(Less | Equal))
            }
            SortCondition::BeginsWith(prefix) => begins_with(Some(value), Some(prefix)),
        }
    }

    fn values(&self) -> impl Iterator<Item = &AttributeValue> {
        let (a, b) = match self {
            SortCondition::Between(low, high) => (low, Some(high)),
            SortCondition::Eq(v)
            | SortCondition::Lt(v)
            | SortCondition::Le(v)
            | SortCondition::Gt(v)
            | SortCondition::Ge(v)
            | SortCondition::BeginsWith(v) => (v, None),
        };
        std::iter::once(a).chain(b)
    }
}

/// A Query's key condition, checked against the key schema.
#[derive(Clone, PartialEq, Debug)]
pub struct KeyCondition {
    /// The partition key's name.
    pub partition_key: String,
    /// The partition key's value.
    pub partition_value: AttributeValue,
    /// The sort key's name and condition, if any.
    pub sort: Option<(String, SortCondition)>,
}

/// One key attribute's condition before the schema is consulted.
pub(crate) type Part = (String, SortCondition);

impl KeyCondition {
    /// Parses a KeyConditionExpression and checks it against `schema`.
    pub fn parse(text: &str, placeholders: &Placeholders, schema: &KeySchema) -> Result<(KeyCondition, Used)> {
        let (cond, used) = parse_cond(text, ExpressionKind::KeyCondition, placeholders)?;
        let mut parts = Vec::new();
        collect(&cond, &mut parts)?;
        Ok((KeyCondition::from_parts(parts, schema)?, used))
    }

    /// Builds the key condition from per-attribute conditions (at most one each).
    pub(crate) fn from_parts(parts: Vec<Part>, schema: &KeySchema) -> Result<KeyCondition> {
        let pk = &schema.partition.name;
        let mut partition = None;
        let mut sort = None;
        for (name, condition) in parts {
            if name == *pk {
                let SortCondition::Eq(value) = condition else { return Err(not_supported()) };
                check_type(&value, schema.partition.key_type)?;
                partition = Some(value);
            } else if let Some(sk) = schema.sort.as_ref().filter(|sk| sk.name == name) {
                for value in condition.values() {
                    check_type(value, sk.key_type)?;
                }
                sort = Some((name, condition));
            } else {
                let missed = schema.sort.as_ref().map_or(pk, |sk| &sk.name);
                return Err(missed_element(if partition.is_none() { pk } else { missed }));
            }
        }
        let partition_value = partition.ok_or_else(|| missed_element(pk))?;
        Ok(KeyCondition { partition_key: pk.clone(), partition_value, sort })
    }

    /// Whether `item`'s key satisfies the condition.
    pub fn matches(&self, item: &Item) -> bool {
        item.get(&self.partition_key) == Some(&self.partition_value)
            && self.sort.as_ref().is_none_or(|(name, c)| item.get(name).is_some_and(|v| c.matches(v)))
    }
}

fn check_type(value: &AttributeValue, key_type: KeyType) -> Result<()> {
    if value.value_type() == key_type.value_type() {
        return Ok(());
    }
    Err(Error::invalid_parameter(ErrorKind::KeyCondition, "", "Condition parameter type does not match schema type"))
}

fn missed_element(name: &str) -> Error {
    Error::request(ErrorKind::KeyCondition, format!("Query condition missed key schema element: {name}"))
}

fn not_supported() -> Error {
    Error::request(ErrorKind::KeyCondition, "Query key condition not supported")
}

fn invalid(detail: impl std::fmt::Display) -> Error {
    Error::expression(ErrorKind::KeyCondition, ExpressionKind::KeyCondition, 0, detail)
}

/// Splits the top-level `AND`s and turns each condition into a [`Part`], with DynamoDB's
/// restrictions. The walk follows the left spine of the `AND` chain in a loop.
fn collect(cond: &Cond, parts: &mut Vec<Part>) -> Result<()> {
    let mut conds = Vec::new();
    let mut node = cond;
    while let Cond::And(left, right) = node {
        conds.push(right.as_ref());
        node = left;
    }
    conds.push(node);
    for cond in conds.into_iter().rev() {
        let (name, condition) = part(cond)?;
        if parts.iter().any(|(n, _)| *n == name) {
            return Err(invalid("KeyConditionExpressions must only contain one condition per key"));
        }
        parts.push((name, condition));
    }
    Ok(())
}

fn part(cond: &Cond) -> Result<Part> {
    let operator = match cond {
        Cond::Or(..) => "OR",
        Cond::Not(_) => "NOT",
        Cond::In(..) => "IN",
        Cond::Compare(Comparator::Ne, ..) => "<>",
        Cond::Exists(_) => "attribute_exists",
        Cond::NotExists(_) => "attribute_not_exists",
        Cond::Type(..) => "attribute_type",
        Cond::Contains(..) => "contains",
        Cond::And(..) => "AND",
        Cond::Compare(..) | Cond::Between(..) | Cond::BeginsWith(..) => "",
    };
    if !operator.is_empty() {
        return Err(invalid(format_args!("Invalid operator used in KeyConditionExpression: {operator}")));
    }
    match cond {
        Cond::Compare(op, a, b) => compare(*op, a, b),
        Cond::Between(a, low, high) => {
            let name = first_key(a, "BETWEEN")?;
            let (low, high) = (value(low)?, value(high)?);
            Ok((name, SortCondition::Between(low, high)))
        }
        Cond::BeginsWith(a, prefix) => Ok((first_key(a, "begins_with")?, SortCondition::BeginsWith(value(prefix)?))),
        _ => Err(invalid("Invalid operator used in KeyConditionExpression")),
    }
}

/// `key <op> :v` or `:v <op> key` (flipped).
fn compare(op: Comparator, a: &Operand, b: &Operand) -> Result<Part> {
    let (name, v, flipped) = match (key_name(a)?, key_name(b)?) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
            ))
        }
        (Some(name), None) => (name, value(b)?, false),
        (None, Some(name)) => (name, value(a)?, true),
        (None, None) => return Err(invalid("Invalid condition in KeyConditionExpression: No key attribute specified")),
    };
    let condition = match (op, flipped) {
        (Comparator::Lt, false) | (Comparator::Gt, true) => SortCondition::Lt(v),
        (Comparator::Le, false) | (Comparator::Ge, true) => SortCondition::Le(v),
        (Comparator::Gt, false) | (Comparator::Lt, true) => SortCondition::Gt(v),
        (Comparator::Ge, false) | (Comparator::Le, true) => SortCondition::Ge(v),
        _ => SortCondition::Eq(v),
    };
    Ok((name, condition))
}

fn first_key(operand: &Operand, operator: &str) -> Result<String> {
    key_name(operand)?.ok_or_else(|| {
        invalid(format_args!(
            "Invalid condition in KeyConditionExpression: {operator} operator must have the key attribute as its first operand"
        ))
    })
}

/// The key attribute an operand names, if it is a path.
fn key_name(operand: &Operand) -> Result<Option<String>> {
    match operand {
        Operand::Path(path) if path.is_top_level() => Ok(Some(path.top().to_owned())),
        Operand::Path(_) => Err(invalid("KeyConditionExpressions cannot have conditions on nested attributes")),
        Operand::Size(_) => Err(invalid("KeyConditionExpressions cannot contain nested operations")),
        Operand::Value(_) => Ok(None),
    }
}

fn value(operand: &Operand) -> Result<AttributeValue> {
    match operand {
        Operand::Value(v) => Ok(v.clone()),
        Operand::Size(_) => Err(invalid("KeyConditionExpressions cannot contain nested operations")),
        Operand::Path(_) => {
            Err(invalid("Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"))
        }
    }
}
