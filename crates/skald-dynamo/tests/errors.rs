//! Every parse-time validation error, with DynamoDB's exact message: one line per behaviour
//! (language, expression, message).

mod common;

use common::placeholders;
use skald_dynamo::condition::Condition;
use skald_dynamo::error::{Error, ExpressionKind, Location};
use skald_dynamo::key::{KeySchema, KeyType};
use skald_dynamo::key_condition::KeyCondition;
use skald_dynamo::names::Placeholders;
use skald_dynamo::projection::Projection;
use skald_dynamo::update::Update;

/// The table may grow, never shrink.
const CASES_MIN: usize = 95;

const VALUES: &str = r##"{
    ":v": {"S": "v"}, ":w": {"S": "w"}, ":s": {"S": "x"}, ":s2": {"S": "y"}, ":n": {"N": "1"}, ":n2": {"N": "2"},
    ":n5": {"N": "5"}, ":l": {"L": []}, ":m": {"M": {}}, ":t": {"BOOL": true}, ":null": {"NULL": true},
    ":b": {"B": "AQ=="}, ":bad": {"S": "X"}, ":ss": {"SS": ["a"]}, "#a": "a", "#pk": "pk"
}"##;

fn parse(language: char, expression: &str, p: &Placeholders) -> Result<(), Error> {
    let schema = KeySchema::partition("pk", KeyType::S).with_sort("sk", KeyType::N);
    match language {
        'C' => Condition::parse(expression, ExpressionKind::Condition, p).map(drop),
        'F' => Condition::parse(expression, ExpressionKind::Filter, p).map(drop),
        'U' => Update::parse(expression, p).map(drop),
        'P' => Projection::parse(expression, p).map(drop),
        _ => KeyCondition::parse(expression, p, &schema).map(drop),
    }
}

