//! A request's expression and legacy parameters, checked and compiled together, as DynamoDB
//! checks them: legacy and expression parameters never mixed; `ExpressionAttributeNames` and
//! `…Values` not empty, well-formed, only with expressions, and every entry used by some
//! expression; then each expression parsed (Update, Condition, KeyCondition, Filter,
//! Projection — DynamoDB's order, which decides which error a request with several gets).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value as Json;

use crate::condition::Condition;
use crate::error::{Error, ErrorKind, ExpressionKind, Location, Result};
use crate::key::KeySchema;
use crate::key_condition::KeyCondition;
use crate::legacy::{self, AttributeValueUpdate, ConditionalOperator, ExpectedAttributeValue, LegacyCondition};
use crate::limits::{PLACEHOLDER_BYTES_MAX, SUBSTITUTIONS_BYTES_MAX};
use crate::names::{Placeholders, Used};
use crate::projection::Projection;
use crate::update::Update;
use crate::wire::from_json;

/// The operation a request is for; it decides which parameters belong together.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Operation {
    /// `PutItem`.
    PutItem,
    /// `UpdateItem`.
    UpdateItem,
    /// `DeleteItem`.
    DeleteItem,
    /// `GetItem` (also a `BatchGetItem`/`TransactGetItems` entry).
    GetItem,
    /// `Query`.
    Query,
    /// `Scan`.
    Scan,
    /// A `TransactWriteItems` `ConditionCheck`.
    ConditionCheck,
}

/// The expression-related parameters of a request, as they arrive (PascalCase JSON).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct Request {
    pub condition_expression: Option<String>,
    pub filter_expression: Option<String>,
    pub key_condition_expression: Option<String>,
    pub update_expression: Option<String>,
    pub projection_expression: Option<String>,
    pub expression_attribute_names: Option<BTreeMap<String, String>>,
    /// Kept as JSON so a bad value is reported with DynamoDB's wording and its key.
    pub expression_attribute_values: Option<BTreeMap<String, Json>>,
    pub expected: Option<BTreeMap<String, ExpectedAttributeValue>>,
    pub conditional_operator: Option<ConditionalOperator>,
    pub attribute_updates: Option<BTreeMap<String, AttributeValueUpdate>>,
    pub key_conditions: Option<BTreeMap<String, LegacyCondition>>,
    pub query_filter: Option<BTreeMap<String, LegacyCondition>>,
    pub scan_filter: Option<BTreeMap<String, LegacyCondition>>,
    pub attributes_to_get: Option<Vec<String>>,
}

/// A request's conditions, update and projection, parsed once, ready to evaluate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Compiled {
    /// `ConditionExpression` or `Expected`.
    pub condition: Option<Condition>,
    /// `FilterExpression`, `QueryFilter` or `ScanFilter`.
    pub filter: Option<Condition>,
    /// `KeyConditionExpression` or `KeyConditions` (Query only).
    pub key_condition: Option<KeyCondition>,
    /// `UpdateExpression` or `AttributeUpdates`.
    pub update: Option<Update>,
    /// `ProjectionExpression` or `AttributesToGet`.
    pub projection: Option<Projection>,
}

impl Request {
    /// Reads the parameters from a request body; a malformed one is a serialization error.
    pub fn from_json(body: &Json) -> Result<Request> {
        Request::deserialize(body).map_err(|e| Error::request(ErrorKind::Serialization, e.to_string()))
    }

    /// Checks and compiles the request's parameters for `operation`. `schema` is the table's
    /// (or index's) key schema: Query needs it for its key condition, UpdateItem to refuse key
    /// updates.
    pub fn compile(&self, operation: Operation, schema: Option<&KeySchema>) -> Result<Compiled> {
        self.check_mixing(operation)?;
        let placeholders = self.placeholders(operation)?;
        let mut used = Used::default();
        let p = &placeholders;
        let out = &mut Compiled::default();
        out.update = parse(&self.update_expression, &mut used, |t| Update::parse(t, p))?;
        out.condition =
            parse(&self.condition_expression, &mut used, |t| Condition::parse(t, ExpressionKind::Condition, p))?;
        out.key_condition =
            parse(&self.key_condition_expression, &mut used, |t| KeyCondition::parse(t, p, need(schema)?))?;
        out.filter = parse(&self.filter_expression, &mut used, |t| Condition::parse(t, ExpressionKind::Filter, p))?;
        out.projection = parse(&self.projection_expression, &mut used, |t| Projection::parse(t, p))?;
        check_unused(&placeholders, &used)?;
        self.compile_legacy(operation, schema, out)?;
        if let (Operation::Query, Some(filter), Some(schema)) = (operation, &out.filter, schema) {
            check_filter_keys(filter, schema)?;
        }
        if let (Some(update), Some(schema)) = (&out.update, schema) {
            update.check_keys(schema)?;
        }
        Ok(std::mem::take(out))
    }

