//! A borrowing JSON scanner: it walks event text in place and hands out slices of it.
//!
//! The matcher drives it: it descends only into the keys a pattern names and skips everything
//! else. Nothing is decoded or copied; strings come back as raw slices ([`JsonStr`]) and numbers
//! as their text. The scanner checks the JSON grammar as it goes (string escapes, number syntax,
//! commas, brackets), so malformed text is reported rather than half-matched. Skipping is iterative,
//! with nesting bounded by [`EVENT_DEPTH_MAX`], so no event can overflow the stack.

use crate::text::JsonStr;
use crate::EVENT_DEPTH_MAX;

/// The event text is not well-formed JSON, or nests deeper than [`EVENT_DEPTH_MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

pub(crate) type Scan<T> = Result<T, Malformed>;

/// A leaf value of the event.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scalar<'a> {
    Str(JsonStr<'a>),
    /// The number's JSON text, grammar already checked.
    Num(&'a str),
    Bool(bool),
    Null,
}

/// What the next value is, without consuming it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    Scalar,
}

/// A cursor over JSON text. `Copy`, so a caller can remember a position and come back to it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Scanner { text, pos: 0 }
    }

    fn byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.byte() {
            self.pos += 1;
        }
    }

    /// Consumes `want` after optional whitespace.
    fn expect(&mut self, want: u8) -> Scan<()> {
        self.skip_ws();
        if self.byte() == Some(want) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    /// The kind of the next value.
    pub(crate) fn peek(&mut self) -> Scan<Kind> {
        self.skip_ws();
        match self.byte() {
            Some(b'{') => Ok(Kind::Object),
            Some(b'[') => Ok(Kind::Array),
            Some(_) => Ok(Kind::Scalar),
            None => Err(Malformed),
        }
    }

    /// Checks that only whitespace is left.
    pub(crate) fn finish(&mut self) -> Scan<()> {
        self.skip_ws();
        if self.pos == self.text.len() {
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    /// Reads a scalar value.
    pub(crate) fn scalar(&mut self) -> Scan<Scalar<'a>> {
        self.skip_ws();
        match self.byte().ok_or(Malformed)? {
            b'"' => self.string().map(Scalar::Str),
            b'-' | b'0'..=b'9' => self.number().map(Scalar::Num),
            b't' => self.literal("true").map(|()| Scalar::Bool(true)),
            b'f' => self.literal("false").map(|()| Scalar::Bool(false)),
            b'n' => self.literal("null").map(|()| Scalar::Null),
            _ => Err(Malformed),
        }
    }

    fn literal(&mut self, word: &str) -> Scan<()> {
        if self.text.as_bytes()[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    /// Reads a string starting at its opening quote.
    fn string(&mut self) -> Scan<JsonStr<'a>> {
        let bytes = self.text.as_bytes();
        let start = self.pos + 1;
        let mut at = start;
        let mut escaped = false;
        loop {
            at = skip_plain_string_bytes(bytes, at);
            match *bytes.get(at).ok_or(Malformed)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    match *bytes.get(at + 1).ok_or(Malformed)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at += 2,
                        b'u' => {
                            let hex = bytes.get(at + 2..at + 6).ok_or(Malformed)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(Malformed);
                            }
                            at += 6;
                        }
                        _ => return Err(Malformed),
                    }
                }
                0..=0x1f => return Err(Malformed),
                _ => at += 1,
            }
        }
        self.pos = at + 1;
        // `start` and `at` sit next to ASCII quotes, so they are char boundaries.
        Ok(JsonStr::json(&self.text[start..at], escaped))
    }

    /// Reads a number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Scan<&'a str> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut at = start;
        let digits = |at: &mut usize| {
            let from = *at;
            while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            if *at > from {
                Ok(())
            } else {
                Err(Malformed)
            }
        };
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        if bytes.get(at) == Some(&b'0') {
            at += 1;
        } else {
            digits(&mut at)?;
        }
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            digits(&mut at)?;
        }
        if let Some(b'e' | b'E') = bytes.get(at) {
            at += 1;
            if let Some(b'+' | b'-') = bytes.get(at) {
                at += 1;
            }
            digits(&mut at)?;
        }
        self.pos = at;
        Ok(&self.text[start..at])
    }

    /// Consumes the `{` of an object; iterate its members with [`Members`].
    pub(crate) fn enter_object(&mut self) -> Scan<Members> {
        self.expect(b'{')?;
        Ok(Members { first: true })
    }

    /// Consumes the `[` of an array; iterate its elements with [`Elements`].
    pub(crate) fn enter_array(&mut self) -> Scan<Elements> {
        self.expect(b'[')?;
        Ok(Elements { first: true })
    }

    /// Skips one value of any kind.
    pub(crate) fn skip_value(&mut self) -> Scan<()> {
        // One bit per open container, set for objects; `depth` counts them.
        let mut objects: u128 = 0;
        let mut depth: usize = 0;
        const _: () = assert!(EVENT_DEPTH_MAX <= 128, "the container stack is a u128");
        loop {
            // A value starts here.
            match self.peek()? {
                Kind::Scalar => {
                    self.scalar()?;
                }
                kind => {
                    if depth == EVENT_DEPTH_MAX {
                        return Err(Malformed);
                    }
                    let is_object = kind == Kind::Object;
                    self.pos += 1;
                    self.skip_ws();
                    let close = if is_object { b'}' } else { b']' };
                    if self.byte() == Some(close) {
                        self.pos += 1;
                    } else {
                        objects = (objects << 1) | u128::from(is_object);
                        depth += 1;
                        if is_object {
                            self.member_key()?;
                        }
                        continue;
                    }
                }
            }
            // A value ended: close containers until one continues with a comma.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let in_object = objects & 1 == 1;
                self.skip_ws();
                match self.byte() {
                    Some(b',') => {
                        self.pos += 1;
                        if in_object {
                            self.member_key()?;
                        }
                        break;
                    }
                    Some(b'}') if in_object => {}
                    Some(b']') if !in_object => {}
                    _ => return Err(Malformed),
                }
                self.pos += 1;
                objects >>= 1;
                depth -= 1;
            }
        }
    }

    /// Reads `"key" :` of an object member.
    fn member_key(&mut self) -> Scan<JsonStr<'a>> {
        self.skip_ws();
        if self.byte() != Some(b'"') {
            return Err(Malformed);
        }
        let key = self.string()?;
        self.expect(b':')?;
        Ok(key)
    }
}

