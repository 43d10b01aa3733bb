//! Intrinsic functions: the parser for `States.Xxx(arg, …)` expressions found in `.$` values
//! (nested calls, string/number/boolean/null literals and paths as arguments), arity and literal
//! checks at definition time, and the evaluation of all 18 functions. Failures while evaluating
//! are `States.Runtime` errors naming the function.

use base64::Engine as _;
use md5::Digest as _;
use serde_json::{Map, Number, Value};

use crate::error::StateError;
use crate::limits::{ARRAY_RANGE_ITEMS_MAX, INTRINSIC_NESTING_MAX, INTRINSIC_STRING_CHARS_MAX};
use crate::path::{Env, Path};
use crate::rng::Rng;

/// The 18 functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "Format" => Func::Format,
            "StringToJson" => Func::StringToJson,
            "JsonToString" => Func::JsonToString,
            "Array" => Func::Array,
            "ArrayPartition" => Func::ArrayPartition,
            "ArrayContains" => Func::ArrayContains,
            "ArrayRange" => Func::ArrayRange,
            "ArrayGetItem" => Func::ArrayGetItem,
            "ArrayLength" => Func::ArrayLength,
            "ArrayUnique" => Func::ArrayUnique,
            "Base64Encode" => Func::Base64Encode,
            "Base64Decode" => Func::Base64Decode,
            "Hash" => Func::Hash,
            "JsonMerge" => Func::JsonMerge,
            "MathRandom" => Func::MathRandom,
            "MathAdd" => Func::MathAdd,
            "StringSplit" => Func::StringSplit,
            "UUID" => Func::Uuid,
            _ => return None,
        })
    }

    /// The smallest and largest number of arguments.
    fn arity(self) -> (usize, usize) {
        match self {
            Func::Format => (1, usize::MAX),
            Func::Array => (0, usize::MAX),
            Func::Uuid => (0, 0),
            Func::StringToJson
            | Func::JsonToString
            | Func::ArrayLength
            | Func::ArrayUnique
            | Func::Base64Encode
            | Func::Base64Decode => (1, 1),
            Func::ArrayPartition
            | Func::ArrayContains
            | Func::ArrayGetItem
            | Func::Hash
            | Func::MathAdd
            | Func::StringSplit => (2, 2),
            Func::ArrayRange | Func::JsonMerge => (3, 3),
            Func::MathRandom => (2, 3),
        }
    }
}

/// An argument of a call.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// A string literal: its value, and its text with escapes kept (for `States.Format`).
    Str { value: String, raw: String },
    /// A number, boolean or null literal.
    Literal(Value),
    /// A path.
    Path(Path),
    /// A nested call.
    Call(Call),
}

/// A parsed intrinsic call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    func: Func,
    args: Vec<Arg>,
    name: String,
}

/// Whether a `.$` value is an intrinsic call rather than a path.
pub fn looks_like_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

