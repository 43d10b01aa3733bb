//! UpdateExpression: the typed AST and its parser, with DynamoDB's parse-time checks (each
//! section once; no two target paths overlapping or conflicting; `ADD` only with a number or a
//! set, `DELETE` only with a set; functions `if_not_exists` and `list_append` with their operand
//! rules; `+`/`-` on numbers). Applying an update is [`crate::apply`].

use crate::error::{Error, ErrorKind, ExpressionKind, Result};
use crate::key::KeySchema;
use crate::lexer::{tokenize, Tok, Tokens};
use crate::limits::{EXPRESSION_NESTING_MAX, UPDATE_OPERATORS_MAX};
use crate::names::{Class, Placeholders, Resolver, Used};
use crate::path::Path;
use crate::value::{AttributeValue, ValueType};

/// A value in a `SET` action.
#[derive(Clone, PartialEq, Debug)]
pub enum UpdateOperand {
    /// A document path, read from the item before the update.
    Path(Path),
    /// An `ExpressionAttributeValues` value.
    Value(AttributeValue),
    /// `if_not_exists(path, operand)`.
    IfNotExists(Path, Box<UpdateOperand>),
    /// `list_append(list1, list2)`.
    ListAppend(Box<UpdateOperand>, Box<UpdateOperand>),
}

/// The right-hand side of `SET path = …`.
#[derive(Clone, PartialEq, Debug)]
pub enum SetValue {
    /// `operand`.
    Operand(UpdateOperand),
    /// `operand + operand`.
    Plus(UpdateOperand, UpdateOperand),
    /// `operand - operand`.
    Minus(UpdateOperand, UpdateOperand),
}

/// One action of an update.
#[derive(Clone, PartialEq, Debug)]
pub enum Action {
    /// `SET path = value`.
    Set(Path, SetValue),
    /// `REMOVE path`.
    Remove(Path),
    /// `ADD path :value` (a number to add, or set members to add).
    Add(Path, AttributeValue),
    /// `DELETE path :value` (set members to take away).
    Delete(Path, AttributeValue),
}

impl Action {
    /// The path the action changes.
    pub fn path(&self) -> &Path {
        match self {
            Action::Set(p, _) | Action::Remove(p) | Action::Add(p, _) | Action::Delete(p, _) => p,
        }
    }
}

/// A parsed UpdateExpression (or legacy `AttributeUpdates`): its actions in written order.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Update {
    /// The actions.
    pub actions: Vec<Action>,
}

/// The order in which DynamoDB reports problems of an update.
const ORDER: &[Class] = &[
    Class::Reserved,
    Class::UnknownFunction,
    Class::Section,
    Class::UndefinedName,
    Class::UndefinedValue,
    Class::Overlap,
    Class::Conflict,
    Class::Operand,
    Class::Function,
    Class::OperandCount,
    Class::Depth,
];

const SECTIONS: [&str; 4] = ["SET", "REMOVE", "ADD", "DELETE"];

impl Update {
    /// Parses an UpdateExpression, resolving placeholders; returns it with what it used.
    pub fn parse(text: &str, placeholders: &Placeholders) -> Result<(Update, Used)> {
        let tokens = tokenize(text, ExpressionKind::Update)?;
        let resolver = Resolver::new(placeholders, ExpressionKind::Update, ORDER);
        let mut parser = Parser { t: tokens, r: resolver, depth: 0, operators: 0, targets: Vec::new() };
        let actions = parser.sections()?;
        parser.finish_checks();
        let used = parser.r.finish()?;
        Ok((Update { actions }, used))
    }

    /// Refuses an update that would change a key attribute.
    pub fn check_keys(&self, schema: &KeySchema) -> Result<()> {
        match self.actions.iter().map(Action::path).find(|p| schema.is_key(p.top())) {
            Some(path) => Err(key_update(path.top())),
            None => Ok(()),
        }
    }
}

