//! ConditionExpression/FilterExpression evaluation: one line per behaviour (expression, expected
//! result) against one item that holds every type.

mod common;

use common::{item, placeholders};
use skald_dynamo::condition::Condition;
use skald_dynamo::error::ExpressionKind;
use skald_dynamo::names::Placeholders;
use skald_dynamo::value::Item;

/// The table may grow, never shrink.
const CASES_MIN: usize = 140;

const ITEM: &str = r#"{
    "pk": {"S": "p1"}, "n": {"N": "5"}, "s": {"S": "hello"}, "b": {"B": "aGVsbG8="}, "t": {"BOOL": true},
    "f": {"BOOL": false}, "z": {"NULL": true}, "blank": {"S": ""}, "uni": {"S": "é𝄞"}, "neg": {"N": "-1.50"},
    "l": {"L": [{"N": "1"}, {"S": "two"}, {"M": {"x": {"N": "3"}}}]},
    "m": {"M": {"a": {"N": "1"}, "b": {"M": {"c": {"S": "deep"}}}, "arr": {"L": [{"N": "10"}, {"N": "20"}]}}},
    "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": ["AQ==", "Ag=="]},
    "a.b": {"N": "7"}, "size": {"N": "9"}
}"#;

const VALUES: &str = r##"{
    ":zero": {"N": "0"}, ":one": {"N": "1"}, ":one_dot_zero": {"N": "1.0"}, ":n2": {"N": "2"}, ":three": {"N": "3"},
    ":five": {"N": "5"}, ":six": {"N": "6"}, ":seven": {"N": "7"}, ":nine": {"N": "9"}, ":ten": {"N": "10"},
    ":twenty": {"N": "20"}, ":neg": {"N": "-1.5"}, ":hello": {"S": "hello"}, ":he": {"S": "he"}, ":x": {"S": "x"},
    ":a": {"S": "a"}, ":two": {"S": "two"}, ":deep": {"S": "deep"}, ":five_s": {"S": "5"}, ":empty": {"S": ""},
    ":t": {"BOOL": true}, ":f": {"BOOL": false}, ":null": {"NULL": true}, ":bin": {"B": "aGU="}, ":b1": {"B": "AQ=="},
    ":list": {"L": [{"N": "1"}, {"S": "two"}, {"M": {"x": {"N": "3"}}}]}, ":ss": {"SS": ["b", "a"]},
    ":ns": {"NS": ["2.0", "1"]}, ":m": {"M": {"c": {"S": "deep"}}},
    ":S": {"S": "S"}, ":N": {"S": "N"}, ":B": {"S": "B"}, ":BOOL": {"S": "BOOL"}, ":NULL": {"S": "NULL"},
    ":L": {"S": "L"}, ":M": {"S": "M"}, ":SS": {"S": "SS"}, ":NS": {"S": "NS"}, ":BS": {"S": "BS"},
    "#n": "n", "#m": "m", "#b": "b", "#dot": "a.b", "#size": "size", "#missing": "missing"
}"##;

