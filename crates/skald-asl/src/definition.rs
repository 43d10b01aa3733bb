//! The parsed state machine: [`Definition::parse`] turns ASL JSON into typed states, compiling
//! every path, template, intrinsic and Choice rule, and collecting *all* problems as
//! [`ValidationError`]s (state name + JSON pointer). Graph checks (targets, reachability) live in
//! [`crate::validate`]. Parallel branches and Map item processors are flattened into
//! [`Definition::machines`], indexed by [`MachineId`]; machine 0 is the top level.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::choice::{self, Branch};
use crate::error::{names, ValidationError};
use crate::limits::{
    DEFINITION_SIZE_BYTES_MAX, DURATION_SECONDS_MAX, NESTING_DEPTH_MAX, RETRIERS_MAX, STATES_MAX, STATE_NAME_CHARS_MAX,
};
use crate::path::{Path, ReferencePath};
use crate::retry::{Catcher, Jitter, Retrier};
use crate::template::{escape_pointer, Expr, Template};
use crate::time::Timestamp;

/// Index of a state machine (top level, a Parallel branch or a Map item processor).
pub type MachineId = usize;

/// A validated, compiled ASL definition. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Definition {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    source: Value,
    machines: Vec<Machine>,
    timeout_seconds: Option<u64>,
    comment: Option<String>,
    version: Option<String>,
}

/// One state machine: a start state and its states.
#[derive(Clone, Debug)]
pub struct Machine {
    /// The first state.
    pub start_at: String,
    /// The states by name.
    pub states: BTreeMap<String, State>,
    /// JSON pointer of this machine in the definition.
    pub pointer: String,
    /// The Parallel or Map state this machine belongs to (`None` for the top level).
    pub owner: Option<String>,
}

/// A data-selecting field that may also be `null` (InputPath, OutputPath).
#[derive(Clone, Debug, PartialEq)]
pub enum Select {
    /// `null`: the empty object `{}`.
    Null,
    /// A path (`$` when absent).
    Path(Path),
}

impl Select {
    /// Whether it selects the whole input (`$`, the default).
    pub fn is_whole_input(&self) -> bool {
        matches!(self, Select::Path(p) if p.as_str() == "$")
    }
}

/// ResultPath: where a result goes.
#[derive(Clone, Debug, PartialEq)]
pub enum ResultPath {
    /// `null`: discard the result, output the input.
    Discard,
    /// A reference path (`$` when absent).
    At(ReferencePath),
}

/// Where a state goes next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// To the named state.
    Next(String),
    /// The machine ends here.
    End,
}

/// A number of seconds given literally or by a path.
#[derive(Clone, Debug, PartialEq)]
pub enum Seconds {
    /// As written.
    Fixed(u64),
    /// Selected from the state input.
    Path(Path),
}

/// A number given literally or by a path (Map tolerances and concurrency).
#[derive(Clone, Debug, PartialEq)]
pub enum Number {
    /// As written.
    Fixed(f64),
    /// Selected from the state input.
    Path(Path),
}

/// What a Wait state waits for.
#[derive(Clone, Debug, PartialEq)]
pub enum WaitFor {
    /// `Seconds`.
    Seconds(u64),
    /// `Timestamp`.
    Timestamp(Timestamp),
    /// `SecondsPath`.
    SecondsPath(Path),
    /// `TimestampPath`.
    TimestampPath(Path),
}

/// A Fail state's `Error` or `Cause`.
#[derive(Clone, Debug, PartialEq)]
pub enum FailText {
    /// Absent.
    None,
    /// As written.
    Fixed(String),
    /// `ErrorPath` / `CausePath`: a path or intrinsic.
    Expr(Expr),
}

/// The type-specific part of a state. (Variants differ in size; states are few and long-lived.)
#[derive(Clone, Debug)]
#[allow(missing_docs, clippy::large_enum_variant)]
pub enum Kind {
    Task {
        resource: String,
        timeout: Option<Seconds>,
        heartbeat: Option<Seconds>,
    },
    Pass {
        result: Option<Value>,
    },
    Choice {
        choices: Vec<Branch>,
        default: Option<String>,
    },
    Wait {
        wait: WaitFor,
    },
    Succeed,
    Fail {
        error: FailText,
        cause: FailText,
    },
    Parallel {
        branches: Vec<MachineId>,
    },
    Map {
        processor: MachineId,
        items_path: Option<Path>,
        item_selector: Option<Template>,
        max_concurrency: Number,
        tolerated_count: Option<Number>,
        tolerated_percentage: Option<Number>,
    },
}