    fn compile_legacy(&self, operation: Operation, schema: Option<&KeySchema>, out: &mut Compiled) -> Result<()> {
        if let Some(expected) = self.expected.as_ref().filter(|_| out.condition.is_none()) {
            out.condition = legacy::expected(expected, self.conditional_operator)?;
        }
        let filter = match operation {
            Operation::Query => self.query_filter.as_ref(),
            Operation::Scan => self.scan_filter.as_ref(),
            _ => None,
        };
        if let Some(filter) = filter.filter(|_| out.filter.is_none()) {
            out.filter = legacy::filter(filter, self.conditional_operator)?;
        }
        if let Some(updates) = self.attribute_updates.as_ref().filter(|_| out.update.is_none()) {
            out.update = Some(legacy::attribute_updates(updates)?);
        }
        if let Some(names) = self.attributes_to_get.as_ref().filter(|_| out.projection.is_none()) {
            out.projection = Some(legacy::attributes_to_get(names)?);
        }
        if operation == Operation::Query && out.key_condition.is_none() {
            let Some(conditions) = &self.key_conditions else {
                return Err(Error::request(
                    ErrorKind::KeyCondition,
                    "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
                ));
            };
            out.key_condition = Some(legacy::key_conditions(conditions, need(schema)?)?);
        }
        Ok(())
    }

    /// The expression and legacy parameters `operation` takes, present in this request.
    fn present(&self, operation: Operation) -> (Vec<&'static str>, Vec<&'static str>) {
        let expressions: &[(&str, bool)] = &[
            ("UpdateExpression", self.update_expression.is_some()),
            ("ConditionExpression", self.condition_expression.is_some()),
            ("KeyConditionExpression", self.key_condition_expression.is_some()),
            ("FilterExpression", self.filter_expression.is_some()),
            ("ProjectionExpression", self.projection_expression.is_some()),
        ];
        // KeyConditions may go with a FilterExpression when there is no KeyConditionExpression.
        let key_conditions = self.key_conditions.is_some() && self.key_condition_expression.is_some();
        let legacy: &[(&str, bool)] = &[
            ("AttributeUpdates", self.attribute_updates.is_some()),
            ("Expected", self.expected.is_some()),
            ("KeyConditions", key_conditions),
            ("QueryFilter", self.query_filter.is_some()),
            ("ScanFilter", self.scan_filter.is_some()),
            ("ConditionalOperator", self.conditional_operator.is_some()),
            ("AttributesToGet", self.attributes_to_get.is_some()),
        ];
        let (takes_expressions, takes_legacy) = parameters(operation);
        let pick = |list: &[(&'static str, bool)], takes: &[&str]| {
            list.iter().filter(|(name, present)| *present && takes.contains(name)).map(|(name, _)| *name).collect()
        };
        (pick(expressions, takes_expressions), pick(legacy, takes_legacy))
    }

    fn check_mixing(&self, operation: Operation) -> Result<()> {
        let (expressions, legacy) = self.present(operation);
        if !expressions.is_empty() && !legacy.is_empty() {
            return Err(Error::request(
                ErrorKind::MixedParameters,
                format!(
                    "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
                    legacy.join(", "),
                    expressions.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Checks `ExpressionAttributeNames`/`Values` and reads the values.
    fn placeholders(&self, operation: Operation) -> Result<Placeholders> {
        let (expressions, _) = self.present(operation);
        let names = self.expression_attribute_names.clone().unwrap_or_default();
        if self.expression_attribute_names.is_some() {
            if expressions.is_empty() {
                return Err(placeholder_error("ExpressionAttributeNames can only be specified when using expressions"));
            }
            if names.is_empty() {
                return Err(placeholder_error("ExpressionAttributeNames must not be empty"));
            }
            check_keys("ExpressionAttributeNames", '#', names.keys())?;
        }
        let mut values = BTreeMap::new();
        if let Some(raw) = &self.expression_attribute_values {
            let takers: Vec<&str> = expressions.iter().copied().filter(|e| *e != "ProjectionExpression").collect();
            if takers.is_empty() {
                return Err(placeholder_error(values_without_expressions(operation)));
            }
            if raw.is_empty() {
                return Err(placeholder_error("ExpressionAttributeValues must not be empty"));
            }
            check_keys("ExpressionAttributeValues", ':', raw.keys())?;
            for (key, json) in raw {
                let value = from_json(json).map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidPlaceholders,
                        Location::Attribute(key.clone()),
                        format!("ExpressionAttributeValues contains invalid value: {e} for key {key}"),
                    )
                })?;
                values.insert(key.clone(), value);
            }
        }
        let placeholders = Placeholders { names, values };
        check_substitution_size(&placeholders)?;
        Ok(placeholders)
    }
}

/// Parses an optional expression parameter and notes the placeholders it used.
fn parse<T>(
    text: &Option<String>,
    used: &mut Used,
    parse: impl FnOnce(&str) -> Result<(T, Used)>,
) -> Result<Option<T>> {
    let Some(text) = text else { return Ok(None) };
    let (parsed, u) = parse(text)?;
    used.names.extend(u.names);
    used.values.extend(u.values);
    Ok(Some(parsed))
}

/// The key schema, which a Query's key condition cannot do without.
fn need(schema: Option<&KeySchema>) -> Result<&KeySchema> {
    schema.ok_or_else(|| Error::request(ErrorKind::KeySchema, "The table's key schema is needed"))
}

/// A Query's filter may not test key attributes (its key condition does that).
fn check_filter_keys(filter: &Condition, schema: &KeySchema) -> Result<()> {
    match filter.paths().into_iter().find(|p| schema.is_key(p.top())) {
        // unconfirmed: the message as users report it, not in DynamoDB's documentation.
        Some(path) => Err(Error::request(
            ErrorKind::KeyCondition,
            format!(
                "Filter Expression can only contain non-primary key attributes: Primary key attribute: {}",
                path.top()
            ),
        )),
        None => Ok(()),
    }
}

/// Which expression and legacy parameters each operation takes.
fn parameters(operation: Operation) -> (&'static [&'static str], &'static [&'static str]) {
    match operation {
        Operation::PutItem | Operation::DeleteItem | Operation::ConditionCheck => {
            (&["ConditionExpression"], &["Expected", "ConditionalOperator"])
        }
        Operation::UpdateItem => {
            (&["UpdateExpression", "ConditionExpression"], &["AttributeUpdates", "Expected", "ConditionalOperator"])
        }
        Operation::GetItem => (&["ProjectionExpression"], &["AttributesToGet"]),
        Operation::Query => (
            &["KeyConditionExpression", "FilterExpression", "ProjectionExpression"],
            &["KeyConditions", "QueryFilter", "ConditionalOperator", "AttributesToGet"],
        ),
        Operation::Scan => {
            (&["FilterExpression", "ProjectionExpression"], &["ScanFilter", "ConditionalOperator", "AttributesToGet"])
        }
    }
}

/// DynamoDB names the expressions that could have used the values.
fn values_without_expressions(operation: Operation) -> String {
    let (expressions, _) = parameters(operation);
    let takers: Vec<&str> = expressions.iter().copied().filter(|e| *e != "ProjectionExpression").collect();
    if takers.is_empty() {
        return "ExpressionAttributeValues can only be specified when using expressions".to_owned();
    }
    let verb = if takers.len() > 1 { "are" } else { "is" };
    format!(
        "ExpressionAttributeValues can only be specified when using expressions: {} {verb} null",
        takers.join(" and ")
    )
}

fn placeholder_error(message: impl Into<String>) -> Error {
    Error::request(ErrorKind::InvalidPlaceholders, message)
}

/// Placeholder keys are `#`/`:` followed by letters, digits and `_`, at most 255 bytes.
fn check_keys<'a>(parameter: &str, sigil: char, keys: impl Iterator<Item = &'a String>) -> Result<()> {
    for key in keys {
        let well_formed = key
            .strip_prefix(sigil)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        if !well_formed {
            return Err(Error::attribute(
                ErrorKind::InvalidPlaceholders,
                key,
                format!("{parameter} contains invalid key: Syntax error; key: \"{key}\""),
            ));
        }
        if key.len() > PLACEHOLDER_BYTES_MAX {
            // unconfirmed: DynamoDB's wording for an over-long placeholder.
            return Err(Error::attribute(
                ErrorKind::InvalidPlaceholders,
                key,
                format!("{parameter} contains invalid key: The key exceeds the maximum length of {PLACEHOLDER_BYTES_MAX}; key: \"{key}\""),
            ));
        }
    }
    Ok(())
}