#[rustfmt::skip]
const CASES: &[(&str, bool)] = &[
    // ----- comparisons, same type -----
    ("n = :five", true), ("n = :one", false), ("n <> :one", true), ("n <> :five", false),
    ("n < :six", true), ("n < :five", false), ("n <= :five", true), ("n <= :one", false),
    ("n > :one", true), ("n > :five", false), ("n >= :five", true), ("n >= :six", false),
    ("neg = :neg", true), ("neg < :zero", true), (":one = :one_dot_zero", true),
    ("s = :hello", true), ("s > :he", true), ("s < :x", true), ("s >= :hello", true), ("blank = :empty", true),
    ("blank < :a", true), ("b > :bin", true), ("b < :bin", false), ("t = :t", true), ("f = :t", false),
    ("z = :null", true), ("l = :list", true), ("ss = :ss", true), ("ns = :ns", true), ("m.b = :m", true),
    ("t < :f", false), ("l < :list", false), ("m.b >= :m", false),
    // ----- comparisons, different types or absent -----
    ("n = :five_s", false), ("n <> :five_s", true), ("n < :five_s", false), ("n > :five_s", false),
    ("absent = :one", false), ("absent <> :one", true), ("absent < :one", false), ("absent >= :one", false),
    ("absent = absent2", false), ("z = :empty", false), ("blank = :null", false),
    // ----- document paths -----
    ("m.a = :one", true), ("m.b.c = :deep", true), ("m.arr[1] = :twenty", true), ("m.arr[0] = :ten", true),
    ("m.arr[5] = :twenty", false), ("l[2].x = :three", true), ("l[0] = :one", true), ("l[1] = :two", true),
    ("l.x = :three", false), ("m[0] = :one", false), ("s.x = :one", false), ("m.absent.deeper = :one", false),
    ("#n = :five", true), ("#m.a = :one", true), ("#m.#b.c = :deep", true), ("m.#b.c = :deep", true),
    ("#dot = :seven", true), ("#size = :nine", true), ("#missing = :one", false),
    ("l[2] . x = :three", true), ("m.arr [ 1 ] = :twenty", true),
    // ----- BETWEEN -----
    ("n BETWEEN :one AND :five", true), ("n BETWEEN :five AND :ten", true), ("n BETWEEN :six AND :ten", false),
    ("s BETWEEN :he AND :x", true), ("s BETWEEN :a AND :he", false), ("n BETWEEN :he AND :x", false),
    ("absent BETWEEN :one AND :ten", false), ("size(s) BETWEEN :five AND :ten", true),
    ("n BETWEEN m.a AND :ten", true), ("n BETWEEN m.absent AND :ten", false),
    // ----- IN -----
    ("n IN (:one, :five)", true), ("n IN (:one, :six)", false), ("s IN (:hello)", true), ("s IN (:he, :x)", false),
    ("absent IN (:one)", false), ("n IN (:five_s, :five)", true), ("l IN (:list)", true), ("n IN (m.a, :five)", true),
    ("n IN (m.absent)", false),
    // ----- attribute_exists / attribute_not_exists -----
    ("attribute_exists(n)", true), ("attribute_exists(absent)", false), ("attribute_not_exists(absent)", true),
    ("attribute_not_exists(n)", false), ("attribute_exists(m.b.c)", true), ("attribute_exists(m.b.x)", false),
    ("attribute_exists(l[2])", true), ("attribute_exists(l[3])", false), ("attribute_exists(z)", true),
    ("attribute_exists(blank)", true), ("attribute_exists(#dot)", true), ("attribute_not_exists(l[2].y)", true),
    // ----- attribute_type -----
    ("attribute_type(n, :N)", true), ("attribute_type(n, :S)", false), ("attribute_type(s, :S)", true),
    ("attribute_type(b, :B)", true), ("attribute_type(t, :BOOL)", true), ("attribute_type(z, :NULL)", true),
    ("attribute_type(l, :L)", true), ("attribute_type(m, :M)", true), ("attribute_type(ss, :SS)", true),
    ("attribute_type(ns, :NS)", true), ("attribute_type(bs, :BS)", true), ("attribute_type(absent, :S)", false),
    ("attribute_type(m.b, :M)", true), ("attribute_type(l[0], :N)", true),
    // ----- begins_with -----
    ("begins_with(s, :he)", true), ("begins_with(s, :x)", false), ("begins_with(s, :hello)", true),
    ("begins_with(s, :empty)", true), ("begins_with(b, :bin)", true), ("begins_with(n, :he)", false),
    ("begins_with(absent, :he)", false), ("begins_with(s, :bin)", false), ("begins_with(b, :he)", false),
    ("begins_with(m.b.c, :deep)", true),
    // ----- contains -----
    ("contains(s, :he)", true), ("contains(s, :x)", false), ("contains(ss, :a)", true), ("contains(ss, :x)", false),
    ("contains(ns, :one)", true), ("contains(ns, :five)", false), ("contains(ns, :five_s)", false),
    ("contains(l, :two)", true), ("contains(l, :one)", true), ("contains(l, :x)", false), ("contains(l, :m)", false),
    ("contains(bs, :b1)", true), ("contains(b, :bin)", true), ("contains(n, :five)", false),
    ("contains(absent, :a)", false), ("contains(ss, :one)", false), ("contains(s, :empty)", true),
    // ----- size -----
    ("size(s) = :five", true), ("size(uni) = :three", true), ("size(blank) = :zero", true), ("size(ss) = :n2", true),
    ("size(l) = :three", true), ("size(m) = :three", true), ("size(b) = :five", true), ("size(m.arr) = :n2", true),
    ("size(n) = :one", false), ("size(t) = :one", false), ("size(absent) = :zero", false),
    ("size(absent) <> :zero", true), ("size(s) > size(ss)", true), (":three < size(s)", true),
    ("size(#size) = :one", false),
    // ----- AND, OR, NOT and precedence -----
    ("n = :five AND s = :hello", true), ("n = :one AND s = :hello", false), ("n = :one OR s = :hello", true),
    ("n = :one OR s = :x", false), ("NOT n = :one", true), ("NOT n = :five", false), ("NOT NOT n = :five", true),
    ("n = :one AND s = :x OR n = :five", true), ("n = :five OR n = :one AND s = :x", true),
    ("NOT n = :five OR s = :hello", true), ("NOT n = :one AND n = :one", false),
    ("(n = :one OR s = :hello) AND n = :five", true), ("(n = :one OR s = :x) AND n = :five", false),
    ("n = :one OR (s = :hello AND n = :five)", true), ("NOT (n = :one OR n = :five)", false),
    ("NOT (n = :one AND n = :five)", true), ("n = :five AND s = :hello AND t = :t AND z = :null", true),
    ("n = :one OR n = :n2 OR n = :three OR n = :five", true), ("(n) = :five", true), ("n = (:five)", true),
    ("(n = :five)", true), ("((n = :five) AND (s = :hello))", true), ("attribute_exists(n) AND NOT attribute_exists(q)", true),
    ("NOT attribute_type(n, :S) AND NOT contains(ss, :x)", true), ("(size(s)) = :five", true),
    // ----- keywords in any case, spacing -----
    ("n = :five and s = :hello", true), ("n = :one Or s = :hello", true), ("not n = :one", true),
    ("n between :one and :ten", true), ("n in (:five)", true), ("n=:five", true), ("  n\t=\n:five  ", true),
    ("n<>:one", true), ("n>=:five", true), ("n IN(:five,:one)", true), ("NOT(n = :one)", true),
];