/// The type names, as in `"Type"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum StateType {
    Task,
    Pass,
    Choice,
    Wait,
    Succeed,
    Fail,
    Parallel,
    Map,
}

/// One state.
#[derive(Clone, Debug)]
pub struct State {
    /// Its name.
    pub name: String,
    /// JSON pointer of the state in the definition.
    pub pointer: String,
    /// Its type and type-specific fields.
    pub kind: Kind,
    /// InputPath.
    pub input_path: Select,
    /// OutputPath.
    pub output_path: Select,
    /// ResultPath.
    pub result_path: ResultPath,
    /// Parameters (for Map: the legacy per-item Parameters live in `Kind::Map::item_selector`).
    pub parameters: Option<Template>,
    /// ResultSelector.
    pub result_selector: Option<Template>,
    /// Assign.
    pub assign: Option<Template>,
    /// Next or End (`End` for Choice, Succeed and Fail, which do not use it).
    pub transition: Transition,
    /// Retry.
    pub retry: Vec<Retrier>,
    /// Catch.
    pub catch: Vec<Catcher>,
}

impl State {
    /// The state's type.
    pub fn state_type(&self) -> StateType {
        match self.kind {
            Kind::Task { .. } => StateType::Task,
            Kind::Pass { .. } => StateType::Pass,
            Kind::Choice { .. } => StateType::Choice,
            Kind::Wait { .. } => StateType::Wait,
            Kind::Succeed => StateType::Succeed,
            Kind::Fail { .. } => StateType::Fail,
            Kind::Parallel { .. } => StateType::Parallel,
            Kind::Map { .. } => StateType::Map,
        }
    }
}

impl Definition {
    /// Parses and validates a definition given as JSON text.
    pub fn parse(text: &str) -> Result<Definition, Vec<ValidationError>> {
        if text.len() > DEFINITION_SIZE_BYTES_MAX {
            return Err(vec![top_error(
                "",
                format!("the definition is {} bytes; at most {DEFINITION_SIZE_BYTES_MAX} are allowed", text.len()),
            )]);
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| vec![top_error("", format!("the definition is not valid JSON: {e}"))])?;
        Definition::from_value(&value)
    }

    /// Parses and validates a definition given as a JSON value.
    pub fn from_value(value: &Value) -> Result<Definition, Vec<ValidationError>> {
        let mut p = Parser { errors: Vec::new(), machines: Vec::new(), state_count: 0 };
        let Some(obj) = value.as_object() else {
            return Err(vec![top_error("", "the definition must be a JSON object".into())]);
        };
        let mut top = Scope { state: None, errors: Vec::new() };
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "StartAt" | "States" | "Comment" | "Version" | "TimeoutSeconds" | "QueryLanguage"
            ) {
                top.err(&format!("/{}", escape_pointer(key)), format!("unknown top-level field {key:?}"));
            }
        }
        check_query_language(obj, "", &mut top);
        let comment = opt_string(obj, "Comment", "", &mut top);
        let version = opt_string(obj, "Version", "", &mut top);
        let timeout_seconds = opt_seconds(obj, "TimeoutSeconds", "", &mut top);
        p.errors.append(&mut top.errors);
        p.machine(obj, "", 0, None);
        if p.errors.is_empty() {
            crate::validate::check_graph(&p.machines, &mut p.errors);
        }
        if !p.errors.is_empty() {
            return Err(p.errors);
        }
        Ok(Definition {
            inner: Arc::new(Inner { source: value.clone(), machines: p.machines, timeout_seconds, comment, version }),
        })
    }

    /// The definition as written.
    pub fn source(&self) -> &Value {
        &self.inner.source
    }

    /// All state machines; index 0 is the top level.
    pub fn machines(&self) -> &[Machine] {
        &self.inner.machines
    }

    /// One machine; `id` comes from this definition (a Parallel branch or Map processor).
    pub(crate) fn machine(&self, id: MachineId) -> &Machine {
        &self.inner.machines[id]
    }

    /// Top-level `TimeoutSeconds`.
    pub fn timeout_seconds(&self) -> Option<u64> {
        self.inner.timeout_seconds
    }

    /// Top-level `Comment`.
    pub fn comment(&self) -> Option<&str> {
        self.inner.comment.as_deref()
    }

    /// Top-level `Version`.
    pub fn version(&self) -> Option<&str> {
        self.inner.version.as_deref()
    }
}

impl PartialEq for Definition {
    fn eq(&self, other: &Self) -> bool {
        self.inner.source == other.inner.source
    }
}

impl Serialize for Definition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.inner.source.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Definition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Definition::from_value(&value).map_err(|errors| {
            let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            serde::de::Error::custom(text.join("; "))
        })
    }
}

