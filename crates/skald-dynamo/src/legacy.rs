//! The legacy parameters older clients still send, mapped onto the expression ASTs so one
//! evaluator serves both: `Expected` (+ `ConditionalOperator`) and `QueryFilter`/`ScanFilter` →
//! [`Condition`], `KeyConditions` → [`KeyCondition`], `AttributeUpdates` → [`Update`],
//! `AttributesToGet` → [`Projection`]. Names in legacy parameters are literal attribute names:
//! no placeholders, no reserved words.
//!
//! Operators: `EQ`, `NE` (true when the attribute is missing), `LT`/`LE`/`GT`/`GE` (`S`, `N`,
//! `B` only), `IN`, `BETWEEN`, `NULL` (attribute missing), `NOT_NULL`, `CONTAINS`,
//! `NOT_CONTAINS` (false when the attribute is missing), `BEGINS_WITH` (`S`, `B`). `Exists:
//! false` is `attribute_not_exists`; `Value` alone (or with `Exists: true`) is `=`. The
//! `AttributeUpdates` actions: `PUT` (the default) sets, `DELETE` without a value removes, with a
//! set takes members away, `ADD` adds a number, unions a set, or appends a list.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::condition::{Comparator, Cond, Condition, Operand};
use crate::error::{Error, ErrorKind, Result};
use crate::key::KeySchema;
use crate::key_condition::{KeyCondition, Part, SortCondition};
use crate::path::Path;
use crate::projection::Projection;
use crate::update::{Action, SetValue, Update, UpdateOperand};
use crate::value::{AttributeValue, ValueType};

/// A legacy comparison operator.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ComparisonOperator {
    Eq,
    Ne,
    In,
    Le,
    Lt,
    Ge,
    Gt,
    Between,
    NotNull,
    Null,
    Contains,
    NotContains,
    BeginsWith,
}

impl ComparisonOperator {
    /// The wire name (`NOT_NULL`, …).
    pub fn name(self) -> &'static str {
        match self {
            ComparisonOperator::Eq => "EQ",
            ComparisonOperator::Ne => "NE",
            ComparisonOperator::In => "IN",
            ComparisonOperator::Le => "LE",
            ComparisonOperator::Lt => "LT",
            ComparisonOperator::Ge => "GE",
            ComparisonOperator::Gt => "GT",
            ComparisonOperator::Between => "BETWEEN",
            ComparisonOperator::NotNull => "NOT_NULL",
            ComparisonOperator::Null => "NULL",
            ComparisonOperator::Contains => "CONTAINS",
            ComparisonOperator::NotContains => "NOT_CONTAINS",
            ComparisonOperator::BeginsWith => "BEGINS_WITH",
        }
    }

    /// Whether `count` values suit the operator.
    fn takes(self, count: usize) -> bool {
        match self {
            ComparisonOperator::Null | ComparisonOperator::NotNull => count == 0,
            ComparisonOperator::In => count > 0,
            ComparisonOperator::Between => count == 2,
            _ => count == 1,
        }
    }

    /// The value types the operator accepts (`None`: any).
    fn types(self) -> Option<&'static [ValueType]> {
        const SCALARS: &[ValueType] = &[ValueType::S, ValueType::N, ValueType::B];
        match self {
            ComparisonOperator::Lt
            | ComparisonOperator::Le
            | ComparisonOperator::Gt
            | ComparisonOperator::Ge
            | ComparisonOperator::In
            | ComparisonOperator::Between
            | ComparisonOperator::Contains
            | ComparisonOperator::NotContains => Some(SCALARS),
            ComparisonOperator::BeginsWith => Some(&[ValueType::S, ValueType::B]),
            _ => None,
        }
    }
}

/// `ConditionalOperator`: how the conditions of one legacy map combine.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConditionalOperator {
    /// All must hold (the default).
    #[default]
    And,
    /// One must hold.
    Or,
}

