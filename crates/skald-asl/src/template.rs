//! Payload templates: the JSON of `Parameters`, `ResultSelector`, `ItemSelector` and `Assign`,
//! where a key ending in `.$` takes its value from a path or an intrinsic call and loses the
//! suffix. Templates are compiled when the definition is parsed, so bad paths and bad intrinsic
//! syntax are validation errors with a pointer to the key.

use serde_json::{Map, Value};

use crate::error::StateError;
use crate::intrinsics::{self, Call};
use crate::path::{Env, Path};

/// A `.$` value: a path or an intrinsic call.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `$.a`, `$$.Execution.Id`, `$var.b`, …
    Path(Path),
    /// `States.Format(…)`, …
    Call(Call),
}

impl Expr {
    /// Compiles a `.$` value.
    pub fn parse(text: &str) -> Result<Expr, String> {
        if intrinsics::looks_like_call(text) {
            intrinsics::parse(text).map(Expr::Call)
        } else {
            Path::parse(text).map(Expr::Path)
        }
    }

    /// Evaluates against `env`; a definite path that matches nothing is `States.Runtime`.
    pub fn evaluate(&self, env: &mut Env<'_>) -> Result<Value, StateError> {
        match self {
            Expr::Path(p) => p.evaluate(env),
            Expr::Call(c) => c.evaluate(env),
        }
    }
}

/// A compiled payload template.
#[derive(Clone, Debug, PartialEq)]
pub enum Template {
    /// Copied as written.
    Literal(Value),
    /// An object; each member a template.
    Object(Vec<(String, Template)>),
    /// An array; each element a template.
    Array(Vec<Template>),
    /// A `.$` value.
    Expr(Expr),
}

impl Template {
    /// Compiles `value`; problems are pushed to `errors` as (JSON pointer, message).
    pub fn parse(value: &Value, pointer: &str, errors: &mut Vec<(String, String)>) -> Template {
        match value {
            Value::Object(map) => {
                let mut members = Vec::with_capacity(map.len());
                for (key, v) in map {
                    let here = format!("{pointer}/{}", escape_pointer(key));
                    if let Some(name) = key.strip_suffix(".$") {
                        let Some(text) = v.as_str() else {
                            errors.push((
                                here,
                                format!("the value of {key:?} must be a string (a path or an intrinsic function)"),
                            ));
                            continue;
                        };
                        match Expr::parse(text) {
                            Ok(expr) => members.push((name.to_owned(), Template::Expr(expr))),
                            Err(e) => errors.push((here, e)),
                        }
                    } else {
                        members.push((key.clone(), Template::parse(v, &here, errors)));
                    }
                }
                if members.iter().all(|(_, t)| matches!(t, Template::Literal(_))) && members.len() == map.len() {
                    return Template::Literal(value.clone());
                }
                Template::Object(members)
            }
            Value::Array(items) => {
                let parts: Vec<Template> = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Template::parse(v, &format!("{pointer}/{i}"), errors))
                    .collect();
                if parts.iter().all(|t| matches!(t, Template::Literal(_))) {
                    return Template::Literal(value.clone());
                }
                Template::Array(parts)
            }
            other => Template::Literal(other.clone()),
        }
    }

    /// Builds the payload.
    pub fn evaluate(&self, env: &mut Env<'_>) -> Result<Value, StateError> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Expr(e) => e.evaluate(env)?,
            Template::Array(items) => Value::Array(items.iter().map(|t| t.evaluate(env)).collect::<Result<_, _>>()?),
            Template::Object(members) => {
                let mut out = Map::new();
                for (k, t) in members {
                    out.insert(k.clone(), t.evaluate(env)?);
                }
                Value::Object(out)
            }
        })
    }

    /// Whether any `.$` path in the template (or in an intrinsic's arguments) satisfies `pred`.
    pub fn any_path(&self, pred: &dyn Fn(&crate::path::Path) -> bool) -> bool {
        fn call_has(c: &Call, pred: &dyn Fn(&crate::path::Path) -> bool) -> bool {
            c.args().iter().any(|a| match a {
                crate::intrinsics::Arg::Path(p) => pred(p),
                crate::intrinsics::Arg::Call(c) => call_has(c, pred),
                _ => false,
            })
        }
        match self {
            Template::Literal(_) => false,
            Template::Expr(Expr::Path(p)) => pred(p),
            Template::Expr(Expr::Call(c)) => call_has(c, pred),
            Template::Array(items) => items.iter().any(|t| t.any_path(pred)),
            Template::Object(members) => members.iter().any(|(_, t)| t.any_path(pred)),
        }
    }

    /// The top-level member names of an object template (for `Assign`).
    pub fn member_names(&self) -> Vec<String> {
        match self {
            Template::Object(m) => m.iter().map(|(k, _)| k.clone()).collect(),
            Template::Literal(Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

/// Escapes a JSON pointer token (`~` → `~0`, `/` → `~1`).
pub fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use serde_json::json;

    #[test]
    fn builds_payloads_and_reports_bad_keys() {
        let mut errors = Vec::new();
        let t = Template::parse(
            &json!({"flagged": true, "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"}, "list": [{"x.$": "$.x"}], "f.$": "States.Format('{}!', $.x)"}),
            "/P",
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let input = json!({"vals": [0, 10, 20, 30, 40, 50], "x": "hi"});
        let mut rng = Rng::new(0);
        let ctx = |_: crate::path::ContextNeed<'_>| Value::Null;
        let var = |_: &str| None;
        let mut env = Env { input: &input, context: &ctx, variable: &var, rng: &mut rng };
        assert_eq!(
            t.evaluate(&mut env).unwrap(),
            json!({"flagged": true, "parts": {"first": 0, "last3": [30, 40, 50]}, "list": [{"x": "hi"}], "f": "hi!"})
        );
        Template::parse(&json!({"a.$": 3, "b": {"c.$": "nope"}, "d.$": "States.Nope()"}), "/P", &mut errors);
        let pointers: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(pointers, ["/P/a.$", "/P/b/c.$", "/P/d.$"]);
    }
}