fn top_error(field: &str, message: String) -> ValidationError {
    ValidationError { state: None, field: field.to_owned(), message }
}

/// Errors found while parsing one state (or the top level).
pub(crate) struct Scope {
    state: Option<String>,
    errors: Vec<ValidationError>,
}

impl Scope {
    fn err(&mut self, field: &str, message: String) {
        self.errors.push(ValidationError { state: self.state.clone(), field: field.to_owned(), message });
    }

    fn take(&mut self, list: Vec<(String, String)>) {
        for (field, message) in list {
            self.err(&field, message);
        }
    }
}

struct Parser {
    errors: Vec<ValidationError>,
    machines: Vec<Machine>,
    state_count: usize,
}

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];
const JSONATA_ONLY: &[&str] = &["Arguments", "Output", "Items", "Condition"];
const DISTRIBUTED_ONLY: &[&str] = &["ItemReader", "ItemBatcher", "ResultWriter", "Label"];

fn allowed_fields(t: StateType) -> &'static [&'static str] {
    match t {
        StateType::Pass => &["Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result", "Assign"],
        StateType::Task => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Assign",
        ],
        StateType::Choice => &["Choices", "Default", "InputPath", "OutputPath", "Assign"],
        StateType::Wait => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Seconds",
            "Timestamp",
            "SecondsPath",
            "TimestampPath",
            "Assign",
        ],
        StateType::Succeed => &["InputPath", "OutputPath"],
        StateType::Fail => &["Error", "ErrorPath", "Cause", "CausePath"],
        StateType::Parallel => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "Branches",
            "Assign",
        ],
        StateType::Map => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "ItemsPath",
            "ItemSelector",
            "ItemProcessor",
            "Iterator",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "ToleratedFailureCount",
            "ToleratedFailureCountPath",
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
            "Assign",
        ],
    }
}

fn check_query_language(obj: &Map<String, Value>, pointer: &str, scope: &mut Scope) {
    match obj.get("QueryLanguage") {
        None => {}
        Some(Value::String(s)) if s == "JSONPath" => {}
        Some(Value::String(s)) if s == "JSONata" => {
            let whom = scope.state.as_ref().map(|s| format!("state {s:?}")).unwrap_or_else(|| "the definition".into());
            scope.err(
                &format!("{pointer}/QueryLanguage"),
                format!("{whom} asks for the JSONata query language, which is not supported yet; use JSONPath"),
            )
        }
        Some(_) => scope.err(&format!("{pointer}/QueryLanguage"), "QueryLanguage must be \"JSONPath\"".into()),
    }
}

fn opt_string(obj: &Map<String, Value>, key: &str, pointer: &str, scope: &mut Scope) -> Option<String> {
    match obj.get(key) {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            scope.err(&format!("{pointer}/{key}"), format!("{key} must be a string"));
            None
        }
    }
}

fn as_uint(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1e18).map(|f| f as u64))
}

fn opt_seconds(obj: &Map<String, Value>, key: &str, pointer: &str, scope: &mut Scope) -> Option<u64> {
    let v = obj.get(key)?;
    match as_uint(v) {
        Some(n) if (1..=DURATION_SECONDS_MAX).contains(&n) => Some(n),
        _ => {
            scope.err(
                &format!("{pointer}/{key}"),
                format!("{key} must be a positive integer of at most {DURATION_SECONDS_MAX}"),
            );
            None
        }
    }
}

fn opt_path(obj: &Map<String, Value>, key: &str, pointer: &str, scope: &mut Scope) -> Option<Path> {
    let v = obj.get(key)?;
    let here = format!("{pointer}/{key}");
    match v.as_str().map(Path::parse) {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            scope.err(&here, e);
            None
        }
        None => {
            scope.err(&here, format!("{key} must be a path string"));
            None
        }
    }
}

fn definite_path(obj: &Map<String, Value>, key: &str, pointer: &str, scope: &mut Scope) -> Option<Path> {
    let p = opt_path(obj, key, pointer, scope)?;
    if !p.is_definite() {
        scope.err(&format!("{pointer}/{key}"), format!("{key} must select a single value (no wildcards or filters)"));
        return None;
    }
    Some(p)
}

fn select(obj: &Map<String, Value>, key: &str, pointer: &str, scope: &mut Scope) -> Select {
    match obj.get(key) {
        Some(Value::Null) => Select::Null,
        None => Select::Path(Path::parse("$").expect("'$' is a valid path")),
        Some(_) => opt_path(obj, key, pointer, scope).map(Select::Path).unwrap_or(Select::Null),
    }
}