/// One entry of `Expected`.
#[derive(Clone, PartialEq, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExpectedAttributeValue {
    /// `Value`.
    pub value: Option<AttributeValue>,
    /// `Exists`.
    pub exists: Option<bool>,
    /// `ComparisonOperator`.
    pub comparison_operator: Option<ComparisonOperator>,
    /// `AttributeValueList`.
    pub attribute_value_list: Option<Vec<AttributeValue>>,
}

/// One entry of `KeyConditions`, `QueryFilter` or `ScanFilter` (the API's `Condition`).
#[derive(Clone, PartialEq, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LegacyCondition {
    /// `ComparisonOperator`.
    pub comparison_operator: ComparisonOperator,
    /// `AttributeValueList`.
    #[serde(default)]
    pub attribute_value_list: Vec<AttributeValue>,
}

/// An `AttributeUpdates` action.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AttributeAction {
    /// Set the attribute (the default).
    #[default]
    Put,
    /// Remove the attribute, or members of a set.
    Delete,
    /// Add to a number, set or list.
    Add,
}

/// One entry of `AttributeUpdates`.
#[derive(Clone, PartialEq, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeValueUpdate {
    /// `Value`.
    pub value: Option<AttributeValue>,
    /// `Action`.
    pub action: Option<AttributeAction>,
}

fn invalid(kind: ErrorKind, name: &str, detail: impl std::fmt::Display) -> Error {
    Error::invalid_parameter(kind, name, detail)
}

/// `Expected` and `ConditionalOperator` as a condition (`None` for an empty map).
pub fn expected(
    expected: &BTreeMap<String, ExpectedAttributeValue>,
    operator: Option<ConditionalOperator>,
) -> Result<Option<Condition>> {
    let conds = expected.iter().map(|(name, e)| expected_one(name, e)).collect::<Result<Vec<_>>>()?;
    Ok(combine(conds, operator.unwrap_or_default()))
}

fn expected_one(name: &str, e: &ExpectedAttributeValue) -> Result<Cond> {
    let path = Path::attribute(name);
    if e.value.is_some() && e.attribute_value_list.is_some() {
        return Err(invalid(
            ErrorKind::Legacy,
            name,
            format_args!("Value and AttributeValueList cannot be used together for Attribute: {name}"),
        ));
    }
    if let Some(op) = e.comparison_operator {
        if e.exists.is_some() {
            return Err(invalid(
                ErrorKind::Legacy,
                name,
                format_args!("Exists and ComparisonOperator cannot be used together for Attribute: {name}"),
            ));
        }
        let values: Vec<AttributeValue> = match (&e.value, &e.attribute_value_list) {
            (Some(v), _) => vec![v.clone()],
            (None, Some(list)) => list.clone(),
            (None, None) if !op.takes(0) => {
                return Err(invalid(
                    ErrorKind::Legacy,
                    name,
                    format_args!(
                        "Value or AttributeValueList must be used with ComparisonOperator: {} for Attribute: {name}",
                        op.name()
                    ),
                ))
            }
            (None, None) => Vec::new(),
        };
        return operator_cond(name, op, values);
    }
    if e.attribute_value_list.is_some() {
        return Err(invalid(
            ErrorKind::Legacy,
            name,
            format_args!("AttributeValueList can only be used with a ComparisonOperator for Attribute: {name}"),
        ));
    }
    match (e.exists.unwrap_or(true), &e.value) {
        (true, Some(v)) => Ok(Cond::Compare(Comparator::Eq, Operand::Path(path), Operand::Value(v.clone()))),
        (false, None) => Ok(Cond::NotExists(path)),
        (true, None) => {
            let shown = e.exists.map_or("null", |_| "true");
            Err(invalid(
                ErrorKind::Legacy,
                name,
                format_args!("Value must be provided when Exists is {shown} for Attribute: {name}"),
            ))
        }
        (false, Some(_)) => Err(invalid(
            ErrorKind::Legacy,
            name,
            format_args!("Value cannot be used when Exists is false for Attribute: {name}"),
        )),
    }
}

