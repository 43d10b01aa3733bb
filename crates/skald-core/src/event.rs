//! The event: what a writer sends ([`NewEvent`]) and what the store hands back ([`RecordedEvent`]),
//! and the [`Timestamp`] it is stamped with (every crate's one instant type, with its RFC 3339
//! parser and formatters).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::limits::{EVENT_SIZE_BYTES_MAX, EVENT_TYPE_BYTES_MAX};
use crate::Error;

/// A JSON document kept as its UTF-8 text, so that the store never re-encodes user data.
///
/// On the wire it is the JSON value itself, not a string.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Json(Bytes);

impl Json {
    /// Parses `text` to check that it is one JSON value.
    pub fn from_slice(text: &[u8]) -> Result<Self, serde_json::Error> {
        let _: &RawValue = serde_json::from_slice(text)?;
        Ok(Json(Bytes::copy_from_slice(text)))
    }

    /// Wraps bytes that are already known to be valid JSON (read back from the store).
    /// Passing anything else makes later serialisation produce invalid JSON.
    pub fn from_trusted(text: Bytes) -> Self {
        Json(text)
    }

    /// Encodes a serialisable value.
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> Self {
        // Serialising to a Vec only fails for maps with non-string keys, which `Value` cannot hold
        // and our own types do not use.
        Json(Bytes::from(serde_json::to_vec(value).expect("value serialises to JSON")))
    }

    /// The empty object `{}`.
    pub fn empty_object() -> Self {
        Json(Bytes::from_static(b"{}"))
    }

    /// The JSON text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The JSON text as shared bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// Decodes into a value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.0).unwrap_or(serde_json::Value::Null)
    }

    /// Decodes into any deserialisable type.
    pub fn decode<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.0)
    }

    /// Whether the text is a JSON object.
    pub fn is_object(&self) -> bool {
        self.0.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl From<serde_json::Value> for Json {
    fn from(value: serde_json::Value) -> Self {
        Json::from_value(&value)
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_slice(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Json(Bytes::from(raw.get().to_owned().into_bytes())))
    }
}

/// Microseconds since the Unix epoch, UTC: the one instant type of every Skald crate.
///
/// On disk it is the `u64` itself; on the wire, RFC 3339 with microseconds
/// (`2026-11-30T10:54:26.123456Z`, [`Timestamp::to_rfc3339`]). Services that speak Step Functions'
/// dialect write milliseconds instead ([`Timestamp::to_rfc3339_millis`], [`rfc3339_millis`]).
/// Times before 1970 cannot be held: [`Timestamp::parse_rfc3339`] refuses them, and
/// [`parse_rfc3339_micros`] reads them as signed microseconds for callers that must order them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

/// Why a text is not a [`Timestamp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// Not RFC 3339 text (`reason` says which part).
    #[error("not an RFC 3339 time ({reason}); write e.g. 2026-11-30T10:54:26Z")]
    Malformed {
        /// The part that is wrong.
        reason: &'static str,
    },
    /// A valid RFC 3339 time before 1970-01-01T00:00:00Z, which a `Timestamp` cannot hold.
    #[error("a time before 1970-01-01T00:00:00Z cannot be stored")]
    BeforeEpoch,
}

const MICROS_PER_MILLI: u64 = 1_000;
const MICROS_PER_SECOND: u64 = 1_000_000;
const SECONDS_PER_DAY: u64 = 86_400;

impl Timestamp {
    /// The current wall-clock time (a [`crate::Clock`] hands it out where tests must control it).
    pub fn now() -> Self {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp::from_duration(since)
    }