/// Skips, eight bytes at a time, string bytes that need no attention: returns the index of the
/// first chunk holding a `"`, a `\` or a control byte (or the tail shorter than a chunk).
fn skip_plain_string_bytes(bytes: &[u8], mut at: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // A high bit marks each byte of `x` that is below `n` (for n <= 128).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let x = u64::from_ne_bytes(chunk.try_into().unwrap_or([b'"'; 8]));
        let special = below(x ^ (ONES * u64::from(b'"')), 1) | below(x ^ (ONES * u64::from(b'\\')), 1) | below(x, 0x20);
        if special != 0 {
            break;
        }
        at += 8;
    }
    at
}

/// Iterates the members of an object entered with [`Scanner::enter_object`].
pub(crate) struct Members {
    first: bool,
}

impl Members {
    /// The next key, leaving the scanner at its value (which the caller must consume), or `None`
    /// after the closing `}`.
    pub(crate) fn next<'a>(&mut self, s: &mut Scanner<'a>) -> Scan<Option<JsonStr<'a>>> {
        s.skip_ws();
        if s.byte() == Some(b'}') {
            s.pos += 1;
            return Ok(None);
        }
        if !std::mem::replace(&mut self.first, false) {
            s.expect(b',')?;
        }
        s.member_key().map(Some)
    }
}

/// Iterates the elements of an array entered with [`Scanner::enter_array`].
pub(crate) struct Elements {
    first: bool,
}

impl Elements {
    /// Whether another element follows (the scanner is then at it, and the caller must consume
    /// it); `false` after the closing `]`.
    pub(crate) fn next(&mut self, s: &mut Scanner<'_>) -> Scan<bool> {
        s.skip_ws();
        if s.byte() == Some(b']') {
            s.pos += 1;
            return Ok(false);
        }
        if !std::mem::replace(&mut self.first, false) {
            s.expect(b',')?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skips(text: &str) -> bool {
        let mut s = Scanner::new(text);
        s.skip_value().and_then(|()| s.finish()).is_ok()
    }

    #[test]
    fn skips_well_formed_values() {
        for text in [
            "0",
            "-0.5e+10",
            "\"a\\u00e9\\n\"",
            "true",
            "null",
            "{}",
            "[]",
            " { \"a\" : [1, {\"b\": [[], {}]}, \"x\"] , \"c\": null } ",
            "[[[[1]]]]",
        ] {
            assert!(skips(text), "{text}");
        }
    }

    #[test]
    fn rejects_malformed_values() {
        for text in [
            "",
            "01",
            "1.",
            "-",
            "1e",
            "+1",
            "\"abc",
            "\"\\x\"",
            "\"\\u12\"",
            "\"a\nb\"",
            "{",
            "{\"a\"}",
            "{\"a\":1,}",
            "[1,]",
            "[1 2]",
            "{\"a\":1]",
            "[1}",
            "tru",
            "{a:1}",
            "1 2",
        ] {
            assert!(!skips(text), "{text:?}");
        }
    }

    #[test]
    fn bounds_nesting() {
        let ok = "[".repeat(EVENT_DEPTH_MAX) + &"]".repeat(EVENT_DEPTH_MAX);
        assert!(skips(&ok));
        let deep = "[".repeat(EVENT_DEPTH_MAX + 1) + &"]".repeat(EVENT_DEPTH_MAX + 1);
        assert!(!skips(&deep));
    }
}