/// Checks an operator's values: their count, one type, a type the operator takes, and a
/// `BETWEEN` range in order.
fn check_values(name: &str, op: ComparisonOperator, values: &[AttributeValue]) -> Result<()> {
    if !op.takes(values.len()) {
        return Err(invalid(
            ErrorKind::Legacy,
            name,
            format_args!("Invalid number of argument(s) for the {} ComparisonOperator", op.name()),
        ));
    }
    if let Some(first) = values.first() {
        if values.iter().any(|v| v.value_type() != first.value_type()) {
            return Err(invalid(
                ErrorKind::Legacy,
                name,
                "AttributeValues inside AttributeValueList must be of same type",
            ));
        }
        if op.types().is_some_and(|types| !types.contains(&first.value_type())) {
            return Err(invalid(
                ErrorKind::Legacy,
                name,
                format_args!(
                    "ComparisonOperator {} is not valid for {} AttributeValue type",
                    op.name(),
                    first.value_type()
                ),
            ));
        }
    }
    if let [low, high] = values {
        if op == ComparisonOperator::Between && low.compare(high) == Some(std::cmp::Ordering::Greater) {
            return Err(Error::attribute(
                ErrorKind::Legacy,
                name,
                "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound",
            ));
        }
    }
    Ok(())
}

fn operator_cond(name: &str, op: ComparisonOperator, values: Vec<AttributeValue>) -> Result<Cond> {
    check_values(name, op, &values)?;
    let path = || Operand::Path(Path::attribute(name));
    if op == ComparisonOperator::In {
        return Ok(Cond::In(path(), values.into_iter().map(Operand::Value).collect()));
    }
    let mut values = values.into_iter().map(Operand::Value);
    let mut v = move || values.next().unwrap_or(Operand::Value(AttributeValue::Null));
    let compare = |c: Comparator, v: Operand| Cond::Compare(c, path(), v);
    Ok(match op {
        ComparisonOperator::Eq => compare(Comparator::Eq, v()),
        ComparisonOperator::Ne => compare(Comparator::Ne, v()),
        ComparisonOperator::Lt => compare(Comparator::Lt, v()),
        ComparisonOperator::Le => compare(Comparator::Le, v()),
        ComparisonOperator::Gt => compare(Comparator::Gt, v()),
        ComparisonOperator::Ge => compare(Comparator::Ge, v()),
        ComparisonOperator::Between => Cond::Between(path(), v(), v()),
        ComparisonOperator::NotNull => Cond::Exists(Path::attribute(name)),
        // `IN` was answered above.
        ComparisonOperator::Null | ComparisonOperator::In => Cond::NotExists(Path::attribute(name)),
        ComparisonOperator::Contains => Cond::Contains(path(), v()),
        ComparisonOperator::NotContains => Cond::And(
            Box::new(Cond::Exists(Path::attribute(name))),
            Box::new(Cond::Not(Box::new(Cond::Contains(path(), v())))),
        ),
        ComparisonOperator::BeginsWith => Cond::BeginsWith(path(), v()),
    })
}

/// Joins conditions with `AND`/`OR`, left to right.
fn combine(conds: Vec<Cond>, operator: ConditionalOperator) -> Option<Condition> {
    let mut conds = conds.into_iter();
    let first = conds.next()?;
    let root = conds.fold(first, |acc, c| match operator {
        ConditionalOperator::And => Cond::And(Box::new(acc), Box::new(c)),
        ConditionalOperator::Or => Cond::Or(Box::new(acc), Box::new(c)),
    });
    Some(Condition { root })
}

/// `QueryFilter` or `ScanFilter` and `ConditionalOperator` as a condition.
pub fn filter(
    filter: &BTreeMap<String, LegacyCondition>,
    operator: Option<ConditionalOperator>,
) -> Result<Option<Condition>> {
    let conds = filter
        .iter()
        .map(|(name, c)| operator_cond(name, c.comparison_operator, c.attribute_value_list.clone()))
        .collect::<Result<Vec<_>>>()?;
    Ok(combine(conds, operator.unwrap_or_default()))
}

