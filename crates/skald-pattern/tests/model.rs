//! Model check: the streaming matcher agrees with a naive matcher over decoded `serde_json`
//! values on many seeded random (pattern, event) pairs.
//!
//! The model states the documented semantics as directly as possible — collect the leaf values
//! or objects at a field, then test them — so a disagreement points at the scanner or at a
//! shortcut in the real matcher. Events are written with random whitespace and random `\u`
//! escapes, so the same value reaches the matcher in many spellings. A failure prints its seed.

use serde_json::{json, Map, Value};
use skald_pattern::{Envelope, Pattern};

const RUNS: u64 = 20_000;

/// xorshift64*: small, seeded, good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

const KEYS: [&str; 4] = ["a", "b", "ké", "c\"d"];
const STRINGS: [&str; 13] = ["x", "X", "xy", "yx", "", "été", "ÉTÉ", "a*b", "us-1", "a\\b", "é", "y", "Xy"];
const NUMBERS: [f64; 7] = [0.0, 5.0, 5.5, -1.0, 100.0, 2.5, 1e9];

// ----- random events -----

fn scalar(rng: &mut Rng) -> Value {
    match rng.below(5) {
        0 | 1 => json!(rng.pick(&STRINGS)),
        2 => {
            let n = rng.pick(&NUMBERS);
            if n.fract() == 0.0 && rng.chance(50) {
                json!(n as i64)
            } else {
                json!(n)
            }
        }
        3 => json!(rng.chance(50)),
        _ => Value::Null,
    }
}

fn value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth >= 3 { 1 } else { 4 }) {
        0 => scalar(rng),
        1 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth + 1)).collect()),
        _ => object(rng, depth),
    }
}

fn object(rng: &mut Rng, depth: usize) -> Value {
    let mut map = Map::new();
    for _ in 0..rng.below(4) {
        map.insert(rng.pick(&KEYS).to_string(), value(rng, depth + 1));
    }
    Value::Object(map)
}

/// Writes JSON with random whitespace and random `\u` escapes.
fn write(rng: &mut Rng, v: &Value, out: &mut String) {
    let ws = |rng: &mut Rng, out: &mut String| {
        if rng.chance(30) {
            out.push_str(rng.pick(&[" ", "\n", "\t ", "\r\n  "]));
        }
    };
    ws(rng, out);
    match v {
        Value::String(s) => write_string(rng, s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(rng, item, out);
            }
            ws(rng, out);
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ws(rng, out);
                write_string(rng, k, out);
                ws(rng, out);
                out.push(':');
                write(rng, item, out);
            }
            ws(rng, out);
            out.push('}');
        }
        Value::Number(n) if n.is_f64() && rng.chance(30) => {
            // Another spelling of the same number.
            let f = n.as_f64().unwrap_or(0.0);
            out.push_str(&format!("{:e}", f));
        }
        other => out.push_str(&other.to_string()),
    }
    ws(rng, out);
}

fn write_string(rng: &mut Rng, s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if rng.chance(25) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{:04x}", unit));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ----- random patterns -----

fn leaf_element(rng: &mut Rng) -> Value {
    let s = rng.pick(&STRINGS);
    let n = rng.pick(&NUMBERS);
    match rng.below(14) {
        0 | 1 => json!(s),
        2 => json!(n),
        3 => json!(rng.chance(50)),
        4 => Value::Null,
        5 => json!({"prefix": rng.pick(&["x", "", "é", "us-", "a"])}),
        6 => match rng.below(2) {
            0 => json!({"suffix": rng.pick(&["y", "é", "b", "É", "xy", "été"])}),
            _ => json!({"suffix": {"equals-ignore-case": rng.pick(&["Y", "é", "TÉ", "xy"])}}),
        },
        7 => json!({"prefix": {"equals-ignore-case": rng.pick(&["X", "ét", "US"])}}),
        8 => json!({"equals-ignore-case": s}),
        9 => json!({"wildcard": rng.pick(&["*", "x*", "*y", "a\\*b", "*t*", "a*b", "é*"])}),
        10 => match rng.below(6) {
            0 => json!({"anything-but": s}),
            1 => json!({"anything-but": [s, n]}),
            2 => json!({"anything-but": {"prefix": "x"}}),
            3 => json!({"anything-but": {"equals-ignore-case": ["x", "été"]}}),
            4 => json!({"anything-but": {"wildcard": "*y"}}),
            _ => json!({"anything-but": {"suffix": "é"}}),
        },
        11 => match rng.below(3) {
            0 => json!({"numeric": [rng.pick(&["<", "<=", "=", ">=", ">"]), n]}),
            _ => json!({"numeric": [">", -1, "<=", 5]}),
        },
        _ => json!({"exists": rng.chance(50)}),
    }
}

fn node(rng: &mut Rng, depth: usize) -> Value {
    if depth < 3 && rng.chance(30) {
        object_pattern(rng, depth + 1)
    } else {
        Value::Array((0..1 + rng.below(3)).map(|_| leaf_element(rng)).collect())
    }
}

fn object_pattern(rng: &mut Rng, depth: usize) -> Value {
    let mut map = Map::new();
    for _ in 0..1 + rng.below(2) {
        map.insert(rng.pick(&KEYS).to_string(), node(rng, depth));
    }
    if depth < 3 && rng.chance(15) {
        map.insert("$or".into(), json!([object_pattern(rng, depth + 1), object_pattern(rng, depth + 1)]));
    }
    Value::Object(map)
}

// ----- the model -----

fn leaves<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|item| leaves(item, out)),
        Value::Object(_) => {}
        scalar => out.push(scalar),
    }
}

