//! Table-driven pattern tests: one line per behaviour, (pattern, event, expected).
//!
//! Every case is also re-run with the event's `data` re-encoded by `serde_json` (compact and
//! pretty), which must not change the outcome, and with the pattern compiled from a `Value`.

use skald_pattern::{Envelope, Pattern, PatternErrorKind};

/// The table may grow, never shrink: raise this when adding cases.
const CASES_MIN: usize = 257;

#[derive(Clone, Copy)]
struct Ev {
    stream: &'static str,
    category: &'static str,
    event_type: &'static str,
    timestamp: &'static str,
    data: &'static str,
    metadata: &'static str,
}

const BASE: Ev = Ev {
    stream: "order-42",
    category: "order",
    event_type: "OrderPlaced",
    timestamp: "2026-11-30T11:00:00Z",
    data: "{}",
    metadata: "{}",
};

/// The base event with this `data` text.
fn d(data: &'static str) -> Ev {
    Ev { data, ..BASE }
}

/// The base event with this `metadata` text.
fn m(metadata: &'static str) -> Ev {
    Ev { metadata, ..BASE }
}

fn envelope<'a>(ev: &Ev, data: &'a str, metadata: &'a str) -> Envelope<'a> {
    Envelope {
        stream: ev.stream,
        category: ev.category,
        event_type: ev.event_type,
        timestamp: ev.timestamp,
        data: data.as_bytes(),
        metadata: metadata.as_bytes(),
    }
}

