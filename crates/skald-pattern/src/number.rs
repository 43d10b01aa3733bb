//! Numbers compared as numbers: `5`, `5.0`, `5e0` and `0.5e1` are all equal.
//!
//! Integers written without a fraction or exponent are kept exactly (as `i128`), so two large
//! integers such as `9007199254740993` and `9007199254740992` stay different; everything else is an
//! `f64`. Parsing borrows the text and never allocates.

use std::cmp::Ordering;

/// A number from a pattern or an event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    /// Parses JSON number text (grammar already checked by the scanner).
    pub(crate) fn parse(text: &str) -> Option<Num> {
        let integral = !text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
        if integral {
            if let Ok(n) = text.parse::<i128>() {
                return Some(Num::Int(n));
            }
        }
        text.parse::<f64>().ok().filter(|f| !f.is_nan()).map(Num::Float)
    }

    /// Converts a number of a pattern.
    pub(crate) fn from_json(n: &serde_json::Number) -> Option<Num> {
        if let Some(i) = n.as_i64() {
            Some(Num::Int(i.into()))
        } else if let Some(u) = n.as_u64() {
            Some(Num::Int(u.into()))
        } else {
            n.as_f64().filter(|f| f.is_finite()).map(Num::Float)
        }
    }

    /// Numeric order; `None` only for NaN, which JSON cannot express.
    pub(crate) fn compare(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (Num::Float(a), Num::Float(b)) => a.partial_cmp(&b),
            (Num::Int(a), Num::Float(b)) => int_float(a, b),
            (Num::Float(a), Num::Int(b)) => int_float(b, a).map(Ordering::reverse),
        }
    }

    pub(crate) fn equals(self, other: Num) -> bool {
        self.compare(other) == Some(Ordering::Equal)
    }
}

/// Compares an integer with a float exactly when the float is a whole number in `i128` range.
fn int_float(int: i128, float: f64) -> Option<Ordering> {
    // 2^126: safely inside i128, and every f64 of this magnitude is a whole number.
    const EXACT_LIMIT: f64 = 8.507_059_173_023_462e37;
    if float.fract() == 0.0 && float.abs() < EXACT_LIMIT {
        Some(int.cmp(&(float as i128)))
    } else {
        (int as f64).partial_cmp(&float)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Num {
        Num::parse(text).unwrap()
    }

    #[test]
    fn compares_across_notations() {
        assert!(n("5").equals(n("5.0")));
        assert!(n("100").equals(n("1e2")));
        assert!(n("0.5e1").equals(n("5")));
        assert!(n("-0").equals(n("0.0")));
        assert!(!n("9007199254740993").equals(n("9007199254740992")));
        assert_eq!(n("5").compare(n("5.5")), Some(Ordering::Less));
        assert_eq!(n("5.5").compare(n("5")), Some(Ordering::Greater));
        assert_eq!(n("1e400").compare(n("5")), Some(Ordering::Greater));
        assert_eq!(n("-1e400").compare(n("5")), Some(Ordering::Less));
    }
}