fn objects<'v>(v: &'v Value, out: &mut Vec<&'v Map<String, Value>>) {
    match v {
        Value::Array(items) => items.iter().for_each(|item| objects(item, out)),
        Value::Object(map) => out.push(map),
        _ => {}
    }
}

fn model_node(pattern: &Value, v: Option<&Value>) -> bool {
    match pattern {
        Value::Object(p) => {
            let mut found = Vec::new();
            if let Some(v) = v {
                objects(v, &mut found);
            }
            let empty = Map::new();
            if found.is_empty() {
                found.push(&empty);
            }
            found.iter().any(|o| model_object(p, o))
        }
        Value::Array(elements) => {
            let mut found = Vec::new();
            if let Some(v) = v {
                leaves(v, &mut found);
            }
            if found.is_empty() {
                elements.iter().any(|e| *e == json!({"exists": false}))
            } else {
                found.iter().any(|leaf| elements.iter().any(|e| model_element(e, leaf)))
            }
        }
        _ => unreachable!("generated patterns are objects or lists"),
    }
}

fn model_object(pattern: &Map<String, Value>, o: &Map<String, Value>) -> bool {
    pattern.iter().all(|(k, p)| match k.as_str() {
        "$or" => p.as_array().expect("list").iter().any(|alt| model_object(alt.as_object().expect("object"), o)),
        _ => model_node(p, o.get(k)),
    })
}

fn lower(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

fn model_wildcard(p: &[char], s: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some(('*', rest)) => (0..=s.len()).any(|i| model_wildcard(rest, &s[i..])),
        Some(('\\', rest)) => model_wildcard(rest, s), // `\` escapes the next char, which matches literally
        Some((c, rest)) => s.first() == Some(c) && model_wildcard(rest, &s[1..]),
    }
}

fn model_wildcard_str(p: &str, s: &str) -> bool {
    // Turn `\*` into a literal star that the `*` arm cannot see: use a private-use marker.
    let p: Vec<char> = p.replace("\\*", "\u{E000}").chars().collect();
    let s: Vec<char> = s.chars().map(|c| if c == '*' { '\u{E000}' } else { c }).collect();
    model_wildcard(&p, &s)
}

fn num_eq(a: &Value, b: &Value) -> bool {
    matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
}

fn model_element(e: &Value, leaf: &Value) -> bool {
    let text = leaf.as_str();
    match e {
        Value::String(s) => text == Some(s.as_str()),
        Value::Number(_) => num_eq(e, leaf),
        Value::Bool(_) | Value::Null => e == leaf,
        Value::Object(op) => {
            let (name, arg) = op.iter().next().expect("one operator");
            match name.as_str() {
                "prefix" => match arg {
                    Value::String(p) => text.is_some_and(|t| t.starts_with(p.as_str())),
                    _ => {
                        let p = lower(arg["equals-ignore-case"].as_str().expect("string"));
                        text.is_some_and(|t| lower(t).starts_with(&p))
                    }
                },
                "suffix" => match arg {
                    Value::String(p) => text.is_some_and(|t| t.ends_with(p.as_str())),
                    _ => {
                        let p = lower(arg["equals-ignore-case"].as_str().expect("string"));
                        text.is_some_and(|t| lower(t).ends_with(&p))
                    }
                },
                "equals-ignore-case" => text.is_some_and(|t| lower(t) == lower(arg.as_str().expect("string"))),
                "wildcard" => text.is_some_and(|t| model_wildcard_str(arg.as_str().expect("string"), t)),
                "anything-but" => match arg {
                    Value::Object(inner) => {
                        let Some(t) = text else { return false };
                        match inner.iter().next().expect("one") {
                            (k, Value::String(p)) if k == "prefix" => !t.starts_with(p.as_str()),
                            (k, Value::String(p)) if k == "suffix" => !t.ends_with(p.as_str()),
                            (k, Value::String(p)) if k == "wildcard" => !model_wildcard_str(p, t),
                            (_, Value::Array(ps)) => !ps.iter().any(|p| lower(t) == lower(p.as_str().expect("string"))),
                            _ => unreachable!(),
                        }
                    }
                    Value::Array(items) => !items.iter().any(|i| model_element(i, leaf)),
                    single => !model_element(single, leaf),
                },
                "numeric" => {
                    let Some(x) = leaf.as_f64().filter(|_| leaf.is_number()) else { return false };
                    let ops = arg.as_array().expect("list");
                    ops.chunks(2).all(|pair| {
                        let bound = pair[1].as_f64().expect("number");
                        match pair[0].as_str().expect("op") {
                            "<" => x < bound,
                            "<=" => x <= bound,
                            "=" => x == bound,
                            ">=" => x >= bound,
                            _ => x > bound,
                        }
                    })
                }
                "exists" => arg == &json!(true),
                other => unreachable!("generator made {other}"),
            }
        }
        Value::Array(_) => unreachable!(),
    }
}

