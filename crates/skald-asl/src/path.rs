//! Paths. A [`Path`] selects data (InputPath, OutputPath, ItemsPath, `.$` values, Choice
//! `Variable`, the `…Path` fields): an RFC 9535 JSONPath over the state input (`$`), the context
//! object (`$$`) or a variable (`$name`). A path without wildcards, slices, unions, filters or
//! descendant segments is *definite* and yields one value (an error when nothing matches);
//! any other path yields the array of what matched. A [`ReferencePath`] (ResultPath) names one
//! place in a document to write into: `$`, `.name`, `['name']` and `[index]` only.

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use crate::error::StateError;
use crate::rng::Rng;

/// What an expression is evaluated against.
pub struct Env<'a> {
    /// The document `$` refers to.
    pub input: &'a Value,
    /// Builds the context object `$$` (only when a path uses it), or the part of it that
    /// [`ContextNeed`] says the path can reach.
    pub context: &'a dyn Fn(ContextNeed<'_>) -> Value,
    /// Looks a variable up by name.
    pub variable: &'a dyn Fn(&str) -> Option<Value>,
    /// The execution's random generator (for `States.MathRandom` and `States.UUID`).
    pub rng: &'a mut Rng,
}

/// Which part of the context object `$$` a path can reach. Building the whole object for every
/// `$$.…` reference formatted timestamps and copied the execution input that few paths read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextNeed<'p> {
    /// The top-level member the path starts with (`Execution`, `State`, …); `None` when it may
    /// reach several (`$$`, `$$..Name`, `$$['State']`). Other members may be left out.
    pub section: Option<&'p str>,
    /// Whether the path may reach `$$.Execution.Input`; when false it may be left out.
    pub execution_input: bool,
}

impl<'p> ContextNeed<'p> {
    /// Everything.
    pub const ALL: ContextNeed<'static> = ContextNeed { section: None, execution_input: true };

    /// What the path `$$<rest>` can reach (`rest` is the text after `$$`).
    pub fn of(rest: &'p str) -> Self {
        let Some(member) = rest.strip_prefix('.').filter(|m| !m.starts_with('.')) else { return Self::ALL };
        let end = member.find(['.', '[']).unwrap_or(member.len());
        let (section, after) = member.split_at(end);
        if section.is_empty() || section == "*" {
            return Self::ALL;
        }
        // Only `.Execution.<member other than Input…>` is sure to miss the input.
        let execution_input =
            section == "Execution" && !(after.starts_with('.') && !after[1..].starts_with("Input") && after.len() > 1);
        ContextNeed { section: Some(section), execution_input }
    }
}

/// What a [`Path`] starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Root {
    /// `$`: the input.
    Input,
    /// `$$`: the context object.
    Context,
    /// `$name`: a variable.
    Variable(String),
}

/// A compiled JSONPath with its root.
#[derive(Clone, Debug)]
pub struct Path {
    raw: String,
    root: Root,
    query: JsonPath,
    definite: bool,
    /// The member names of a path made only of `.name` steps (`$.trip_id`, `$$.Execution.Name`),
    /// which [`Path::select`] walks without the query engine; `None` for any other path.
    members: Option<Box<[String]>>,
}

impl PartialEq for Path {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Path {
    /// Compiles `raw`; the error says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Path, String> {
        let (root, rest) = split_root(raw)?;
        let rest = normalize_names(&rest);
        let query = JsonPath::parse(&rest).map_err(|e| format!("invalid JSONPath {raw:?}: {e}"))?;
        let members = member_names(&rest);
        Ok(Path { raw: raw.to_owned(), root, definite: is_definite(&rest), query, members })
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// What the path starts from.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Whether the path selects at most one value.
    pub fn is_definite(&self) -> bool {
        self.definite
    }