/// Parses `States.Func(args…)`; the error says where and what is wrong.
pub fn parse(text: &str) -> Result<Call, String> {
    let mut p = Parser { s: text.as_bytes(), text, i: 0 };
    p.ws();
    let call = p.call(1)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected text after the closing ')'"));
    }
    Ok(call)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        format!("intrinsic {:?}: {what} at offset {}", self.text, self.i)
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn call(&mut self, depth: usize) -> Result<Call, String> {
        if depth > INTRINSIC_NESTING_MAX {
            return Err(self.err(&format!("more than {INTRINSIC_NESTING_MAX} nested intrinsic functions")));
        }
        if !self.text[self.i..].starts_with("States.") {
            return Err(self.err("expected 'States.'"));
        }
        self.i += "States.".len();
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
            self.i += 1;
        }
        let name = &self.text[start..self.i];
        let func =
            Func::from_name(name).ok_or_else(|| self.err(&format!("unknown intrinsic function States.{name}")))?;
        self.ws();
        if self.s.get(self.i) != Some(&b'(') {
            return Err(self.err("expected '('"));
        }
        self.i += 1;
        let mut args = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b')') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                args.push(self.arg(depth)?);
                self.ws();
                match self.s.get(self.i) {
                    Some(b',') => self.i += 1,
                    Some(b')') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or ')'")),
                }
            }
        }
        let (min, max) = func.arity();
        if args.len() < min || args.len() > max {
            let want = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(self.err(&format!("States.{name} takes {want} argument(s), got {}", args.len())));
        }
        if func == Func::Format {
            if let Arg::Str { raw, .. } = &args[0] {
                let holes = placeholders(raw);
                if holes != args.len() - 1 {
                    return Err(self.err(&format!(
                        "States.Format template has {holes} placeholder(s) but {} value(s)",
                        args.len() - 1
                    )));
                }
            }
        }
        Ok(Call { func, args, name: format!("States.{name}") })
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, String> {
        let rest = &self.text[self.i..];
        match self.s.get(self.i) {
            Some(b'\'') => self.string(),
            Some(b'$') => self.path(),
            Some(b'S') if rest.starts_with("States.") => Ok(Arg::Call(self.call(depth + 1)?)),
            Some(c) if c.is_ascii_digit() || *c == b'-' => self.number(),
            _ => {
                for (word, value) in [("null", Value::Null), ("true", Value::Bool(true)), ("false", Value::Bool(false))]
                {
                    if rest.starts_with(word) {
                        self.i += word.len();
                        return Ok(Arg::Literal(value));
                    }
                }
                Err(self.err("expected a string, number, boolean, null, path or intrinsic function"))
            }
        }
    }

    fn string(&mut self) -> Result<Arg, String> {
        self.i += 1;
        let start = self.i;
        let mut value = String::new();
        let mut chars = self.text[self.i..].char_indices();
        while let Some((off, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, e @ ('\'' | '\\' | '{' | '}'))) => value.push(e),
                    _ => {
                        self.i = start + off;
                        return Err(self.err("invalid escape in string literal (use \\' \\\\ \\{ \\})"));
                    }
                },
                '\'' => {
                    let raw = self.text[start..start + off].to_owned();
                    self.i = start + off + 1;
                    return Ok(Arg::Str { value, raw });
                }
                c => value.push(c),
            }
        }
        Err(self.err("unterminated string literal"))
    }

    fn number(&mut self) -> Result<Arg, String> {
        let start = self.i;
        while self.i < self.s.len() && matches!(self.s[self.i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
            self.i += 1;
        }
        let text = &self.text[start..self.i];
        let value: Value = serde_json::from_str(text).map_err(|_| self.err(&format!("invalid number {text:?}")))?;
        if !value.is_number() {
            return Err(self.err(&format!("invalid number {text:?}")));
        }
        Ok(Arg::Literal(value))
    }

    fn path(&mut self) -> Result<Arg, String> {
        let start = self.i;
        let mut depth = 0usize;
        let mut quote: Option<u8> = None;
        while self.i < self.s.len() {
            let c = self.s[self.i];
            match quote {
                Some(_) if c == b'\\' => self.i += 1,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    b'\'' | b'"' => quote = Some(c),
                    b'[' | b'(' => depth += 1,
                    b']' | b')' if depth > 0 => depth -= 1,
                    b',' | b')' if depth == 0 => break,
                    _ => {}
                },
            }
            self.i += 1;
        }
        let text = self.text[start..self.i.min(self.s.len())].trim_end();
        Path::parse(text).map(Arg::Path).map_err(|e| self.err(&e))
    }
}

/// Counts the `{}` placeholders of a Format template (escaped braces `\{` `\}` do not count).
fn placeholders(raw: &str) -> usize {
    let b = raw.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == b'{' && b.get(i + 1) == Some(&b'}') {
            n += 1;
            i += 2;
            continue;
        }
        i += 1;
    }
    n
}

impl Call {
    /// The function.
    pub fn func(&self) -> Func {
        self.func
    }

    /// Its arguments (their number was checked against the function's arity when parsing).
    pub fn args(&self) -> &[Arg] {
        &self.args
    }

