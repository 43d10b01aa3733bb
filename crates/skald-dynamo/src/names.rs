//! `ExpressionAttributeNames` (`#n`) and `ExpressionAttributeValues` (`:v`): resolving them while
//! parsing, remembering which were used, and the ordered list of problems a parser finds.
//!
//! DynamoDB reports one problem per request even when an expression has several, and which one
//! depends on its class, not on where it is: a reserved word before an undefined placeholder in
//! an UpdateExpression, redundant parentheses before anything in a ConditionExpression. Parsers
//! therefore record problems in [`Issues`] as they meet them (only the first of each class) and
//! report the first class in their language's order once the whole expression has parsed. Syntax
//! errors are the exception: they end the parse at once.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, ErrorKind, ExpressionKind, Result};
use crate::lexer::{Tok, Tokens};
use crate::limits::DOCUMENT_DEPTH_MAX;
use crate::path::{Path, PathElement};
use crate::reserved::is_reserved;
use crate::value::AttributeValue;

/// The substitution maps of one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Placeholders {
    /// `ExpressionAttributeNames`: `#name` → attribute name.
    pub names: BTreeMap<String, String>,
    /// `ExpressionAttributeValues`: `:name` → value.
    pub values: BTreeMap<String, AttributeValue>,
}

impl Placeholders {
    /// Empty maps.
    pub fn new() -> Placeholders {
        Placeholders::default()
    }

    /// Adds a name placeholder.
    pub fn name(mut self, placeholder: &str, name: &str) -> Placeholders {
        self.names.insert(placeholder.to_owned(), name.to_owned());
        self
    }

    /// Adds a value placeholder.
    pub fn value(mut self, placeholder: &str, value: AttributeValue) -> Placeholders {
        self.values.insert(placeholder.to_owned(), value);
        self
    }
}

/// The placeholders an expression used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Used {
    /// `#names` used.
    pub names: BTreeSet<String>,
    /// `:values` used.
    pub values: BTreeSet<String>,
}

/// Classes of parse-time problems, in no particular order; each language lists its own order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Class {
    Parentheses,
    UnknownFunction,
    MisusedFunction,
    Reserved,
    Undefined,
    UndefinedName,
    UndefinedValue,
    OperandCount,
    Distinct,
    Function,
    Section,
    Overlap,
    Conflict,
    Operand,
    Depth,
}

/// The first problem of each class found so far.
pub(crate) struct Issues {
    order: &'static [Class],
    found: Vec<(Class, Error)>,
}

impl Issues {
    pub fn new(order: &'static [Class]) -> Issues {
        Issues { order, found: Vec::new() }
    }

    /// Records `error` unless a problem of its class is already recorded.
    pub fn push(&mut self, class: Class, error: Error) {
        if !self.found.iter().any(|(c, _)| *c == class) {
            self.found.push((class, error));
        }
    }

    /// The problems recorded so far, to come back to after a failed attempt.
    pub fn snapshot(&self) -> Vec<(Class, Error)> {
        self.found.clone()
    }

    /// Forgets the problems recorded since `snapshot`.
    pub fn restore(&mut self, snapshot: Vec<(Class, Error)>) {
        self.found = snapshot;
    }

    /// The problem DynamoDB would report, if any.
    pub fn finish(self) -> Result<()> {
        let Issues { order, mut found } = self;
        let first = order.iter().find_map(|class| found.iter().position(|(c, _)| c == class));
        match first {
            Some(index) => Err(found.swap_remove(index).1),
            None => Ok(()),
        }
    }
}

/// Resolves placeholders for one expression and records what it used and what was wrong.
pub(crate) struct Resolver<'p> {
    placeholders: &'p Placeholders,
    pub expression: ExpressionKind,
    pub used: Used,
    pub issues: Issues,
}

