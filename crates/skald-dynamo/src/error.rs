//! The one error type: what went wrong ([`ErrorKind`]), where ([`Location`]), and the message
//! text DynamoDB answers with, so a client that searches for a message finds the same words.
//!
//! Messages come from DynamoDB's documentation and from DynamoDB's own answers as recorded by
//! others; each constructor that builds a message DynamoDB's documentation does not show says so
//! in a comment (`unconfirmed`).

use std::fmt;

/// Which expression parameter an error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpressionKind {
    /// `ConditionExpression` (PutItem, UpdateItem, DeleteItem, transactions).
    Condition,
    /// `FilterExpression` (Query, Scan).
    Filter,
    /// `KeyConditionExpression` (Query).
    KeyCondition,
    /// `UpdateExpression` (UpdateItem).
    Update,
    /// `ProjectionExpression` (reads).
    Projection,
}

impl ExpressionKind {
    /// The request parameter's name, as DynamoDB spells it in messages.
    pub fn parameter(self) -> &'static str {
        match self {
            ExpressionKind::Condition => "ConditionExpression",
            ExpressionKind::Filter => "FilterExpression",
            ExpressionKind::KeyCondition => "KeyConditionExpression",
            ExpressionKind::Update => "UpdateExpression",
            ExpressionKind::Projection => "ProjectionExpression",
        }
    }
}

impl fmt::Display for ExpressionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.parameter())
    }
}

/// The DynamoDB exception an error is answered with (`__type` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exception {
    /// `com.amazon.coral.validate#ValidationException`: the request is malformed or cannot apply.
    Validation,
    /// `com.amazon.coral.service#SerializationException`: the JSON does not have the API's shape.
    Serialization,
}

impl Exception {
    /// The short name (`ValidationException`).
    pub fn name(self) -> &'static str {
        match self {
            Exception::Validation => "ValidationException",
            Exception::Serialization => "SerializationException",
        }
    }
}

/// What kind of problem an [`Error`] is. Stable: matched by callers and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The expression does not follow the grammar.
    Syntax,
    /// An expression parameter is the empty string.
    EmptyExpression,
    /// An expression is longer than [`crate::limits::EXPRESSION_BYTES_MAX`].
    ExpressionTooLong,
    /// Parentheses, `NOT` or calls nested deeper than [`crate::limits::EXPRESSION_NESTING_MAX`].
    NestingTooDeep,
    /// A bare attribute name is one of DynamoDB's reserved words.
    ReservedWord,
    /// A `#name` not in `ExpressionAttributeNames`.
    UndefinedName,
    /// A `:value` not in `ExpressionAttributeValues`.
    UndefinedValue,
    /// Entries of `ExpressionAttributeNames` no expression uses.
    UnusedNames,
    /// Entries of `ExpressionAttributeValues` no expression uses.
    UnusedValues,
    /// `ExpressionAttributeNames`/`Values` that are empty, have a bad key or a bad value, or are
    /// given without any expression.
    InvalidPlaceholders,
    /// A function name the expression language does not have.
    UnknownFunction,
    /// A function or operator with the wrong number of operands (also `IN` over its limit).
    OperandCount,
    /// A function that needs a document path was given something else.
    RequiresPath,
    /// An operand whose type the function or operator does not accept.
    OperandType,
    /// A function used where a condition or a value is expected, or the reverse.
    MisusedFunction,
    /// The same document path on both sides of an operator.
    NotDistinct,
    /// `BETWEEN` bounds of different types or in the wrong order.
    BetweenBounds,
    /// Doubled parentheses.
    RedundantParentheses,
    /// An UpdateExpression section (`SET`, …) given twice.
    SectionTwice,
    /// Two document paths of one expression overlap or conflict.
    PathOverlap,
    /// A document path deeper than [`crate::limits::DOCUMENT_DEPTH_MAX`].
    PathTooDeep,
    /// An UpdateExpression with more than [`crate::limits::UPDATE_OPERATORS_MAX`] operators.
    TooManyOperators,
    /// A KeyConditionExpression or KeyConditions that a Query cannot use.
    KeyCondition,
    /// A key that does not match the table's key schema.
    KeySchema,
    /// A key value over its size limit, or an empty key string/binary.
    KeyValue,
    /// An update that would change a key attribute.
    KeyUpdate,
    /// An attribute value that is malformed (empty set, duplicate members, …).
    InvalidValue,
    /// A number that is not a number.
    InvalidNumber,
    /// A number over `9.99…E+125`, or an arithmetic result that needs more than 38 digits.
    NumberOverflow,
    /// A non-zero number under `1E-130`.
    NumberUnderflow,
    /// A number with more than 38 significant digits.
    NumberPrecision,
    /// An item over [`crate::limits::ITEM_SIZE_BYTES_MAX`].
    ItemTooLarge,
    /// Lists and maps nested deeper than [`crate::limits::DOCUMENT_DEPTH_MAX`].
    DocumentTooDeep,
    /// An update operand refers to an attribute the item does not have.
    MissingAttribute,
    /// An update operand has a type the operation cannot use.
    IncorrectDataType,
    /// An update path whose parent is missing or of the wrong kind.
    InvalidDocumentPath,
    /// Legacy and expression parameters in one request.
    MixedParameters,
    /// A malformed legacy parameter (`Expected`, `AttributeUpdates`, `KeyConditions`, …).
    Legacy,
    /// JSON that does not have the wire shape (`{"N": 5}`, an unknown type letter, …).
    Serialization,
}