    /// The selected value, or `None` when a definite path matches nothing. An indefinite path
    /// always yields an array.
    pub fn select(&self, env: &Env<'_>) -> Result<Option<Value>, StateError> {
        let owned;
        let target: &Value = match &self.root {
            Root::Input => env.input,
            Root::Context => {
                owned = (env.context)(ContextNeed::of(&self.raw[2..]));
                &owned
            }
            Root::Variable(name) => {
                owned = (env.variable)(name)
                    .ok_or_else(|| StateError::runtime(format!("variable ${name} is not defined")))?;
                &owned
            }
        };
        if let Some(members) = &self.members {
            // The query engine would collect a node list for the one value this reaches.
            let found = members.iter().try_fold(target, |value, name| value.get(name.as_str()));
            return Ok(found.cloned());
        }
        let nodes = self.query.query(target);
        if self.definite {
            Ok(nodes.all().into_iter().next().cloned())
        } else {
            Ok(Some(Value::Array(nodes.all().into_iter().cloned().collect())))
        }
    }

    /// The selected value; a definite path that matches nothing is a `States.Runtime` error.
    pub fn evaluate(&self, env: &Env<'_>) -> Result<Value, StateError> {
        self.select(env)?
            .ok_or_else(|| StateError::runtime(format!("the JSONPath {:?} could not be found in the input", self.raw)))
    }
}

fn split_root(raw: &str) -> Result<(Root, String), String> {
    if let Some(rest) = raw.strip_prefix("$$") {
        return Ok((Root::Context, format!("${rest}")));
    }
    let Some(rest) = raw.strip_prefix('$') else {
        return Err(format!("path {raw:?} must start with '$'"));
    };
    let name_len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    if name_len == 0 {
        return Ok((Root::Input, raw.to_owned()));
    }
    let name = &rest[..name_len];
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("path {raw:?}: a variable name may not start with a digit"));
    }
    Ok((Root::Variable(name.to_owned()), format!("${}", &rest[name_len..])))
}

/// Rewrites dot-notation member names that RFC 9535 shorthand does not allow but Step Functions
/// paths commonly use (`$.detail.delivery-partner`) into bracket notation (`$.detail['delivery-partner']`).
fn normalize_names(query: &str) -> String {
    let chars: Vec<char> = query.chars().collect();
    let mut out = String::with_capacity(query.len() + 8);
    let (mut i, mut depth, mut quote) = (0usize, 0usize, None::<char>);
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '.' if depth == 0 && chars.get(i + 1).is_some_and(|n| !matches!(n, '.' | '[' | '*')) => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && !matches!(chars[j], '.' | '[') {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                let shorthand = name.chars().next().is_some_and(|f| f.is_alphabetic() || f == '_' || !f.is_ascii())
                    && name.chars().all(|c| c.is_alphanumeric() || c == '_' || !c.is_ascii());
                if shorthand {
                    out.push('.');
                    out.push_str(&name);
                } else {
                    out.push_str("['");
                    out.push_str(&name.replace('\\', "\\\\").replace('\'', "\\'"));
                    out.push_str("']");
                }
                i = j;
                continue;
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The names of an RFC 9535 query (starting at `$`) made only of shorthand member steps
/// (`$.a.b_2`), or `None`.
fn member_names(query: &str) -> Option<Box<[String]>> {
    let rest = query.strip_prefix('$')?;
    if rest.is_empty() {
        return None;
    }
    let names = rest.strip_prefix('.')?.split('.');
    let shorthand = |name: &str| {
        name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    names.map(|name| shorthand(name).then(|| name.to_owned())).collect()
}

/// Whether an RFC 9535 query (starting at `$`) is singular: only name and index selectors.
fn is_definite(query: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let mut prev = '\0';
    let mut escaped = false;
    for c in query.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            prev = c;
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '*' | '?' => return false,
            ':' | ',' if depth > 0 => return false,
            '.' if prev == '.' => return false,
            _ => {}
        }
        prev = c;
    }
    true
}

/// One step of a [`ReferencePath`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// A path naming one place in a document, used to write a result into a state's input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferencePath {
    raw: String,
    steps: Vec<Step>,
}