    /// The instant `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Timestamp(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn micros(self) -> u64 {
        self.0
    }

    /// The instant `millis` milliseconds after the epoch (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Timestamp(millis.saturating_mul(MICROS_PER_MILLI))
    }

    /// Whole milliseconds since the epoch.
    pub const fn millis(self) -> u64 {
        self.0 / MICROS_PER_MILLI
    }

    /// This instant without its sub-millisecond part, for records kept in milliseconds.
    pub const fn truncated_to_millis(self) -> Self {
        Timestamp(self.0 - self.0 % MICROS_PER_MILLI)
    }

    /// This instant plus `millis` milliseconds (saturating).
    pub const fn plus_millis(self, millis: u64) -> Self {
        Timestamp(self.0.saturating_add(millis.saturating_mul(MICROS_PER_MILLI)))
    }

    /// This instant plus `duration`, to the microsecond (saturating).
    pub fn saturating_add(self, duration: Duration) -> Self {
        Timestamp(self.0.saturating_add(Timestamp::from_duration(duration).0))
    }

    /// This instant minus `duration`, to the microsecond; the epoch at the latest.
    pub fn saturating_sub(self, duration: Duration) -> Self {
        Timestamp(self.0.saturating_sub(Timestamp::from_duration(duration).0))
    }

    /// How long after `earlier` this instant is; zero if it is not later.
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    fn from_duration(duration: Duration) -> Self {
        Timestamp(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX))
    }

    /// Parses RFC 3339: `2026-11-30T10:54:26Z`, `2026-11-30T11:54:26.5+01:00`. The `T` and the zone
    /// are required (a zone-less time means different instants to different readers); fractions
    /// finer than a microsecond are cut off.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        let micros = parse_rfc3339_micros(text)?;
        u64::try_from(micros).map(Timestamp).map_err(|_| TimestampError::BeforeEpoch)
    }

    /// Formats as RFC 3339 UTC with microseconds: `2026-11-30T10:54:26.123456Z` (the event wire form).
    pub fn to_rfc3339(self) -> String {
        self.with_rfc3339(Precision::Micros, str::to_owned)
    }

    /// Formats as RFC 3339 UTC with milliseconds, cutting off the rest: `2016-03-14T01:59:00.000Z`,
    /// the form Step Functions writes (ASL histories, context objects and the saga API).
    pub fn to_rfc3339_millis(self) -> String {
        self.with_rfc3339(Precision::Millis, str::to_owned)
    }

    /// Hands the RFC 3339 text to `use_text`, formatted on the stack: every event and history entry
    /// read or written carries a timestamp, so formatting does not allocate.
    fn with_rfc3339<R>(self, precision: Precision, use_text: impl FnOnce(&str) -> R) -> R {
        let mut out = Rfc3339Buffer { bytes: [0; RFC3339_BYTES_MAX], len: 0 };
        let secs = self.0 / MICROS_PER_SECOND;
        let (year, month, day) = civil_from_days((secs / SECONDS_PER_DAY) as i64);
        let second_of_day = secs % SECONDS_PER_DAY;
        out.digits(year as u64, 4);
        out.push(b'-');
        out.digits(month as u64, 2);
        out.push(b'-');
        out.digits(day as u64, 2);
        out.push(b'T');
        out.digits(second_of_day / 3600, 2);
        out.push(b':');
        out.digits(second_of_day % 3600 / 60, 2);
        out.push(b':');
        out.digits(second_of_day % 60, 2);
        out.push(b'.');
        let (fraction, width) = match precision {
            Precision::Millis => (self.0 % MICROS_PER_SECOND / MICROS_PER_MILLI, 3),
            Precision::Micros => (self.0 % MICROS_PER_SECOND, 6),
        };
        out.digits(fraction, width);
        out.push(b'Z');
        use_text(std::str::from_utf8(&out.bytes[..out.len]).expect("RFC 3339 text is ASCII"))
    }
}

#[derive(Clone, Copy)]
enum Precision {
    Millis,
    Micros,
}

/// The longest text: a six-digit year (`u64::MAX` microseconds is in year 586,524) with microseconds.
const RFC3339_BYTES_MAX: usize = 29;

struct Rfc3339Buffer {
    bytes: [u8; RFC3339_BYTES_MAX],
    len: usize,
}