impl<'p> Resolver<'p> {
    pub fn new(placeholders: &'p Placeholders, expression: ExpressionKind, order: &'static [Class]) -> Resolver<'p> {
        Resolver { placeholders, expression, used: Used::default(), issues: Issues::new(order) }
    }

    /// Records a problem of `class` at `offset`, worded `Invalid <Expression>: <detail>`.
    pub fn issue(&mut self, class: Class, kind: ErrorKind, offset: usize, detail: impl std::fmt::Display) {
        let error = Error::expression(kind, self.expression, offset, detail);
        self.issues.push(class, error);
    }

    /// The value a `:placeholder` stands for (`NULL` while an undefined one is being reported).
    pub fn value(&mut self, placeholder: &str, offset: usize) -> AttributeValue {
        let found = self.placeholders.values.get(placeholder).cloned();
        let detail = "An expression attribute value used in expression is not defined; attribute value:";
        let kind = (Class::UndefinedValue, ErrorKind::UndefinedValue);
        let found = self.resolve(placeholder, offset, found, kind, detail);
        found.unwrap_or(AttributeValue::Null)
    }

    /// The name a `#placeholder` stands for (the placeholder itself while an undefined one is
    /// being reported).
    fn name(&mut self, placeholder: &str, offset: usize) -> String {
        let found = self.placeholders.names.get(placeholder).cloned();
        let detail = "An expression attribute name used in the document path is not defined; attribute name:";
        let kind = (Class::UndefinedName, ErrorKind::UndefinedName);
        let found = self.resolve(placeholder, offset, found, kind, detail);
        found.unwrap_or_else(|| placeholder.to_owned())
    }

    /// Notes a placeholder as used if it was `found`, else records it as undefined.
    fn resolve<T>(
        &mut self,
        placeholder: &str,
        offset: usize,
        found: Option<T>,
        (class, kind): (Class, ErrorKind),
        detail: &str,
    ) -> Option<T> {
        match &found {
            Some(_) if kind == ErrorKind::UndefinedValue => self.used.values.insert(placeholder.to_owned()),
            Some(_) => self.used.names.insert(placeholder.to_owned()),
            None => {
                let class = self.undefined_class(class);
                self.issue(class, kind, offset, format_args!("{detail} {placeholder}"));
                false
            }
        };
        found
    }

    /// Condition languages report undefined names and values as one class; UpdateExpression
    /// reports names before values.
    fn undefined_class(&self, specific: Class) -> Class {
        if self.issues.order.contains(&Class::Undefined) {
            Class::Undefined
        } else {
            specific
        }
    }

    /// Reads one path step that names an attribute: a bare name (checked against the reserved
    /// words) or a `#placeholder`.
    fn path_name(&mut self, tokens: &mut Tokens<'_>) -> Result<String> {
        let token = tokens.peek().ok_or_else(|| tokens.syntax_error())?;
        let text = tokens.text(token);
        match token.kind {
            Tok::Ident if !is_keyword(self.expression, text) => {
                tokens.bump();
                if is_reserved(text) {
                    self.issue(
                        Class::Reserved,
                        ErrorKind::ReservedWord,
                        token.start,
                        format_args!("Attribute name is a reserved keyword; reserved keyword: {text}"),
                    );
                }
                Ok(text.to_owned())
            }
            Tok::NamePlaceholder => {
                tokens.bump();
                Ok(self.name(text, token.start))
            }
            _ => Err(tokens.syntax_error()),
        }
    }

    /// Reads a document path: a name, then any number of `.name` and `[index]` steps.
    pub fn path(&mut self, tokens: &mut Tokens<'_>) -> Result<Path> {
        let start = tokens.offset();
        let mut path = Path::attribute(self.path_name(tokens)?);
        loop {
            if tokens.at(Tok::Dot) {
                tokens.bump();
                path.push(PathElement::Name(self.path_name(tokens)?));
            } else if tokens.at(Tok::LBracket) {
                tokens.bump();
                let int = tokens.expect(Tok::Int)?;
                let Ok(index) = tokens.text(int).parse::<usize>() else {
                    // An index too large for memory is reported as a syntax error at it.
                    tokens.reset(tokens.mark() - 1);
                    return Err(tokens.syntax_error());
                };
                tokens.expect(Tok::RBracket)?;
                path.push(PathElement::Index(index));
            } else {
                break;
            }
        }
        if path.elements().len() > DOCUMENT_DEPTH_MAX {
            // unconfirmed: DynamoDB's wording for a path deeper than 32 levels.
            self.issue(
                Class::Depth,
                ErrorKind::PathTooDeep,
                start,
                format_args!(
                    "The document path has too many nesting levels; nesting levels: {}",
                    path.elements().len()
                ),
            );
        }
        Ok(path)
    }

    /// Checks that no two paths overlap or conflict (UpdateExpression targets, projections).
    pub fn check_clashes(&mut self, paths: &[(Path, usize)]) {
        for (i, (a, _)) in paths.iter().enumerate() {
            for (b, offset) in &paths[i + 1..] {
                let (class, kind, what) = match a.clash(b) {
                    None => continue,
                    Some(crate::path::Clash::Overlap) => (Class::Overlap, ErrorKind::PathOverlap, "overlap"),
                    Some(crate::path::Clash::Conflict) => (Class::Conflict, ErrorKind::PathOverlap, "conflict"),
                };
                self.issue(
                    class,
                    kind,
                    *offset,
                    format_args!(
                        "Two document paths {what} with each other; must remove or rewrite one of these paths; path one: {a}, path two: {b}"
                    ),
                );
            }
        }
    }

    /// The problem to report, or what the expression used.
    pub fn finish(self) -> Result<Used> {
        self.issues.finish()?;
        Ok(self.used)
    }
}

/// Words that are operators of `expression`'s language and so never attribute names there
/// (elsewhere they are reserved words, reported as such).
pub(crate) fn is_keyword(expression: ExpressionKind, text: &str) -> bool {
    let words: &[&str] = match expression {
        ExpressionKind::Update => &["SET", "REMOVE", "ADD", "DELETE"],
        ExpressionKind::Projection => &[],
        _ => &["AND", "OR", "NOT", "BETWEEN", "IN"],
    };
    words.iter().any(|k| k.eq_ignore_ascii_case(text))
}