pub(crate) fn key_update(name: &str) -> Error {
    Error::invalid_parameter(
        ErrorKind::KeyUpdate,
        name,
        format_args!("Cannot update attribute {name}. This attribute is part of the key"),
    )
}

struct Parser<'s, 'p> {
    t: Tokens<'s>,
    r: Resolver<'p>,
    depth: usize,
    operators: usize,
    targets: Vec<(Path, usize)>,
}

impl Parser<'_, '_> {
    fn sections(&mut self) -> Result<Vec<Action>> {
        let mut actions = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        while let Some(token) = self.t.peek() {
            let Some(section) = SECTIONS.into_iter().find(|s| self.t.at_keyword(s)) else {
                return Err(self.t.syntax_error());
            };
            self.t.bump();
            if seen.contains(&section) {
                self.r.issue(
                    Class::Section,
                    ErrorKind::SectionTwice,
                    token.start,
                    format_args!("The \"{section}\" section can only be used once in an update expression;"),
                );
            }
            seen.push(section);
            loop {
                actions.push(self.action(section)?);
                if !self.t.at(Tok::Comma) {
                    break;
                }
                self.t.bump();
            }
        }
        if actions.is_empty() {
            return Err(self.t.syntax_error());
        }
        Ok(actions)
    }

    fn action(&mut self, section: &str) -> Result<Action> {
        let offset = self.t.offset();
        let path = self.r.path(&mut self.t)?;
        self.targets.push((path.clone(), offset));
        match section {
            "SET" => {
                self.t.expect(Tok::Eq)?;
                Ok(Action::Set(path, self.set_value()?))
            }
            "REMOVE" => Ok(Action::Remove(path)),
            _ => {
                let token = self.t.expect(Tok::ValuePlaceholder)?;
                let value = self.r.value(self.t.text(token), token.start);
                self.check_set_operand(section, &value, token.start);
                Ok(if section == "ADD" { Action::Add(path, value) } else { Action::Delete(path, value) })
            }
        }
    }

    /// `ADD` takes a number or a set, `DELETE` a set.
    fn check_set_operand(&mut self, section: &str, value: &AttributeValue, offset: usize) {
        let t = value.value_type();
        let Some(long) = t.long_name() else { return };
        if section == "ADD" && t == ValueType::N {
            return;
        }
        self.r.issue(
            Class::Operand,
            ErrorKind::OperandType,
            offset,
            format_args!("Incorrect operand type for operator or function; operator: {section}, operand type: {long}"),
        );
    }

    fn set_value(&mut self) -> Result<SetValue> {
        // `SET a = (b + :c)`: one optional pair of parentheses around the whole value.
        // Otherwise a `(` starts an operand (`SET a = (b) + :c`), which `operand` reads.
        let (mark, operators, depth) = (self.t.mark(), self.operators, self.depth);
        if self.t.at(Tok::LParen) {
            self.t.bump();
            if let Ok(value @ (SetValue::Plus(..) | SetValue::Minus(..))) = self.arithmetic() {
                if self.t.at(Tok::RParen) {
                    self.t.bump();
                    return Ok(value);
                }
            }
            self.t.reset(mark);
            (self.operators, self.depth) = (operators, depth);
        }
        self.arithmetic()
    }

    fn arithmetic(&mut self) -> Result<SetValue> {
        let left = self.operand()?;
        let op = match self.t.peek().map(|t| t.kind) {
            Some(Tok::Plus) => "+",
            Some(Tok::Minus) => "-",
            _ => return Ok(SetValue::Operand(left)),
        };
        let offset = self.t.offset();
        self.t.bump();
        self.operators += 1;
        let right = self.operand()?;
        for operand in [&left, &right] {
            if let UpdateOperand::Value(v) = operand {
                if v.value_type() != ValueType::N {
                    self.operand_type(op, v.value_type(), offset);
                }
            }
        }
        Ok(if op == "+" { SetValue::Plus(left, right) } else { SetValue::Minus(left, right) })
    }