impl Rfc3339Buffer {
    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    /// Writes `value` in decimal, zero-padded to `width` digits (wider if it needs more).
    fn digits(&mut self, value: u64, width: usize) {
        let needed = value.checked_ilog10().map_or(1, |log| log as usize + 1).max(width);
        let mut rest = value;
        for at in (self.len..self.len + needed).rev() {
            self.bytes[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        self.len += needed;
    }
}

/// Parses RFC 3339 text into signed microseconds since the Unix epoch (years 0000 to 9999).
///
/// [`Timestamp::parse_rfc3339`] is this for instants from 1970 on; callers that must also order
/// earlier times (ASL's Choice rules compare any two timestamps) use it directly.
pub fn parse_rfc3339_micros(text: &str) -> Result<i64, TimestampError> {
    let malformed = |reason| TimestampError::Malformed { reason };
    let b = text.as_bytes();
    let number = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().all(u8::is_ascii_digit).then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    let shape_ok =
        b.len() >= 19 && separators.iter().all(|&(at, sep)| b[at] == sep) && (b[10] == b'T' || b[10] == b't');
    let fields = (number(0, 4), number(5, 2), number(8, 2), number(11, 2), number(14, 2), number(17, 2));
    let (true, (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second))) = (shape_ok, fields)
    else {
        return Err(malformed("expected YYYY-MM-DDTHH:MM:SS"));
    };
    if !(1..=12).contains(&month) {
        return Err(malformed("month out of range"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(malformed("day out of range for its month"));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(malformed("time of day out of range"));
    }
    let mut at = 19;
    let mut fraction_micros = 0;
    if b.get(at) == Some(&b'.') {
        let digits = b[at + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 {
            return Err(malformed("a fraction needs digits"));
        }
        // Digits past the sixth are finer than a microsecond: cut off, never rounded up.
        fraction_micros = b[at + 1..at + 1 + digits.min(6)]
            .iter()
            .chain(std::iter::repeat(&b'0'))
            .take(6)
            .fold(0, |n, d| n * 10 + i64::from(d - b'0'));
        at += 1 + digits;
    }
    let offset_minutes = match &b[at..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (Some(h), Some(m)) = (number(at + 1, 2), number(at + 4, 2)) else {
                return Err(malformed("expected a zone: Z or ±HH:MM"));
            };
            if h > 23 || m > 59 {
                return Err(malformed("zone offset out of range"));
            }
            if *sign == b'+' {
                h * 60 + m
            } else {
                -(h * 60 + m)
            }
        }
        _ => return Err(malformed("expected a zone: Z or ±HH:MM")),
    };
    // A leap second (`:60`) is read as the second before it: `Timestamp` counts Unix time.
    let seconds = days_from_civil(year, month, day) * SECONDS_PER_DAY as i64 + hour * 3600 + minute * 60
        - offset_minutes * 60
        + second.min(59);
    Ok(seconds * MICROS_PER_SECOND as i64 + fraction_micros)
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil-date algorithms (proleptic Gregorian, day 0 = 1970-01-01).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400;
    (if month <= 2 { year + 1 } else { year }, month, day)
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_rfc3339(Precision::Micros, |text| f.write_str(text))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_rfc3339(Precision::Micros, |text| f.write_str(text))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.with_rfc3339(Precision::Micros, |text| serializer.serialize_str(text))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde with milliseconds: `#[serde(with = "skald_core::rfc3339_millis")]` writes a [`Timestamp`]
/// as [`Timestamp::to_rfc3339_millis`] does, the form of Step Functions' histories and API (so of
/// skald-asl's and skald-saga's records); it reads any RFC 3339 time.
pub mod rfc3339_millis {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Precision, Timestamp};

    /// Writes `2016-03-14T01:59:00.000Z`.
    pub fn serialize<S: Serializer>(timestamp: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
        timestamp.with_rfc3339(Precision::Millis, |text| serializer.serialize_str(text))
    }

    /// Reads any RFC 3339 time, as [`Timestamp`] does.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        Timestamp::deserialize(deserializer)
    }

    /// The same for an `Option<Timestamp>` (`null` when absent); pair it with `#[serde(default)]`.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        use crate::Timestamp;

        struct Millis<'a>(&'a Timestamp);

        impl Serialize for Millis<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                super::serialize(self.0, serializer)
            }
        }

        /// Writes `null` or `2016-03-14T01:59:00.000Z`.
        pub fn serialize<S: Serializer>(timestamp: &Option<Timestamp>, serializer: S) -> Result<S::Ok, S::Error> {
            timestamp.as_ref().map(Millis).serialize(serializer)
        }

        /// Reads `null` or any RFC 3339 time.
        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Timestamp>, D::Error> {
            Option::<Timestamp>::deserialize(deserializer)
        }
    }
}

/// An event as a writer proposes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// The idempotency key: re-sending an append with the same ids writes nothing.
    #[serde(default = "Uuid::now_v7")]
    pub id: Uuid,
    /// What happened, e.g. `OrderPlaced`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload.
    pub data: Json,
    /// A JSON object: `correlation_id`, `causation_id`, `principal` and free fields.
    #[serde(default = "Json::empty_object")]
    pub metadata: Json,
}

impl NewEvent {
    /// A new event with a fresh time-ordered id and empty metadata.
    ///
    /// ```
    /// let event = skald_core::NewEvent::new("OrderPlaced", serde_json::json!({"order": 42}));
    /// assert_eq!(event.event_type, "OrderPlaced");
    /// ```
    pub fn new(event_type: impl Into<String>, data: impl Into<Json>) -> Self {
        NewEvent {
            id: Uuid::now_v7(),
            event_type: event_type.into(),
            data: data.into(),
            metadata: Json::empty_object(),
        }
    }

