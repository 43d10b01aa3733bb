//! Whole requests: the rules that tie parameters together (no mixing of legacy and expression
//! parameters, placeholder maps, unused placeholders) and the legacy parameters mapped onto the
//! expression ASTs, each checked against the expression it stands for.

mod common;

use common::{item, json, show};
use skald_dynamo::apply::ReturnValues;
use skald_dynamo::error::ErrorKind;
use skald_dynamo::key::{KeySchema, KeyType};
use skald_dynamo::request::{Compiled, Operation, Request};
use skald_dynamo::value::Item;

fn schema() -> KeySchema {
    KeySchema::partition("pk", KeyType::S).with_sort("sk", KeyType::N)
}

fn compile(operation: Operation, body: &str) -> Result<Compiled, skald_dynamo::error::Error> {
    Request::from_json(&json(body))?.compile(operation, Some(&schema()))
}

#[test]
fn request_errors() {
    use Operation::*;
    #[rustfmt::skip]
    let cases: &[(Operation, &str, &str)] = &[
        (PutItem, r#"{"Expected": {"a": {"Exists": false}}, "ConditionExpression": "attribute_not_exists(a)"}"#,
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"),
        (UpdateItem, r#"{"AttributeUpdates": {"a": {"Action": "DELETE"}}, "UpdateExpression": "REMOVE a"}"#,
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributeUpdates} Expression parameters: {UpdateExpression}"),
        (UpdateItem, r#"{"AttributeUpdates": {"a": {"Action": "DELETE"}}, "Expected": {"a": {"Exists": false}}, "ConditionExpression": "attribute_not_exists(a)", "UpdateExpression": "REMOVE a"}"#,
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributeUpdates, Expected} Expression parameters: {UpdateExpression, ConditionExpression}"),
        (GetItem, r#"{"AttributesToGet": ["a"], "ProjectionExpression": "a"}"#,
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"),
        (Scan, r#"{"ScanFilter": {"a": {"ComparisonOperator": "NULL"}}, "FilterExpression": "attribute_not_exists(a)"}"#,
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {ScanFilter} Expression parameters: {FilterExpression}"),
        (Query, r#"{"KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]}}, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}"#,
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {KeyConditions} Expression parameters: {KeyConditionExpression}"),
        (Scan, r#"{"ConditionalOperator": "OR", "FilterExpression": "attribute_not_exists(a)"}"#,
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {ConditionalOperator} Expression parameters: {FilterExpression}"),
        (PutItem, r#"{"ConditionExpression": "a = :v", "ExpressionAttributeValues": {":v": {"S": "x"}, ":x": {"S": "y"}}}"#,
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:x}"),
        (PutItem, r##"{"ConditionExpression": "a = :v", "ExpressionAttributeValues": {":v": {"S": "x"}}, "ExpressionAttributeNames": {"#x": "a", "#y": "b"}}"##,
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#x, #y}"),
        (Query, r#"{"KeyConditionExpression": "pk = :p", "ProjectionExpression": "a", "ExpressionAttributeValues": {":p": {"S": "a"}, ":q": {"S": "b"}, ":r": {"S": "c"}}}"#,
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:q, :r}"),
        (PutItem, r##"{"ExpressionAttributeNames": {"#a": "a"}}"##, "ExpressionAttributeNames can only be specified when using expressions"),
        (PutItem, r#"{"ExpressionAttributeValues": {":a": {"S": "a"}}}"#, "ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null"),
        (UpdateItem, r#"{"ExpressionAttributeValues": {":a": {"S": "a"}}}"#, "ExpressionAttributeValues can only be specified when using expressions: UpdateExpression and ConditionExpression are null"),
        (GetItem, r#"{"ProjectionExpression": "a", "ExpressionAttributeValues": {":a": {"S": "a"}}}"#, "ExpressionAttributeValues can only be specified when using expressions"),
        (PutItem, r#"{"ConditionExpression": "a = b", "ExpressionAttributeNames": {}}"#, "ExpressionAttributeNames must not be empty"),
        (PutItem, r#"{"ConditionExpression": "a = b", "ExpressionAttributeValues": {}}"#, "ExpressionAttributeValues must not be empty"),
        (PutItem, r#"{"ConditionExpression": "a = b", "ExpressionAttributeNames": {"a": "b"}}"#, r#"ExpressionAttributeNames contains invalid key: Syntax error; key: "a""#),
        (PutItem, r##"{"ConditionExpression": "a = b", "ExpressionAttributeNames": {"#a-b": "b"}}"##, r##"ExpressionAttributeNames contains invalid key: Syntax error; key: "#a-b""##),
        (PutItem, r#"{"ConditionExpression": "a = :v", "ExpressionAttributeValues": {":": {"S": "a"}}}"#, r#"ExpressionAttributeValues contains invalid key: Syntax error; key: ":""#),
        (PutItem, r#"{"ConditionExpression": "a = :v", "ExpressionAttributeValues": {":v": {"SS": []}}}"#,
            "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: An string set  may not be empty for key :v"),
        (PutItem, r#"{"ConditionExpression": "a = :v", "ExpressionAttributeValues": {":v": {"N": "abc"}}}"#,
            "ExpressionAttributeValues contains invalid value: The parameter cannot be converted to a numeric value: abc for key :v"),
        (Query, r#"{"FilterExpression": "attribute_exists(a)"}"#, "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."),
        (UpdateItem, r#"{"UpdateExpression": "SET pk = :v", "ExpressionAttributeValues": {":v": {"S": "x"}}}"#,
            "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"),
        (UpdateItem, r#"{"AttributeUpdates": {"sk": {"Value": {"N": "1"}}}}"#,
            "One or more parameter values were invalid: Cannot update attribute sk. This attribute is part of the key"),
        // An UpdateExpression error is reported before a ConditionExpression one.
        (UpdateItem, r#"{"UpdateExpression": "SET Name = :v", "ConditionExpression": "((a = :v))", "ExpressionAttributeValues": {":v": {"S": "x"}}}"#,
            "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: Name"),
        // Legacy parameters.
        (PutItem, r#"{"Expected": {"a": {"Value": {"S": "x"}, "AttributeValueList": [{"S": "x"}]}}}"#, "One or more parameter values were invalid: Value and AttributeValueList cannot be used together for Attribute: a"),
        (PutItem, r#"{"Expected": {"a": {"Exists": true, "ComparisonOperator": "NULL"}}}"#, "One or more parameter values were invalid: Exists and ComparisonOperator cannot be used together for Attribute: a"),
        (PutItem, r#"{"Expected": {"a": {"ComparisonOperator": "EQ"}}}"#, "One or more parameter values were invalid: Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: a"),
        (PutItem, r#"{"Expected": {"a": {"AttributeValueList": [{"S": "x"}]}}}"#, "One or more parameter values were invalid: AttributeValueList can only be used with a ComparisonOperator for Attribute: a"),
        (PutItem, r#"{"Expected": {"a": {"Exists": true}}}"#, "One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: a"),
        (PutItem, r#"{"Expected": {"a": {}}}"#, "One or more parameter values were invalid: Value must be provided when Exists is null for Attribute: a"),
        (PutItem, r#"{"Expected": {"a": {"Exists": false, "Value": {"S": "x"}}}}"#, "One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: a"),
        (PutItem, r#"{"Expected": {"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}]}}}"#, "One or more parameter values were invalid: Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
        (PutItem, r#"{"Expected": {"a": {"ComparisonOperator": "NULL", "AttributeValueList": [{"N": "1"}]}}}"#, "One or more parameter values were invalid: Invalid number of argument(s) for the NULL ComparisonOperator"),
        (PutItem, r#"{"Expected": {"a": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "1"}, {"S": "1"}]}}}"#, "One or more parameter values were invalid: AttributeValues inside AttributeValueList must be of same type"),
        (PutItem, r#"{"Expected": {"a": {"ComparisonOperator": "LT", "AttributeValueList": [{"SS": ["x"]}]}}}"#, "One or more parameter values were invalid: ComparisonOperator LT is not valid for SS AttributeValue type"),
        (PutItem, r#"{"Expected": {"a": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"N": "1"}]}}}"#, "One or more parameter values were invalid: ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type"),
        (PutItem, r#"{"Expected": {"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "5"}, {"N": "1"}]}}}"#, "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"),
        (UpdateItem, r#"{"AttributeUpdates": {"a": {"Action": "PUT"}}}"#, "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified"),
        (UpdateItem, r#"{"AttributeUpdates": {"a": {"Action": "DELETE", "Value": {"S": "x"}}}}"#, "One or more parameter values were invalid: DELETE action with value is not supported for the type S"),
        (UpdateItem, r#"{"AttributeUpdates": {"a": {"Action": "ADD", "Value": {"S": "x"}}}}"#, "One or more parameter values were invalid: ADD action is not supported for the type S"),
        (Query, r#"{"KeyConditions": {"sk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}}}"#, "Query condition missed key schema element: pk"),
        (Query, r#"{"KeyConditions": {"pk": {"ComparisonOperator": "GT", "AttributeValueList": [{"S": "a"}]}}}"#, "Query key condition not supported"),
        (Query, r#"{"KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}}}"#, "One or more parameter values were invalid: Condition parameter type does not match schema type"),
        (GetItem, r#"{"AttributesToGet": ["a", "a"]}"#, "One or more parameter values were invalid: Duplicate value in attribute name: a"),
        (Query, r#"{"KeyConditionExpression": "pk = :p", "FilterExpression": "b = :p OR size(sk) > :n", "ExpressionAttributeValues": {":p": {"S": "a"}, ":n": {"N": "1"}}}"#,
            "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk"),
    ];
    for (operation, body, message) in cases {
        let error = compile(*operation, body).expect_err(body);
        assert_eq!(error.message(), *message, "{operation:?} {body}");
    }
    assert!(cases.len() >= 45);
    let error = Request::from_json(&json(r#"{"Expected": {"a": {"Value": {"N": 5}}}}"#)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Serialization);
}

#[test]
fn allowed_combinations() {
    // KeyConditions may go with a FilterExpression when there is no KeyConditionExpression.
    let compiled = compile(
        Operation::Query,
        r#"{"KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]}},
            "FilterExpression": "b = :b", "ExpressionAttributeValues": {":b": {"N": "1"}}}"#,
    )
    .unwrap();
    assert!(compiled.key_condition.is_some() && compiled.filter.is_some());
    // A name used only by the projection, values by the condition.
    let compiled = compile(
        Operation::Query,
        r##"{"KeyConditionExpression": "pk = :p", "ProjectionExpression": "#n", "ExpressionAttributeNames": {"#n": "name"},
            "ExpressionAttributeValues": {":p": {"S": "a"}}}"##,
    )
    .unwrap();
    assert!(compiled.projection.is_some());
    assert!(compile(Operation::PutItem, "{}").unwrap().condition.is_none());
}

/// Each legacy parameter and the expression it stands for must agree on every item.
#[test]
fn legacy_conditions_match_their_expressions() {
    let items = [
        "{}",
        r#"{"a":{"N":"1"}}"#,
        r#"{"a":{"N":"5"},"b":{"S":"hello"}}"#,
        r#"{"a":{"S":"1"},"b":{"SS":["x","y"]}}"#,
        r#"{"a":{"L":[{"N":"1"}]},"b":{"S":"he"}}"#,
        r#"{"a":{"N":"3"},"b":{"B":"aGk="}}"#,
    ];
    // (Expected, its expression with ConditionalOperator AND, with OR).
    #[rustfmt::skip]
    let cases = [
        (r#"{"a": {"Value": {"N": "1"}}}"#, "a = :v1", None),
        (r#"{"a": {"Value": {"N": "1"}, "Exists": true}}"#, "a = :v1", None),
        (r#"{"a": {"Exists": false}}"#, "attribute_not_exists(a)", None),
        (r#"{"a": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}}"#, "a = :v1", None),
        (r#"{"a": {"ComparisonOperator": "NE", "Value": {"N": "1"}}}"#, "a <> :v1", None),
        (r#"{"a": {"ComparisonOperator": "NE", "AttributeValueList": [{"N": "1"}]}}"#, "a <> :v1", None),
        (r#"{"a": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "3"}]}}"#, "a < :v3", None),
        (r#"{"a": {"ComparisonOperator": "LE", "AttributeValueList": [{"N": "3"}]}}"#, "a <= :v3", None),
        (r#"{"a": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "3"}]}}"#, "a > :v3", None),
        (r#"{"a": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "3"}]}}"#, "a >= :v3", None),
        (r#"{"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "3"}]}}"#, "a BETWEEN :v1 AND :v3", None),
        (r#"{"a": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "1"}, {"N": "3"}]}}"#, "a IN (:v1, :v3)", None),
        (r#"{"a": {"ComparisonOperator": "NULL"}}"#, "attribute_not_exists(a)", None),
        (r#"{"a": {"ComparisonOperator": "NOT_NULL"}}"#, "attribute_exists(a)", None),
        (r#"{"b": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "x"}]}}"#, "contains(b, :x)", None),
        (r#"{"b": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "x"}]}}"#, "attribute_exists(b) AND NOT contains(b, :x)", None),
        (r#"{"b": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "he"}]}}"#, "begins_with(b, :he)", None),
        (r#"{"a": {"ComparisonOperator": "NOT_NULL"}, "b": {"ComparisonOperator": "NULL"}}"#,
            "attribute_exists(a) AND attribute_not_exists(b)", Some("attribute_exists(a) OR attribute_not_exists(b)")),
        (r#"{"a": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "1"}]}, "b": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "he"}]}}"#,
            "a > :v1 AND begins_with(b, :he)", Some("a > :v1 OR begins_with(b, :he)")),
    ];
    let values = r#"{":v1": {"N": "1"}, ":v3": {"N": "3"}, ":x": {"S": "x"}, ":he": {"S": "he"}}"#;
    for (expected, and, or) in cases {
        for (operator, joined) in [("AND", and), ("OR", or.unwrap_or(and))] {
            let legacy = compile(
                Operation::PutItem,
                &format!(r#"{{"Expected": {expected}, "ConditionalOperator": "{operator}"}}"#),
            )
            .unwrap();
            // Entries with a ComparisonOperator and a list are also valid ScanFilter entries.
            let filter = (!expected.contains("Value\"") && !expected.contains("Exists")).then(|| {
                compile(
                    Operation::Scan,
                    &format!(r#"{{"ScanFilter": {expected}, "ConditionalOperator": "{operator}"}}"#),
                )
                .unwrap()
            });
            let body = format!(r#"{{"ConditionExpression": "{joined}", "ExpressionAttributeValues": {values}}}"#);
            let modern = modern_condition(&Request::from_json(&json(&body)).unwrap()).unwrap();
            for it in items {
                let it = item(it);
                let want = modern.evaluate(Some(&it));
                assert_eq!(
                    legacy.condition.as_ref().unwrap().evaluate(Some(&it)),
                    want,
                    "{expected} {operator} on {}",
                    show(&it)
                );
                if let Some(filter) = filter.as_ref().and_then(|f| f.filter.as_ref()) {
                    assert_eq!(filter.evaluate(Some(&it)), want, "ScanFilter {expected} on {}", show(&it));
                }
            }
        }
    }
}

/// The condition of a request whose values may not all be used (the table shares one map).
fn modern_condition(request: &Request) -> Option<skald_dynamo::condition::Condition> {
    let values = request.expression_attribute_values.as_ref()?;
    let placeholders = skald_dynamo::names::Placeholders {
        names: Default::default(),
        values: values.iter().map(|(k, v)| (k.clone(), skald_dynamo::wire::from_json(v).unwrap())).collect(),
    };
    let text = request.condition_expression.as_ref()?;
    let kind = skald_dynamo::error::ExpressionKind::Condition;
    Some(skald_dynamo::condition::Condition::parse(text, kind, &placeholders).ok()?.0)
}

#[test]
fn legacy_updates_match_their_expressions() {
    let before = item(
        r#"{"pk":{"S":"k"},"sk":{"N":"1"},"n":{"N":"1"},"s":{"SS":["a","b"]},"l":{"L":[{"N":"0"}]},"gone":{"S":"g"}}"#,
    );
    #[rustfmt::skip]
    let cases = [
        (r#"{"x": {"Value": {"S": "v"}}}"#, r#"{"x":{"S":"v"}}"#),
        (r#"{"x": {"Action": "PUT", "Value": {"S": "v"}}}"#, r#"{"x":{"S":"v"}}"#),
        (r#"{"gone": {"Action": "DELETE"}}"#, "{}"),
        (r#"{"s": {"Action": "DELETE", "Value": {"SS": ["a"]}}}"#, r#"{"s":{"SS":["b"]}}"#),
        (r#"{"n": {"Action": "ADD", "Value": {"N": "2"}}}"#, r#"{"n":{"N":"3"}}"#),
        (r#"{"fresh": {"Action": "ADD", "Value": {"N": "2"}}}"#, r#"{"fresh":{"N":"2"}}"#),
        (r#"{"s": {"Action": "ADD", "Value": {"SS": ["c"]}}}"#, r#"{"s":{"SS":["a","b","c"]}}"#),
        (r#"{"l": {"Action": "ADD", "Value": {"L": [{"N": "1"}]}}}"#, r#"{"l":{"L":[{"N":"0"},{"N":"1"}]}}"#),
        (r#"{"nl": {"Action": "ADD", "Value": {"L": [{"N": "1"}]}}}"#, r#"{"nl":{"L":[{"N":"1"}]}}"#),
    ];
    for (updates, changed) in cases {
        let compiled = compile(Operation::UpdateItem, &format!(r#"{{"AttributeUpdates": {updates}}}"#)).unwrap();
        let outcome = compiled.update.unwrap().apply(Some(&before), &Item::new()).unwrap();
        let got = outcome.returned(ReturnValues::UpdatedNew).map(|i| show(&i)).unwrap_or_else(|| "{}".to_owned());
        assert_eq!(got, show(&item(changed)), "{updates}");
    }
}

#[test]
fn legacy_key_conditions_and_attributes_to_get() {
    let compiled = compile(
        Operation::Query,
        r#"{"KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]},
                              "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "5"}]}},
            "QueryFilter": {"x": {"ComparisonOperator": "NOT_NULL"}}, "AttributesToGet": ["x", "pk"]}"#,
    )
    .unwrap();
    let key = compiled.key_condition.unwrap();
    let row = item(r#"{"pk":{"S":"a"},"sk":{"N":"3"},"x":{"N":"1"},"y":{"N":"2"}}"#);
    assert!(key.matches(&row));
    assert!(!key.matches(&item(r#"{"pk":{"S":"a"},"sk":{"N":"6"}}"#)));
    assert!(compiled.filter.unwrap().evaluate(Some(&row)));
    assert_eq!(show(&compiled.projection.unwrap().apply(&row)), r#"{"pk":{"S":"a"},"x":{"N":"1"}}"#);
}

#[test]
fn the_fuzz_entry_point_survives_odd_input() {
    let inputs: &[&[u8]] = &[
        b"",
        b"SET a = :v\n{\"a\":{\"N\":\"1\"}}\n{\":v\":{\"N\":\"2\"}}\n{}\n1e5",
        b"a = :v AND (b < :v OR NOT contains(c, :v))\n{\"c\":{\"SS\":[\"x\"]}}\n{\":v\":{\"S\":\"x\"}}",
        b"((((((((\n\n\n\n-0.000e-999999999999999999999",
        b"SET a[99999999999999999999999] = :v",
        b"REMOVE a[1], a[0] SET b = list_append(a, a)\n{\"a\":{\"L\":[{\"N\":\"1\"},{\"N\":\"2\"}]}}",
        b"\xff\xfe\x00 = :\x01",
        b"pk = :p AND sk BETWEEN :a AND :b\n{}\n{\":p\":{\"S\":\"x\"},\":a\":{\"N\":\"1\"},\":b\":{\"N\":\"2\"}}",
    ];
    for input in inputs {
        skald_dynamo::fuzz::fuzz(input);
    }
}