fn result_path(value: Option<&Value>, here: &str, scope: &mut Scope) -> ResultPath {
    match value {
        Some(Value::Null) => ResultPath::Discard,
        None => ResultPath::At(ReferencePath::parse("$").expect("'$' is a valid reference path")),
        Some(Value::String(s)) => match ReferencePath::parse(s) {
            Ok(p) => ResultPath::At(p),
            Err(e) => {
                scope.err(here, e);
                ResultPath::Discard
            }
        },
        Some(_) => {
            scope.err(here, "ResultPath must be a reference path string or null".into());
            ResultPath::Discard
        }
    }
}

fn template(obj: &Map<String, Value>, key: &str, pointer: &str, scope: &mut Scope) -> Option<Template> {
    let v = obj.get(key)?;
    let here = format!("{pointer}/{key}");
    if matches!(key, "Assign" | "ResultSelector" | "ItemSelector") && !v.is_object() {
        scope.err(&here, format!("{key} must be a JSON object"));
        return None;
    }
    let mut list = Vec::new();
    let t = Template::parse(v, &here, &mut list);
    scope.take(list);
    if key == "Assign" {
        check_assign_names(&t, &here, scope);
    }
    Some(t)
}

fn check_assign_names(t: &Template, here: &str, scope: &mut Scope) {
    for name in t.member_names() {
        let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name != "states";
        if !ok {
            scope.err(
                &format!("{here}/{}", escape_pointer(&name)),
                format!("{name:?} is not a valid variable name (letters, digits and _, not starting with a digit; \"states\" is reserved)"),
            );
        }
    }
}

fn error_equals(v: Option<&Value>, here: &str, is_last: bool, scope: &mut Scope) -> Vec<String> {
    let field = format!("{here}/ErrorEquals");
    let Some(list) = v.and_then(|v| v.as_array()).filter(|a| !a.is_empty()) else {
        scope.err(&field, "ErrorEquals must be a non-empty array of error names".into());
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, name) in list.iter().enumerate() {
        let Some(name) = name.as_str() else {
            scope.err(&format!("{field}/{i}"), "error names must be strings".into());
            continue;
        };
        if name.starts_with("States.") && !names::KNOWN.contains(&name) {
            scope.err(&format!("{field}/{i}"), format!("unknown error name {name:?}"));
        }
        out.push(name.to_owned());
    }
    if out.iter().any(|n| n == names::ALL) {
        if out.len() != 1 {
            scope.err(&field, "States.ALL must appear alone in its ErrorEquals".into());
        } else if !is_last {
            scope.err(&field, "a retrier or catcher with States.ALL must be the last one".into());
        }
    }
    out
}

fn only_keys(obj: &Map<String, Value>, allowed: &[&str], here: &str, what: &str, scope: &mut Scope) {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            scope.err(&format!("{here}/{}", escape_pointer(key)), format!("unknown field {key:?} in {what}"));
        }
    }
}

