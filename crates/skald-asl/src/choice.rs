//! Choice rules: parsing every comparator (and its `…Path` form), the `Is…` tests,
//! `StringMatches`, `And`/`Or`/`Not`, and evaluating them. A comparison of values of the wrong
//! type is false; a `Variable` that matches nothing is a `States.Runtime` error except for
//! `IsPresent`, which is then false.

use serde_json::Value;

use crate::error::StateError;
use crate::path::{Env, Path};
use crate::template::Template;
use crate::time::parse_comparable;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    StringEquals,
    StringLessThan,
    StringGreaterThan,
    StringLessThanEquals,
    StringGreaterThanEquals,
    StringMatches,
    NumericEquals,
    NumericLessThan,
    NumericGreaterThan,
    NumericLessThanEquals,
    NumericGreaterThanEquals,
    BooleanEquals,
    TimestampEquals,
    TimestampLessThan,
    TimestampGreaterThan,
    TimestampLessThanEquals,
    TimestampGreaterThanEquals,
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
    Pattern,
    Test,
}

const OPS: &[(&str, Op, Kind)] = &[
    ("StringEquals", Op::StringEquals, Kind::String),
    ("StringLessThan", Op::StringLessThan, Kind::String),
    ("StringGreaterThan", Op::StringGreaterThan, Kind::String),
    ("StringLessThanEquals", Op::StringLessThanEquals, Kind::String),
    ("StringGreaterThanEquals", Op::StringGreaterThanEquals, Kind::String),
    ("StringMatches", Op::StringMatches, Kind::Pattern),
    ("NumericEquals", Op::NumericEquals, Kind::Numeric),
    ("NumericLessThan", Op::NumericLessThan, Kind::Numeric),
    ("NumericGreaterThan", Op::NumericGreaterThan, Kind::Numeric),
    ("NumericLessThanEquals", Op::NumericLessThanEquals, Kind::Numeric),
    ("NumericGreaterThanEquals", Op::NumericGreaterThanEquals, Kind::Numeric),
    ("BooleanEquals", Op::BooleanEquals, Kind::Boolean),
    ("TimestampEquals", Op::TimestampEquals, Kind::Timestamp),
    ("TimestampLessThan", Op::TimestampLessThan, Kind::Timestamp),
    ("TimestampGreaterThan", Op::TimestampGreaterThan, Kind::Timestamp),
    ("TimestampLessThanEquals", Op::TimestampLessThanEquals, Kind::Timestamp),
    ("TimestampGreaterThanEquals", Op::TimestampGreaterThanEquals, Kind::Timestamp),
    ("IsNull", Op::IsNull, Kind::Test),
    ("IsPresent", Op::IsPresent, Kind::Test),
    ("IsNumeric", Op::IsNumeric, Kind::Test),
    ("IsString", Op::IsString, Kind::Test),
    ("IsBoolean", Op::IsBoolean, Kind::Test),
    ("IsTimestamp", Op::IsTimestamp, Kind::Test),
];

/// What a comparison compares the variable with.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A literal.
    Value(Value),
    /// The `…Path` form: a value selected at evaluation time.
    Path(Path),
}

/// A boolean expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    /// All must hold.
    And(Vec<Rule>),
    /// One must hold.
    Or(Vec<Rule>),
    /// Must not hold.
    Not(Box<Rule>),
    /// `Variable` compared with an operand.
    Compare {
        /// The value tested.
        variable: Path,
        /// The comparator.
        op: Op,
        /// The other side.
        operand: Operand,
    },
}

/// A top-level element of `Choices`.
#[derive(Clone, Debug, PartialEq)]
pub struct Branch {
    /// The condition.
    pub rule: Rule,
    /// Where to go when it holds.
    pub next: String,
    /// Variables to assign when it is taken.
    pub assign: Option<Template>,
}

