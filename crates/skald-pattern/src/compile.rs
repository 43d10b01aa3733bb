//! Turns pattern JSON into the compiled [`tree`](crate::tree), or a [`PatternError`] that points
//! at the offending part.
//!
//! The walk keeps the JSON pointer of the current position, so every error carries one. Limits
//! are checked as the walk goes: depth ([`PATTERN_DEPTH_MAX`]), fields per object
//! ([`PATTERN_FIELDS_MAX`]), total values ([`PATTERN_VALUES_MAX`]) and string length
//! ([`PATTERN_STRING_BYTES_MAX`]).

use serde_json::{Map, Value};

use crate::error::{PatternError, PatternErrorKind};
use crate::number::Num;
use crate::text::{lowercase, WildToken};
use crate::tree::{Field, Leaf, Node, Object, Range, Test, Top};
use crate::{PATTERN_DEPTH_MAX, PATTERN_FIELDS_MAX, PATTERN_STRING_BYTES_MAX, PATTERN_VALUES_MAX};

/// The top-level fields a pattern may name, in the order the docs list them.
pub(crate) const ENVELOPE_FIELDS: [&str; 6] = ["stream", "category", "type", "timestamp", "data", "metadata"];

/// The operators a value list accepts.
const OPERATORS: &str = "prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists";

type Result<T> = std::result::Result<T, PatternError>;

/// Compiles a whole pattern.
pub(crate) fn compile(pattern: &Value) -> Result<Top> {
    let mut c = Compiler { path: Vec::new(), values: 0 };
    match pattern {
        Value::Object(map) => c.top(map, 0),
        other => Err(c.syntax(format!(
            "a pattern is a JSON object such as {{\"type\": [\"OrderPlaced\"]}}, not {}",
            describe(other)
        ))),
    }
}

struct Compiler {
    /// Reference tokens of the current position, unescaped.
    path: Vec<String>,
    /// Values and operators compiled so far, against [`PATTERN_VALUES_MAX`].
    values: usize,
}

impl Compiler {
    fn pointer(&self) -> String {
        self.path.iter().map(|token| format!("/{}", token.replace('~', "~0").replace('/', "~1"))).collect()
    }

    fn error(&self, kind: PatternErrorKind, message: impl Into<String>) -> PatternError {
        PatternError::new(kind, self.pointer(), message)
    }

    fn syntax(&self, message: impl Into<String>) -> PatternError {
        self.error(PatternErrorKind::Syntax, message)
    }

    /// Runs `f` one step deeper in the pointer.
    fn at<T>(&mut self, token: impl ToString, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.path.push(token.to_string());
        let result = f(self);
        if result.is_ok() {
            self.path.pop();
        }
        result
    }

    fn check_depth(&self, depth: usize) -> Result<()> {
        if depth > PATTERN_DEPTH_MAX {
            return Err(self.error(
                PatternErrorKind::TooLarge,
                format!("the pattern nests deeper than PATTERN_DEPTH_MAX ({PATTERN_DEPTH_MAX}) objects; flatten it"),
            ));
        }
        Ok(())
    }

    fn check_fields(&self, map: &Map<String, Value>) -> Result<()> {
        let fields = map.keys().filter(|k| *k != "$or").count();
        if fields > PATTERN_FIELDS_MAX {
            return Err(self.error(
                PatternErrorKind::TooLarge,
                format!("this object names {fields} fields, over PATTERN_FIELDS_MAX ({PATTERN_FIELDS_MAX})"),
            ));
        }
        Ok(())
    }

    /// Counts one value or operator against [`PATTERN_VALUES_MAX`].
    fn count_value(&mut self) -> Result<()> {
        self.values += 1;
        if self.values > PATTERN_VALUES_MAX {
            return Err(self.error(
                PatternErrorKind::TooLarge,
                format!(
                    "the pattern has more than PATTERN_VALUES_MAX ({PATTERN_VALUES_MAX}) values and operators; \
                     split it into several subscriptions"
                ),
            ));
        }
        Ok(())
    }