fn base() -> (Item, Placeholders) {
    (item(ITEM), placeholders(VALUES))
}

#[test]
fn condition_table() {
    let (item, placeholders) = base();
    for (expression, expected) in CASES {
        for kind in [ExpressionKind::Condition, ExpressionKind::Filter] {
            let (condition, _) =
                Condition::parse(expression, kind, &placeholders).unwrap_or_else(|e| panic!("{expression}: {e}"));
            assert_eq!(condition.evaluate(Some(&item)), *expected, "{expression}");
        }
    }
    assert!(CASES.len() >= CASES_MIN, "{} cases", CASES.len());
}

#[test]
fn a_missing_item_has_no_attributes() {
    let (_, placeholders) = base();
    #[rustfmt::skip]
    let cases = [
        ("attribute_not_exists(pk)", true), ("attribute_exists(pk)", false), ("n <> :one", true), ("n = :one", false),
        ("NOT contains(ss, :a)", true), ("size(s) <> :zero", true),
    ];
    for (expression, expected) in cases {
        let (condition, _) = Condition::parse(expression, ExpressionKind::Condition, &placeholders).unwrap();
        assert_eq!(condition.evaluate(None), expected, "{expression}");
    }
}

#[test]
fn long_chains_evaluate_without_deep_recursion() {
    let (item, placeholders) = base();
    let chain = vec!["n = :one"; 250].join(" OR ") + " OR n = :five";
    let (condition, _) = Condition::parse(&chain, ExpressionKind::Filter, &placeholders).unwrap();
    assert!(condition.evaluate(Some(&item)));
    let chain = vec!["n = :five"; 250].join(" AND ");
    let (condition, _) = Condition::parse(&chain, ExpressionKind::Filter, &placeholders).unwrap();
    assert!(condition.evaluate(Some(&item)));
}

#[test]
fn placeholders_used_are_reported() {
    let (_, placeholders) = base();
    let (_, used) =
        Condition::parse("#n = :five AND #m.a IN (:one, :n2)", ExpressionKind::Condition, &placeholders).unwrap();
    assert_eq!(used.names.iter().collect::<Vec<_>>(), ["#m", "#n"]);
    assert_eq!(used.values.iter().collect::<Vec<_>>(), [":five", ":n2", ":one"]);
}
