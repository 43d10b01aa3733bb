//! Properties over generated input: an update's result reads back through a projection; adding
//! numbers with ADD agrees with adding them directly; and no generated expression makes a parser
//! or evaluator panic (the fuzz entry point, over an expression-shaped alphabet).

use proptest::prelude::*;
use skald_dynamo::names::Placeholders;
use skald_dynamo::number::Number;
use skald_dynamo::projection::Projection;
use skald_dynamo::update::Update;
use skald_dynamo::value::{AttributeValue, Item};

/// A document path of non-reserved names and list indexes, as text.
fn path() -> impl Strategy<Value = String> {
    ("[a-c]", proptest::collection::vec(prop_oneof!["\\.[a-c]x", "\\[[0-3]\\]"], 0..4))
        .prop_map(|(first, rest)| format!("{first}x{}", rest.concat()))
}

fn value() -> impl Strategy<Value = AttributeValue> {
    prop_oneof![
        "[a-z]{0,8}".prop_map(AttributeValue::S),
        (-1000i64..1000).prop_map(AttributeValue::n),
        any::<bool>().prop_map(AttributeValue::Bool),
    ]
}

proptest! {
    #[test]
    fn what_set_writes_a_projection_reads(paths in proptest::collection::vec(path(), 1..4), v in value()) {
        let p = Placeholders::new().value(":v", v.clone());
        // Paths whose parents are missing fail with "invalid for update"; each one that applies
        // must read back what it wrote, directly and through a projection.
        let mut item = Item::new();
        for text in &paths {
            let Ok((update, _)) = Update::parse(&format!("SET {text} = :v"), &p) else { continue };
            if let Ok(outcome) = update.apply(Some(&item), &Item::new()) {
                for changed in &outcome.changed {
                    prop_assert_eq!(changed.get(&outcome.new), Some(&v));
                    let projected = Projection { paths: vec![changed.clone()] }.apply(&outcome.new);
                    let plain = changed.elements().iter().all(|e| matches!(e, skald_dynamo::path::PathElement::Name(_)));
                    if plain {
                        prop_assert_eq!(changed.get(&projected), Some(&v));
                    }
                }
                item = outcome.new;
            }
        }
    }

    #[test]
    fn add_agrees_with_addition(start in -1_000_000i64..1_000_000, steps in proptest::collection::vec(-1000i64..1000, 0..10)) {
        let mut item = Item::new();
        item.insert("n".to_owned(), AttributeValue::n(start));
        for step in &steps {
            let p = Placeholders::new().value(":d", AttributeValue::n(*step));
            let (update, _) = Update::parse("ADD n :d", &p).unwrap();
            item = update.apply(Some(&item), &Item::new()).unwrap().new;
        }
        let expected = Number::from(start + steps.iter().sum::<i64>());
        prop_assert_eq!(item.get("n"), Some(&AttributeValue::N(expected)));
    }

    #[test]
    fn no_expression_panics(tokens in proptest::collection::vec(prop_oneof![
        Just("a"), Just("b.c"), Just("l[1]"), Just("#n"), Just(":v"), Just(":w"), Just("("), Just(")"), Just(","),
        Just("="), Just("<>"), Just("<"), Just(">="), Just("+"), Just("-"), Just("AND"), Just("OR"), Just("NOT"),
        Just("BETWEEN"), Just("IN"), Just("SET"), Just("REMOVE"), Just("ADD"), Just("DELETE"), Just("size"),
        Just("contains"), Just("begins_with"), Just("attribute_exists"), Just("if_not_exists"), Just("list_append"),
        Just("[0]"), Just("."), Just("@"),
    ], 0..24)) {
        let expression = tokens.join(" ");
        let item = r#"{"a":{"N":"1"},"b":{"M":{"c":{"S":"x"}}},"l":{"L":[{"N":"1"},{"L":[]}]}}"#;
        let values = r#"{":v":{"N":"2"},":w":{"L":[{"S":"q"}]}}"#;
        let names = r##"{"#n":"a"}"##;
        skald_dynamo::fuzz::fuzz(format!("{expression}\n{item}\n{values}\n{names}\n1").as_bytes());
    }
}
