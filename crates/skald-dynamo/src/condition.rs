//! ConditionExpression and FilterExpression: the typed AST and its parser. (KeyConditionExpression
//! is parsed by the same parser and then narrowed, in [`crate::key_condition`]; evaluation is in
//! [`crate::eval`].)
//!
//! Precedence, loosest first: `OR`, `AND`, `NOT`, then the comparisons, `BETWEEN`, `IN` and
//! functions; parentheses group. Both `AND` and `OR` associate to the left.

use crate::error::{ErrorKind, ExpressionKind, Result};
use crate::lexer::{tokenize, Tok, Tokens};
use crate::limits::{EXPRESSION_NESTING_MAX, IN_OPERANDS_MAX};
use crate::names::{Class, Placeholders, Resolver, Used};
use crate::path::Path;
use crate::value::{AttributeValue, ValueType};

/// A comparison operator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Comparator {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Comparator {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Ne => "<>",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
        }
    }

    fn of(tok: Tok) -> Option<Comparator> {
        Some(match tok {
            Tok::Eq => Comparator::Eq,
            Tok::Ne => Comparator::Ne,
            Tok::Lt => Comparator::Lt,
            Tok::Le => Comparator::Le,
            Tok::Gt => Comparator::Gt,
            Tok::Ge => Comparator::Ge,
            _ => return None,
        })
    }
}

/// Something a condition compares: an attribute, a value, or `size(…)` of one.
#[derive(Clone, PartialEq, Debug)]
pub enum Operand {
    /// A document path, read from the item.
    Path(Path),
    /// An `ExpressionAttributeValues` value.
    Value(AttributeValue),
    /// `size(operand)`.
    Size(Box<Operand>),
}

/// A condition, as DynamoDB's grammar has them.
#[derive(Clone, PartialEq, Debug)]
pub enum Cond {
    /// `a <op> b`.
    Compare(Comparator, Operand, Operand),
    /// `a BETWEEN low AND high`.
    Between(Operand, Operand, Operand),
    /// `a IN (b, c, …)`.
    In(Operand, Vec<Operand>),
    /// `attribute_exists(path)`.
    Exists(Path),
    /// `attribute_not_exists(path)`.
    NotExists(Path),
    /// `attribute_type(path, :type)`.
    Type(Operand, ValueType),
    /// `begins_with(a, prefix)`.
    BeginsWith(Operand, Operand),
    /// `contains(a, b)`.
    Contains(Operand, Operand),
    /// `a AND b`.
    And(Box<Cond>, Box<Cond>),
    /// `a OR b`.
    Or(Box<Cond>, Box<Cond>),
    /// `NOT a`.
    Not(Box<Cond>),
}

/// A parsed ConditionExpression or FilterExpression.
#[derive(Clone, PartialEq, Debug)]
pub struct Condition {
    /// The root of the AST.
    pub root: Cond,
}

impl Condition {
    /// Every document path the condition reads, in no particular order.
    pub fn paths(&self) -> Vec<&Path> {
        let mut paths = Vec::new();
        let mut conds = vec![&self.root];
        let mut operands: Vec<&Operand> = Vec::new();
        while let Some(cond) = conds.pop() {
            match cond {
                Cond::And(a, b) | Cond::Or(a, b) => conds.extend([a.as_ref(), b.as_ref()]),
                Cond::Not(a) => conds.push(a),
                Cond::Exists(p) | Cond::NotExists(p) => paths.push(p),
                Cond::Compare(_, a, b) | Cond::BeginsWith(a, b) | Cond::Contains(a, b) => operands.extend([a, b]),
                Cond::Between(a, b, c) => operands.extend([a, b, c]),
                Cond::In(a, list) => operands.extend(std::iter::once(a).chain(list)),
                Cond::Type(a, _) => operands.push(a),
            }
        }
        while let Some(operand) = operands.pop() {
            match operand {
                Operand::Path(p) => paths.push(p),
                Operand::Size(inner) => operands.push(inner),
                Operand::Value(_) => {}
            }
        }
        paths
    }
}

