//! Strings as the matcher sees them: borrowed, possibly still JSON-escaped, compared without
//! decoding into a buffer.
//!
//! An event string is either plain Rust text (the envelope's `stream`, `type`, …) or the raw text
//! between the quotes of a JSON string in `data`/`metadata`. Raw text without a backslash is
//! compared byte for byte; raw text with escapes is decoded one `char` at a time by [`StrChars`],
//! so no comparison ever allocates.

use std::str::Chars;

/// A borrowed string, plain or JSON-escaped.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JsonStr<'a> {
    /// Plain text, or the raw JSON text between the quotes when `escaped`.
    raw: &'a str,
    /// Whether `raw` contains JSON escapes that must be decoded.
    escaped: bool,
}

impl<'a> JsonStr<'a> {
    /// Plain text: a backslash in it is just a backslash.
    pub(crate) fn plain(text: &'a str) -> Self {
        JsonStr { raw: text, escaped: false }
    }

    /// The raw text between the quotes of a JSON string; `escaped` says whether it has a `\`.
    pub(crate) fn json(raw: &'a str, escaped: bool) -> Self {
        JsonStr { raw, escaped }
    }

    /// The text when no decoding is needed.
    pub(crate) fn plain_text(&self) -> Option<&'a str> {
        (!self.escaped).then_some(self.raw)
    }

    /// The decoded characters.
    pub(crate) fn chars(&self) -> StrChars<'a> {
        StrChars { rest: self.raw.chars(), decode: self.escaped }
    }

    /// The decoded characters, each lower-cased (`char::to_lowercase`, which never allocates).
    fn lower_chars(&self) -> impl Iterator<Item = char> + Clone + 'a {
        self.chars().flat_map(char::to_lowercase as fn(char) -> std::char::ToLowercase)
    }

    /// Equal to `pattern` once decoded.
    pub(crate) fn equals(&self, pattern: &str) -> bool {
        match self.plain_text() {
            Some(text) => text == pattern,
            None => self.chars().eq(pattern.chars()),
        }
    }

    /// Starts with `pattern` once decoded.
    pub(crate) fn starts_with(&self, pattern: &str) -> bool {
        match self.plain_text() {
            Some(text) => text.starts_with(pattern),
            None => is_prefix(pattern.chars(), self.chars()),
        }
    }

    /// Ends with `pattern` once decoded.
    pub(crate) fn ends_with(&self, pattern: &str) -> bool {
        match self.plain_text() {
            Some(text) => text.ends_with(pattern),
            None => is_suffix(pattern.chars(), self.chars()),
        }
    }

    /// Equal to `lowered` ignoring case; `lowered` is already lower-cased by [`lowercase`].
    pub(crate) fn equals_ignore_case(&self, lowered: &str) -> bool {
        match self.plain_text() {
            Some(text) if text.is_ascii() && lowered.is_ascii() => text.eq_ignore_ascii_case(lowered),
            _ => self.lower_chars().eq(lowered.chars()),
        }
    }

    /// Starts with `lowered` ignoring case.
    pub(crate) fn starts_with_ignore_case(&self, lowered: &str) -> bool {
        is_prefix(lowered.chars(), self.lower_chars())
    }

    /// Ends with `lowered` ignoring case.
    pub(crate) fn ends_with_ignore_case(&self, lowered: &str) -> bool {
        is_suffix(lowered.chars(), self.lower_chars())
    }

    /// Matches a compiled wildcard.
    pub(crate) fn matches_wildcard(&self, tokens: &[WildToken]) -> bool {
        glob(self.chars(), tokens)
    }
}

/// Lower-cases text the way the matcher does: char by char, without context-dependent rules.
pub(crate) fn lowercase(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

/// Whether `text` begins with all of `prefix`.
fn is_prefix(prefix: impl Iterator<Item = char>, mut text: impl Iterator<Item = char>) -> bool {
    prefix.into_iter().all(|c| text.next() == Some(c))
}

/// Whether `text` ends with all of `suffix`: count both, skip the difference, compare the rest.
fn is_suffix(suffix: impl Iterator<Item = char> + Clone, text: impl Iterator<Item = char> + Clone) -> bool {
    let want = suffix.clone().count();
    let have = text.clone().count();
    have >= want && text.skip(have - want).eq(suffix)
}

/// One element of a compiled wildcard: a literal character or `*` (any run of characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WildToken {
    Char(char),
    Star,
}