/// `KeyConditions` as a key condition, checked against `schema`.
pub fn key_conditions(conditions: &BTreeMap<String, LegacyCondition>, schema: &KeySchema) -> Result<KeyCondition> {
    let parts = conditions.iter().map(|(name, c)| key_part(name, c)).collect::<Result<Vec<Part>>>()?;
    KeyCondition::from_parts(parts, schema)
}

fn key_part(name: &str, c: &LegacyCondition) -> Result<Part> {
    let op = c.comparison_operator;
    check_values(name, op, &c.attribute_value_list)?;
    let mut values = c.attribute_value_list.iter().cloned();
    let mut v = || values.next().unwrap_or(AttributeValue::Null);
    let condition = match op {
        ComparisonOperator::Eq => SortCondition::Eq(v()),
        ComparisonOperator::Lt => SortCondition::Lt(v()),
        ComparisonOperator::Le => SortCondition::Le(v()),
        ComparisonOperator::Gt => SortCondition::Gt(v()),
        ComparisonOperator::Ge => SortCondition::Ge(v()),
        ComparisonOperator::Between => SortCondition::Between(v(), v()),
        ComparisonOperator::BeginsWith => SortCondition::BeginsWith(v()),
        // unconfirmed: DynamoDB's wording for a non-indexable KeyConditions operator.
        _ => {
            return Err(Error::request(
                ErrorKind::KeyCondition,
                "Attempted conditional constraint is not an indexable operation",
            ))
        }
    };
    Ok((name.to_owned(), condition))
}

/// `AttributeUpdates` as an update.
pub fn attribute_updates(updates: &BTreeMap<String, AttributeValueUpdate>) -> Result<Update> {
    let actions = updates.iter().map(|(name, u)| update_action(name, u)).collect::<Result<Vec<_>>>()?;
    Ok(Update { actions })
}

fn update_action(name: &str, u: &AttributeValueUpdate) -> Result<Action> {
    let path = Path::attribute(name);
    let action = u.action.unwrap_or_default();
    let Some(value) = u.value.clone() else {
        if action != AttributeAction::Delete {
            return Err(invalid(
                ErrorKind::Legacy,
                name,
                "Only DELETE action is allowed when no attribute value is specified",
            ));
        }
        return Ok(Action::Remove(path));
    };
    let t = value.value_type();
    match action {
        AttributeAction::Put => Ok(Action::Set(path, SetValue::Operand(UpdateOperand::Value(value)))),
        AttributeAction::Delete if t.is_set() => Ok(Action::Delete(path, value)),
        AttributeAction::Delete => Err(invalid(
            ErrorKind::Legacy,
            name,
            format_args!("DELETE action with value is not supported for the type {t}"),
        )),
        AttributeAction::Add if t.is_set() || t == ValueType::N => Ok(Action::Add(path, value)),
        AttributeAction::Add if t == ValueType::L => {
            // Appending to a list that may not exist yet: list_append(if_not_exists(a, []), v).
            let existing =
                UpdateOperand::IfNotExists(path.clone(), Box::new(UpdateOperand::Value(AttributeValue::L(Vec::new()))));
            let appended = UpdateOperand::ListAppend(Box::new(existing), Box::new(UpdateOperand::Value(value)));
            Ok(Action::Set(path, SetValue::Operand(appended)))
        }
        AttributeAction::Add => {
            Err(invalid(ErrorKind::Legacy, name, format_args!("ADD action is not supported for the type {t}")))
        }
    }
}

/// `AttributesToGet` as a projection of top-level attributes.
pub fn attributes_to_get(names: &[String]) -> Result<Projection> {
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            // unconfirmed: DynamoDB's wording for a repeated name in AttributesToGet.
            return Err(invalid(ErrorKind::Legacy, name, format_args!("Duplicate value in attribute name: {name}")));
        }
    }
    Ok(Projection { paths: names.iter().map(Path::attribute).collect() })
}
