//! Numbers: parsing, DynamoDB's output form, ordering, exact arithmetic, the limits — one line per
//! behaviour — and a property test that format(parse(x)) parses back to x.

use std::cmp::Ordering;

use proptest::prelude::*;
use skald_dynamo::error::ErrorKind;
use skald_dynamo::number::Number;

fn n(text: &str) -> Number {
    Number::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn parse_and_format() {
    #[rustfmt::skip]
    let cases = [
        ("0", "0"), ("-0", "0"), ("+0", "0"), ("0.000", "0"), ("0e1000", "0"), ("-0e-1000", "0"),
        ("1", "1"), ("+3", "3"), ("-7.1234", "-7.1234"), ("1.0", "1"), ("1.50", "1.5"), ("00042", "42"),
        ("0001.23", "1.23"), (".123", "0.123"), ("5.", "5"), ("1e2", "100"), ("1E2", "100"), ("1e+5", "100000"),
        ("1.5E2", "150"), ("-17e5", "-1700000"), ("1.5e-3", "0.0015"), ("123e-2", "1.23"), ("100e-2", "1"),
        ("-17.4E37", "-174000000000000000000000000000000000000"),
        ("1.00000000000000007629769841092E+50", "100000000000000007629769841092000000000000000000000"),
        ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        ("3.1415926535897932384626433832795028841", "3.1415926535897932384626433832795028841"),
        ("31415926535897932384626433832795028841e30", "31415926535897932384626433832795028841000000000000000000000000000000"),
        ("1000000000000000000000000000000000000000000000000", "1000000000000000000000000000000000000000000000000"),
        ("10.000000000000000000000000000000000000000000", "10"),
    ];
    for (input, output) in cases {
        assert_eq!(n(input).to_string(), output, "{input}");
    }
    // The extremes, written out: 129 zeros after the point, and 38 nines then 88 zeros.
    assert_eq!(n("1e-130").to_string(), format!("0.{}1", "0".repeat(129)));
    assert_eq!(n("-1E-130").to_string(), format!("-0.{}1", "0".repeat(129)));
    assert_eq!(
        n("9.9999999999999999999999999999999999999E+125").to_string(),
        format!("{}{}", "9".repeat(38), "0".repeat(88))
    );
    assert!(cases.len() >= 30);
}

#[test]
fn parse_errors() {
    #[rustfmt::skip]
    let cases: &[(&str, ErrorKind, &str)] = &[
        ("", ErrorKind::InvalidNumber, "The parameter cannot be converted to a numeric value"),
        ("dog", ErrorKind::InvalidNumber, "The parameter cannot be converted to a numeric value: dog"),
        ("NaN", ErrorKind::InvalidNumber, "The parameter cannot be converted to a numeric value: NaN"),
        ("Infinity", ErrorKind::InvalidNumber, "The parameter cannot be converted to a numeric value: Infinity"),
        ("-Infinity", ErrorKind::InvalidNumber, "The parameter cannot be converted to a numeric value: -Infinity"),
        (" 1", ErrorKind::InvalidNumber, "The parameter cannot be converted to a numeric value:  1"),
        ("1 ", ErrorKind::InvalidNumber, "The parameter cannot be converted to a numeric value: 1 "),
        ("1e", ErrorKind::InvalidNumber, "The parameter cannot be converted to a numeric value: 1e"),
        ("1.2.3", ErrorKind::InvalidNumber, "The parameter cannot be converted to a numeric value: 1.2.3"),
        (".", ErrorKind::InvalidNumber, "The parameter cannot be converted to a numeric value: ."),
        ("--1", ErrorKind::InvalidNumber, "The parameter cannot be converted to a numeric value: --1"),
        ("0x10", ErrorKind::InvalidNumber, "The parameter cannot be converted to a numeric value: 0x10"),
        ("1e126", ErrorKind::NumberOverflow, "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("11e125", ErrorKind::NumberOverflow, "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("-1e126", ErrorKind::NumberOverflow, "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("1e99999999999999999999999", ErrorKind::NumberOverflow, "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("1e-131", ErrorKind::NumberUnderflow, "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
        ("0.9e-130", ErrorKind::NumberUnderflow, "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
        ("3.14159265358979323846264338327950288419", ErrorKind::NumberPrecision, "Attempting to store more than 38 significant digits in a Number"),
        ("314159265358979323846264338327950288419e30", ErrorKind::NumberPrecision, "Attempting to store more than 38 significant digits in a Number"),
        ("1000000000000000000000000000000000000001", ErrorKind::NumberPrecision, "Attempting to store more than 38 significant digits in a Number"),
    ];
    for (input, kind, message) in cases {
        let err = Number::parse(input).expect_err(input);
        assert_eq!((err.kind(), err.message()), (*kind, *message), "{input:?}");
    }
}

#[test]
fn ordering_and_equality() {
    #[rustfmt::skip]
    let cases = [
        ("1", "1.0", Ordering::Equal), ("1e2", "100", Ordering::Equal), ("-0", "0", Ordering::Equal),
        ("1", "2", Ordering::Less), ("-1", "1", Ordering::Less), ("-2", "-1", Ordering::Less),
        ("0.1", "0.09", Ordering::Greater), ("10", "9.99", Ordering::Greater), ("1e-130", "0", Ordering::Greater),
        ("-1e-130", "0", Ordering::Less), ("12345678901234567890123456789012345678e10", "1e47", Ordering::Greater),
        ("9.9999999999999999999999999999999999999e125", "1e125", Ordering::Greater),
        ("1.2345", "1.23449999999999999999", Ordering::Greater), ("100", "99.999", Ordering::Greater),
    ];
    for (a, b, expected) in cases {
        assert_eq!(n(a).cmp(&n(b)), expected, "{a} vs {b}");
        assert_eq!(n(b).cmp(&n(a)), expected.reverse(), "{b} vs {a}");
        assert_eq!(n(a) == n(b), expected == Ordering::Equal, "{a} == {b}");
    }
}

#[test]
fn exact_arithmetic() {
    #[rustfmt::skip]
    let cases: &[(&str, char, &str, Result<&str, ErrorKind>)] = &[
        ("1", '+', "10000000000000000000000", Ok("10000000000000000000001")),
        ("10000000000000000000000", '-', "1", Ok("9999999999999999999999")),
        ("0.1", '+', "0.2", Ok("0.3")),
        ("1.5", '-', "1.5", Ok("0")),
        ("-5", '+', "3", Ok("-2")),
        ("5", '-', "-3", Ok("8")),
        ("1", '-', "1e38", Ok("-99999999999999999999999999999999999999")),
        ("1e-130", '+', "1e-130", Ok("2e-130")),
        ("99999999999999999999999999999999999999", '+', "1", Ok("100000000000000000000000000000000000000")),
        ("12345678901234567890123456789012345678", '+', "0.5", Err(ErrorKind::NumberOverflow)),
        ("1e50", '+', "1", Err(ErrorKind::NumberOverflow)),
        ("1e50", '-', "1", Err(ErrorKind::NumberOverflow)),
        ("9e125", '+', "9e125", Err(ErrorKind::NumberOverflow)),
        ("9e125", '-', "-9e125", Err(ErrorKind::NumberOverflow)),
        ("2e-130", '-', "1.9e-130", Err(ErrorKind::NumberUnderflow)),
        ("1e125", '+', "1e-130", Err(ErrorKind::NumberOverflow)),
        ("0", '+', "7", Ok("7")),
        ("7", '-', "0", Ok("7")),
    ];
    for (a, op, b, expected) in cases {
        let result = if *op == '+' { n(a).checked_add(&n(b)) } else { n(a).checked_sub(&n(b)) };
        let result = result.map_err(|e| e.kind());
        assert_eq!(result, expected.map(n), "{a} {op} {b}");
    }
}

#[test]
fn item_size_of_numbers() {
    for (text, bytes) in
        [("1", 2), ("12", 2), ("123", 3), ("1000000", 2), ("1.5", 2), ("12345678901234567890123456789012345678", 20)]
    {
        assert_eq!(n(text).size_bytes(), bytes, "{text}");
    }
}

fn number_text() -> impl Strategy<Value = String> {
    (any::<bool>(), "[0-9]{1,20}", proptest::option::of("[0-9]{1,20}"), proptest::option::of(-140i32..140)).prop_map(
        |(negative, whole, fraction, exponent)| {
            let mut text = String::new();
            if negative {
                text.push('-');
            }
            text.push_str(&whole);
            if let Some(f) = fraction {
                text.push('.');
                text.push_str(&f);
            }
            if let Some(e) = exponent {
                text.push_str(&format!("e{e}"));
            }
            text
        },
    )
}

proptest! {
    #[test]
    fn format_parse_round_trips(text in number_text()) {
        if let Ok(x) = Number::parse(&text) {
            let printed = x.to_string();
            prop_assert_eq!(Number::parse(&printed).ok(), Some(x));
            prop_assert_eq!(Number::parse(&printed).map(|y| y.to_string()).ok(), Some(printed));
        }
    }

    #[test]
    fn addition_agrees_with_integers(a in -1_000_000_000_000i64..1_000_000_000_000, b in -1_000_000_000_000i64..1_000_000_000_000) {
        let sum = Number::from(a).checked_add(&Number::from(b)).map(|s| s.to_string()).ok();
        prop_assert_eq!(sum, Some((a + b).to_string()));
        prop_assert_eq!(Number::from(a).cmp(&Number::from(b)), a.cmp(&b));
    }
}