fn check_substitution_size(placeholders: &Placeholders) -> Result<()> {
    let names: usize = placeholders.names.iter().map(|(k, v)| k.len() + v.len()).sum();
    let values: usize = placeholders.values.iter().map(|(k, v)| k.len() + v.size_bytes()).sum();
    if names + values > SUBSTITUTIONS_BYTES_MAX {
        // unconfirmed: DynamoDB's wording for substitutions over 2 MB.
        return Err(placeholder_error("Expression attribute names and values have exceeded the maximum allowed size"));
    }
    Ok(())
}

fn check_unused(placeholders: &Placeholders, used: &Used) -> Result<()> {
    let unused_names: Vec<&str> =
        placeholders.names.keys().filter(|k| !used.names.contains(*k)).map(String::as_str).collect();
    if !unused_names.is_empty() {
        return Err(Error::request(
            ErrorKind::UnusedNames,
            format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                unused_names.join(", ")
            ),
        ));
    }
    let unused_values: Vec<&str> =
        placeholders.values.keys().filter(|k| !used.values.contains(*k)).map(String::as_str).collect();
    if !unused_values.is_empty() {
        return Err(Error::request(
            ErrorKind::UnusedValues,
            format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                unused_values.join(", ")
            ),
        ));
    }
    Ok(())
}