impl ReferencePath {
    /// Parses `$`, `$.a.b`, `$['a b'][0]`, …; the error says what is wrong.
    pub fn parse(raw: &str) -> Result<ReferencePath, String> {
        let bad = |why: &str| format!("invalid reference path {raw:?}: {why}");
        let chars: Vec<char> = raw.chars().collect();
        if chars.first() != Some(&'$') {
            return Err(bad("must start with '$'"));
        }
        if chars.get(1) == Some(&'$') {
            return Err(bad("a reference path cannot point into the context object"));
        }
        let mut steps = Vec::new();
        let mut i = 1;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    let start = i + 1;
                    let mut j = start;
                    while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
                        j += 1;
                    }
                    let name: String = chars[start..j].iter().collect();
                    if name.is_empty() || name.contains(['*', '?', ' ', ']', '\'', '"', ':', ',', '@', '(', ')']) {
                        return Err(bad("expected a member name after '.'"));
                    }
                    steps.push(Step::Key(name));
                    i = j;
                }
                '[' => {
                    let close =
                        chars[i..].iter().position(|&c| c == ']').map(|p| p + i).ok_or_else(|| bad("unclosed '['"))?;
                    let inner: String = chars[i + 1..close].iter().collect();
                    let inner = inner.trim();
                    if let Some(q) = inner.chars().next().filter(|c| *c == '\'' || *c == '"') {
                        if inner.len() < 2 || !inner.ends_with(q) {
                            return Err(bad("unterminated quoted name"));
                        }
                        steps.push(Step::Key(inner[1..inner.len() - 1].to_owned()));
                    } else if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
                        steps.push(Step::Index(inner.parse().map_err(|_| bad("index too large"))?));
                    } else {
                        return Err(bad("only names and non-negative indexes may appear in brackets"));
                    }
                    i = close + 1;
                }
                _ => return Err(bad("expected '.' or '['")),
            }
        }
        Ok(ReferencePath { raw: raw.to_owned(), steps })
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// `input` with `value` written at this path. Missing objects on the way are created; a step
    /// through a non-object (or an index past an array's end) is a `States.Runtime` error.
    pub fn write(&self, input: Value, value: Value) -> Result<Value, StateError> {
        if self.steps.is_empty() {
            return Ok(value);
        }
        let mut root = input;
        let mut cursor = &mut root;
        for (n, step) in self.steps.iter().enumerate() {
            let last = n + 1 == self.steps.len();
            let fail = || {
                StateError::runtime(format!(
                    "unable to apply ResultPath {:?}: the input does not have the shape the path needs",
                    self.raw
                ))
            };
            cursor = match step {
                Step::Key(k) => {
                    let obj: &mut Map<String, Value> = cursor.as_object_mut().ok_or_else(fail)?;
                    if last {
                        obj.insert(k.clone(), value);
                        return Ok(root);
                    }
                    obj.entry(k.clone()).or_insert_with(|| Value::Object(Map::new()))
                }
                Step::Index(i) => {
                    let arr = cursor.as_array_mut().ok_or_else(fail)?;
                    let slot = arr.get_mut(*i).ok_or_else(fail)?;
                    if last {
                        *slot = value;
                        return Ok(root);
                    }
                    slot
                }
            };
        }
        // The loop returns on its last step; steps is not empty.
        Ok(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(path: &str, input: &Value) -> Result<Value, StateError> {
        let mut rng = Rng::new(1);
        let ctx = |_: ContextNeed<'_>| json!({"Execution": {"Name": "n"}});
        let var = |name: &str| (name == "x").then(|| json!({"y": 5}));
        let env = Env { input, context: &ctx, variable: &var, rng: &mut rng };
        Path::parse(path).unwrap().evaluate(&env)
    }

    #[test]
    fn a_context_path_says_which_part_it_reaches() {
        let part = |section, execution_input| ContextNeed { section: Some(section), execution_input };
        assert_eq!(ContextNeed::of(".Execution.Name"), part("Execution", false));
        assert_eq!(ContextNeed::of(".Execution.StartTime"), part("Execution", false));
        assert_eq!(ContextNeed::of(".Execution.Input.trip"), part("Execution", true));
        assert_eq!(ContextNeed::of(".Execution"), part("Execution", true));
        assert_eq!(ContextNeed::of(".Execution['Name']"), part("Execution", true));
        assert_eq!(ContextNeed::of(".Execution."), part("Execution", true));
        assert_eq!(ContextNeed::of(".State.EnteredTime"), part("State", false));
        assert_eq!(ContextNeed::of(".Map.Item.Value"), part("Map", false));
        for whole in ["", "..Name", "['State']", ".*", ".", "[*]"] {
            assert_eq!(ContextNeed::of(whole), ContextNeed::ALL, "{whole:?}");
        }
    }

    #[test]
    fn selects_from_input_context_and_variables() {
        let input = json!({"a": {"b": [1, 2, 3]}, "c": [{"d": 1}, {"d": 2}]});
        assert_eq!(eval("$", &input).unwrap(), input);
        assert_eq!(eval("$.a.b[1]", &input).unwrap(), json!(2));
        assert_eq!(eval("$.c[*].d", &input).unwrap(), json!([1, 2]));
        assert_eq!(eval("$..d", &input).unwrap(), json!([1, 2]));
        assert_eq!(eval("$.a.b[0:2]", &input).unwrap(), json!([1, 2]));
        assert_eq!(eval("$.c[?@.d > 1]", &input).unwrap(), json!([{"d": 2}]));
        assert_eq!(eval("$$.Execution.Name", &input).unwrap(), json!("n"));
        assert_eq!(eval("$x.y", &input).unwrap(), json!(5));
        assert_eq!(eval("$x", &input).unwrap(), json!({"y": 5}));
        assert!(eval("$.missing", &input).is_err());
        assert!(eval("$nope", &input).is_err());
        assert_eq!(eval("$.missing[*]", &input).unwrap(), json!([]));
        let odd = json!({"delivery-partner": {"x y": 1, "0k": 2}});
        assert_eq!(eval("$.delivery-partner['x y']", &odd).unwrap(), json!(1));
        assert_eq!(eval("$.delivery-partner.0k", &odd).unwrap(), json!(2));
    }

    #[test]
    fn member_paths_select_what_the_query_engine_selects() {
        let input = json!({"a": {"b": [1, 2], "c_1": {"d": null}}, "x": 3, "s": "text"});
        let paths = ["$.a", "$.a.b", "$.a.c_1.d", "$.x", "$.x.y", "$.missing", "$.s.len", "$._"];
        for raw in paths {
            let path = Path::parse(raw).unwrap();
            assert!(path.members.is_some(), "{raw} takes the member walk");
            let mut rng = Rng::new(1);
            let (ctx, var) = (|_: ContextNeed<'_>| Value::Null, |_: &str| None);
            let env = Env { input: &input, context: &ctx, variable: &var, rng: &mut rng };
            let engine = path.query.query(&input).all().into_iter().next().cloned();
            assert_eq!(path.select(&env).unwrap(), engine, "{raw}");
        }
        for other in ["$", "$.a.b.0", "$.a.b[1]", "$.a['b']", "$..b", "$.*", "$.a.*", "$.delivery-partner", "$.é"] {
            assert!(Path::parse(other).unwrap().members.is_none(), "{other} goes to the query engine");
        }
    }

    #[test]
    fn reference_paths_write() {
        let p = ReferencePath::parse("$.a.b").unwrap();
        assert_eq!(p.write(json!({"x": 1}), json!(2)).unwrap(), json!({"x": 1, "a": {"b": 2}}));
        let p = ReferencePath::parse("$['a b'][1]").unwrap();
        assert_eq!(p.write(json!({"a b": [0, 0]}), json!(9)).unwrap(), json!({"a b": [0, 9]}));
        assert!(ReferencePath::parse("$.a[*]").is_err());
        assert!(ReferencePath::parse("$$.a").is_err());
        assert!(ReferencePath::parse("a").is_err());
        assert!(ReferencePath::parse("$.a").unwrap().write(json!(3), json!(1)).is_err());
        assert_eq!(ReferencePath::parse("$").unwrap().write(json!(3), json!(1)).unwrap(), json!(1));
    }
}
