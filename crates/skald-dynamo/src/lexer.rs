//! Tokens of DynamoDB's expression languages, shared by every parser, and the syntax error
//! DynamoDB reports: `Syntax error; token: "<t>", near: "<text>"`, where `<t>` is the token the
//! parser stopped at (empty at the end) and `<text>` the source from the token before it to the
//! token after it (at the end: the last token).
//!
//! Anything the languages do not know (`@`, a `#` with no name, a quote) becomes a one-character
//! [`Tok::Unknown`], which no grammar rule accepts, so it is reported as that token.

use crate::error::{Error, ErrorKind, ExpressionKind, Result};
use crate::limits::EXPRESSION_BYTES_MAX;

/// A token's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A name: letters, digits and `_`, starting with a letter or `_`. Keywords (`AND`, `SET`, …)
    /// are names the parsers recognise case-insensitively.
    Ident,
    /// `#name`: an expression attribute name.
    NamePlaceholder,
    /// `:name`: an expression attribute value.
    ValuePlaceholder,
    /// Decimal digits (list indexes).
    Int,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    /// A character no rule accepts.
    Unknown,
}

/// A token and where it is in the source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    pub kind: Tok,
    pub start: usize,
    pub end: usize,
}

/// An expression split into tokens, with a cursor.
pub(crate) struct Tokens<'s> {
    pub source: &'s str,
    pub expression: ExpressionKind,
    tokens: Vec<Token>,
    pos: usize,
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Checks the length limits and splits `source` into tokens.
pub(crate) fn tokenize(source: &str, expression: ExpressionKind) -> Result<Tokens<'_>> {
    if source.is_empty() {
        return Err(Error::expression(ErrorKind::EmptyExpression, expression, 0, "The expression can not be empty;"));
    }
    if source.len() > EXPRESSION_BYTES_MAX {
        // unconfirmed: the wording of DynamoDB's message for an over-long expression.
        return Err(Error::expression(
            ErrorKind::ExpressionTooLong,
            expression,
            EXPRESSION_BYTES_MAX,
            format_args!(
                "Expression size has exceeded the maximum allowed size; expression size: {}, maximum: {EXPRESSION_BYTES_MAX}",
                source.len()
            ),
        ));
    }
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
            continue;
        }
        let (kind, len) = token_at(source, i);
        tokens.push(Token { kind, start: i, end: i + len });
        i += len;
    }
    Ok(Tokens { source, expression, tokens, pos: 0 })
}

/// The token starting at byte `i` (not whitespace) and its length in bytes.
fn token_at(source: &str, i: usize) -> (Tok, usize) {
    let bytes = source.as_bytes();
    let run = |from: usize, pred: fn(u8) -> bool| bytes[from..].iter().take_while(|&&b| pred(b)).count();
    let next = bytes.get(i + 1).copied();
    match bytes[i] {
        b'#' if next.is_some_and(is_name_char) => (Tok::NamePlaceholder, 1 + run(i + 1, is_name_char)),
        b':' if next.is_some_and(is_name_char) => (Tok::ValuePlaceholder, 1 + run(i + 1, is_name_char)),
        c if c.is_ascii_alphabetic() || c == b'_' => (Tok::Ident, run(i, is_name_char)),
        c if c.is_ascii_digit() => (Tok::Int, run(i, |b| b.is_ascii_digit())),
        b'(' => (Tok::LParen, 1),
        b')' => (Tok::RParen, 1),
        b'[' => (Tok::LBracket, 1),
        b']' => (Tok::RBracket, 1),
        b',' => (Tok::Comma, 1),
        b'.' => (Tok::Dot, 1),
        b'=' => (Tok::Eq, 1),
        b'+' => (Tok::Plus, 1),
        b'-' => (Tok::Minus, 1),
        b'<' if next == Some(b'>') => (Tok::Ne, 2),
        b'<' if next == Some(b'=') => (Tok::Le, 2),
        b'<' => (Tok::Lt, 1),
        b'>' if next == Some(b'=') => (Tok::Ge, 2),
        b'>' => (Tok::Gt, 1),
        _ => (Tok::Unknown, source[i..].chars().next().map_or(1, char::len_utf8)),
    }
}

impl<'s> Tokens<'s> {
    /// The current token, if any.
    pub fn peek(&self) -> Option<Token> {
        self.tokens.get(self.pos).copied()
    }

    /// The token after the current one.
    pub fn peek2(&self) -> Option<Token> {
        self.tokens.get(self.pos + 1).copied()
    }

    /// Whether the current token is `kind`.
    pub fn at(&self, kind: Tok) -> bool {
        self.peek().is_some_and(|t| t.kind == kind)
    }

    /// Whether the current token is the keyword `word` (case-insensitive).
    pub fn at_keyword(&self, word: &str) -> bool {
        self.peek().is_some_and(|t| t.kind == Tok::Ident && self.text(t).eq_ignore_ascii_case(word))
    }

    /// The source text of a token.
    pub fn text(&self, token: Token) -> &'s str {
        &self.source[token.start..token.end]
    }

    /// Takes the current token.
    pub fn bump(&mut self) -> Option<Token> {
        let token = self.peek();
        self.pos += usize::from(token.is_some());
        token
    }

    /// Takes the current token if it is `kind`, else the syntax error at it.
    pub fn expect(&mut self, kind: Tok) -> Result<Token> {
        if self.at(kind) {
            Ok(self.bump().unwrap_or(Token { kind, start: 0, end: 0 }))
        } else {
            Err(self.syntax_error())
        }
    }

    /// Takes the keyword `word` if it is next.
    pub fn eat_keyword(&mut self, word: &str) -> bool {
        let found = self.at_keyword(word);
        self.pos += usize::from(found);
        found
    }

    /// Whether every token has been taken.
    pub fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    /// The current position, for looking ahead and coming back.
    pub fn mark(&self) -> usize {
        self.pos
    }

    /// Goes back to a position from [`Tokens::mark`].
    pub fn reset(&mut self, mark: usize) {
        self.pos = mark;
    }

    /// The byte offset of the current token (the source length at the end).
    pub fn offset(&self) -> usize {
        self.peek().map_or(self.source.len(), |t| t.start)
    }

    /// DynamoDB's syntax error at the current token.
    pub fn syntax_error(&self) -> Error {
        let (token, near) = match self.peek() {
            Some(t) => {
                let first = self.tokens[self.pos.saturating_sub(1)];
                let last = self.tokens.get(self.pos + 1).copied().unwrap_or(t);
                (self.text(t), &self.source[first.start..last.end])
            }
            None => ("", self.tokens.last().map_or("", |t| self.text(*t))),
        };
        Error::expression(
            ErrorKind::Syntax,
            self.expression,
            self.offset(),
            format_args!("Syntax error; token: \"{token}\", near: \"{near}\""),
        )
    }
}