/// Wildcard matching with one backtracking point (the last `*` seen): linear in practice,
/// O(text × pattern) at worst, and it never allocates.
fn glob<I: Iterator<Item = char> + Clone>(text: I, tokens: &[WildToken]) -> bool {
    let mut rest = text;
    let mut at = 0;
    // The token index just after the last star, and the text where that star's run ends.
    let mut backtrack: Option<(usize, I)> = None;
    loop {
        let mut ahead = rest.clone();
        match ahead.next() {
            Some(c) => match tokens.get(at) {
                Some(WildToken::Star) => {
                    at += 1;
                    backtrack = Some((at, rest.clone()));
                }
                Some(WildToken::Char(want)) if *want == c => {
                    at += 1;
                    rest = ahead;
                }
                _ => match &mut backtrack {
                    Some((star_next, star_text)) => {
                        // Let the star swallow one more character and retry from there.
                        star_text.next();
                        rest = star_text.clone();
                        at = *star_next;
                    }
                    None => return false,
                },
            },
            None => return tokens[at.min(tokens.len())..].iter().all(|t| *t == WildToken::Star),
        }
    }
}

/// Decodes a string's characters, resolving JSON escapes when asked to.
///
/// Escapes were checked by the scanner; a lone surrogate (`\ud800` without its pair) decodes to
/// U+FFFD, the replacement character.
#[derive(Clone, Debug)]
pub(crate) struct StrChars<'a> {
    rest: Chars<'a>,
    decode: bool,
}

impl Iterator for StrChars<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let c = self.rest.next()?;
        if !self.decode || c != '\\' {
            return Some(c);
        }
        Some(match self.rest.next()? {
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => self.unicode_escape(),
            other => other, // `"`, `\` and `/` stand for themselves.
        })
    }
}

impl StrChars<'_> {
    /// The character of a `\uXXXX` escape whose `\u` was just read, joining surrogate pairs.
    fn unicode_escape(&mut self) -> char {
        let Some(first) = hex4(&mut self.rest) else { return char::REPLACEMENT_CHARACTER };
        if !(0xD800..0xDC00).contains(&first) {
            return char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER);
        }
        let mut ahead = self.rest.clone();
        if ahead.next() == Some('\\') && ahead.next() == Some('u') {
            if let Some(second) = hex4(&mut ahead) {
                if (0xDC00..0xE000).contains(&second) {
                    self.rest = ahead;
                    let joined = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                    return char::from_u32(joined).unwrap_or(char::REPLACEMENT_CHARACTER);
                }
            }
        }
        char::REPLACEMENT_CHARACTER
    }
}

/// Four hexadecimal digits as a number.
fn hex4(chars: &mut Chars<'_>) -> Option<u32> {
    let mut value = 0;
    for _ in 0..4 {
        value = value * 16 + chars.next()?.to_digit(16)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wild(pattern: &str) -> Vec<WildToken> {
        pattern.chars().map(|c| if c == '*' { WildToken::Star } else { WildToken::Char(c) }).collect()
    }

    #[test]
    fn decodes_escapes() {
        let s = JsonStr::json(r#"a\"b\\c\/d\n\u00e9\ud83d\ude00\ud800x"#, true);
        assert_eq!(s.chars().collect::<String>(), "a\"b\\c/d\né😀\u{fffd}x");
        assert_eq!(JsonStr::plain(r"a\n").chars().collect::<String>(), r"a\n");
    }

    #[test]
    fn globs() {
        let cases = [
            ("*", "", true),
            ("*", "abc", true),
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a*c", "ac", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*ab", "aab", true),
            ("a*a", "a", false),
            ("", "", true),
            ("", "a", false),
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("*/lib/*", "/usr/lib/x", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(JsonStr::plain(text).matches_wildcard(&wild(pattern)), want, "{pattern} vs {text}");
        }
    }

    #[test]
    fn suffixes_and_case() {
        let s = JsonStr::json(r"\u0041BC.PNG", true);
        assert!(s.ends_with(".PNG"));
        assert!(!s.ends_with("..PNG"));
        assert!(s.ends_with_ignore_case(".png"));
        assert!(s.starts_with_ignore_case("abc"));
        assert!(s.equals_ignore_case("abc.png"));
        assert!(JsonStr::plain("ÉTÉ").equals_ignore_case(&lowercase("été")));
    }
}