    /// Replaces the id (the idempotency key).
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// Replaces the metadata.
    pub fn with_metadata(mut self, metadata: impl Into<Json>) -> Self {
        self.metadata = metadata.into();
        self
    }

    /// Bytes this event occupies for the size limit: type, data and metadata.
    pub fn size_bytes(&self) -> usize {
        self.event_type.len() + self.data.as_bytes().len() + self.metadata.as_bytes().len()
    }

    /// Whether [`Self::validate`] would pass, without building any error text (the hot path).
    pub fn is_valid(&self) -> bool {
        !self.event_type.is_empty()
            && self.event_type.len() <= EVENT_TYPE_BYTES_MAX
            && !self.event_type.chars().any(char::is_control)
            && self.metadata.is_object()
            && self.size_bytes() <= EVENT_SIZE_BYTES_MAX
    }

    /// Checks type, metadata shape and size. `field` is where the event sits, e.g. `events[2]`.
    pub fn validate(&self, field: &str) -> Result<(), Error> {
        validate_event_type(&self.event_type, &format!("{field}.type"))?;
        if !self.metadata.is_object() {
            return Err(Error::invalid(format!("{field}.metadata"), "metadata must be a JSON object"));
        }
        if self.size_bytes() > EVENT_SIZE_BYTES_MAX {
            return Err(Error::limit(field, "event_size_bytes_max", self.size_bytes(), EVENT_SIZE_BYTES_MAX));
        }
        Ok(())
    }
}

/// Checks an event type: 1..=[`EVENT_TYPE_BYTES_MAX`] bytes, no control characters.
pub fn validate_event_type(event_type: &str, field: &str) -> Result<(), Error> {
    if event_type.is_empty() {
        return Err(Error::invalid(field, "event type is empty"));
    }
    if event_type.len() > EVENT_TYPE_BYTES_MAX {
        return Err(Error::limit(field, "event_type_bytes_max", event_type.len(), EVENT_TYPE_BYTES_MAX));
    }
    if event_type.chars().any(char::is_control) {
        return Err(Error::invalid(field, "event type contains control characters"));
    }
    Ok(())
}

/// An event as stored: the same shape everywhere (reads, SSE, push batches, CLI `--json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Place in the global log, from 0, without gaps.
    pub position: u64,
    /// The stream it belongs to.
    pub stream: String,
    /// Place in its stream, from 0, without gaps.
    pub version: u64,
    /// The idempotency key it was written with.
    pub id: Uuid,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the store committed it (never earlier than the event before it).
    pub timestamp: Timestamp,
    /// The payload.
    pub data: Json,
    /// Audit and correlation metadata.
    pub metadata: Json,
}

impl RecordedEvent {
    /// The category of its stream.
    pub fn category(&self) -> &str {
        crate::category_of(&self.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_is_kept_as_text_and_written_as_json() {
        let json = Json::from_slice(br#"{"b": 1,  "a": [true]}"#).unwrap();
        assert_eq!(serde_json::to_string(&json).unwrap(), r#"{"b": 1,  "a": [true]}"#);
        assert!(Json::from_slice(b"{nope").is_err());
        assert!(json.is_object());
        assert!(!Json::from_value(&json!([1])).is_object());
    }

    #[test]
    fn new_events_are_validated_with_field_names() {
        let ok = NewEvent::new("A", json!({}));
        assert!(ok.validate("events[0]").is_ok() && ok.is_valid());
        let err = NewEvent::new("", json!({})).validate("events[1]").unwrap_err();
        assert_eq!(err, Error::invalid("events[1].type", "event type is empty"));
        assert!(!NewEvent::new("", json!({})).is_valid());
        let err = NewEvent::new("A", json!({})).with_metadata(json!(3)).validate("events[2]").unwrap_err();
        assert!(matches!(err, Error::Invalid { ref field, .. } if field == "events[2].metadata"));
        let big = NewEvent::new("A", json!("x".repeat(EVENT_SIZE_BYTES_MAX)));
        assert_eq!(big.validate("events[0]").unwrap_err().code(), "limit-exceeded");
    }

    #[test]
    fn wire_shape_uses_type_and_defaults() {
        let event: NewEvent = serde_json::from_value(json!({"type": "A", "data": {"x": 1}})).unwrap();
        assert_eq!(event.metadata.as_bytes(), b"{}");
        let text = serde_json::to_value(&event).unwrap();
        assert_eq!(text["type"], "A");
        assert_eq!(text["data"], json!({"x": 1}));
    }
}