/// Parses a rule at `pointer`; `top` rules carry `Next` (and may carry `Assign`), nested ones may
/// not. Problems go to `errors` as (pointer, message).
pub fn parse_rule(value: &Value, pointer: &str, top: bool, errors: &mut Vec<(String, String)>) -> Option<Rule> {
    let Some(obj) = value.as_object() else {
        errors.push((pointer.to_owned(), "a choice rule must be an object".into()));
        return None;
    };
    for key in obj.keys() {
        let allowed = matches!(key.as_str(), "Variable" | "And" | "Or" | "Not" | "Comment")
            || (top && matches!(key.as_str(), "Next" | "Assign"))
            || op_of(key).is_some();
        if !allowed {
            let why = if key == "Next" {
                "only top-level choice rules may have Next".to_owned()
            } else {
                format!("unknown field {key:?} in a choice rule")
            };
            errors.push((format!("{pointer}/{key}"), why));
        }
    }
    let boolean: Vec<&str> = ["And", "Or", "Not"].into_iter().filter(|k| obj.contains_key(*k)).collect();
    let comparators: Vec<&String> = obj.keys().filter(|k| op_of(k).is_some()).collect();
    if boolean.len() + comparators.len() != 1 {
        errors.push((pointer.to_owned(), "a choice rule must have exactly one of And, Or, Not or a comparator".into()));
        return None;
    }
    if let Some(&b) = boolean.first() {
        if obj.contains_key("Variable") {
            errors.push((format!("{pointer}/Variable"), format!("a rule with {b} may not have Variable")));
        }
        let here = format!("{pointer}/{b}");
        if b == "Not" {
            return parse_rule(&obj["Not"], &here, false, errors).map(|r| Rule::Not(Box::new(r)));
        }
        let Some(items) = obj[b].as_array().filter(|a| !a.is_empty()) else {
            errors.push((here, format!("{b} must be a non-empty array of rules")));
            return None;
        };
        let rules: Vec<Option<Rule>> =
            items.iter().enumerate().map(|(i, r)| parse_rule(r, &format!("{here}/{i}"), false, errors)).collect();
        let rules: Vec<Rule> = rules.into_iter().collect::<Option<_>>()?;
        return Some(if b == "And" { Rule::And(rules) } else { Rule::Or(rules) });
    }
    let key = comparators[0].as_str();
    let (op, kind, is_path) = op_of(key)?;
    let here = format!("{pointer}/{key}");
    let variable = match obj.get("Variable").map(|v| v.as_str()) {
        Some(Some(text)) => match Path::parse(text) {
            Ok(p) => p,
            Err(e) => {
                errors.push((format!("{pointer}/Variable"), e));
                return None;
            }
        },
        Some(None) => {
            errors.push((format!("{pointer}/Variable"), "Variable must be a path string".into()));
            return None;
        }
        None => {
            errors.push((format!("{pointer}/Variable"), format!("{key} needs a Variable")));
            return None;
        }
    };
    let raw = &obj[key];
    let operand = if is_path {
        match raw.as_str().map(Path::parse) {
            Some(Ok(p)) => Operand::Path(p),
            Some(Err(e)) => {
                errors.push((here, e));
                return None;
            }
            None => {
                errors.push((here, format!("{key} must be a path string")));
                return None;
            }
        }
    } else {
        let ok = match kind {
            Kind::String | Kind::Pattern => raw.is_string(),
            Kind::Numeric => raw.is_number(),
            Kind::Boolean | Kind::Test => raw.is_boolean(),
            Kind::Timestamp => raw.as_str().and_then(parse_comparable).is_some(),
        };
        if !ok {
            let want = match kind {
                Kind::String | Kind::Pattern => "a string",
                Kind::Numeric => "a number",
                Kind::Boolean | Kind::Test => "a boolean",
                Kind::Timestamp => "an RFC 3339 timestamp string",
            };
            errors.push((here, format!("{key} must be {want}")));
            return None;
        }
        Operand::Value(raw.clone())
    };
    Some(Rule::Compare { variable, op, operand })
}

/// The operator a key names, its kind, and whether it is the `…Path` form.
fn op_of(key: &str) -> Option<(Op, Kind, bool)> {
    let (base, is_path) = match key.strip_suffix("Path") {
        Some(b) => (b, true),
        None => (key, false),
    };
    let &(_, op, kind) = OPS.iter().find(|(name, _, _)| *name == base)?;
    if is_path && matches!(kind, Kind::Test | Kind::Pattern) {
        return None;
    }
    Some((op, kind, is_path))
}