    /// Evaluates the call (and its nested calls) against `env`.
    pub fn evaluate(&self, env: &mut Env<'_>) -> Result<Value, StateError> {
        let mut values = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            values.push(match arg {
                Arg::Str { value, .. } => Value::String(value.clone()),
                Arg::Literal(v) => v.clone(),
                Arg::Path(p) => p.evaluate(env)?,
                Arg::Call(c) => c.evaluate(env)?,
            });
        }
        let fail = |why: String| StateError::runtime(format!("{}: {why}", self.name));
        match self.func {
            Func::Format => {
                let template = match &self.args[0] {
                    Arg::Str { raw, .. } => raw.clone(),
                    _ => as_str(&values[0]).ok_or_else(|| fail("the template must be a string".into()))?.to_owned(),
                };
                format(&template, &values[1..]).map(Value::String).map_err(fail)
            }
            Func::StringToJson => {
                let s = as_str(&values[0]).ok_or_else(|| fail("the argument must be a string".into()))?;
                serde_json::from_str(s).map_err(|e| fail(format!("not valid JSON: {e}")))
            }
            Func::JsonToString => Ok(Value::String(values[0].to_string())),
            Func::Array => Ok(Value::Array(values)),
            Func::ArrayPartition => {
                let arr = as_array(&values[0]).ok_or_else(|| fail("the first argument must be an array".into()))?;
                let size = as_int(&values[1])
                    .filter(|n| *n > 0)
                    .ok_or_else(|| fail("the chunk size must be a positive integer".into()))?;
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                Ok(Value::Array(arr.chunks(size).map(|c| Value::Array(c.to_vec())).collect()))
            }
            Func::ArrayContains => {
                let arr = as_array(&values[0]).ok_or_else(|| fail("the first argument must be an array".into()))?;
                Ok(Value::Bool(arr.iter().any(|v| json_eq(v, &values[1]))))
            }
            Func::ArrayRange => {
                let ints: Vec<i64> = values
                    .iter()
                    .map(as_int)
                    .collect::<Option<_>>()
                    .ok_or_else(|| fail("start, end and step must be integers".into()))?;
                let (start, end, step) = (ints[0], ints[1], ints[2]);
                if step == 0 {
                    return Err(fail("the step must not be 0".into()));
                }
                let count = if (step > 0 && end < start) || (step < 0 && end > start) {
                    0
                } else {
                    ((end as i128 - start as i128) / step as i128 + 1) as u128
                };
                if count > ARRAY_RANGE_ITEMS_MAX as u128 {
                    return Err(fail(format!(
                        "the range has {count} elements; at most {ARRAY_RANGE_ITEMS_MAX} are allowed"
                    )));
                }
                Ok(Value::Array((0..count as i64).map(|k| Value::from(start + k * step)).collect()))
            }
            Func::ArrayGetItem => {
                let arr = as_array(&values[0]).ok_or_else(|| fail("the first argument must be an array".into()))?;
                let idx = as_int(&values[1])
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| fail("the index must be a non-negative integer".into()))?;
                usize::try_from(idx)
                    .ok()
                    .and_then(|i| arr.get(i))
                    .cloned()
                    .ok_or_else(|| fail(format!("index {idx} is out of bounds for an array of {}", arr.len())))
            }
            Func::ArrayLength => {
                let arr = as_array(&values[0]).ok_or_else(|| fail("the argument must be an array".into()))?;
                Ok(Value::from(arr.len()))
            }
            Func::ArrayUnique => {
                let arr = as_array(&values[0]).ok_or_else(|| fail("the argument must be an array".into()))?;
                let mut out: Vec<Value> = Vec::new();
                for v in arr {
                    if !out.iter().any(|o| json_eq(o, v)) {
                        out.push(v.clone());
                    }
                }
                Ok(Value::Array(out))
            }
            Func::Base64Encode => {
                let s = bounded_str(&values[0]).map_err(fail)?;
                Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(s)))
            }
            Func::Base64Decode => {
                let s = bounded_str(&values[0]).map_err(fail)?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| fail(format!("invalid base64: {e}")))?;
                String::from_utf8(bytes).map(Value::String).map_err(|_| fail("the decoded data is not UTF-8".into()))
            }
            Func::Hash => {
                let s = bounded_str(&values[0]).map_err(fail)?;
                let alg = as_str(&values[1]).ok_or_else(|| fail("the algorithm must be a string".into()))?;
                let hex = match alg {
                    "MD5" => hex(&md5::Md5::digest(s.as_bytes())),
                    "SHA-1" => hex(&sha1::Sha1::digest(s.as_bytes())),
                    "SHA-256" => hex(&sha2::Sha256::digest(s.as_bytes())),
                    "SHA-384" => hex(&sha2::Sha384::digest(s.as_bytes())),
                    "SHA-512" => hex(&sha2::Sha512::digest(s.as_bytes())),
                    other => {
                        return Err(fail(format!(
                            "unknown algorithm {other:?}; use MD5, SHA-1, SHA-256, SHA-384 or SHA-512"
                        )))
                    }
                };
                Ok(Value::String(hex))
            }
            Func::JsonMerge => {
                let (Some(a), Some(b)) = (values[0].as_object(), values[1].as_object()) else {
                    return Err(fail("both values to merge must be JSON objects".into()));
                };
                match values[2] {
                    Value::Bool(false) => {}
                    Value::Bool(true) => return Err(fail("only shallow merges (false) are supported".into())),
                    _ => return Err(fail("the third argument must be the boolean false".into())),
                }
                let mut out: Map<String, Value> = a.clone();
                for (k, v) in b {
                    out.insert(k.clone(), v.clone());
                }
                Ok(Value::Object(out))
            }
            Func::MathRandom => {
                let start = as_int(&values[0]).ok_or_else(|| fail("start must be an integer".into()))?;
                let end = as_int(&values[1]).ok_or_else(|| fail("end must be an integer".into()))?;
                if end < start {
                    return Err(fail("end must not be less than start".into()));
                }
                let n = match values.get(2) {
                    Some(seed) => {
                        let seed = as_int(seed).ok_or_else(|| fail("the seed must be an integer".into()))?;
                        Rng::new(seed as u64).range_inclusive(start, end)
                    }
                    None => env.rng.range_inclusive(start, end),
                };
                Ok(Value::from(n))
            }
            Func::MathAdd => {
                let a = as_int(&values[0]).ok_or_else(|| fail("both values must be integers".into()))?;
                let b = as_int(&values[1]).ok_or_else(|| fail("both values must be integers".into()))?;
                a.checked_add(b).map(Value::from).ok_or_else(|| fail("integer overflow".into()))
            }
            Func::StringSplit => {
                let s = as_str(&values[0]).ok_or_else(|| fail("the value to split must be a string".into()))?;
                let delims = as_str(&values[1]).ok_or_else(|| fail("the delimiter must be a string".into()))?;
                if delims.is_empty() {
                    return Err(fail("the delimiter must not be empty".into()));
                }
                let parts = s.split(|c: char| delims.contains(c)).filter(|p| !p.is_empty());
                Ok(Value::Array(parts.map(|p| Value::String(p.to_owned())).collect()))
            }
            Func::Uuid => Ok(Value::String(env.rng.uuid_v4())),
        }
    }
}

