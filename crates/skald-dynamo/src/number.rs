//! DynamoDB's number: a decimal with up to 38 significant digits and a scientific exponent from
//! −130 to +125, exact (no binary floating point anywhere).
//!
//! A [`Number`] is kept normalised — a mantissa without trailing zeros and an exponent — so
//! equal values have equal representations (`1.0 == 1`, `-0 == 0`, `1E2 == 100`) and the derived
//! `Eq`/`Hash` are numeric. It prints the way DynamoDB returns numbers: plain notation, no
//! exponent, no trailing zeros (`1.5E2` → `150`, `0.0015`). Addition and subtraction are exact;
//! a result that needs more than 38 digits is refused, as DynamoDB refuses it.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Location, Result};
use crate::limits::{NUMBER_DIGITS_MAX, NUMBER_EXPONENT_MAX, NUMBER_EXPONENT_MIN};

/// Powers of ten that fit a `u128`: 10^0 ..= 10^38.
const POW10: [u128; 39] = {
    let mut table = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// Explicit exponents are read up to this magnitude; anything larger is out of range anyway, and
/// saturating keeps `1e999999999999999999999` from overflowing the arithmetic.
const EXPONENT_READ_MAX: i64 = 1_000_000_000_000;

/// A DynamoDB number (attribute type `N`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Number {
    negative: bool,
    /// Significant digits, no trailing zeros (0 for zero); fewer than 10^38.
    mantissa: u128,
    /// The value is `mantissa × 10^exponent`; 0 for zero.
    exponent: i32,
}

impl Number {
    /// Zero.
    pub const ZERO: Number = Number { negative: false, mantissa: 0, exponent: 0 };

    /// Parses DynamoDB's number syntax: an optional sign, digits with at most one `.`, an
    /// optional exponent (`-17.4E37`, `+3`, `.123`, `0001.23`, `1e+5`). No spaces, `NaN` or
    /// `Infinity`. Errors are DynamoDB's, in its order: overflow, underflow, then precision.
    pub fn parse(text: &str) -> Result<Number> {
        let scanned = scan(text).ok_or_else(|| not_numeric(text))?;
        if scanned.significant == 0 {
            return Ok(Number::ZERO);
        }
        let exponent = scanned.trailing_zeros.saturating_sub(scanned.fraction_digits).saturating_add(scanned.exponent);
        let scientific = exponent.saturating_add(scanned.significant - 1);
        check_range(scientific)?;
        if scanned.significant > NUMBER_DIGITS_MAX as i64 {
            return Err(precision());
        }
        // In range and at most 38 digits, so the exponent is within −167..=125.
        Ok(Number { negative: scanned.negative, mantissa: scanned.mantissa, exponent: exponent as i32 })
    }

    /// Whether the number is zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// Whether the number is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// How many significant digits the number has (1 for zero).
    pub fn significant_digits(&self) -> usize {
        digit_count(self.mantissa)
    }

    /// The number's size for item-size accounting: one byte per two significant digits, plus one
    /// (DynamoDB's documented approximation).
    pub fn size_bytes(&self) -> usize {
        self.significant_digits().div_ceil(2) + 1
    }

    /// `-self`.
    pub fn negated(&self) -> Number {
        if self.is_zero() {
            *self
        } else {
            Number { negative: !self.negative, ..*self }
        }
    }

    /// `self + other`, exact. A result out of range, or one that needs more than 38 significant
    /// digits, is an error (DynamoDB reports both as an overflow).
    pub fn checked_add(&self, other: &Number) -> Result<Number> {
        if self.is_zero() {
            return Ok(*other);
        }
        if other.is_zero() {
            return Ok(*self);
        }
        let base = self.exponent.min(other.exponent);
        let a = Digits::of(self, base);
        let b = Digits::of(other, base);
        let (negative, magnitude) = if self.negative == other.negative {
            (self.negative, a.plus(&b))
        } else {
            match a.cmp_magnitude(&b) {
                Ordering::Equal => return Ok(Number::ZERO),
                Ordering::Greater => (self.negative, a.minus(&b)),
                Ordering::Less => (other.negative, b.minus(&a)),
            }
        };
        magnitude.into_number(negative, i64::from(base))
    }