/// Where in the request an error is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// The request as a whole.
    Request,
    /// A byte offset into an expression (the offending token, or the expression's length at its
    /// end).
    Expression {
        /// Which expression.
        expression: ExpressionKind,
        /// Byte offset of the offending token.
        offset: usize,
    },
    /// A request parameter (`ExpressionAttributeValues`, `Expected`, …).
    Parameter(&'static str),
    /// An attribute or placeholder: a parameter and a key inside it, or a document path.
    Attribute(String),
}

/// A request DynamoDB would refuse, with DynamoDB's message.
///
/// `Display` is exactly the message DynamoDB sends; [`Error::exception`] is the exception it
/// sends it with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    at: Location,
}

impl Error {
    /// An error of `kind` with DynamoDB's `message`, at `at`.
    pub fn new(kind: ErrorKind, at: Location, message: impl Into<String>) -> Error {
        Error { kind, message: message.into(), at }
    }

    /// An error inside expression `expression` at byte `offset`: the message is
    /// `Invalid <Parameter>: <detail>`, DynamoDB's form for everything found while parsing.
    pub fn expression(kind: ErrorKind, expression: ExpressionKind, offset: usize, detail: impl fmt::Display) -> Error {
        Error::new(
            kind,
            Location::Expression { expression, offset },
            format!("Invalid {}: {detail}", expression.parameter()),
        )
    }

    /// An error about the request as a whole.
    pub fn request(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error::new(kind, Location::Request, message)
    }

    /// An error about one attribute or placeholder.
    pub fn attribute(kind: ErrorKind, name: impl Into<String>, message: impl Into<String>) -> Error {
        Error::new(kind, Location::Attribute(name.into()), message)
    }

    /// A `One or more parameter values were invalid: …` error about one attribute.
    pub fn invalid_parameter(kind: ErrorKind, name: impl Into<String>, detail: impl fmt::Display) -> Error {
        Error::attribute(kind, name, format!("One or more parameter values were invalid: {detail}"))
    }

    /// The class of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// DynamoDB's message text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the error is.
    pub fn location(&self) -> &Location {
        &self.at
    }

    /// The exception DynamoDB answers with.
    pub fn exception(&self) -> Exception {
        match self.kind {
            ErrorKind::Serialization => Exception::Serialization,
            _ => Exception::Validation,
        }
    }

    /// The same error placed at `at` (used when a value error is found inside a parameter).
    pub(crate) fn at(mut self, at: Location) -> Error {
        self.at = at;
        self
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
