//! Time as the interpreter sees it: a [`Timestamp`] in milliseconds since the Unix epoch, given to
//! it by the caller (the interpreter never reads a clock), with RFC 3339 parsing and formatting.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant, in milliseconds since 1970-01-01T00:00:00Z. Serialised as RFC 3339 UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// This instant plus `millis` milliseconds (saturating).
    pub fn plus_millis(self, millis: i64) -> Self {
        Timestamp(self.0.saturating_add(millis))
    }

    /// Parses an RFC 3339 timestamp (`2016-03-14T01:59:00Z`, `…00.123+01:00`). The `T` and the
    /// zone are required, as ASL demands.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() < 20 {
            return None;
        }
        let num = |from: usize, to: usize| -> Option<i64> {
            let s = text.get(from..to)?;
            if !s.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        let year = num(0, 4)?;
        let month = num(5, 7)?;
        let day = num(8, 10)?;
        let hour = num(11, 13)?;
        let minute = num(14, 16)?;
        let second = num(17, 19)?;
        if b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't') || b[13] != b':' || b[16] != b':' {
            return None;
        }
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut i = 19;
        let mut millis = 0i64;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return None;
            }
            let frac = &text[start..i];
            let padded: String = frac.chars().chain("000".chars()).take(3).collect();
            millis = padded.parse().ok()?;
        }
        let offset_minutes = match b.get(i) {
            Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
                let h = num(i + 1, i + 3)?;
                let m = num(i + 4, i + 6)?;
                if h > 23 || m > 59 {
                    return None;
                }
                let total = h * 60 + m;
                if *sign == b'+' {
                    total
                } else {
                    -total
                }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_minutes * 60;
        Some(Timestamp(secs * 1000 + millis))
    }

    /// Formats as RFC 3339 UTC with millisecond precision: `2016-03-14T01:59:00.000Z`.
    pub fn to_rfc3339(self) -> String {
        self.with_rfc3339(str::to_owned)
    }

    /// Hands the RFC 3339 text to `use_text`, formatted on the stack for years 0–9999.
    fn with_rfc3339<R>(self, use_text: impl FnOnce(&str) -> R) -> R {
        let mut text = [0u8; RFC3339_BYTES];
        match self.format_rfc3339(&mut text) {
            Some(text) => use_text(text),
            None => use_text(&self.format_rfc3339_slow()),
        }
    }

    /// Writes the RFC 3339 text into `out` without allocating; `None` outside years 0–9999.
    /// (Every history event carries timestamps, so this runs several times per saga step.)
    fn format_rfc3339(self, out: &mut [u8; RFC3339_BYTES]) -> Option<&str> {
        let secs = self.0.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        if !(0..=9999).contains(&y) {
            return None;
        }
        let mut put = |at: usize, value: i64, digits: usize| {
            let mut v = value;
            for i in (0..digits).rev() {
                out[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, y, 4);
        put(5, m, 2);
        put(8, d, 2);
        put(11, rem / 3600, 2);
        put(14, rem % 3600 / 60, 2);
        put(17, rem % 60, 2);
        put(20, self.0.rem_euclid(1000), 3);
        for (at, separator) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'.'), (23, b'Z')] {
            out[at] = separator;
        }
        std::str::from_utf8(out).ok()
    }

    fn format_rfc3339_slow(self) -> String {
        let secs = self.0.div_euclid(1000);
        let millis = self.0.rem_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
    }
}

/// `2016-03-14T01:59:00.000Z`.
const RFC3339_BYTES: usize = 24;

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_rfc3339(|text| f.write_str(text))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.with_rfc3339(|text| s.serialize_str(text))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&text).ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 timestamp"))
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil-date algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_offsets() {
        let t = Timestamp::parse_rfc3339("2016-03-14T01:59:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2016-03-14T01:59:00.000Z");
        assert_eq!(Timestamp::parse_rfc3339("2016-03-14T02:59:00.5+01:00").unwrap(), t.plus_millis(500));
        assert_eq!(Timestamp::parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), Timestamp(0));
        assert!(Timestamp::parse_rfc3339("2016-02-30T00:00:00Z").is_none());
        assert!(Timestamp::parse_rfc3339("2016-03-14 01:59:00Z").is_none());
        assert!(Timestamp::parse_rfc3339("2016-03-14T01:59:00").is_none());
    }

    #[test]
    fn the_fast_text_is_the_formatted_text() {
        let year_10000 = Timestamp::parse_rfc3339("9999-12-31T23:59:59.999Z").unwrap().plus_millis(1);
        let mut edges = vec![0, -1, 999, 1000, 951_782_400_000, year_10000.0 - 1, year_10000.0];
        edges.push(Timestamp::parse_rfc3339("0000-01-01T00:00:00Z").unwrap().0);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..10_000 {
            // A spread of instants from year 0 to beyond 9999, leap days included.
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            edges.push((x >> 20) as i64 % (year_10000.0 + 86_400_000 * 400) - 62_167_219_200_000);
        }
        for millis in edges {
            let t = Timestamp(millis);
            assert_eq!(t.to_rfc3339(), t.format_rfc3339_slow(), "{millis}");
            if t < year_10000 {
                assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t), "{millis}");
            }
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{}\"", t.format_rfc3339_slow()));
        }
        assert_eq!(year_10000.to_rfc3339(), "10000-01-01T00:00:00.000Z");
    }
}
