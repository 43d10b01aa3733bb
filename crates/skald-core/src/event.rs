//! The event: what a writer sends ([`NewEvent`]) and what the store hands back ([`RecordedEvent`]).

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

/// Microseconds since the Unix epoch, UTC. On the wire: RFC 3339 (`2026-11-30T10:54:26.123456Z`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp(since.as_micros() as u64)
    }

    /// Microseconds since the Unix epoch.
    pub fn micros(self) -> u64 {
        self.0
    }

    /// Parses RFC 3339 (`2026-11-30T10:54:26Z`, fractions allowed).
    pub fn parse_rfc3339(text: &str) -> Result<Self, Error> {
        let time = humantime::parse_rfc3339_weak(text).map_err(|e| {
            Error::invalid(
                "timestamp",
                format!("`{text}` is not an RFC 3339 time ({e}); write e.g. 2026-11-30T10:54:26Z"),
            )
        })?;
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        Ok(Timestamp(since.as_micros() as u64))
    }

    /// Formats as RFC 3339 with microseconds, UTC.
    pub fn to_rfc3339(self) -> String {
        humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_micros(self.0)).to_string()
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
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
    fn timestamps_are_rfc3339() {
        let t = Timestamp::parse_rfc3339("2026-11-30T10:54:26.5Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-30T10:54:26.500000Z");
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
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