    /// `self - other`, exact, with [`Number::checked_add`]'s errors.
    pub fn checked_sub(&self, other: &Number) -> Result<Number> {
        self.checked_add(&other.negated())
    }

    /// The scientific exponent (`150` → 2); meaningless for zero.
    fn scientific(&self) -> i64 {
        i64::from(self.exponent) + self.significant_digits() as i64 - 1
    }

    fn cmp_magnitude(&self, other: &Number) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        self.scientific().cmp(&other.scientific()).then_with(|| {
            // Same scientific exponent: scale the shorter mantissa to the longer one's digit
            // count (both ≤ 38 digits, so the product stays below 10^38).
            let (da, db) = (self.significant_digits(), other.significant_digits());
            let a = self.mantissa * POW10[db.saturating_sub(da)];
            let b = other.mantissa * POW10[da.saturating_sub(db)];
            a.cmp(&b)
        })
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Number) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Number {
    /// Plain notation, the way DynamoDB returns numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        let digits = self.mantissa.to_string();
        if self.exponent >= 0 {
            f.write_str(&digits)?;
            return (0..self.exponent).try_for_each(|_| f.write_str("0"));
        }
        let places = self.exponent.unsigned_abs() as usize;
        if digits.len() > places {
            let (whole, fraction) = digits.split_at(digits.len() - places);
            write!(f, "{whole}.{fraction}")
        } else {
            f.write_str("0.")?;
            (0..places - digits.len()).try_for_each(|_| f.write_str("0"))?;
            f.write_str(&digits)
        }
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

impl FromStr for Number {
    type Err = Error;

    fn from_str(text: &str) -> Result<Number> {
        Number::parse(text)
    }
}

impl From<i64> for Number {
    fn from(value: i64) -> Number {
        let mut mantissa = u128::from(value.unsigned_abs());
        let mut exponent = 0;
        while mantissa != 0 && mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        Number { negative: value < 0, mantissa, exponent }
    }
}

/// What [`scan`] read from a number's text.
struct Scanned {
    negative: bool,
    /// The significant digits, valid while there are at most 38 of them.
    mantissa: u128,
    /// Digits from the first to the last non-zero digit.
    significant: i64,
    /// Zeros after the last non-zero digit (not in `mantissa`).
    trailing_zeros: i64,
    /// Digits after the decimal point.
    fraction_digits: i64,
    /// The explicit exponent, saturated at ±[`EXPONENT_READ_MAX`].
    exponent: i64,
}

/// Reads the number grammar in one pass without allocating; `None` if the text is not a number.
fn scan(text: &str) -> Option<Scanned> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut out = Scanned { negative, mantissa: 0, significant: 0, trailing_zeros: 0, fraction_digits: 0, exponent: 0 };
    let (mut seen_digit, mut seen_point) = (false, false);
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'0'..=b'9' => {
                seen_digit = true;
                out.fraction_digits += i64::from(seen_point);
                push_digit(&mut out, byte - b'0');
            }
            b'.' if !seen_point => seen_point = true,
            b'e' | b'E' => break,
            _ => return None,
        }
        i += 1;
    }
    if !seen_digit {
        return None;
    }
    if i < bytes.len() {
        out.exponent = scan_exponent(&bytes[i + 1..])?;
    }
    out.negative &= out.significant != 0;
    Some(out)
}

fn push_digit(out: &mut Scanned, digit: u8) {
    if digit == 0 {
        // Leading zeros are nothing; inner and trailing zeros wait until a non-zero digit shows
        // they are inner.
        if out.significant != 0 {
            out.trailing_zeros += 1;
        }
        return;
    }
    let zeros = out.trailing_zeros;
    out.significant += zeros + 1;
    out.trailing_zeros = 0;
    if out.significant <= NUMBER_DIGITS_MAX as i64 {
        out.mantissa = out.mantissa * POW10[zeros as usize] * 10 + u128::from(digit);
    }
}

