//! Why a pattern was rejected, and where.

use std::fmt;

/// A malformed or oversized pattern.
///
/// [`pointer`](PatternError::pointer) is the RFC 6901 JSON pointer of the offending part of the
/// pattern (`""` is the whole pattern), so an API can return it in a problem's `pointer` field;
/// [`message`](PatternError::message) says what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event pattern at {}: {message}", PointerLabel(pointer))]
pub struct PatternError {
    kind: PatternErrorKind,
    pointer: String,
    message: String,
}

/// The class of a [`PatternError`], with a stable [`code`](PatternErrorKind::code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PatternErrorKind {
    /// The text is not JSON.
    Json,
    /// The JSON is not a pattern: a wrong type, an empty list, a bad numeric range, …
    Syntax,
    /// A top-level field that the envelope does not have.
    UnknownField,
    /// An operator object with an unknown key.
    UnknownOperator,
    /// A valid EventBridge feature that Skald does not implement (`cidr`).
    Unsupported,
    /// A named limit (`PATTERN_*_MAX`) was exceeded.
    TooLarge,
}

impl PatternErrorKind {
    /// A stable, snake_case code; never renamed.
    pub fn code(self) -> &'static str {
        match self {
            PatternErrorKind::Json => "pattern_not_json",
            PatternErrorKind::Syntax => "pattern_syntax",
            PatternErrorKind::UnknownField => "pattern_unknown_field",
            PatternErrorKind::UnknownOperator => "pattern_unknown_operator",
            PatternErrorKind::Unsupported => "pattern_unsupported",
            PatternErrorKind::TooLarge => "pattern_too_large",
        }
    }
}

impl PatternError {
    pub(crate) fn new(kind: PatternErrorKind, pointer: String, message: impl Into<String>) -> Self {
        PatternError { kind, pointer, message: message.into() }
    }

    /// The class of error.
    pub fn kind(&self) -> PatternErrorKind {
        self.kind
    }

    /// The JSON pointer (RFC 6901) of the offending part; `""` means the whole pattern.
    pub fn pointer(&self) -> &str {
        &self.pointer
    }

    /// What is wrong and how to fix it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

struct PointerLabel<'a>(&'a String);

impl fmt::Display for PointerLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("the top level")
        } else {
            write!(f, "`{}`", self.0)
        }
    }
}