    fn string(&mut self, value: &Value, what: &str) -> Result<String> {
        match value {
            Value::String(s) if s.len() > PATTERN_STRING_BYTES_MAX => Err(self.error(
                PatternErrorKind::TooLarge,
                format!("{what} is {} bytes long, over PATTERN_STRING_BYTES_MAX ({PATTERN_STRING_BYTES_MAX})", s.len()),
            )),
            Value::String(s) => Ok(s.clone()),
            other => Err(self.syntax(format!("{what} must be a string, not {}", describe(other)))),
        }
    }

    // ----- objects -----

    fn top(&mut self, map: &Map<String, Value>, depth: usize) -> Result<Top> {
        self.check_depth(depth)?;
        if map.is_empty() && depth > 0 {
            return Err(self.syntax("an empty alternative matches every event; remove it or give it a field"));
        }
        let mut top = Top::default();
        for (key, value) in map {
            self.at(key, |c| {
                match key.as_str() {
                    "stream" => top.stream = Some(c.envelope_text(key, value)?),
                    "category" => top.category = Some(c.envelope_text(key, value)?),
                    "type" => top.event_type = Some(c.envelope_text(key, value)?),
                    "timestamp" => top.timestamp = Some(c.envelope_text(key, value)?),
                    "data" => top.data = Some(c.node(value, depth + 1)?),
                    "metadata" => top.metadata = Some(c.node(value, depth + 1)?),
                    "$or" => {
                        let alternatives = c.alternatives(value)?;
                        top.any_of = alternatives
                            .iter()
                            .enumerate()
                            .map(|(i, alt)| c.at(i, |c| c.top(alt, depth + 1)))
                            .collect::<Result<_>>()?;
                    }
                    _ => return Err(c.unknown_field(key)),
                }
                Ok(())
            })?;
        }
        Ok(top)
    }

    fn unknown_field(&self, key: &str) -> PatternError {
        let hint = match key {
            "detail" => " Event content is under `data`.".to_string(),
            "detail-type" | "event_type" | "eventType" => " The event type is `type`.".to_string(),
            "time" => " The event time is `timestamp`.".to_string(),
            _ => String::new(),
        };
        self.error(
            PatternErrorKind::UnknownField,
            format!(
                "`{key}` is not a field of the event envelope; use {}, or $or.{hint}",
                ENVELOPE_FIELDS.map(|f| format!("`{f}`")).join(", ")
            ),
        )
    }

    /// `stream`, `category`, `type`, `timestamp`: strings, so only a value list makes sense.
    fn envelope_text(&mut self, key: &str, value: &Value) -> Result<Leaf> {
        match value {
            Value::Array(items) => self.leaf(items),
            Value::Object(_) => Err(self.syntax(format!(
                "`{key}` is a string field with no nested fields, so its pattern is a list of values such as \
                 [\"a\", {{\"prefix\": \"b\"}}]; put an operator object inside a list"
            ))),
            other => Err(self.syntax(format!(
                "`{key}` takes a list of values, not {}; wrap it in a list: [{other}]",
                describe(other)
            ))),
        }
    }