    fn operand_type(&mut self, function: &str, t: ValueType, offset: usize) {
        self.r.issue(
            Class::Function,
            ErrorKind::OperandType,
            offset,
            format_args!(
                "Incorrect operand type for operator or function; operator or function: {function}, operand type: {t}"
            ),
        );
    }

    /// A path, a value, a function call, or one of them in parentheses.
    fn operand(&mut self) -> Result<UpdateOperand> {
        let token = self.t.peek().ok_or_else(|| self.t.syntax_error())?;
        match token.kind {
            Tok::LParen => {
                self.t.bump();
                self.enter()?;
                let inner = self.operand()?;
                self.t.expect(Tok::RParen)?;
                self.depth -= 1;
                Ok(inner)
            }
            Tok::ValuePlaceholder => {
                self.t.bump();
                Ok(UpdateOperand::Value(self.r.value(self.t.text(token), token.start)))
            }
            Tok::Ident if self.t.peek2().is_some_and(|t| t.kind == Tok::LParen) => self.call(),
            _ => Ok(UpdateOperand::Path(self.r.path(&mut self.t)?)),
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > EXPRESSION_NESTING_MAX {
            return Err(Error::expression(
                ErrorKind::NestingTooDeep,
                ExpressionKind::Update,
                self.t.offset(),
                format_args!("The expression is nested more than {EXPRESSION_NESTING_MAX} levels deep"),
            ));
        }
        Ok(())
    }

    fn call(&mut self) -> Result<UpdateOperand> {
        let name_token = self.t.bump().ok_or_else(|| self.t.syntax_error())?;
        let name = self.t.text(name_token).to_owned();
        let offset = name_token.start;
        self.t.expect(Tok::LParen)?;
        self.enter()?;
        let mut args = vec![self.operand()?];
        while self.t.at(Tok::Comma) {
            self.t.bump();
            args.push(self.operand()?);
        }
        self.t.expect(Tok::RParen)?;
        self.depth -= 1;
        self.operators += 1;
        Ok(self.function(&name, args, offset))
    }

    fn function(&mut self, name: &str, args: Vec<UpdateOperand>, offset: usize) -> UpdateOperand {
        let placeholder = UpdateOperand::Value(AttributeValue::Null);
        if name != "if_not_exists" && name != "list_append" {
            self.r.issue(
                Class::UnknownFunction,
                ErrorKind::UnknownFunction,
                offset,
                format_args!("Invalid function name; function: {name}"),
            );
            return placeholder;
        }
        let count = args.len();
        let mut args = args.into_iter();
        let (Some(a), Some(b), None) = (args.next(), args.next(), args.next()) else {
            self.r.issue(
                Class::Function,
                ErrorKind::OperandCount,
                offset,
                format_args!(
                    "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {count}"
                ),
            );
            return placeholder;
        };
        if name == "list_append" {
            for operand in [&a, &b] {
                if let UpdateOperand::Value(v) = operand {
                    if v.value_type() != ValueType::L {
                        self.operand_type(name, v.value_type(), offset);
                    }
                }
            }
            return UpdateOperand::ListAppend(Box::new(a), Box::new(b));
        }
        match a {
            UpdateOperand::Path(path) => UpdateOperand::IfNotExists(path, Box::new(b)),
            _ => {
                self.r.issue(
                    Class::Function,
                    ErrorKind::RequiresPath,
                    offset,
                    format_args!("Operator or function requires a document path; operator or function: {name}"),
                );
                placeholder
            }
        }
    }

    /// The whole-expression checks: overlapping target paths and the operator count.
    fn finish_checks(&mut self) {
        let targets = std::mem::take(&mut self.targets);
        self.r.check_clashes(&targets);
        if self.operators > UPDATE_OPERATORS_MAX {
            // unconfirmed: DynamoDB's wording for more than 300 operators.
            self.r.issue(
                Class::OperandCount,
                ErrorKind::TooManyOperators,
                0,
                format_args!(
                    "The expression contains too many operators; operators: {}, maximum: {UPDATE_OPERATORS_MAX}",
                    self.operators
                ),
            );
        }
    }
}