/// The order in which DynamoDB reports problems of a condition.
const ORDER: &[Class] = &[
    Class::Parentheses,
    Class::UnknownFunction,
    Class::MisusedFunction,
    Class::Reserved,
    Class::Undefined,
    Class::OperandCount,
    Class::Distinct,
    Class::Function,
    Class::Depth,
];

impl Condition {
    /// Parses a ConditionExpression (`kind` [`ExpressionKind::Condition`]) or FilterExpression
    /// ([`ExpressionKind::Filter`]), resolving placeholders; returns it with what it used.
    pub fn parse(text: &str, kind: ExpressionKind, placeholders: &Placeholders) -> Result<(Condition, Used)> {
        let (root, used) = parse_cond(text, kind, placeholders)?;
        Ok((Condition { root }, used))
    }
}

/// Parses condition syntax for any of the three condition languages.
pub(crate) fn parse_cond(text: &str, kind: ExpressionKind, placeholders: &Placeholders) -> Result<(Cond, Used)> {
    let tokens = tokenize(text, kind)?;
    let mut parser = Parser { t: tokens, r: Resolver::new(placeholders, kind, ORDER), depth: 0 };
    let (root, _) = parser.or()?;
    if !parser.t.at_end() {
        return Err(parser.t.syntax_error());
    }
    let used = parser.r.finish()?;
    Ok((root, used))
}

/// What a term parsed to before its context says whether it is an operand or a condition.
enum Term {
    Path(Path, usize),
    Value(AttributeValue),
    Call { name: String, args: Vec<Term>, offset: usize, known: bool },
}

/// The names and operand counts of the condition functions.
const FUNCTIONS: [(&str, usize); 6] = [
    ("attribute_exists", 1),
    ("attribute_not_exists", 1),
    ("attribute_type", 2),
    ("begins_with", 2),
    ("contains", 2),
    ("size", 1),
];

struct Parser<'s, 'p> {
    t: Tokens<'s>,
    r: Resolver<'p>,
    depth: usize,
}

/// A parsed piece and whether it is exactly one parenthesised group (to spot `((x))`).
type Grouped<T> = (T, bool);