    fn alternatives<'v>(&self, value: &'v Value) -> Result<Vec<&'v Map<String, Value>>> {
        let Value::Array(items) = value else {
            return Err(self.syntax(format!(
                "$or takes a list of patterns, such as [{{\"type\": [\"A\"]}}, {{\"type\": [\"B\"]}}], not {}",
                describe(value)
            )));
        };
        if items.is_empty() {
            return Err(self.syntax("$or needs at least one pattern in its list"));
        }
        let mut maps = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::Object(map) => maps.push(map),
                other => {
                    return Err(PatternError::new(
                        PatternErrorKind::Syntax,
                        format!("{}/{i}", self.pointer()),
                        format!("each $or alternative is a pattern object, not {}", describe(other)),
                    ))
                }
            }
        }
        Ok(maps)
    }

    /// The pattern for one JSON value: nested fields or a value list.
    fn node(&mut self, value: &Value, depth: usize) -> Result<Node> {
        match value {
            Value::Object(map) => self.object(map, depth).map(Node::Object),
            Value::Array(items) => self.leaf(items).map(Node::Leaf),
            other => Err(self.syntax(format!(
                "a field's pattern is a list of values or an object of nested fields, not {}; \
                 wrap the value in a list: [{other}]",
                describe(other)
            ))),
        }
    }

    fn object(&mut self, map: &Map<String, Value>, depth: usize) -> Result<Object> {
        self.check_depth(depth)?;
        self.check_fields(map)?;
        if map.is_empty() {
            return Err(self.syntax("an empty object matches nothing in particular; name a field or remove it"));
        }
        let mut fields = Vec::with_capacity(map.len());
        let mut any_of = Vec::new();
        for (key, value) in map {
            self.at(key, |c| {
                if key == "$or" {
                    let alternatives = c.alternatives(value)?;
                    for (i, alt) in alternatives.into_iter().enumerate() {
                        any_of.push(c.at(i, |c| c.object(alt, depth + 1))?);
                    }
                } else {
                    fields.push(Field { name: key.clone(), node: c.node(value, depth + 1)? });
                }
                Ok(())
            })?;
        }
        fields.sort_by(|a, b| a.name.cmp(&b.name));
        let missing_ok = fields.iter().all(|f| f.node.missing_ok())
            && (any_of.is_empty() || any_of.iter().any(|alt: &Object| alt.missing_ok));
        Ok(Object { fields, any_of, missing_ok })
    }

    // ----- value lists -----

    fn leaf(&mut self, items: &[Value]) -> Result<Leaf> {
        if items.is_empty() {
            return Err(self.syntax("an empty list matches nothing; list at least one value or operator"));
        }
        let mut tests = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            tests.push(self.at(i, |c| c.test(item))?);
        }
        let missing_ok = tests.iter().any(|t| matches!(t, Test::Exists(false)));
        Ok(Leaf { tests, missing_ok })
    }

    fn test(&mut self, item: &Value) -> Result<Test> {
        self.count_value()?;
        match item {
            Value::String(_) => Ok(Test::Str(self.string(item, "a value")?)),
            Value::Number(n) => self.number(n).map(Test::Num),
            Value::Bool(b) => Ok(Test::Bool(*b)),
            Value::Null => Ok(Test::Null),
            Value::Array(_) => Err(self.syntax("a value list cannot contain another list; flatten it into one list")),
            Value::Object(map) => self.operator(map),
        }
    }

    fn number(&self, n: &serde_json::Number) -> Result<Num> {
        Num::from_json(n).ok_or_else(|| self.syntax(format!("{n} is not a finite number")))
    }

    /// An operator object such as `{"prefix": "a"}`: exactly one key.
    fn operator(&mut self, map: &Map<String, Value>) -> Result<Test> {
        let mut entries = map.iter();
        let (Some((name, arg)), None) = (entries.next(), entries.next()) else {
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            return Err(self.syntax(if keys.is_empty() {
                format!("an empty object in a value list; use an operator: {OPERATORS}")
            } else {
                format!(
                    "an operator object holds exactly one operator, but this one has {}; \
                     put each in its own list element",
                    keys.join(", ")
                )
            }));
        };
        self.at(name, |c| match name.as_str() {
            "prefix" => c.affix(arg, "prefix", Test::Prefix, Test::PrefixIgnoreCase),
            "suffix" => c.affix(arg, "suffix", Test::Suffix, Test::SuffixIgnoreCase),
            "equals-ignore-case" => Ok(Test::EqualsIgnoreCase(lowercase(&c.string(arg, "equals-ignore-case")?))),
            "wildcard" => c.wildcard(arg).map(Test::Wildcard),
            "anything-but" => c.anything_but(arg),
            "numeric" => c.numeric(arg).map(Test::Numeric),
            "exists" => match arg {
                Value::Bool(b) => Ok(Test::Exists(*b)),
                other => Err(c.syntax(format!("exists takes true or false, not {}", describe(other)))),
            },
            "cidr" => Err(c.error(
                PatternErrorKind::Unsupported,
                "cidr matching is not supported by Skald; match the address with prefix or wildcard",
            )),
            "contains" => Err(c.error(
                PatternErrorKind::UnknownOperator,
                "EventBridge has no contains operator; use {\"wildcard\": \"*text*\"}",
            )),
            other => Err(c.error(
                PatternErrorKind::UnknownOperator,
                format!("unknown operator `{other}`; the operators are {OPERATORS}"),
            )),
        })
    }

    /// `prefix`/`suffix`: a string, or `{"equals-ignore-case": string}`.
    fn affix(
        &mut self,
        arg: &Value,
        name: &str,
        exact: fn(String) -> Test,
        ignore_case: fn(String) -> Test,
    ) -> Result<Test> {
        match arg {
            Value::Object(map) if map.len() == 1 && map.contains_key("equals-ignore-case") => self
                .at("equals-ignore-case", |c| Ok(ignore_case(lowercase(&c.string(&map["equals-ignore-case"], name)?)))),
            Value::String(_) => Ok(exact(self.string(arg, name)?)),
            other => Err(self.syntax(format!(
                "{name} takes a string, or {{\"equals-ignore-case\": string}}, not {}",
                describe(other)
            ))),
        }
    }

    /// A wildcard: `*` matches any run of characters, `\*` a literal star, `\\` a backslash.
    fn wildcard(&mut self, arg: &Value) -> Result<Vec<WildToken>> {
        let text = self.string(arg, "wildcard")?;
        let mut tokens = Vec::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            let token = match c {
                '*' if tokens.last() == Some(&WildToken::Star) => {
                    return Err(self.syntax(format!(
                        "wildcard {text:?} has consecutive stars (**); one * already matches any run of characters"
                    )));
                }
                '*' => WildToken::Star,
                '\\' => match chars.next() {
                    Some(escaped @ ('*' | '\\')) => WildToken::Char(escaped),
                    _ => {
                        return Err(self.syntax(format!(
                            "wildcard {text:?}: a backslash escapes only * or \\; write \\\\ for a backslash"
                        )))
                    }
                },
                other => WildToken::Char(other),
            };
            tokens.push(token);
        }
        Ok(tokens)
    }

    /// `anything-but`: a value, a list of values, or a string operator.
    fn anything_but(&mut self, arg: &Value) -> Result<Test> {
        let value_test = |c: &mut Self, item: &Value| match item {
            Value::String(_) => Ok(Test::Str(c.string(item, "an anything-but value")?)),
            Value::Number(n) => c.number(n).map(Test::Num),
            other => Err(c.syntax(format!(
                "anything-but excludes strings and numbers, not {}; to exclude null use \
                 [{{\"exists\": true}}] with other conditions, or list the values you want",
                describe(other)
            ))),
        };
        let (excluded, strings_only) = match arg {
            Value::String(_) | Value::Number(_) => (vec![value_test(self, arg)?], false),
            Value::Array(items) if items.is_empty() => {
                return Err(self.syntax("anything-but with an empty list excludes nothing; list a value"))
            }
            Value::Array(items) => {
                let mut excluded = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    self.count_value()?;
                    excluded.push(self.at(i, |c| value_test(c, item))?);
                }
                (excluded, false)
            }
            Value::Object(map) if map.len() == 1 => {
                let (name, inner) = map.iter().next().expect("one entry");
                let excluded = self.at(name, |c| c.anything_but_operator(name, inner))?;
                (excluded, true)
            }
            other => {
                return Err(self.syntax(format!(
                    "anything-but takes a string, a number, a list of them, or one of {{\"prefix\": ..}}, \
                     {{\"suffix\": ..}}, {{\"equals-ignore-case\": ..}}, {{\"wildcard\": ..}}; not {}",
                    describe(other)
                )))
            }
        };
        Ok(Test::AnythingBut { excluded, strings_only })
    }

    /// The string operators inside anything-but; each takes a string or a list of strings.
    fn anything_but_operator(&mut self, name: &str, inner: &Value) -> Result<Vec<Test>> {
        if !matches!(name, "prefix" | "suffix" | "equals-ignore-case" | "wildcard") {
            return Err(self.error(
                PatternErrorKind::UnknownOperator,
                format!("anything-but does not take `{name}`; use prefix, suffix, equals-ignore-case or wildcard"),
            ));
        }
        let one = |c: &mut Self, item: &Value| -> Result<Test> {
            match name {
                "prefix" => Ok(Test::Prefix(c.string(item, "prefix")?)),
                "suffix" => Ok(Test::Suffix(c.string(item, "suffix")?)),
                "equals-ignore-case" => Ok(Test::EqualsIgnoreCase(lowercase(&c.string(item, "equals-ignore-case")?))),
                _ => c.wildcard(item).map(Test::Wildcard),
            }
        };
        match inner {
            Value::Array(items) if !items.is_empty() => {
                let mut tests = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    self.count_value()?;
                    tests.push(self.at(i, |c| one(c, item))?);
                }
                Ok(tests)
            }
            Value::Array(_) => Err(self.syntax(format!("anything-but {name} needs at least one string"))),
            _ => Ok(vec![one(self, inner)?]),
        }
    }

    /// `numeric`: `[op, n]` or `[lower_op, n, upper_op, m]`.
    fn numeric(&mut self, arg: &Value) -> Result<Range> {
        const USAGE: &str = "numeric takes [op, number] or a range [\">\" or \">=\", low, \"<\" or \"<=\", high], \
                             with op one of <, <=, =, >=, >";
        let Value::Array(items) = arg else {
            return Err(self.syntax(format!("{USAGE}; found {}", describe(arg))));
        };
        if items.len() != 2 && items.len() != 4 {
            return Err(self.syntax(format!("{USAGE}; this list has {} elements", items.len())));
        }
        let mut range = Range::default();
        for (pair, chunk) in items.chunks(2).enumerate() {
            let op = self.at(pair * 2, |c| match &chunk[0] {
                Value::String(op) if matches!(op.as_str(), "<" | "<=" | "=" | ">=" | ">") => Ok(op.as_str()),
                other => Err(c.syntax(format!("expected an operator (<, <=, =, >=, >), found {}", describe(other)))),
            })?;
            let bound = self.at(pair * 2 + 1, |c| match &chunk[1] {
                Value::Number(n) => c.number(n),
                other => Err(c.syntax(format!(
                    "numeric bounds are JSON numbers, found {}{}",
                    describe(other),
                    match other {
                        Value::String(s) if s.parse::<f64>().is_ok() => format!("; write {s} without quotes"),
                        _ => String::new(),
                    }
                ))),
            })?;
            let slot = match op {
                "=" if items.len() == 2 => {
                    range.lower = Some((bound, true));
                    range.upper = Some((bound, true));
                    continue;
                }
                "=" => None,
                ">" | ">=" => range.lower.is_none().then_some(&mut range.lower),
                _ => range.upper.is_none().then_some(&mut range.upper),
            };
            let Some(slot) = slot else {
                self.path.push((pair * 2).to_string());
                return Err(self.syntax(format!(
                    "a range has one lower bound (> or >=) and one upper bound (< or <=); `{op}` does not fit here"
                )));
            };
            *slot = Some((bound, op.len() == 2));
        }
        if let (Some((low, low_inclusive)), Some((high, high_inclusive))) = (range.lower, range.upper) {
            let empty = match low.compare(high) {
                Some(std::cmp::Ordering::Less) => false,
                Some(std::cmp::Ordering::Equal) => !(low_inclusive && high_inclusive),
                _ => true,
            };
            if empty {
                return Err(self.syntax("this numeric range is empty: the lower bound is not below the upper bound"));
            }
        }
        Ok(range)
    }
}

/// A short description of a JSON value for messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 40 => format!("a string ({} bytes)", s.len()),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}