impl Rule {
    /// Whether the rule holds for `env`.
    pub fn evaluate(&self, env: &Env<'_>) -> Result<bool, StateError> {
        match self {
            Rule::And(rules) => {
                for r in rules {
                    if !r.evaluate(env)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rules) => {
                for r in rules {
                    if r.evaluate(env)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(r) => Ok(!r.evaluate(env)?),
            Rule::Compare { variable, op, operand } => {
                let value = variable.select(env)?;
                if *op == Op::IsPresent {
                    // An indefinite path is present when it matched something.
                    let empty_match =
                        matches!(&value, Some(Value::Array(a)) if a.is_empty()) && !variable.is_definite();
                    let present = value.is_some() && !empty_match;
                    return Ok(present == (operand_value(operand, env)? == Value::Bool(true)));
                }
                let value = value.ok_or_else(|| {
                    StateError::runtime(format!(
                        "Invalid path {:?}: the choice state's condition path references an invalid value",
                        variable.as_str()
                    ))
                })?;
                let other = operand_value(operand, env)?;
                Ok(compare(*op, &value, &other))
            }
        }
    }
}

fn operand_value(operand: &Operand, env: &Env<'_>) -> Result<Value, StateError> {
    match operand {
        Operand::Value(v) => Ok(v.clone()),
        Operand::Path(p) => p.evaluate(env),
    }
}

fn compare(op: Op, a: &Value, b: &Value) -> bool {
    let test = |holds: bool| b.as_bool().map(|want| want == holds).unwrap_or(false);
    match op {
        Op::IsNull => test(a.is_null()),
        Op::IsNumeric => test(a.is_number()),
        Op::IsString => test(a.is_string()),
        Op::IsBoolean => test(a.is_boolean()),
        Op::IsTimestamp => test(a.as_str().and_then(parse_comparable).is_some()),
        Op::IsPresent => test(true),
        Op::StringMatches => match (a.as_str(), b.as_str()) {
            (Some(s), Some(p)) => glob_matches(p, s),
            _ => false,
        },
        Op::BooleanEquals => matches!((a, b), (Value::Bool(x), Value::Bool(y)) if x == y),
        Op::StringEquals
        | Op::StringLessThan
        | Op::StringGreaterThan
        | Op::StringLessThanEquals
        | Op::StringGreaterThanEquals => match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => ordering_holds(op, x.cmp(y)),
            _ => false,
        },
        Op::NumericEquals
        | Op::NumericLessThan
        | Op::NumericGreaterThan
        | Op::NumericLessThanEquals
        | Op::NumericGreaterThanEquals => match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let ord = match (x.as_i64(), y.as_i64()) {
                    (Some(i), Some(j)) => Some(i.cmp(&j)),
                    _ => x.as_f64().zip(y.as_f64()).and_then(|(f, g)| f.partial_cmp(&g)),
                };
                ord.is_some_and(|o| ordering_holds(op, o))
            }
            _ => false,
        },
        Op::TimestampEquals
        | Op::TimestampLessThan
        | Op::TimestampGreaterThan
        | Op::TimestampLessThanEquals
        | Op::TimestampGreaterThanEquals => {
            match (a.as_str().and_then(parse_comparable), b.as_str().and_then(parse_comparable)) {
                (Some(x), Some(y)) => ordering_holds(op, x.cmp(&y)),
                _ => false,
            }
        }
    }
}

fn ordering_holds(op: Op, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::StringEquals | Op::NumericEquals | Op::TimestampEquals => ord == Equal,
        Op::StringLessThan | Op::NumericLessThan | Op::TimestampLessThan => ord == Less,
        Op::StringGreaterThan | Op::NumericGreaterThan | Op::TimestampGreaterThan => ord == Greater,
        Op::StringLessThanEquals | Op::NumericLessThanEquals | Op::TimestampLessThanEquals => ord != Greater,
        Op::StringGreaterThanEquals | Op::NumericGreaterThanEquals | Op::TimestampGreaterThanEquals => ord != Less,
        _ => false,
    }
}

/// `StringMatches`: `*` matches any run of characters; `\*` a literal star; `\\` a backslash.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    #[derive(PartialEq)]
    enum Tok {
        Star,
        Ch(char),
    }
    let mut toks = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => toks.push(Tok::Ch(it.next().unwrap_or('\\'))),
            '*' => toks.push(Tok::Star),
            c => toks.push(Tok::Ch(c)),
        }
    }
    let s: Vec<char> = text.chars().collect();
    // Iterative wildcard matching with backtracking to the last star.
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match toks.get(p) {
            Some(Tok::Ch(c)) if *c == s[i] => {
                p += 1;
                i += 1;
            }
            Some(Tok::Star) => {
                star = Some((p, i));
                p += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|t| *t == Tok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches("log-*.txt", "log-2024.txt"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(!glob_matches("a*b", "acd"));
        assert!(glob_matches("a\\*b", "a*b"));
        assert!(!glob_matches("a\\*b", "axb"));
        assert!(glob_matches("x\\\\y", "x\\y"));
    }
}