impl Parser<'_, '_> {
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > EXPRESSION_NESTING_MAX {
            return Err(crate::error::Error::expression(
                ErrorKind::NestingTooDeep,
                self.r.expression,
                self.t.offset(),
                format_args!("The expression is nested more than {EXPRESSION_NESTING_MAX} levels deep"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Grouped<Cond>> {
        self.chain("OR", Self::and, Cond::Or)
    }

    fn and(&mut self) -> Result<Grouped<Cond>> {
        self.chain("AND", Self::not, Cond::And)
    }

    /// `operand (keyword operand)*`, joined to the left.
    fn chain(
        &mut self,
        keyword: &str,
        operand: fn(&mut Self) -> Result<Grouped<Cond>>,
        join: fn(Box<Cond>, Box<Cond>) -> Cond,
    ) -> Result<Grouped<Cond>> {
        let mut left = operand(self)?;
        while self.t.eat_keyword(keyword) {
            let right = operand(self)?.0;
            left = (join(Box::new(left.0), Box::new(right)), false);
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Grouped<Cond>> {
        if !self.t.eat_keyword("NOT") {
            return self.atom();
        }
        self.enter()?;
        let inner = self.not()?.0;
        self.depth -= 1;
        Ok((Cond::Not(Box::new(inner)), false))
    }

    /// A parenthesised condition, a comparison, `BETWEEN`, `IN` or a function.
    fn atom(&mut self) -> Result<Grouped<Cond>> {
        if !self.t.at(Tok::LParen) {
            return Ok((self.simple()?, false));
        }
        // `(` opens either a condition or an operand (`(a) = :v`): try the condition, and keep
        // it unless an operator follows its `)`.
        let mark = self.t.mark();
        let saved = (self.r.used.clone(), self.r.issues.snapshot(), self.depth);
        let grouped = self.parenthesised();
        match grouped {
            Ok(cond) if !self.at_operator() => Ok(cond),
            first => {
                self.t.reset(mark);
                (self.r.used, self.depth) = (saved.0, saved.2);
                self.r.issues.restore(saved.1);
                // When both readings fail, report the one that got further.
                match (self.simple(), first) {
                    (Ok(cond), _) => Ok((cond, false)),
                    (Err(e), Err(f)) if offset_of(&f) > offset_of(&e) => Err(f),
                    (Err(e), _) => Err(e),
                }
            }
        }
    }

    fn parenthesised(&mut self) -> Result<Grouped<Cond>> {
        self.t.expect(Tok::LParen)?;
        self.enter()?;
        let (inner, grouped) = self.or()?;
        self.t.expect(Tok::RParen)?;
        self.depth -= 1;
        if grouped {
            self.redundant();
        }
        Ok((inner, true))
    }

    fn redundant(&mut self) {
        self.r.issue(
            Class::Parentheses,
            ErrorKind::RedundantParentheses,
            self.t.offset(),
            "The expression has redundant parentheses;",
        );
    }

    fn at_operator(&self) -> bool {
        self.t.peek().is_some_and(|t| Comparator::of(t.kind).is_some())
            || self.t.at_keyword("BETWEEN")
            || self.t.at_keyword("IN")
    }

    /// A comparison, `BETWEEN`, `IN`, or a function used as a condition.
    fn simple(&mut self) -> Result<Cond> {
        let first = self.term()?.0;
        if let Some(comparator) = self.t.peek().and_then(|t| Comparator::of(t.kind)) {
            self.t.bump();
            let second = self.term()?.0;
            self.distinct(comparator.symbol(), &first, &second);
            return Ok(Cond::Compare(comparator, self.operand(first), self.operand(second)));
        }
        if self.t.eat_keyword("BETWEEN") {
            return self.between(first);
        }
        if self.t.eat_keyword("IN") {
            return self.in_list(first);
        }
        match first {
            Term::Call { name, args, offset, known } => Ok(self.function(&name, args, offset, known)),
            _ => Err(self.t.syntax_error()),
        }
    }

    fn between(&mut self, first: Term) -> Result<Cond> {
        let low = self.term()?.0;
        if !self.t.eat_keyword("AND") {
            return Err(self.t.syntax_error());
        }
        let offset = self.t.offset();
        let high = self.term()?.0;
        let (low, high) = (self.operand(low), self.operand(high));
        if let (Operand::Value(l), Operand::Value(h)) = (&low, &high) {
            self.check_bounds(l, h, offset);
        }
        Ok(Cond::Between(self.operand(first), low, high))
    }

    fn check_bounds(&mut self, low: &AttributeValue, high: &AttributeValue, offset: usize) {
        let problem = if low.value_type() != high.value_type() {
            "requires same data type for lower and upper bounds"
        } else if low.compare(high) == Some(std::cmp::Ordering::Greater) {
            "requires upper bound to be greater than or equal to lower bound"
        } else {
            return;
        };
        self.r.issue(
            Class::Function,
            ErrorKind::BetweenBounds,
            offset,
            format_args!(
                "The BETWEEN operator {problem}; lower bound operand: AttributeValue: {}, upper bound operand: AttributeValue: {}",
                shown(low),
                shown(high)
            ),
        );
    }

    fn in_list(&mut self, first: Term) -> Result<Cond> {
        let offset = self.t.offset();
        self.t.expect(Tok::LParen)?;
        let mut list = vec![self.term()?.0];
        while self.t.at(Tok::Comma) {
            self.t.bump();
            list.push(self.term()?.0);
        }
        self.t.expect(Tok::RParen)?;
        if list.len() > IN_OPERANDS_MAX {
            // unconfirmed: DynamoDB's wording for more than 100 IN operands.
            self.r.issue(
                Class::OperandCount,
                ErrorKind::OperandCount,
                offset,
                format_args!("The IN operator is provided with too many operands; number of operands: {}", list.len()),
            );
        }
        let first = self.operand(first);
        let list = list.into_iter().map(|term| self.operand(term)).collect();
        Ok(Cond::In(first, list))
    }

    /// A path, a value, a function call, or one of those in parentheses.
    fn term(&mut self) -> Result<Grouped<Term>> {
        let token = self.t.peek().ok_or_else(|| self.t.syntax_error())?;
        match token.kind {
            Tok::LParen => {
                self.t.bump();
                self.enter()?;
                let (inner, grouped) = self.term()?;
                self.t.expect(Tok::RParen)?;
                self.depth -= 1;
                if grouped {
                    self.redundant();
                }
                Ok((inner, true))
            }
            Tok::ValuePlaceholder => {
                self.t.bump();
                Ok((Term::Value(self.r.value(self.t.text(token), token.start)), false))
            }
            Tok::Ident if self.t.peek2().is_some_and(|t| t.kind == Tok::LParen) => Ok((self.call()?, false)),
            _ => Ok((Term::Path(self.r.path(&mut self.t)?, token.start), false)),
        }
    }

    fn call(&mut self) -> Result<Term> {
        let name_token = self.t.bump().ok_or_else(|| self.t.syntax_error())?;
        let name = self.t.text(name_token).to_owned();
        self.t.expect(Tok::LParen)?;
        self.enter()?;
        let mut args = vec![self.term()?.0];
        while self.t.at(Tok::Comma) {
            self.t.bump();
            args.push(self.term()?.0);
        }
        self.t.expect(Tok::RParen)?;
        self.depth -= 1;
        let known = FUNCTIONS.iter().any(|(f, _)| *f == name);
        if !known {
            self.r.issue(
                Class::UnknownFunction,
                ErrorKind::UnknownFunction,
                name_token.start,
                format_args!("Invalid function name; function: {name}"),
            );
        }
        Ok(Term::Call { name, args, offset: name_token.start, known })
    }

    /// A term where a value is expected: only `size` may be a function there.
    fn operand(&mut self, term: Term) -> Operand {
        match term {
            Term::Path(path, _) => Operand::Path(path),
            Term::Value(value) => Operand::Value(value),
            Term::Call { name, args, offset, .. } if name == "size" => {
                let arg = self.checked_args(&name, args, offset).into_iter().next();
                let arg = arg.unwrap_or(Operand::Value(AttributeValue::Null));
                if let Some(t @ (ValueType::N | ValueType::Bool | ValueType::Null)) = known_type(&arg) {
                    self.operand_type("size", t.name(), offset);
                }
                Operand::Size(Box::new(arg))
            }
            Term::Call { name, offset, known, .. } => {
                if known {
                    self.misused(&name, offset);
                }
                Operand::Value(AttributeValue::Null)
            }
        }
    }

    fn misused(&mut self, name: &str, offset: usize) {
        self.r.issue(
            Class::MisusedFunction,
            ErrorKind::MisusedFunction,
            offset,
            format_args!("The function is not allowed to be used this way in an expression; function: {name}"),
        );
    }

    fn operand_type(&mut self, function: &str, type_name: &str, offset: usize) {
        self.r.issue(
            Class::Function,
            ErrorKind::OperandType,
            offset,
            format_args!(
                "Incorrect operand type for operator or function; operator or function: {function}, operand type: {type_name}"
            ),
        );
    }

    /// The arguments of a call as operands, after the operand-count and distinctness checks.
    fn checked_args(&mut self, name: &str, args: Vec<Term>, offset: usize) -> Vec<Operand> {
        let expected = FUNCTIONS.iter().find(|(f, _)| *f == name).map_or(0, |(_, n)| *n);
        if args.len() != expected {
            self.r.issue(
                Class::OperandCount,
                ErrorKind::OperandCount,
                offset,
                format_args!(
                    "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {}",
                    args.len()
                ),
            );
        }
        if let [a, b] = args.as_slice() {
            self.distinct(name, a, b);
        }
        args.into_iter().map(|arg| self.operand(arg)).collect()
    }

    fn distinct(&mut self, operator: &str, a: &Term, b: &Term) {
        if let (Term::Path(a, _), Term::Path(b, offset)) = (a, b) {
            if a == b {
                self.r.issue(
                    Class::Distinct,
                    ErrorKind::NotDistinct,
                    *offset,
                    format_args!(
                        "The first operand must be distinct from the remaining operands for this operator or function; operator: {operator}, first operand: {a}"
                    ),
                );
            }
        }
    }

    /// A function call in condition position.
    fn function(&mut self, name: &str, args: Vec<Term>, offset: usize, known: bool) -> Cond {
        let placeholder = Cond::Exists(Path::attribute(""));
        if !known {
            return placeholder;
        }
        if name == "size" {
            self.misused(name, offset);
            return placeholder;
        }
        let mut args = self.checked_args(name, args, offset).into_iter();
        let (Some(a), b) = (args.next(), args.next()) else { return placeholder };
        let b = b.unwrap_or(Operand::Value(AttributeValue::Null));
        match name {
            "attribute_exists" | "attribute_not_exists" => {
                let Operand::Path(path) = a else {
                    self.r.issue(
                        Class::Function,
                        ErrorKind::RequiresPath,
                        offset,
                        format_args!("Operator or function requires a document path; operator or function: {name}"),
                    );
                    return placeholder;
                };
                if name == "attribute_exists" {
                    Cond::Exists(path)
                } else {
                    Cond::NotExists(path)
                }
            }
            "attribute_type" => self.attribute_type(a, &b, offset),
            "begins_with" => {
                for operand in [&a, &b] {
                    if let Some(t) = known_type(operand).filter(|t| !matches!(t, ValueType::S | ValueType::B)) {
                        self.operand_type(name, t.name(), offset);
                    }
                }
                Cond::BeginsWith(a, b)
            }
            _ => Cond::Contains(a, b),
        }
    }

    fn attribute_type(&mut self, a: Operand, b: &Operand, offset: usize) -> Cond {
        let wanted = match b {
            Operand::Value(AttributeValue::S(name)) => ValueType::from_name(name).ok_or(name.as_str()),
            other => {
                let shown = known_type(other).map_or("{NS,SS,L,BS,N,M,B,BOOL,NULL,S}", ValueType::name);
                self.operand_type("attribute_type", shown, offset);
                return Cond::Type(a, ValueType::Null);
            }
        };
        match wanted {
            Ok(t) => Cond::Type(a, t),
            Err(name) => {
                let valid: Vec<&str> = ValueType::ALL.iter().map(|t| t.name()).collect();
                self.r.issue(
                    Class::Function,
                    ErrorKind::OperandType,
                    offset,
                    format_args!(
                        "Invalid attribute type name found; type: {name}, valid types: {{{}}}",
                        valid.join(",")
                    ),
                );
                Cond::Type(a, ValueType::Null)
            }
        }
    }
}

fn offset_of(error: &crate::error::Error) -> usize {
    match error.location() {
        crate::error::Location::Expression { offset, .. } => *offset,
        _ => 0,
    }
}

/// The type an operand is known to have before any item is seen.
pub(crate) fn known_type(operand: &Operand) -> Option<ValueType> {
    match operand {
        Operand::Value(value) => Some(value.value_type()),
        Operand::Size(_) => Some(ValueType::N),
        Operand::Path(_) => None,
    }
}

/// A value as DynamoDB shows it in BETWEEN messages: `{N:5}`, `{S:abc}`.
fn shown(value: &AttributeValue) -> String {
    let body = match value {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => n.to_string(),
        other => crate::wire::to_json(other).to_string(),
    };
    format!("{{{}:{body}}}", value.value_type())
}