#[rustfmt::skip]
fn cases() -> Vec<(&'static str, Ev, bool)> {
    vec![
        // ----- envelope fields -----
        (r#"{"type": ["OrderPlaced"]}"#, BASE, true),
        (r#"{"type": ["OrderShipped"]}"#, BASE, false),
        (r#"{"type": ["OrderShipped", "OrderPlaced"]}"#, BASE, true),
        (r#"{"stream": ["order-42"]}"#, BASE, true),
        (r#"{"stream": ["order-4"]}"#, BASE, false),
        (r#"{"category": ["order"]}"#, BASE, true),
        (r#"{"category": ["invoice"]}"#, BASE, false),
        (r#"{"stream": [{"prefix": "order-"}]}"#, BASE, true),
        (r#"{"stream": [{"suffix": "-42"}]}"#, BASE, true),
        (r#"{"type": [{"equals-ignore-case": "orderplaced"}]}"#, BASE, true),
        (r#"{"timestamp": [{"prefix": "2026-11-30"}]}"#, BASE, true),
        (r#"{"timestamp": [{"prefix": "2026-12"}]}"#, BASE, false),
        (r#"{"type": [{"anything-but": "OrderPlaced"}]}"#, BASE, false),
        (r#"{"type": [{"anything-but": ["OrderShipped", "OrderCancelled"]}]}"#, BASE, true),
        (r#"{"type": [{"wildcard": "Order*"}]}"#, BASE, true),
        (r#"{"type": [{"wildcard": "*Shipped"}]}"#, BASE, false),
        (r#"{"type": [{"numeric": [">", 0]}]}"#, BASE, false),
        (r#"{"type": [{"exists": true}]}"#, BASE, true),
        (r#"{"type": [{"exists": false}]}"#, BASE, false),
        (r#"{}"#, BASE, true),
        (r#"{"type": ["OrderPlaced"], "category": ["invoice"]}"#, BASE, false),
        (r#"{"type": ["OrderPlaced"], "category": ["order"], "stream": [{"prefix": "order"}]}"#, BASE, true),
        (r#"{"stream": ["a\\n"]}"#, Ev { stream: r"a\n", ..BASE }, true),
        (r#"{"stream": ["a\n"]}"#, Ev { stream: r"a\n", ..BASE }, false),
        (r#"{"category": ["$exec"]}"#, Ev { stream: "$exec-7f", category: "$exec", ..BASE }, true),
        // ----- exact values and type mismatches -----
        (r#"{"data": {"status": ["paid"]}}"#, d(r#"{"status": "paid"}"#), true),
        (r#"{"data": {"status": ["paid"]}}"#, d(r#"{"status": "PAID"}"#), false),
        (r#"{"data": {"status": ["paid"]}}"#, d(r#"{"status": "unpaid"}"#), false),
        (r#"{"data": {"n": [5]}}"#, d(r#"{"n": 5}"#), true),
        (r#"{"data": {"n": [5]}}"#, d(r#"{"n": 5.0}"#), true),
        (r#"{"data": {"n": [5]}}"#, d(r#"{"n": "5"}"#), false),
        (r#"{"data": {"n": ["5"]}}"#, d(r#"{"n": 5}"#), false),
        (r#"{"data": {"n": ["5"]}}"#, d(r#"{"n": "5"}"#), true),
        (r#"{"data": {"n": [100]}}"#, d(r#"{"n": 1e2}"#), true),
        (r#"{"data": {"n": [1e2]}}"#, d(r#"{"n": 100}"#), true),
        (r#"{"data": {"n": [100]}}"#, d(r#"{"n": 1E+2}"#), true),
        (r#"{"data": {"n": [0.5]}}"#, d(r#"{"n": 5e-1}"#), true),
        (r#"{"data": {"n": [-0]}}"#, d(r#"{"n": 0}"#), true),
        (r#"{"data": {"n": [-7]}}"#, d(r#"{"n": -7.000}"#), true),
        (r#"{"data": {"n": [9007199254740993]}}"#, d(r#"{"n": 9007199254740992}"#), false),
        (r#"{"data": {"n": [18446744073709551615]}}"#, d(r#"{"n": 18446744073709551615}"#), true),
        (r#"{"data": {"n": [1]}}"#, d(r#"{"n": true}"#), false),
        (r#"{"data": {"b": [true]}}"#, d(r#"{"b": true}"#), true),
        (r#"{"data": {"b": [true]}}"#, d(r#"{"b": "true"}"#), false),
        (r#"{"data": {"b": [true]}}"#, d(r#"{"b": 1}"#), false),
        (r#"{"data": {"b": [false]}}"#, d(r#"{"b": false}"#), true),
        (r#"{"data": {"b": [false]}}"#, d(r#"{"b": null}"#), false),
        (r#"{"data": {"x": [null]}}"#, d(r#"{"x": null}"#), true),
        (r#"{"data": {"x": [null]}}"#, d(r#"{"x": ""}"#), false),
        (r#"{"data": {"x": [null]}}"#, d(r#"{}"#), false),
        (r#"{"data": {"x": [""]}}"#, d(r#"{"x": ""}"#), true),
        (r#"{"data": {"x": [""]}}"#, d(r#"{"x": null}"#), false),
        (r#"{"data": {"x": ["null"]}}"#, d(r#"{"x": null}"#), false),
        (r#"{"data": {"x": [0]}}"#, d(r#"{"x": false}"#), false),
        (r#"{"data": {"s": ["a", "b", "c"]}}"#, d(r#"{"s": "b"}"#), true),
        (r#"{"data": {"s": ["a", 5, null]}}"#, d(r#"{"s": null}"#), true),
        (r#"{"data": {"s": ["a", 5, null]}}"#, d(r#"{"s": 5.00}"#), true),
        (r#"{"data": {"s": ["a", 5, null]}}"#, d(r#"{"s": "5"}"#), false),
        (r#"{"data": ["hello"]}"#, d(r#""hello""#), true),
        (r#"{"data": [42]}"#, d(r#"42"#), true),
        // ----- missing fields and exists -----
        (r#"{"data": {"x": ["a"]}}"#, d(r#"{"y": "a"}"#), false),
        (r#"{"data": {"x": ["a"]}}"#, d(""), false),
        (r#"{"data": {"x": [{"exists": false}]}}"#, d(r#"{"y": 1}"#), true),
        (r#"{"data": {"x": [{"exists": false}]}}"#, d(r#"{"x": 1}"#), false),
        (r#"{"data": {"x": [{"exists": false}]}}"#, d(r#"{"x": null}"#), false),
        (r#"{"data": {"x": [{"exists": true}]}}"#, d(r#"{"x": null}"#), true),
        (r#"{"data": {"x": [{"exists": true}]}}"#, d(r#"{"x": ""}"#), true),
        (r#"{"data": {"x": [{"exists": true}]}}"#, d(r#"{}"#), false),
        (r#"{"data": {"x": [{"exists": true}]}}"#, d(r#"{"x": {"y": 1}}"#), false),
        (r#"{"data": {"x": [{"exists": false}]}}"#, d(r#"{"x": {"y": 1}}"#), true),
        (r#"{"data": {"x": [{"exists": true}]}}"#, d(r#"{"x": []}"#), false),
        (r#"{"data": {"x": [{"exists": false}]}}"#, d(r#"{"x": []}"#), true),
        (r#"{"data": {"x": [{"exists": true}]}}"#, d(r#"{"x": [1]}"#), true),
        (r#"{"data": {"x": [{"exists": false}]}}"#, d(r#"{"x": [1]}"#), false),
        (r#"{"data": {"a": {"b": [{"exists": false}]}}}"#, d(r#"{}"#), true),
        (r#"{"data": {"a": {"b": [{"exists": false}]}}}"#, d(r#"{"a": 5}"#), true),
        (r#"{"data": {"a": {"b": [{"exists": false}]}}}"#, d(r#"{"a": {"b": 1}}"#), false),
        (r#"{"data": {"a": {"b": [{"exists": true}]}}}"#, d(r#"{"a": {"c": 1}}"#), false),
        (r#"{"data": {"a": {"b": [1]}}}"#, d(r#"{"a": 5}"#), false),
        (r#"{"data": [{"exists": false}]}"#, d(""), true),
        (r#"{"data": [{"exists": true}]}"#, d("5"), true),
        (r#"{"data": {"x": ["a"], "y": [{"exists": false}]}}"#, d(r#"{"x": "a"}"#), true),
        (r#"{"data": {"x": ["a"], "y": [{"exists": false}]}}"#, d(r#"{"x": "a", "y": 2}"#), false),
        (r#"{"data": {"x": ["a", {"exists": false}]}}"#, d(r#"{}"#), true),
        (r#"{"data": {"x": ["a", {"exists": false}]}}"#, d(r#"{"x": "b"}"#), false),
        (r#"{"metadata": {"principal": ["alice"]}}"#, m(r#"{"principal": "alice"}"#), true),
        (r#"{"metadata": {"principal": ["alice"]}}"#, m(r#"{"principal": "bob"}"#), false),
        (r#"{"metadata": {"principal": [{"exists": false}]}}"#, m(""), true),
        (r#"{"metadata": {"principal": ["alice"]}}"#, m(""), false),
        (r#"{"metadata": {"correlation_id": [{"prefix": "req-"}]}}"#, m(r#"{"correlation_id": "req-9"}"#), true),
        // ----- nested objects -----
        (r#"{"data": {"customer": {"tier": ["gold"]}}}"#, d(r#"{"customer": {"tier": "gold"}}"#), true),
        (r#"{"data": {"customer": {"tier": ["gold"]}}}"#, d(r#"{"customer": {"tier": "silver"}}"#), false),
        (r#"{"data": {"customer": {"tier": ["gold"]}}}"#, d(r#"{"customer": "gold"}"#), false),
        (r#"{"data": {"customer": {"tier": ["gold"]}}}"#, d(r#"{"tier": "gold"}"#), false),
        (r#"{"data": {"a": {"b": {"c": {"d": [1]}}}}}"#, d(r#"{"a": {"b": {"c": {"d": 1}}}}"#), true),
        (r#"{"data": {"a": {"b": {"c": {"d": [1]}}}}}"#, d(r#"{"a": {"b": {"c": {"d": 2}}}}"#), false),
        (r#"{"data": {"a": {"z": [1]}}}"#, d(r#"{"a": {"x": {"deep": [1, {"q": []}]}, "y": "s", "z": 1}}"#), true),
        (r#"{"data": {"a": {"x": ["1"]}, "b": [2]}}"#, d(r#"{"b": 2, "a": {"x": "1"}}"#), true),
        (r#"{"data": {"a": {"x": ["1"]}, "b": [2]}}"#, d(r#"{"b": 3, "a": {"x": "1"}}"#), false),
        (r#"{"data": {"a": ["x"]}}"#, d(r#"{"a": {"b": "x"}}"#), false),
        (r#"{"data": {"ké": ["v"]}}"#, d(r#"{"k\u00e9": "v"}"#), true),
        (r#"{"data": {"a/b": ["v"]}}"#, d(r#"{"a/b": "v"}"#), true),
        (r#"{"data": {"a\"b": [1]}}"#, d(r#"{"a\"b": 1}"#), true),
        (r#"{"data": {"a~b": [1]}}"#, d(r#"{"a~b": 1}"#), true),
        (r#"{"data": {"": [1]}}"#, d(r#"{"": 1}"#), true),
        (r#"{"data": {"a": {"b": [1]}, "c": {"d": [2]}}}"#, d(r#"{"a": {"b": 1}, "c": {"d": 2}}"#), true),
        (r#"{"data": {"a": {"b": [1]}, "c": {"d": [2]}}}"#, d(r#"{"a": {"b": 1}, "c": {"d": 3}}"#), false),
        // ----- arrays in the event -----
        (r#"{"data": {"tags": ["vip"]}}"#, d(r#"{"tags": ["new", "vip"]}"#), true),
        (r#"{"data": {"tags": ["vip"]}}"#, d(r#"{"tags": ["new", "old"]}"#), false),
        (r#"{"data": {"tags": ["vip"]}}"#, d(r#"{"tags": []}"#), false),
        (r#"{"data": {"tags": ["vip"]}}"#, d(r#"{"tags": [["vip"]]}"#), true),
        (r#"{"data": {"tags": ["vip"]}}"#, d(r#"{"tags": [{"x": "vip"}]}"#), false),
        (r#"{"data": {"tags": ["vip"]}}"#, d(r#"{"tags": "vip"}"#), true),
        (r#"{"data": {"n": [{"numeric": [">", 10]}]}}"#, d(r#"{"n": [1, 2, 30]}"#), true),
        (r#"{"data": {"n": [{"numeric": [">", 10]}]}}"#, d(r#"{"n": [1, 2, 3]}"#), false),
        (r#"{"data": {"items": {"sku": ["a"]}}}"#, d(r#"{"items": [{"sku": "b"}, {"sku": "a"}]}"#), true),
        (r#"{"data": {"items": {"sku": ["a"]}}}"#, d(r#"{"items": [{"sku": "b"}, {"sku": "c"}]}"#), false),
        (r#"{"data": {"items": {"sku": ["a"], "qty": [2]}}}"#, d(r#"{"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]}"#), false),
        (r#"{"data": {"items": {"sku": ["a"], "qty": [2]}}}"#, d(r#"{"items": [{"sku": "b", "qty": 1}, {"sku": "a", "qty": 2}]}"#), true),
        (r#"{"data": {"items": {"sku": ["a"]}}}"#, d(r#"{"items": []}"#), false),
        (r#"{"data": {"items": {"sku": [{"exists": false}]}}}"#, d(r#"{"items": []}"#), true),
        (r#"{"data": {"items": {"sku": [{"exists": false}]}}}"#, d(r#"{"items": [{"sku": 1}, {"qty": 2}]}"#), true),
        (r#"{"data": {"tags": [{"anything-but": "vip"}]}}"#, d(r#"{"tags": ["vip", "new"]}"#), true),
        (r#"{"data": {"tags": [{"anything-but": "vip"}]}}"#, d(r#"{"tags": ["vip", "vip"]}"#), false),
        (r#"{"data": {"tags": [{"anything-but": "vip"}]}}"#, d(r#"{"tags": []}"#), false),
        (r#"{"data": {"tags": [{"prefix": "v"}]}}"#, d(r#"{"tags": [1, "vip"]}"#), true),
        (r#"{"data": {"tags": [1]}}"#, d(r#"{"tags": ["1", 1.0]}"#), true),
        (r#"{"data": {"a": {"b": ["x"]}}}"#, d(r#"{"a": [[{"b": "x"}]]}"#), true),
        (r#"{"data": {"m": [null]}}"#, d(r#"{"m": [1, null]}"#), true),
        (r#"{"data": ["a"]}"#, d(r#"["b", "a"]"#), true),
        (r#"{"data": {"a": [1]}}"#, d(r#"[{"a": 2}, {"a": 1}]"#), true),
        // ----- prefix and suffix -----
        (r#"{"data": {"r": [{"prefix": "us-"}]}}"#, d(r#"{"r": "us-east-1"}"#), true),
        (r#"{"data": {"r": [{"prefix": "us-"}]}}"#, d(r#"{"r": "eu-west-1"}"#), false),
        (r#"{"data": {"r": [{"prefix": "us-"}]}}"#, d(r#"{"r": "US-east-1"}"#), false),
        (r#"{"data": {"r": [{"prefix": ""}]}}"#, d(r#"{"r": "x"}"#), true),
        (r#"{"data": {"r": [{"prefix": ""}]}}"#, d(r#"{"r": 5}"#), false),
        (r#"{"data": {"r": [{"prefix": "5"}]}}"#, d(r#"{"r": 55}"#), false),
        (r#"{"data": {"r": [{"prefix": "us-"}]}}"#, d(r#"{"r": "us"}"#), false),
        (r#"{"data": {"f": [{"suffix": ".png"}]}}"#, d(r#"{"f": "a.png"}"#), true),
        (r#"{"data": {"f": [{"suffix": ".png"}]}}"#, d(r#"{"f": "a.PNG"}"#), false),
        (r#"{"data": {"f": [{"suffix": {"equals-ignore-case": ".png"}}]}}"#, d(r#"{"f": "a.PNG"}"#), true),
        (r#"{"data": {"s": [{"prefix": {"equals-ignore-case": "EventB"}}]}}"#, d(r#"{"s": "eventbridge"}"#), true),
        (r#"{"data": {"s": [{"prefix": {"equals-ignore-case": "EventB"}}]}}"#, d(r#"{"s": "event"}"#), false),
        (r#"{"data": {"f": [{"suffix": "é"}]}}"#, d(r#"{"f": "caf\u00e9"}"#), true),
        (r#"{"data": {"f": [{"suffix": "\u00e9"}]}}"#, d(r#"{"f": "café"}"#), true),
        (r#"{"data": {"f": [{"prefix": "a\"b"}]}}"#, d(r#"{"f": "a\"bc"}"#), true),
        (r#"{"data": {"f": [{"suffix": "\n"}]}}"#, d(r#"{"f": "line\n"}"#), true),
        (r#"{"data": {"f": [{"suffix": "ab"}]}}"#, d(r#"{"f": "b"}"#), false),
        (r#"{"data": {"f": [{"suffix": "ab"}]}}"#, d(r#"{"f": "\u0062"}"#), false),
        (r#"{"data": {"f": [{"prefix": "x"}, {"suffix": "y"}]}}"#, d(r#"{"f": "zzy"}"#), true),
        // ----- equals-ignore-case -----
        (r#"{"data": {"n": [{"equals-ignore-case": "alice"}]}}"#, d(r#"{"n": "ALICE"}"#), true),
        (r#"{"data": {"n": [{"equals-ignore-case": "alice"}]}}"#, d(r#"{"n": "alicia"}"#), false),
        (r#"{"data": {"n": [{"equals-ignore-case": "ÉTÉ"}]}}"#, d(r#"{"n": "été"}"#), true),
        (r#"{"data": {"n": [{"equals-ignore-case": "été"}]}}"#, d(r#"{"n": "\u00c9T\u00c9"}"#), true),
        (r#"{"data": {"n": [{"equals-ignore-case": "5"}]}}"#, d(r#"{"n": 5}"#), false),
        (r#"{"data": {"n": [{"equals-ignore-case": "Straße"}]}}"#, d(r#"{"n": "STRASSE"}"#), false),
        // ----- wildcard -----
        (r#"{"data": {"p": [{"wildcard": "*/lib/*"}]}}"#, d(r#"{"p": "/usr/lib/x.so"}"#), true),
        (r#"{"data": {"p": [{"wildcard": "*/lib/*"}]}}"#, d(r#"{"p": "/usr/bin/x"}"#), false),
        (r#"{"data": {"p": [{"wildcard": "a*b*c"}]}}"#, d(r#"{"p": "aXbYc"}"#), true),
        (r#"{"data": {"p": [{"wildcard": "a*b*c"}]}}"#, d(r#"{"p": "aXcYb"}"#), false),
        (r#"{"data": {"p": [{"wildcard": "a\\*b"}]}}"#, d(r#"{"p": "a*b"}"#), true),
        (r#"{"data": {"p": [{"wildcard": "a\\*b"}]}}"#, d(r#"{"p": "axb"}"#), false),
        (r#"{"data": {"p": [{"wildcard": "a\\\\*"}]}}"#, d(r#"{"p": "a\\bc"}"#), true),
        (r#"{"data": {"p": [{"wildcard": "*"}]}}"#, d(r#"{"p": ""}"#), true),
        (r#"{"data": {"p": [{"wildcard": "*"}]}}"#, d(r#"{"p": 5}"#), false),
        (r#"{"data": {"p": [{"wildcard": "x*"}]}}"#, d(r#"{"p": "\u0078yz"}"#), true),
        (r#"{"data": {"p": [{"wildcard": "abc"}]}}"#, d(r#"{"p": "abc"}"#), true),
        (r#"{"data": {"p": [{"wildcard": "abc"}]}}"#, d(r#"{"p": "abcd"}"#), false),
        (r#"{"data": {"p": [{"wildcard": "*.png"}]}}"#, d(r#"{"p": "a.png.png"}"#), true),
        (r#"{"data": {"p": [{"wildcard": "日*本"}]}}"#, d(r#"{"p": "日x本"}"#), true),
        // ----- anything-but -----
        (r#"{"data": {"s": [{"anything-but": "init"}]}}"#, d(r#"{"s": "running"}"#), true),
        (r#"{"data": {"s": [{"anything-but": "init"}]}}"#, d(r#"{"s": "init"}"#), false),
        (r#"{"data": {"s": [{"anything-but": "init"}]}}"#, d(r#"{}"#), false),
        (r#"{"data": {"s": [{"anything-but": "init"}]}}"#, d(r#"{"s": null}"#), true),
        (r#"{"data": {"s": [{"anything-but": ["a", "b"]}]}}"#, d(r#"{"s": "c"}"#), true),
        (r#"{"data": {"s": [{"anything-but": ["a", "b"]}]}}"#, d(r#"{"s": "b"}"#), false),
        (r#"{"data": {"n": [{"anything-but": 123}]}}"#, d(r#"{"n": 123.0}"#), false),
        (r#"{"data": {"n": [{"anything-but": 123}]}}"#, d(r#"{"n": 124}"#), true),
        (r#"{"data": {"n": [{"anything-but": 123}]}}"#, d(r#"{"n": "123"}"#), true),
        (r#"{"data": {"n": [{"anything-but": [1, 2]}]}}"#, d(r#"{"n": 1e0}"#), false),
        (r#"{"data": {"n": [{"anything-but": ["1", 2]}]}}"#, d(r#"{"n": 1}"#), true),
        (r#"{"data": {"r": [{"anything-but": {"prefix": "us-"}}]}}"#, d(r#"{"r": "eu-1"}"#), true),
        (r#"{"data": {"r": [{"anything-but": {"prefix": "us-"}}]}}"#, d(r#"{"r": "us-1"}"#), false),
        (r#"{"data": {"r": [{"anything-but": {"prefix": "us-"}}]}}"#, d(r#"{"r": 5}"#), false),
        (r#"{"data": {"r": [{"anything-but": {"prefix": ["us-", "eu-"]}}]}}"#, d(r#"{"r": "eu-1"}"#), false),
        (r#"{"data": {"f": [{"anything-but": {"suffix": ".png"}}]}}"#, d(r#"{"f": "a.jpg"}"#), true),
        (r#"{"data": {"f": [{"anything-but": {"suffix": ".png"}}]}}"#, d(r#"{"f": "a.png"}"#), false),
        (r#"{"data": {"s": [{"anything-but": {"equals-ignore-case": "init"}}]}}"#, d(r#"{"s": "INIT"}"#), false),
        (r#"{"data": {"s": [{"anything-but": {"equals-ignore-case": "init"}}]}}"#, d(r#"{"s": "done"}"#), true),
        (r#"{"data": {"s": [{"anything-but": {"equals-ignore-case": ["a", "b"]}}]}}"#, d(r#"{"s": "B"}"#), false),
        (r#"{"data": {"p": [{"anything-but": {"wildcard": "*/lib/*"}}]}}"#, d(r#"{"p": "/usr/bin"}"#), true),
        (r#"{"data": {"p": [{"anything-but": {"wildcard": "*/lib/*"}}]}}"#, d(r#"{"p": "/usr/lib/a"}"#), false),
        (r#"{"data": {"s": [{"anything-but": "x"}, {"exists": false}]}}"#, d(r#"{}"#), true),
        (r#"{"data": {"s": [{"anything-but": "x"}]}}"#, d(r#"{"s": "\u0078"}"#), false),
        // ----- numeric -----
        (r#"{"data": {"c": [{"numeric": [">", 0, "<=", 5]}]}}"#, d(r#"{"c": 5}"#), true),
        (r#"{"data": {"c": [{"numeric": [">", 0, "<=", 5]}]}}"#, d(r#"{"c": 0}"#), false),
        (r#"{"data": {"c": [{"numeric": [">", 0, "<=", 5]}]}}"#, d(r#"{"c": 0.0001}"#), true),
        (r#"{"data": {"c": [{"numeric": [">", 0, "<=", 5]}]}}"#, d(r#"{"c": 5.0001}"#), false),
        (r#"{"data": {"c": [{"numeric": [">", 0, "<=", 5]}]}}"#, d(r#"{"c": "3"}"#), false),
        (r#"{"data": {"c": [{"numeric": [">", 0, "<=", 5]}]}}"#, d(r#"{"c": null}"#), false),
        (r#"{"data": {"c": [{"numeric": [">", 0, "<=", 5]}]}}"#, d(r#"{}"#), false),
        (r#"{"data": {"c": [{"numeric": ["=", 100]}]}}"#, d(r#"{"c": 1e2}"#), true),
        (r#"{"data": {"c": [{"numeric": ["=", 100]}]}}"#, d(r#"{"c": 100.5}"#), false),
        (r#"{"data": {"c": [{"numeric": ["<", 0]}]}}"#, d(r#"{"c": -1e-9}"#), true),
        (r#"{"data": {"c": [{"numeric": [">=", 10]}]}}"#, d(r#"{"c": 10}"#), true),
        (r#"{"data": {"c": [{"numeric": [">", 10]}]}}"#, d(r#"{"c": 10}"#), false),
        (r#"{"data": {"c": [{"numeric": ["<=", 10]}]}}"#, d(r#"{"c": 10.0}"#), true),
        (r#"{"data": {"c": [{"numeric": ["<", 10]}]}}"#, d(r#"{"c": 10.0}"#), false),
        (r#"{"data": {"c": [{"numeric": [">", 1e300]}]}}"#, d(r#"{"c": 1e400}"#), true),
        (r#"{"data": {"c": [{"numeric": ["<", 9007199254740993]}]}}"#, d(r#"{"c": 9007199254740992}"#), true),
        (r#"{"data": {"c": [{"numeric": [">", 0]}, {"numeric": ["<", -10]}]}}"#, d(r#"{"c": -20}"#), true),
        (r#"{"data": {"c": [{"numeric": [">", 0]}, {"numeric": ["<", -10]}]}}"#, d(r#"{"c": -5}"#), false),
        (r#"{"data": {"c": [{"numeric": [">", 0]}]}}"#, d(r#"{"c": true}"#), false),
        (r#"{"data": {"c": [{"numeric": ["<", 10, ">", 0]}]}}"#, d(r#"{"c": 5}"#), true),
        (r#"{"data": {"c": [{"numeric": [">=", 1.5, "<", 2.5]}]}}"#, d(r#"{"c": 15e-1}"#), true),
        (r#"{"data": {"c": [{"numeric": [">=", -5, "<=", -5]}]}}"#, d(r#"{"c": -5}"#), true),
        // ----- $or -----
        (r#"{"$or": [{"type": ["A"]}, {"type": ["OrderPlaced"]}]}"#, BASE, true),
        (r#"{"$or": [{"type": ["A"]}, {"category": ["b"]}]}"#, BASE, false),
        (r#"{"type": ["OrderPlaced"], "$or": [{"data": {"x": [1]}}, {"data": {"y": [2]}}]}"#, d(r#"{"y": 2}"#), true),
        (r#"{"type": ["OrderPlaced"], "$or": [{"data": {"x": [1]}}, {"data": {"y": [2]}}]}"#, d(r#"{"y": 3}"#), false),
        (r#"{"type": ["Other"], "$or": [{"data": {"x": [1]}}, {"data": {"y": [2]}}]}"#, d(r#"{"y": 2}"#), false),
        (r#"{"data": {"$or": [{"a": [1]}, {"b": [1]}]}}"#, d(r#"{"b": 1}"#), true),
        (r#"{"data": {"$or": [{"a": [1]}, {"b": [1]}]}}"#, d(r#"{"c": 1}"#), false),
        (r#"{"data": {"k": ["v"], "$or": [{"a": [1]}, {"b": [1]}]}}"#, d(r#"{"k": "v", "a": 1}"#), true),
        (r#"{"data": {"k": ["v"], "$or": [{"a": [1]}, {"b": [1]}]}}"#, d(r#"{"k": "w", "a": 1}"#), false),
        (r#"{"data": {"$or": [{"a": [{"exists": false}]}, {"b": [1]}]}}"#, d(r#"{}"#), true),
        (r#"{"$or": [{"data": {"a": [1]}}, {"metadata": {"a": [1]}}]}"#, Ev { metadata: r#"{"a": 1}"#, ..BASE }, true),
        (r#"{"$or": [{"type": ["X"]}, {"$or": [{"category": ["order"]}, {"stream": ["nope"]}]}]}"#, BASE, true),
        (r#"{"data": {"items": {"$or": [{"sku": ["a"]}, {"qty": [9]}]}}}"#, d(r#"{"items": [{"sku": "b", "qty": 9}]}"#), true),
        (r#"{"data": {"items": {"$or": [{"sku": ["a"]}, {"qty": [9]}]}}}"#, d(r#"{"items": [{"sku": "b", "qty": 8}]}"#), false),
        (r#"{"data": {"a": {"$or": [{"b": [1]}, {"c": [1]}]}}}"#, d(r#"{"a": {"c": 1}, "b": 1}"#), true),
        // ----- escapes and unicode -----
        (r#"{"data": {"s": ["café"]}}"#, d(r#"{"s": "caf\u00e9"}"#), true),
        (r#"{"data": {"s": ["café"]}}"#, d(r#"{"s": "café"}"#), true),
        (r#"{"data": {"s": ["caf\u00e9"]}}"#, d(r#"{"s": "café"}"#), true),
        (r#"{"data": {"s": ["😀"]}}"#, d(r#"{"s": "\ud83d\ude00"}"#), true),
        (r#"{"data": {"s": ["\ud83d\ude00"]}}"#, d(r#"{"s": "😀"}"#), true),
        (r#"{"data": {"s": ["a\\b"]}}"#, d(r#"{"s": "a\\b"}"#), true),
        (r#"{"data": {"s": ["a\\nb"]}}"#, d(r#"{"s": "a\nb"}"#), false),
        (r#"{"data": {"s": ["tab\there"]}}"#, d(r#"{"s": "tab\u0009here"}"#), true),
        (r#"{"data": {"s": ["/"]}}"#, d(r#"{"s": "\/"}"#), true),
        (r#"{"data": {"s": ["日本"]}}"#, d(r#"{"s": "日本"}"#), true),
        (r#"{"data": {"s": [{"prefix": "日"}]}}"#, d(r#"{"s": "日本"}"#), true),
        (r#"{"data": {"s": [{"prefix": "日"}]}}"#, d(r#"{"s": "\u65e5\u672c"}"#), true),
        (r#"{"data": {"s": ["\ufffd"]}}"#, d(r#"{"s": "\ud800"}"#), true),
        (r#"{"data": {"s": ["ab"]}}"#, d(r#"{"s": "a\u0000b"}"#), false),
        // ----- duplicate keys, malformed and odd data -----
        (r#"{"data": {"a": [2]}}"#, d(r#"{"a": 1, "a": 2}"#), true),
        (r#"{"data": {"a": [1]}}"#, d(r#"{"a": 1, "a": 2}"#), false),
        (r#"{"data": {"a": [1]}}"#, d(r#"{"a": 1,}"#), false),
        (r#"{"data": {"a": [{"exists": false}]}}"#, d(r#"{"a": 1"#), true),
        (r#"{"data": {"a": [1]}}"#, d("not json"), false),
        (r#"{"type": ["OrderPlaced"]}"#, d("garbage"), true),
        (r#"{"data": {"a": [1]}}"#, d(r#"{"a": 1} x"#), false),
        (r#"{"data": {"a": [1]}}"#, d(" \n{ \"a\" :\t1 }\r\n"), true),
        (r#"{"data": {"a": [1]}}"#, d(r#"{"b": {"c": [1, 2, {"d": "}"}]}, "a": 1}"#), true),
        (r#"{"data": {"a": ["x"]}}"#, d(r#"{"b": "\"a\":\"x\"", "a": "y"}"#), false),
        (r#"{"data": {"a": [1]}}"#, d(r#"{"a": 01}"#), false),
        (r#"{"data": {"a": ["x"]}}"#, d(r#"{"a": "x", "b": tru}"#), false),
    ]
}

/// Re-encodes JSON text with `serde_json`, compact and pretty; `None` when it does not parse.
fn reencoded(text: &str) -> Option<[String; 2]> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    Some([value.to_string(), serde_json::to_string_pretty(&value).expect("serialises")])
}

#[test]
fn table() {
    let cases = cases();
    assert!(cases.len() >= CASES_MIN, "the table has {} cases; keep at least {CASES_MIN}", cases.len());
    let mut failures = Vec::new();
    for (i, (pattern_text, ev, expected)) in cases.iter().enumerate() {
        let pattern = Pattern::parse(pattern_text).unwrap_or_else(|e| panic!("case {i}: {pattern_text}: {e}"));
        let value: serde_json::Value = serde_json::from_str(pattern_text).expect("pattern is JSON");
        let from_value = Pattern::compile(&value).expect("compiles from a Value");
        let got = pattern.matches(&envelope(ev, ev.data, ev.metadata));
        if got != *expected {
            failures.push(format!("case {i}: {pattern_text} on data {} → {got}, want {expected}", ev.data));
            continue;
        }
        assert_eq!(from_value.matches(&envelope(ev, ev.data, ev.metadata)), got, "case {i}: from Value");
        if let Some(texts) = reencoded(ev.data) {
            for text in &texts {
                let again = pattern.matches(&envelope(ev, text, ev.metadata));
                if again != got {
                    failures.push(format!("case {i}: {pattern_text} on re-encoded data {text} → {again}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[rustfmt::skip]
fn malformed() -> Vec<(String, &'static str, PatternErrorKind)> {
    use PatternErrorKind::*;
    let fixed: Vec<(&str, &str, PatternErrorKind)> = vec![
        ("not json", "", Json),
        ("[]", "", Syntax),
        ("5", "", Syntax),
        (r#"{"type": "OrderPlaced"}"#, "/type", Syntax),
        (r#"{"type": {"a": ["b"]}}"#, "/type", Syntax),
        (r#"{"detail": {"a": [1]}}"#, "/detail", UnknownField),
        (r#"{"source": ["x"]}"#, "/source", UnknownField),
        (r#"{"data": 5}"#, "/data", Syntax),
        (r#"{"data": {"amount": [{"numeric": [">", "5"]}]}}"#, "/data/amount/0/numeric/1", Syntax),
        (r#"{"data": {"amount": [{"numeric": ["!", 5]}]}}"#, "/data/amount/0/numeric/0", Syntax),
        (r#"{"data": {"amount": [{"numeric": [">", 5, "<"]}]}}"#, "/data/amount/0/numeric", Syntax),
        (r#"{"data": {"amount": [{"numeric": [">", 5, ">", 6]}]}}"#, "/data/amount/0/numeric/2", Syntax),
        (r#"{"data": {"amount": [{"numeric": [">", 5, "<", 5]}]}}"#, "/data/amount/0/numeric", Syntax),
        (r#"{"data": {"amount": [{"numeric": [">", 9, "<", 5]}]}}"#, "/data/amount/0/numeric", Syntax),
        (r#"{"data": {"amount": [{"numeric": ["=", 5, "<", 6]}]}}"#, "/data/amount/0/numeric/0", Syntax),
        (r#"{"data": {"amount": [{"numeric": 5}]}}"#, "/data/amount/0/numeric", Syntax),
        (r#"{"data": {"a": []}}"#, "/data/a", Syntax),
        (r#"{"data": {"a": "x"}}"#, "/data/a", Syntax),
        (r#"{"data": {"a": null}}"#, "/data/a", Syntax),
        (r#"{"data": {"a": {}}}"#, "/data/a", Syntax),
        (r#"{"data": {"a": [[1]]}}"#, "/data/a/0", Syntax),
        (r#"{"data": {"a": [{}]}}"#, "/data/a/0", Syntax),
        (r#"{"data": {"a": ["x", {"prefix": "x", "suffix": "y"}]}}"#, "/data/a/1", Syntax),
        (r#"{"data": {"a": [{"prefix": 5}]}}"#, "/data/a/0/prefix", Syntax),
        (r#"{"data": {"a": [{"prefix": {"equals-ignore-case": 5}}]}}"#, "/data/a/0/prefix/equals-ignore-case", Syntax),
        (r#"{"data": {"a": [{"suffix": {"wildcard": "x"}}]}}"#, "/data/a/0/suffix", Syntax),
        (r#"{"data": {"a": [{"equals-ignore-case": ["x"]}]}}"#, "/data/a/0/equals-ignore-case", Syntax),
        (r#"{"data": {"a": [{"wildcard": "a**b"}]}}"#, "/data/a/0/wildcard", Syntax),
        (r#"{"data": {"a": [{"wildcard": "a\\b"}]}}"#, "/data/a/0/wildcard", Syntax),
        (r#"{"data": {"a": [{"wildcard": "a\\"}]}}"#, "/data/a/0/wildcard", Syntax),
        (r#"{"data": {"a": [{"exists": "yes"}]}}"#, "/data/a/0/exists", Syntax),
        (r#"{"data": {"a": [{"anything-but": null}]}}"#, "/data/a/0/anything-but", Syntax),
        (r#"{"data": {"a": [{"anything-but": true}]}}"#, "/data/a/0/anything-but", Syntax),
        (r#"{"data": {"a": [{"anything-but": [1, true]}]}}"#, "/data/a/0/anything-but/1", Syntax),
        (r#"{"data": {"a": [{"anything-but": []}]}}"#, "/data/a/0/anything-but", Syntax),
        (r#"{"data": {"a": [{"anything-but": {"numeric": [">", 1]}}]}}"#, "/data/a/0/anything-but/numeric", UnknownOperator),
        (r#"{"data": {"a": [{"anything-but": {"prefix": "a", "suffix": "b"}}]}}"#, "/data/a/0/anything-but", Syntax),
        (r#"{"data": {"a": [{"anything-but": {"wildcard": "**"}}]}}"#, "/data/a/0/anything-but/wildcard", Syntax),
        (r#"{"type": [{"anything-but": {"prefix": ["a", 5]}}]}"#, "/type/0/anything-but/prefix/1", Syntax),
        (r#"{"data": {"a": [{"cidr": "10.0.0.0/24"}]}}"#, "/data/a/0/cidr", Unsupported),
        (r#"{"data": {"a": [{"contains": "x"}]}}"#, "/data/a/0/contains", UnknownOperator),
        (r#"{"data": {"a": [{"bogus": 1}]}}"#, "/data/a/0/bogus", UnknownOperator),
        (r#"{"$or": {"type": ["A"]}}"#, "/$or", Syntax),
        (r#"{"$or": []}"#, "/$or", Syntax),
        (r#"{"$or": [{"type": ["A"]}, 5]}"#, "/$or/1", Syntax),
        (r#"{"$or": [{"type": ["A"]}, {}]}"#, "/$or/1", Syntax),
        (r#"{"$or": [{"type": ["A"]}, {"tpye": ["B"]}]}"#, "/$or/1/tpye", UnknownField),
        (r#"{"data": {"$or": [{"a": [1]}, {"b": []}]}}"#, "/data/$or/1/b", Syntax),
        (r#"{"data": {"a~b/c": [{"exists": 1}]}}"#, "/data/a~0b~1c/0/exists", Syntax),
        (r#"{"metadata": {"a": {"b": {"c": [{"numeric": [">"]}]}}}}"#, "/metadata/a/b/c/0/numeric", Syntax),
    ];
    let mut cases: Vec<(String, &'static str, PatternErrorKind)> =
        fixed.into_iter().map(|(p, ptr, kind)| (p.to_string(), ptr, kind)).collect();

    // Limits.
    let deep = format!("{{\"data\": {}[1]{}}}", "{\"a\": ".repeat(17), "}".repeat(17));
    cases.push((deep, "/data/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a", TooLarge));
    let values: Vec<String> = (0..=skald_pattern::PATTERN_VALUES_MAX).map(|i| format!("\"v{i}\"")).collect();
    cases.push((format!("{{\"type\": [{}]}}", values.join(",")), "/type/1024", TooLarge));
    let fields: Vec<String> = (0..=skald_pattern::PATTERN_FIELDS_MAX).map(|i| format!("\"f{i}\": [1]")).collect();
    cases.push((format!("{{\"data\": {{{}}}}}", fields.join(",")), "/data", TooLarge));
    let long = "x".repeat(skald_pattern::PATTERN_STRING_BYTES_MAX + 1);
    cases.push((format!("{{\"type\": [\"{long}\"]}}"), "/type/0", TooLarge));
    let huge = format!("{{\"type\": [\"{}\"]}}", "x".repeat(skald_pattern::PATTERN_TEXT_BYTES_MAX));
    cases.push((huge, "", TooLarge));
    cases
}

#[test]
fn malformed_patterns_point_at_the_bad_part() {
    let cases = malformed();
    assert!(cases.len() >= 50, "keep at least 50 malformed cases");
    let mut failures = Vec::new();
    for (pattern, pointer, kind) in &cases {
        let shown: String = pattern.chars().take(120).collect();
        match Pattern::parse(pattern) {
            Ok(_) => failures.push(format!("{shown}: compiled, want an error at {pointer:?}")),
            Err(e) => {
                if e.pointer() != *pointer || e.kind() != *kind {
                    failures.push(format!(
                        "{shown}: got {:?} at {:?} ({e}), want {kind:?} at {pointer:?}",
                        e.kind(),
                        e.pointer()
                    ));
                }
                assert!(!e.message().is_empty());
                assert!(e.to_string().contains(e.message()));
            }
        }
    }
    assert!(failures.is_empty(), "{} malformed cases failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn limits_admit_patterns_at_the_limit() {
    let deep = format!("{{\"data\": {}[1]{}}}", "{\"a\": ".repeat(16), "}".repeat(16));
    assert!(Pattern::parse(&deep).is_ok());
    let values: Vec<String> = (0..skald_pattern::PATTERN_VALUES_MAX).map(|i| format!("{i}")).collect();
    let pattern = Pattern::parse(&format!("{{\"data\": {{\"n\": [{}]}}}}", values.join(","))).expect("at the limit");
    let ev = d(r#"{"n": 1023}"#);
    assert!(pattern.matches(&envelope(&ev, ev.data, ev.metadata)));
}

#[test]
fn error_messages_say_how_to_fix() {
    let e = Pattern::parse(r#"{"data": {"amount": [{"numeric": [">", "5"]}]}}"#).unwrap_err();
    assert!(e.message().contains("write 5 without quotes"), "{e}");
    let e = Pattern::parse(r#"{"detail": {"a": [1]}}"#).unwrap_err();
    assert!(e.message().contains("under `data`"), "{e}");
    let e = Pattern::parse(r#"{"data": {"a": "x"}}"#).unwrap_err();
    assert!(e.message().contains(r#"["x"]"#), "{e}");
    assert_eq!(e.kind().code(), "pattern_syntax");
    assert!(e.to_string().starts_with("invalid event pattern at `/data/a`: "), "{e}");
}

#[test]
fn serde_round_trip() {
    #[derive(serde::Deserialize, serde::Serialize)]
    struct Config {
        filter: Pattern,
    }
    let config: Config = serde_json::from_str(r#"{"filter": {"type": ["A"]}}"#).expect("deserialises");
    assert_eq!(serde_json::to_string(&config).expect("serialises"), r#"{"filter":{"type":["A"]}}"#);
    let err = serde_json::from_str::<Config>(r#"{"filter": {"type": "A"}}"#).err().expect("rejected");
    assert!(err.to_string().contains("/type"), "{err}");
}

#[test]
fn reports_what_the_pattern_reads() {
    let p = Pattern::parse(r#"{"type": ["A"], "$or": [{"data": {"a": [1]}}, {"timestamp": [{"prefix": "2026"}]}]}"#)
        .expect("compiles");
    assert!(p.uses_data() && p.uses_timestamp() && !p.uses_metadata());
}

#[test]
fn envelope_new_derives_the_category() {
    assert_eq!(Envelope::new("order-42-x", "T", "", b"", b"").category, "order");
    assert_eq!(Envelope::new("$exec-7f", "T", "", b"", b"").category, "$exec");
    assert_eq!(Envelope::new("audit", "T", "", b"", b"").category, "audit");
}