fn retriers(obj: &Map<String, Value>, pointer: &str, scope: &mut Scope) -> Vec<Retrier> {
    let Some(v) = obj.get("Retry") else { return Vec::new() };
    let Some(list) = v.as_array().filter(|l| l.len() <= RETRIERS_MAX) else {
        scope.err(&format!("{pointer}/Retry"), format!("Retry must be an array of at most {RETRIERS_MAX} retriers"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let here = format!("{pointer}/Retry/{i}");
        let Some(r) = r.as_object() else {
            scope.err(&here, "a retrier must be an object".into());
            continue;
        };
        only_keys(
            r,
            &[
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            ],
            &here,
            "a retrier",
            scope,
        );
        let error_equals = error_equals(r.get("ErrorEquals"), &here, i + 1 == list.len(), scope);
        let interval_seconds = opt_seconds(r, "IntervalSeconds", &here, scope).unwrap_or(1);
        let max_attempts = match r.get("MaxAttempts") {
            None => 3,
            Some(v) => match as_uint(v).filter(|n| *n <= 99_999_999) {
                Some(n) => n as u32,
                None => {
                    scope.err(&format!("{here}/MaxAttempts"), "MaxAttempts must be a non-negative integer".into());
                    0
                }
            },
        };
        let backoff_rate = match r.get("BackoffRate") {
            None => 2.0,
            Some(v) => match v.as_f64().filter(|f| *f >= 1.0 && f.is_finite()) {
                Some(f) => f,
                None => {
                    scope.err(&format!("{here}/BackoffRate"), "BackoffRate must be a number of at least 1.0".into());
                    1.0
                }
            },
        };
        let max_delay_seconds = opt_seconds(r, "MaxDelaySeconds", &here, scope);
        let jitter = match r.get("JitterStrategy").map(|v| v.as_str()) {
            None | Some(Some("NONE")) => Jitter::None,
            Some(Some("FULL")) => Jitter::Full,
            Some(_) => {
                scope.err(&format!("{here}/JitterStrategy"), "JitterStrategy must be \"FULL\" or \"NONE\"".into());
                Jitter::None
            }
        };
        out.push(Retrier { error_equals, interval_seconds, max_attempts, backoff_rate, max_delay_seconds, jitter });
    }
    out
}

fn catchers(obj: &Map<String, Value>, pointer: &str, scope: &mut Scope) -> Vec<Catcher> {
    let Some(v) = obj.get("Catch") else { return Vec::new() };
    let Some(list) = v.as_array().filter(|l| l.len() <= RETRIERS_MAX) else {
        scope.err(&format!("{pointer}/Catch"), format!("Catch must be an array of at most {RETRIERS_MAX} catchers"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let here = format!("{pointer}/Catch/{i}");
        let Some(c) = c.as_object() else {
            scope.err(&here, "a catcher must be an object".into());
            continue;
        };
        only_keys(c, &["ErrorEquals", "Next", "ResultPath", "Assign", "Comment"], &here, "a catcher", scope);
        let error_equals = error_equals(c.get("ErrorEquals"), &here, i + 1 == list.len(), scope);
        let next = match c.get("Next").and_then(|n| n.as_str()) {
            Some(n) => n.to_owned(),
            None => {
                scope.err(&format!("{here}/Next"), "a catcher needs Next (a state name)".into());
                String::new()
            }
        };
        let result_path = match result_path(c.get("ResultPath"), &format!("{here}/ResultPath"), scope) {
            ResultPath::Discard => None,
            ResultPath::At(p) => Some(p),
        };
        let assign = template(c, "Assign", &here, scope);
        out.push(Catcher { error_equals, next, result_path, assign });
    }
    out
}

fn number(obj: &Map<String, Value>, key: &str, pointer: &str, max: f64, scope: &mut Scope) -> Option<Number> {
    let path_key = format!("{key}Path");
    match (obj.get(key), obj.contains_key(&path_key)) {
        (Some(_), true) => {
            scope.err(&format!("{pointer}/{key}"), format!("{key} and {path_key} are mutually exclusive"));
            None
        }
        (Some(v), false) => match v.as_f64().filter(|f| *f >= 0.0 && *f <= max) {
            Some(f) => Some(Number::Fixed(f)),
            None => {
                scope.err(&format!("{pointer}/{key}"), format!("{key} must be a number from 0 to {max}"));
                None
            }
        },
        (None, true) => definite_path(obj, &path_key, pointer, scope).map(Number::Path),
        (None, false) => None,
    }
}

fn seconds_field(obj: &Map<String, Value>, key: &str, pointer: &str, scope: &mut Scope) -> Option<Seconds> {
    let path_key = format!("{key}Path");
    if obj.contains_key(key) && obj.contains_key(&path_key) {
        scope.err(&format!("{pointer}/{key}"), format!("{key} and {path_key} are mutually exclusive"));
        return None;
    }
    if obj.contains_key(key) {
        return opt_seconds(obj, key, pointer, scope).map(Seconds::Fixed);
    }
    definite_path(obj, &path_key, pointer, scope).map(Seconds::Path)
}

impl Parser {
    /// Parses a machine object at `pointer` and returns its id.
    fn machine(&mut self, obj: &Map<String, Value>, pointer: &str, depth: usize, owner: Option<String>) -> MachineId {
        let id = self.machines.len();
        self.machines.push(Machine {
            start_at: String::new(),
            states: BTreeMap::new(),
            pointer: pointer.to_owned(),
            owner: owner.clone(),
        });
        let mut scope = Scope { state: owner, errors: Vec::new() };
        if depth > NESTING_DEPTH_MAX {
            scope.err(pointer, format!("branches and item processors nest deeper than {NESTING_DEPTH_MAX}"));
            self.errors.append(&mut scope.errors);
            return id;
        }
        let start_at = opt_string(obj, "StartAt", pointer, &mut scope);
        if start_at.is_none() && !obj.contains_key("StartAt") {
            scope.err(&format!("{pointer}/StartAt"), "StartAt is required".into());
        }
        let mut states = BTreeMap::new();
        match obj.get("States").and_then(|s| s.as_object()) {
            Some(map) if !map.is_empty() => {
                self.errors.append(&mut scope.errors);
                for (name, value) in map {
                    self.state_count += 1;
                    if self.state_count == STATES_MAX + 1 {
                        self.errors.push(top_error("/States", format!("more than {STATES_MAX} states")));
                    }
                    let state_pointer = format!("{pointer}/States/{}", escape_pointer(name));
                    if let Some(state) = self.state(name, value, &state_pointer, depth) {
                        states.insert(name.clone(), state);
                    }
                }
            }
            _ => scope.err(&format!("{pointer}/States"), "States must be a non-empty object".into()),
        }
        self.errors.append(&mut scope.errors);
        let machine = &mut self.machines[id];
        machine.start_at = start_at.unwrap_or_default();
        machine.states = states;
        id
    }

    fn sub_machine(
        &mut self,
        v: &Value,
        here: &str,
        depth: usize,
        scope: &mut Scope,
        allowed: &[&str],
    ) -> Option<MachineId> {
        let Some(obj) = v.as_object() else {
            scope.err(here, "must be an object with StartAt and States".into());
            return None;
        };
        only_keys(obj, allowed, here, "a branch or item processor", scope);
        Some(self.machine(obj, here, depth + 1, scope.state.clone()))
    }

    fn state(&mut self, name: &str, value: &Value, pointer: &str, depth: usize) -> Option<State> {
        let mut scope = Scope { state: Some(name.to_owned()), errors: Vec::new() };
        let result = self.state_inner(name, value, pointer, depth, &mut scope);
        self.errors.append(&mut scope.errors);
        result
    }

    fn state_inner(
        &mut self,
        name: &str,
        value: &Value,
        pointer: &str,
        depth: usize,
        scope: &mut Scope,
    ) -> Option<State> {
        if name.is_empty() || name.chars().count() > STATE_NAME_CHARS_MAX {
            scope.err(pointer, format!("state names must have 1 to {STATE_NAME_CHARS_MAX} characters"));
        }
        let Some(obj) = value.as_object() else {
            scope.err(pointer, "a state must be a JSON object".into());
            return None;
        };
        check_query_language(obj, pointer, scope);
        let state_type = match obj.get("Type").and_then(|t| t.as_str()) {
            Some("Task") => StateType::Task,
            Some("Pass") => StateType::Pass,
            Some("Choice") => StateType::Choice,
            Some("Wait") => StateType::Wait,
            Some("Succeed") => StateType::Succeed,
            Some("Fail") => StateType::Fail,
            Some("Parallel") => StateType::Parallel,
            Some("Map") => StateType::Map,
            Some(other) => {
                scope.err(&format!("{pointer}/Type"), format!("unknown state type {other:?}"));
                return None;
            }
            None => {
                scope.err(&format!("{pointer}/Type"), "Type is required".into());
                return None;
            }
        };
        let allowed = allowed_fields(state_type);
        for key in obj.keys() {
            if COMMON.contains(&key.as_str()) || allowed.contains(&key.as_str()) {
                continue;
            }
            let here = format!("{pointer}/{}", escape_pointer(key));
            let why = if JSONATA_ONLY.contains(&key.as_str()) {
                format!("{key} belongs to the JSONata query language, which is not supported yet")
            } else if state_type == StateType::Map && DISTRIBUTED_ONLY.contains(&key.as_str()) {
                format!("{key} belongs to Distributed Map, which is not supported; only inline Map is")
            } else {
                format!("a {state_type:?} state may not have the field {key:?}")
            };
            scope.err(&here, why);
        }

        let transition = match state_type {
            StateType::Choice | StateType::Succeed | StateType::Fail => Transition::End,
            _ => match (obj.get("Next"), obj.get("End")) {
                (Some(Value::String(n)), None) => Transition::Next(n.clone()),
                (None, Some(Value::Bool(true))) => Transition::End,
                (Some(_), Some(_)) => {
                    scope.err(&format!("{pointer}/End"), "a state may have Next or End, not both".into());
                    Transition::End
                }
                (Some(_), None) => {
                    scope.err(&format!("{pointer}/Next"), "Next must be a state name".into());
                    Transition::End
                }
                (None, Some(_)) => {
                    scope.err(&format!("{pointer}/End"), "End must be true".into());
                    Transition::End
                }
                (None, None) => {
                    scope.err(pointer, format!("a {state_type:?} state needs Next or End"));
                    Transition::End
                }
            },
        };

        let input_path = select(obj, "InputPath", pointer, scope);
        let output_path = select(obj, "OutputPath", pointer, scope);
        let result_path = result_path(obj.get("ResultPath"), &format!("{pointer}/ResultPath"), scope);
        let is_map = state_type == StateType::Map;
        let parameters = if is_map { None } else { template(obj, "Parameters", pointer, scope) };
        let result_selector = template(obj, "ResultSelector", pointer, scope);
        let assign = template(obj, "Assign", pointer, scope);
        let retry = retriers(obj, pointer, scope);
        let catch = catchers(obj, pointer, scope);

        let kind = match state_type {
            StateType::Task => {
                let resource = match obj.get("Resource") {
                    Some(Value::String(r)) if !r.is_empty() => r.clone(),
                    _ => {
                        scope.err(&format!("{pointer}/Resource"), "Resource must be a non-empty string".into());
                        String::new()
                    }
                };
                let timeout = seconds_field(obj, "TimeoutSeconds", pointer, scope);
                let heartbeat = seconds_field(obj, "HeartbeatSeconds", pointer, scope);
                if let (Some(Seconds::Fixed(t)), Some(Seconds::Fixed(h))) = (&timeout, &heartbeat) {
                    if h >= t {
                        scope.err(
                            &format!("{pointer}/HeartbeatSeconds"),
                            "HeartbeatSeconds must be less than TimeoutSeconds".into(),
                        );
                    }
                }
                if resource.ends_with(".waitForTaskToken") {
                    let passes_token = parameters.as_ref().is_some_and(|p| {
                        p.any_path(&|path| {
                            *path.root() == crate::path::Root::Context && path.as_str().starts_with("$$.Task.Token")
                        })
                    });
                    if !passes_token {
                        scope.err(
                            &format!("{pointer}/Parameters"),
                            "a .waitForTaskToken task must pass $$.Task.Token in its Parameters".into(),
                        );
                    }
                }
                Kind::Task { resource, timeout, heartbeat }
            }
            StateType::Pass => Kind::Pass { result: obj.get("Result").cloned() },
            StateType::Choice => {
                let mut choices = Vec::new();
                match obj.get("Choices").and_then(|c| c.as_array()).filter(|c| !c.is_empty()) {
                    None => {
                        scope.err(&format!("{pointer}/Choices"), "Choices must be a non-empty array of rules".into())
                    }
                    Some(list) => {
                        for (i, rule) in list.iter().enumerate() {
                            let here = format!("{pointer}/Choices/{i}");
                            let mut errs = Vec::new();
                            let parsed = choice::parse_rule(rule, &here, true, &mut errs);
                            scope.take(errs);
                            let next = rule.get("Next").and_then(|n| n.as_str());
                            if next.is_none() {
                                scope.err(&format!("{here}/Next"), "a top-level choice rule needs Next".into());
                            }
                            let assign = rule.as_object().and_then(|r| template(r, "Assign", &here, scope));
                            if let (Some(rule), Some(next)) = (parsed, next) {
                                choices.push(Branch { rule, next: next.to_owned(), assign });
                            }
                        }
                    }
                }
                let default = opt_string(obj, "Default", pointer, scope);
                Kind::Choice { choices, default }
            }
            StateType::Wait => {
                let given: Vec<&str> = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
                    .into_iter()
                    .filter(|k| obj.contains_key(*k))
                    .collect();
                if given.len() != 1 {
                    scope.err(
                        pointer,
                        "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath".into(),
                    );
                    return None;
                }
                let wait = match given[0] {
                    "Seconds" => match obj.get("Seconds").and_then(as_uint).filter(|n| *n <= DURATION_SECONDS_MAX) {
                        Some(n) => WaitFor::Seconds(n),
                        None => {
                            scope.err(&format!("{pointer}/Seconds"), "Seconds must be a non-negative integer".into());
                            return None;
                        }
                    },
                    "Timestamp" => {
                        match obj.get("Timestamp").and_then(|t| t.as_str()).and_then(crate::time::parse_wait_until) {
                            Some(t) => WaitFor::Timestamp(t),
                            None => {
                                scope.err(
                                    &format!("{pointer}/Timestamp"),
                                    "Timestamp must be an RFC 3339 timestamp".into(),
                                );
                                return None;
                            }
                        }
                    }
                    "SecondsPath" => WaitFor::SecondsPath(definite_path(obj, "SecondsPath", pointer, scope)?),
                    _ => WaitFor::TimestampPath(definite_path(obj, "TimestampPath", pointer, scope)?),
                };
                Kind::Wait { wait }
            }
            StateType::Succeed => Kind::Succeed,
            StateType::Fail => {
                let mut text = |key: &str| -> FailText {
                    let path_key = format!("{key}Path");
                    match (obj.get(key), obj.get(&path_key)) {
                        (Some(_), Some(_)) => {
                            scope.err(
                                &format!("{pointer}/{key}"),
                                format!("{key} and {path_key} are mutually exclusive"),
                            );
                            FailText::None
                        }
                        (Some(Value::String(s)), None) => FailText::Fixed(s.clone()),
                        (Some(_), None) => {
                            scope.err(&format!("{pointer}/{key}"), format!("{key} must be a string"));
                            FailText::None
                        }
                        (None, Some(Value::String(s))) => match Expr::parse(s) {
                            Ok(e) => FailText::Expr(e),
                            Err(e) => {
                                scope.err(&format!("{pointer}/{path_key}"), e);
                                FailText::None
                            }
                        },
                        (None, Some(_)) => {
                            scope.err(&format!("{pointer}/{path_key}"), format!("{path_key} must be a path string"));
                            FailText::None
                        }
                        (None, None) => FailText::None,
                    }
                };
                let error = text("Error");
                let cause = text("Cause");
                Kind::Fail { error, cause }
            }
            StateType::Parallel => {
                let mut branches = Vec::new();
                match obj.get("Branches").and_then(|b| b.as_array()).filter(|b| !b.is_empty()) {
                    None => scope.err(&format!("{pointer}/Branches"), "Branches must be a non-empty array".into()),
                    Some(list) => {
                        for (i, b) in list.iter().enumerate() {
                            let here = format!("{pointer}/Branches/{i}");
                            if let Some(id) =
                                self.sub_machine(b, &here, depth, scope, &["StartAt", "States", "Comment"])
                            {
                                branches.push(id);
                            }
                        }
                    }
                }
                Kind::Parallel { branches }
            }
            StateType::Map => {
                let processor = match (obj.get("ItemProcessor"), obj.get("Iterator")) {
                    (Some(_), Some(_)) => {
                        scope.err(
                            &format!("{pointer}/Iterator"),
                            "ItemProcessor and Iterator are mutually exclusive".into(),
                        );
                        None
                    }
                    (Some(p), None) => {
                        let here = format!("{pointer}/ItemProcessor");
                        if let Some(cfg) = p.get("ProcessorConfig") {
                            match cfg.get("Mode").and_then(|m| m.as_str()) {
                                None | Some("INLINE") => {}
                                Some("DISTRIBUTED") => scope.err(
                                    &format!("{here}/ProcessorConfig/Mode"),
                                    "Distributed Map is not supported; only INLINE".into(),
                                ),
                                Some(_) => {
                                    scope.err(&format!("{here}/ProcessorConfig/Mode"), "Mode must be INLINE".into())
                                }
                            }
                        }
                        self.sub_machine(p, &here, depth, scope, &["StartAt", "States", "Comment", "ProcessorConfig"])
                    }
                    (None, Some(p)) => self.sub_machine(
                        p,
                        &format!("{pointer}/Iterator"),
                        depth,
                        scope,
                        &["StartAt", "States", "Comment"],
                    ),
                    (None, None) => {
                        scope.err(pointer, "a Map state needs ItemProcessor (or the older Iterator)".into());
                        None
                    }
                };
                let items_path = definite_path(obj, "ItemsPath", pointer, scope);
                let item_selector = match (obj.contains_key("ItemSelector"), obj.contains_key("Parameters")) {
                    (true, true) => {
                        scope.err(
                            &format!("{pointer}/Parameters"),
                            "ItemSelector and Parameters are mutually exclusive".into(),
                        );
                        None
                    }
                    (true, false) => template(obj, "ItemSelector", pointer, scope),
                    (false, true) => template(obj, "Parameters", pointer, scope),
                    (false, false) => None,
                };
                let max_concurrency = number(obj, "MaxConcurrency", pointer, 1e9, scope).unwrap_or(Number::Fixed(0.0));
                if let Number::Fixed(f) = max_concurrency {
                    if f.fract() != 0.0 {
                        scope.err(&format!("{pointer}/MaxConcurrency"), "MaxConcurrency must be an integer".into());
                    }
                }
                let tolerated_count = number(obj, "ToleratedFailureCount", pointer, 1e9, scope);
                let tolerated_percentage = number(obj, "ToleratedFailurePercentage", pointer, 100.0, scope);
                Kind::Map {
                    processor: processor?,
                    items_path,
                    item_selector,
                    max_concurrency,
                    tolerated_count,
                    tolerated_percentage,
                }
            }
        };
        Some(State {
            name: name.to_owned(),
            pointer: pointer.to_owned(),
            kind,
            input_path,
            output_path,
            result_path,
            parameters,
            result_selector,
            assign,
            transition,
            retry,
            catch,
        })
    }
}