#[rustfmt::skip]
const CASES: &[(char, &str, &str)] = &[
    // ----- empty -----
    ('C', "", "Invalid ConditionExpression: The expression can not be empty;"),
    ('F', "", "Invalid FilterExpression: The expression can not be empty;"),
    ('U', "", "Invalid UpdateExpression: The expression can not be empty;"),
    ('P', "", "Invalid ProjectionExpression: The expression can not be empty;"),
    ('K', "", "Invalid KeyConditionExpression: The expression can not be empty;"),
    // ----- syntax: the token the parser stopped at, and the text from the token before to the one after -----
    ('C', "attribute_not_exists(", r#"Invalid ConditionExpression: Syntax error; token: "", near: "(""#),
    ('C', "attribute_exists(pk", r#"Invalid ConditionExpression: Syntax error; token: "", near: "pk""#),
    ('C', "a =", r#"Invalid ConditionExpression: Syntax error; token: "", near: "=""#),
    ('C', "a = :v AND", r#"Invalid ConditionExpression: Syntax error; token: "", near: "AND""#),
    ('C', "a BETWEEN :v", r#"Invalid ConditionExpression: Syntax error; token: "", near: ":v""#),
    ('C', "(a = :v", r#"Invalid ConditionExpression: Syntax error; token: "", near: ":v""#),
    ('C', "a.", r#"Invalid ConditionExpression: Syntax error; token: "", near: ".""#),
    ('C', "a[", r#"Invalid ConditionExpression: Syntax error; token: "", near: "[""#),
    ('C', "attribute_exists(pk) x", r#"Invalid ConditionExpression: Syntax error; token: "x", near: ") x""#),
    ('C', "attribute_exists(pk) x y", r#"Invalid ConditionExpression: Syntax error; token: "x", near: ") x y""#),
    ('C', "a = :v @ b", r#"Invalid ConditionExpression: Syntax error; token: "@", near: ":v @ b""#),
    ('C', "a = 5", r#"Invalid ConditionExpression: Syntax error; token: "5", near: "= 5""#),
    ('C', "a = :v AND OR b = :v", r#"Invalid ConditionExpression: Syntax error; token: "OR", near: "AND OR b""#),
    ('C', "a = :v, #", r##"Invalid ConditionExpression: Syntax error; token: ",", near: ":v, #""##),
    ('C', "a[x] = :v", r#"Invalid ConditionExpression: Syntax error; token: "x", near: "[x]""#),
    ('C', "a.1 = :v", r#"Invalid ConditionExpression: Syntax error; token: "1", near: ".1 =""#),
    ('C', "AND = :v", r#"Invalid ConditionExpression: Syntax error; token: "AND", near: "AND =""#),
    ('C', "a IN :v", r#"Invalid ConditionExpression: Syntax error; token: ":v", near: "IN :v""#),
    ('C', "a BETWEEN :v OR :w", r#"Invalid ConditionExpression: Syntax error; token: "OR", near: ":v OR :w""#),
    ('C', "a = 'x'", r#"Invalid ConditionExpression: Syntax error; token: "'", near: "= 'x""#),
    ('U', "SET", r#"Invalid UpdateExpression: Syntax error; token: "", near: "SET""#),
    ('U', "SET a", r#"Invalid UpdateExpression: Syntax error; token: "", near: "a""#),
    ('U', "SET a =", r#"Invalid UpdateExpression: Syntax error; token: "", near: "=""#),
    ('U', "a = :v", r#"Invalid UpdateExpression: Syntax error; token: "a", near: "a =""#),
    ('U', "DELETE #a :v undefined SET a = :v", r#"Invalid UpdateExpression: Syntax error; token: "undefined", near: ":v undefined SET""#),
    ('U', "SET a = :v, #, b = :v", r##"Invalid UpdateExpression: Syntax error; token: "#", near: ", #,""##),
    ('U', "SET a = :v, REMOVE b", r#"Invalid UpdateExpression: Syntax error; token: "REMOVE", near: ", REMOVE b""#),
    ('U', "ADD a", r#"Invalid UpdateExpression: Syntax error; token: "", near: "a""#),
    ('U', "ADD a b", r#"Invalid UpdateExpression: Syntax error; token: "b", near: "a b""#),
    ('U', "SET a = :v + :w + :n", r#"Invalid UpdateExpression: Syntax error; token: "+", near: ":w + :n""#),
    ('P', "a,", r#"Invalid ProjectionExpression: Syntax error; token: "", near: ",""#),
    ('P', "a b", r#"Invalid ProjectionExpression: Syntax error; token: "b", near: "a b""#),
    // ----- reserved words used bare -----
    ('C', "Name = :v", "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: Name"),
    ('C', "a.size = :v", "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: size"),
    ('C', "attribute_exists(status)", "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"),
    ('F', "DATA = :v", "Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: DATA"),
    ('U', "SET count = :n", "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: count"),
    ('U', "SET a = if_not_exists(value, :n)", "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: value"),
    ('U', "REMOVE a, and", "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: and"),
    ('P', "a, user", "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: user"),
    ('K', "key = :s", "Invalid KeyConditionExpression: Attribute name is a reserved keyword; reserved keyword: key"),
    // ----- undefined placeholders -----
    ('C', "#x = :v", "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #x"),
    ('C', "a = :x", "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :x"),
    ('U', "SET #x = :v", "Invalid UpdateExpression: An expression attribute name used in the document path is not defined; attribute name: #x"),
    ('U', "SET a = :x", "Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :x"),
    ('U', "SET a = :x, #x = :v", "Invalid UpdateExpression: An expression attribute name used in the document path is not defined; attribute name: #x"),
    ('P', "a.#x", "Invalid ProjectionExpression: An expression attribute name used in the document path is not defined; attribute name: #x"),
    ('K', "#pk = :x", "Invalid KeyConditionExpression: An expression attribute value used in expression is not defined; attribute value: :x"),
    // ----- functions -----
    ('C', "foo(a)", "Invalid ConditionExpression: Invalid function name; function: foo"),
    ('C', "ATTRIBUTE_EXISTS(a)", "Invalid ConditionExpression: Invalid function name; function: ATTRIBUTE_EXISTS"),
    ('C', "attribute_exists(a, b)", "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"),
    ('C', "contains(a)", "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: contains, number of operands: 1"),
    ('C', "size(a, b) = :n", "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: size, number of operands: 2"),
    ('C', "attribute_exists(:v)", "Invalid ConditionExpression: Operator or function requires a document path; operator or function: attribute_exists"),
    ('C', "attribute_not_exists(size(a))", "Invalid ConditionExpression: Operator or function requires a document path; operator or function: attribute_not_exists"),
    ('C', "begins_with(a, :n)", "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
    ('C', "begins_with(a, :l)", "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: L"),
    ('C', "attribute_type(a, :n)", "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N"),
    ('C', "attribute_type(a, b)", "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}"),
    ('C', "attribute_type(a, :bad)", "Invalid ConditionExpression: Invalid attribute type name found; type: X, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"),
    ('C', "size(:n) = :n", "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, operand type: N"),
    ('C', "size(:t) = :n", "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, operand type: BOOL"),
    ('C', "size(a)", "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: size"),
    ('C', "attribute_exists(a) = :v", "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: attribute_exists"),
    ('C', "a IN (contains(a, :v))", "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: contains"),
    ('C', "begins_with(a, attribute_exists(b))", "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: attribute_exists"),
    // ----- operands -----
    ('C', "a = a", "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a]"),
    ('C', "a.b[1] <> a.b[1]", "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: <>, first operand: [a, b, [1]]"),
    ('C', "#a = a", "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a]"),
    ('C', "begins_with(a, a)", "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: begins_with, first operand: [a]"),
    ('C', "a BETWEEN :n AND :s", "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:x}"),
    ('C', "a BETWEEN :n5 AND :n", "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: {N:1}"),
    ('C', "a BETWEEN :s2 AND :s", "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {S:y}, upper bound operand: AttributeValue: {S:x}"),
    // ----- parentheses -----
    ('C', "((a = :v))", "Invalid ConditionExpression: The expression has redundant parentheses;"),
    ('C', "((a)) = :v", "Invalid ConditionExpression: The expression has redundant parentheses;"),
    ('C', "a = :v AND ((b = :v))", "Invalid ConditionExpression: The expression has redundant parentheses;"),
    // ----- which problem DynamoDB reports first -----
    ('C', "((Name = :x))", "Invalid ConditionExpression: The expression has redundant parentheses;"),
    ('C', "foo(Name)", "Invalid ConditionExpression: Invalid function name; function: foo"),
    ('C', "Name = :x", "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: Name"),
    ('C', "a = :x AND #x = :v", "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :x"),
    ('C', "attribute_exists(a, b) AND c = c", "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"),
    ('U', "SET Name = :x", "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: Name"),
    ('U', "SET a = :x, b = foo(c)", "Invalid UpdateExpression: Invalid function name; function: foo"),
    ('U', "SET a = :x SET a = :v", "Invalid UpdateExpression: The \"SET\" section can only be used once in an update expression;"),
    // ----- UpdateExpression -----
    ('U', "SET a = :v SET b = :v", "Invalid UpdateExpression: The \"SET\" section can only be used once in an update expression;"),
    ('U', "remove a REMOVE b", "Invalid UpdateExpression: The \"REMOVE\" section can only be used once in an update expression;"),
    ('U', "SET a = :v REMOVE a", "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"),
    ('U', "SET a = :v, a.b = :v", "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"),
    ('U', "REMOVE a.b[2] ADD a.b :n", "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a, b, [2]], path two: [a, b]"),
    ('U', "SET a[0] = :v, a.b = :v", "Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, [0]], path two: [a, b]"),
    ('U', "SET #a = :v, a = :w", "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"),
    ('U', "ADD a :s", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: STRING"),
    ('U', "ADD a :l", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: LIST"),
    ('U', "ADD a :m", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: MAP"),
    ('U', "ADD a :t", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: BOOLEAN"),
    ('U', "ADD a :null", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: NULL"),
    ('U', "DELETE a :n", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER"),
    ('U', "DELETE a :b", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: BINARY"),
    ('U', "SET a = :s + :n", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: +, operand type: S"),
    ('U', "SET a = b - :l", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: -, operand type: L"),
    ('U', "SET a = list_append(:n, a)", "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: N"),
    ('U', "SET a = if_not_exists(:v, a)", "Invalid UpdateExpression: Operator or function requires a document path; operator or function: if_not_exists"),
    ('U', "SET a = if_not_exists(a)", "Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: if_not_exists, number of operands: 1"),
    ('U', "SET a = list_append(a, :l, :l)", "Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: list_append, number of operands: 3"),
    ('U', "SET a = foo(a)", "Invalid UpdateExpression: Invalid function name; function: foo"),
    ('U', "SET a = size(b)", "Invalid UpdateExpression: Invalid function name; function: size"),
    // ----- ProjectionExpression -----
    ('P', "a, a", "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"),
    ('P', "a.b, a", "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a]"),
    ('P', "a[0], a.b", "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, [0]], path two: [a, b]"),
    // ----- KeyConditionExpression -----
    ('K', "pk = :s OR sk = :n", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: OR"),
    ('K', "NOT pk = :s", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: NOT"),
    ('K', "pk IN (:s)", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: IN"),
    ('K', "pk <> :s", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: <>"),
    ('K', "attribute_exists(pk)", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: attribute_exists"),
    ('K', "pk = :s AND contains(sk, :n)", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: contains"),
    ('K', "pk = :s AND pk = :s2", "Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key"),
    ('K', "pk = :s AND sk.x = :n", "Invalid KeyConditionExpression: KeyConditionExpressions cannot have conditions on nested attributes"),
    ('K', "pk = :s AND size(sk) = :n", "Invalid KeyConditionExpression: KeyConditionExpressions cannot contain nested operations"),
    ('K', "pk = sk", "Invalid KeyConditionExpression: Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"),
    ('K', ":s = :s2", "Invalid KeyConditionExpression: Invalid condition in KeyConditionExpression: No key attribute specified"),
    ('K', "pk = :s AND :n BETWEEN sk AND :n2", "Invalid KeyConditionExpression: Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand"),
    ('K', "begins_with(:s, pk)", "Invalid KeyConditionExpression: Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first operand"),
    ('K', "sk = :n", "Query condition missed key schema element: pk"),
    ('K', "pk = :s AND colour = :n", "Query condition missed key schema element: sk"),
    ('K', "pk > :s", "Query key condition not supported"),
    ('K', "pk = :n", "One or more parameter values were invalid: Condition parameter type does not match schema type"),
    ('K', "pk = :s AND sk > :s", "One or more parameter values were invalid: Condition parameter type does not match schema type"),
    ('K', "pk = :s AND begins_with(sk, :n)", "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
];

#[test]
fn error_table() {
    let p = placeholders(VALUES);
    for (language, expression, message) in CASES {
        let error = parse(*language, expression, &p).expect_err(expression);
        assert_eq!(error.message(), *message, "{language} {expression:?}");
        assert_eq!(error.to_string(), *message);
        assert_eq!(error.exception().name(), "ValidationException");
    }
    assert!(CASES.len() >= CASES_MIN, "{} cases", CASES.len());
}

#[test]
fn limits() {
    let p = placeholders(VALUES);
    let in_list = vec![":n"; 101].join(", ");
    let error = parse('C', &format!("a IN ({in_list})"), &p).unwrap_err();
    assert_eq!(
        error.message(),
        "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101"
    );
    assert!(parse('C', &format!("a IN ({})", vec![":n"; 100].join(", ")), &p).is_ok());

    let deep = format!("a{} = :v", ".b".repeat(32));
    assert!(parse('C', &deep, &p).unwrap_err().message().contains("nesting levels: 33"));
    assert!(parse('C', &format!("a{} = :v", ".b".repeat(31)), &p).is_ok());

    let long = format!("a = :v{}", " ".repeat(4096));
    assert!(parse('C', &long, &p)
        .unwrap_err()
        .message()
        .starts_with("Invalid ConditionExpression: Expression size has exceeded"));

    let nested = format!("{}a = :v{}", "(".repeat(200), ")".repeat(200));
    let error = parse('C', &nested, &p).unwrap_err();
    assert!(error.message().contains("nested more than"), "{error}");
    let nested = format!("{}a = :v", "NOT ".repeat(200));
    assert!(parse('C', &nested, &p).is_err());
}

#[test]
fn errors_point_at_the_offending_token() {
    let p = placeholders(VALUES);
    let cases = [("a = :v AND OR", 11), ("Name = :v", 0), ("a = :v AND b = :x", 15), ("a =", 3)];
    for (expression, offset) in cases {
        let error = parse('C', expression, &p).unwrap_err();
        assert_eq!(
            error.location(),
            &Location::Expression { expression: ExpressionKind::Condition, offset },
            "{expression}"
        );
    }
}