/// The exponent after `e`: an optional sign and at least one digit.
fn scan_exponent(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = (value * 10 + i64::from(byte - b'0')).min(EXPONENT_READ_MAX);
    }
    Some(if negative { -value } else { value })
}

fn check_range(scientific: i64) -> Result<()> {
    if scientific > NUMBER_EXPONENT_MAX {
        return Err(overflow());
    }
    if scientific < NUMBER_EXPONENT_MIN {
        return Err(Error::new(
            ErrorKind::NumberUnderflow,
            Location::Request,
            "Number underflow. Attempting to store a number with magnitude smaller than supported range",
        ));
    }
    Ok(())
}

fn overflow() -> Error {
    Error::new(
        ErrorKind::NumberOverflow,
        Location::Request,
        "Number overflow. Attempting to store a number with magnitude larger than supported range",
    )
}

fn precision() -> Error {
    Error::new(
        ErrorKind::NumberPrecision,
        Location::Request,
        "Attempting to store more than 38 significant digits in a Number",
    )
}

fn not_numeric(text: &str) -> Error {
    let message = if text.is_empty() {
        "The parameter cannot be converted to a numeric value".to_owned()
    } else {
        format!("The parameter cannot be converted to a numeric value: {text}")
    };
    Error::new(ErrorKind::InvalidNumber, Location::Request, message)
}

fn digit_count(mantissa: u128) -> usize {
    POW10.iter().position(|&p| mantissa < p).unwrap_or(POW10.len()).max(1)
}

/// A magnitude as decimal digits, least significant first, for exact addition of numbers whose
/// exponents are far apart (at most ~300 digits: the exponent range plus 38).
struct Digits(Vec<u8>);

impl Digits {
    /// `|n| / 10^base` as digits (`base` ≤ the number's exponent).
    fn of(n: &Number, base: i32) -> Digits {
        let shift = (n.exponent - base) as usize;
        let mut digits = vec![0; shift];
        let mut m = n.mantissa;
        while m != 0 {
            digits.push((m % 10) as u8);
            m /= 10;
        }
        Digits(digits)
    }

    fn cmp_magnitude(&self, other: &Digits) -> Ordering {
        let (a, b) = (self.trimmed(), other.trimmed());
        a.len().cmp(&b.len()).then_with(|| a.iter().rev().cmp(b.iter().rev()))
    }

    fn trimmed(&self) -> &[u8] {
        let end = self.0.iter().rposition(|&d| d != 0).map_or(0, |p| p + 1);
        &self.0[..end]
    }

    fn plus(&self, other: &Digits) -> Digits {
        let len = self.0.len().max(other.0.len());
        let mut out = Vec::with_capacity(len + 1);
        let mut carry = 0;
        for i in 0..len {
            let sum = self.0.get(i).copied().unwrap_or(0) + other.0.get(i).copied().unwrap_or(0) + carry;
            out.push(sum % 10);
            carry = sum / 10;
        }
        out.push(carry);
        Digits(out)
    }

    /// `self − other`, for `self ≥ other`.
    fn minus(&self, other: &Digits) -> Digits {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0;
        for (i, &d) in self.0.iter().enumerate() {
            let sub = other.0.get(i).copied().unwrap_or(0) + borrow;
            let (digit, next) = if d >= sub { (d - sub, 0) } else { (d + 10 - sub, 1) };
            out.push(digit);
            borrow = next;
        }
        Digits(out)
    }

    /// The number `±digits × 10^base`, checked against DynamoDB's range and precision.
    fn into_number(self, negative: bool, base: i64) -> Result<Number> {
        let digits = self.trimmed();
        let low = digits.iter().position(|&d| d != 0).unwrap_or(0);
        let significant = &digits[low..];
        let exponent = base + low as i64;
        check_range(exponent + significant.len() as i64 - 1)?;
        if significant.len() > NUMBER_DIGITS_MAX {
            // DynamoDB answers an inexact sum (1e50 + 1) with its overflow message.
            return Err(overflow());
        }
        let mantissa = significant.iter().rev().fold(0u128, |m, &d| m * 10 + u128::from(d));
        Ok(Number { negative, mantissa, exponent: exponent as i32 })
    }
}