fn as_str(v: &Value) -> Option<&str> {
    v.as_str()
}

fn as_array(v: &Value) -> Option<&Vec<Value>> {
    v.as_array()
}

/// An integer, accepting floats with no fractional part (`2.0`).
fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
        }
        _ => None,
    }
}

fn bounded_str(v: &Value) -> Result<&str, String> {
    let s = v.as_str().ok_or_else(|| "the argument must be a string".to_owned())?;
    if s.chars().count() > INTRINSIC_STRING_CHARS_MAX {
        return Err(format!("the string is longer than {INTRINSIC_STRING_CHARS_MAX} characters"));
    }
    Ok(s)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// JSON equality where `1` and `1.0` are equal.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_eq(x, y),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn num_eq(x: &Number, y: &Number) -> bool {
    match (x.as_i64(), y.as_i64()) {
        (Some(a), Some(b)) => a == b,
        _ => x.as_f64() == y.as_f64(),
    }
}

/// Fills the `{}` of `template` (text with escapes kept) with `values`.
fn format(template: &str, values: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut next = values.iter();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(e) = chars.next() {
                    out.push(e);
                }
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                let v = next.next().ok_or_else(|| "more placeholders than values".to_owned())?;
                match v {
                    Value::String(s) => out.push_str(s),
                    Value::Number(_) | Value::Bool(_) | Value::Null => out.push_str(&v.to_string()),
                    _ => return Err("values must be strings, numbers, booleans or null".to_owned()),
                }
            }
            c => out.push(c),
        }
    }
    if next.next().is_some() {
        return Err("more values than placeholders".to_owned());
    }
    Ok(out)
}