#[test]
fn streaming_matcher_agrees_with_the_model() {
    let mut mismatches = Vec::new();
    let mut matched = 0;
    for seed in 1..=RUNS {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let pattern_value = json!({"data": node(&mut rng, 0)});
        let event = value(&mut rng, 0);
        let mut text = String::new();
        write(&mut rng, &event, &mut text);

        let pattern = Pattern::compile(&pattern_value).unwrap_or_else(|e| panic!("seed {seed}: {pattern_value}: {e}"));
        let envelope = Envelope {
            stream: "s-1",
            category: "s",
            event_type: "T",
            timestamp: "2026-11-30T11:00:00Z",
            data: text.as_bytes(),
            metadata: b"",
        };
        let got = pattern.matches(&envelope);
        let want = model_node(&pattern_value["data"], Some(&event));
        matched += usize::from(want);
        if got != want && mismatches.len() < 10 {
            mismatches.push(format!("seed {seed}: pattern {pattern_value} on {text} → {got}, model says {want}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Both outcomes are well represented.
    let share = matched as f64 / RUNS as f64;
    assert!((0.1..0.9).contains(&share), "{matched} of {RUNS} matched");
}

#[test]
fn damaged_events_never_panic_and_count_as_missing() {
    let mut checked = 0;
    for seed in 1..=RUNS / 2 {
        let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
        let pattern_value = json!({"data": node(&mut rng, 0)});
        let event = value(&mut rng, 0);
        let mut text = String::new();
        write(&mut rng, &event, &mut text);
        let mut bytes = text.into_bytes();
        if bytes.is_empty() {
            continue;
        }
        // One or two blows: truncate, overwrite a byte, or insert one.
        for _ in 0..1 + rng.below(2) {
            let at = rng.below(bytes.len());
            match rng.below(3) {
                0 => bytes.truncate(at),
                1 => bytes[at] = rng.pick(b"{}[]\",:\\-0eE.tn \x01\xff\xc3u"),
                _ => bytes.insert(at, rng.pick(b"{}[]\",:\\-0eE.tn \x01\xff\xc3u")),
            }
            if bytes.is_empty() {
                break;
            }
        }
        let pattern = Pattern::compile(&pattern_value).expect("compiles");
        let envelope = Envelope {
            stream: "s-1",
            category: "s",
            event_type: "T",
            timestamp: "2026-11-30T11:00:00Z",
            data: &bytes,
            metadata: b"",
        };
        let got = pattern.matches(&envelope);
        // Where serde_json rejects the text, the matcher must treat `data` as missing. (Skip the
        // few texts serde_json rejects for reasons of its own: lone surrogates, huge exponents.)
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(still_json) => {
                let want = model_node(&pattern_value["data"], Some(&still_json));
                assert_eq!(got, want, "seed {seed}: {pattern_value} on {:?}", String::from_utf8_lossy(&bytes));
            }
            Err(e) if e.to_string().contains("surrogate") || e.to_string().contains("out of range") => {}
            Err(e) => {
                let reason = e.to_string();
                checked += 1;
                let want = model_node(&pattern_value["data"], None);
                assert_eq!(
                    got,
                    want,
                    "seed {seed}: {pattern_value} on {:?} ({reason})",
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
    }
    assert!(checked > 1000, "only {checked} damaged texts were checked");
}
