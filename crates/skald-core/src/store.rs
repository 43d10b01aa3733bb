//! The `EventStore` trait and the request and response types every backend shares.
//!
//! The rules that do not depend on how events are kept — request validation, expected-version
//! checks, recognising an idempotent retry, stream-metadata visibility — live here as plain
//! functions, so that every backend applies them the same way.

use std::collections::HashSet;
use std::fmt;

use futures_util::stream::BoxStream;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::limits::{APPEND_EVENTS_MAX, APPEND_SIZE_BYTES_MAX, APPEND_STREAMS_MAX, READ_EVENTS_MAX};
use crate::{category_of, metadata_stream_of, validate_stream_name, Error, Json, NewEvent, RecordedEvent, Timestamp};

/// What the writer believes about the stream's head before appending.
///
/// `Exact(n)` means "the last event I saw in this stream has version `n`": the append succeeds only
/// if the stream's head version is still `n`, and its first event gets version `n + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExpectedVersion {
    /// No check.
    #[default]
    Any,
    /// The stream must have no events.
    NoStream,
    /// The stream must have at least one event.
    Exists,
    /// The stream's head version must be this.
    Exact(u64),
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no_stream"),
            ExpectedVersion::Exists => f.write_str("exists"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

impl ExpectedVersion {
    /// Parses the wire form: `any`, `no_stream`, `exists` or a number.
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text {
            "any" => Ok(ExpectedVersion::Any),
            "no_stream" => Ok(ExpectedVersion::NoStream),
            "exists" => Ok(ExpectedVersion::Exists),
            number => number.parse().map(ExpectedVersion::Exact).map_err(|_| {
                Error::invalid(
                    "expected_version",
                    format!("`{number}` is not one of \"any\", \"no_stream\", \"exists\" or a version number"),
                )
            }),
        }
    }

    /// Checks this expectation against a stream whose head version is `head` (`None`: no events).
    pub fn check(self, stream: &str, head: Option<u64>) -> Result<(), Error> {
        let holds = match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => head.is_none(),
            ExpectedVersion::Exists => head.is_some(),
            ExpectedVersion::Exact(v) => head == Some(v),
        };
        if holds {
            Ok(())
        } else {
            Err(Error::WrongExpectedVersion { stream: stream.to_owned(), expected: self, actual: head })
        }
    }
}

impl Serialize for ExpectedVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ExpectedVersion::Exact(v) => serializer.serialize_u64(*v),
            other => serializer.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for ExpectedVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Number(u64),
            Text(String),
        }
        match Wire::deserialize(deserializer)? {
            Wire::Number(v) => Ok(ExpectedVersion::Exact(v)),
            Wire::Text(text) => ExpectedVersion::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// Events to append to one stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamAppend {
    /// The stream.
    pub stream: String,
    /// The check made before writing.
    #[serde(default)]
    pub expected_version: ExpectedVersion,
    /// The events, in order.
    pub events: Vec<NewEvent>,
}

impl StreamAppend {
    /// Events for `stream` with no version check.
    pub fn new(stream: impl Into<String>, events: Vec<NewEvent>) -> Self {
        StreamAppend { stream: stream.into(), expected_version: ExpectedVersion::Any, events }
    }

    /// Sets the expected version.
    pub fn expect(mut self, expected: ExpectedVersion) -> Self {
        self.expected_version = expected;
        self
    }
}

/// A check made in the same atomic step as an append, on a stream the append does not write:
/// the append happens only if `expected_version` holds for `stream` at that moment.
///
/// This is how an owner fences its writes: a node that holds a lease appends with a condition on
/// the lease's stream, so once another node has taken the lease over (appending to that stream),
/// the old owner's appends fail with `wrong-expected-version` instead of landing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCondition {
    /// The stream checked.
    pub stream: String,
    /// What must hold; `any` checks nothing and is refused.
    pub expected_version: ExpectedVersion,
}

impl StreamCondition {
    /// `stream` must be at `expected`.
    pub fn new(stream: impl Into<String>, expected: ExpectedVersion) -> Self {
        StreamCondition { stream: stream.into(), expected_version: expected }
    }
}

/// Where one stream's events of an append landed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamAppended {
    /// The stream.
    pub stream: String,
    /// Version of its first event in this append.
    pub first_version: u64,
    /// Version of its last event in this append: the expected version for the next append.
    pub last_version: u64,
    /// Global position of the first event.
    pub first_position: u64,
    /// Global position of the last event.
    pub last_position: u64,
}

/// The result of an append: one entry per stream, in request order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    /// Where each stream's events are.
    pub streams: Vec<StreamAppended>,
    /// True when every event was already stored by an earlier identical append: nothing was written.
    pub replayed: bool,
}

/// Which events a read or subscription covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Selector {
    /// The whole log (`$all`). Cursors are global positions.
    All,
    /// One stream. Cursors are stream versions.
    Stream(String),
    /// Every stream of a category. Cursors are global positions.
    Category(String),
    /// Every event of a type. Cursors are global positions.
    Type(String),
}

impl Selector {
    /// Whether `event` belongs to this selector.
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        match self {
            Selector::All => true,
            Selector::Stream(s) => &event.stream == s,
            Selector::Category(c) => category_of(&event.stream) == c,
            Selector::Type(t) => &event.event_type == t,
        }
    }

    /// The cursor of `event` in this selector: its version for a stream, else its position.
    pub fn cursor_of(&self, event: &RecordedEvent) -> u64 {
        match self {
            Selector::Stream(_) => event.version,
            _ => event.position,
        }
    }
}

/// Read order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

/// Read the store as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    /// As it was when this position was the last one committed.
    Position(u64),
    /// As it was at this time: the last event with a timestamp at or before it.
    Time(Timestamp),
}

/// How to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// First cursor to include (version for a stream, else position). `None`: the start in
    /// forward order, the end in backward order.
    pub from: Option<u64>,
    /// Order.
    pub direction: Direction,
    /// Most events to return; at most [`READ_EVENTS_MAX`].
    pub limit: usize,
    /// Point-in-time read.
    pub as_of: Option<AsOf>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { from: None, direction: Direction::Forward, limit: 100, as_of: None }
    }
}

impl ReadOptions {
    /// Forward from `from`, up to `limit`.
    pub fn forward(from: u64, limit: usize) -> Self {
        ReadOptions { from: Some(from), limit, ..Default::default() }
    }

    /// Backward from the end, up to `limit`.
    pub fn backward(limit: usize) -> Self {
        ReadOptions { direction: Direction::Backward, limit, ..Default::default() }
    }

    /// Checks the limit.
    pub fn validate(&self) -> Result<(), Error> {
        if self.limit == 0 {
            return Err(Error::invalid("limit", "limit must be at least 1"));
        }
        if self.limit > READ_EVENTS_MAX {
            return Err(Error::limit("limit", "read_events_max", self.limit, READ_EVENTS_MAX));
        }
        Ok(())
    }
}

/// A page of a read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadPage {
    /// The events, in the order asked for.
    pub events: Vec<RecordedEvent>,
    /// The `from` of the next page, or `None` when this page reached the end (as of the read).
    pub next: Option<u64>,
}

/// Per-stream settings, kept as `$metadata` events in the stream `$meta-<stream>`.
///
/// Reads of the stream hide events that are older than `max_age_seconds`, that are not among the
/// newest `max_count`, or whose version is below `truncate_before`. Hidden events stay in the global
/// log (`$all`, categories, types) until a future scavenge removes them; the stream read is what
/// changes. A deleted stream (`deleted` with every version below `truncate_before`) reads as
/// `stream-deleted`; appending to it again recreates it, with versions continuing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamMetadata {
    /// Hide events older than this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
    /// Keep only the newest this many events visible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u64>,
    /// Hide events with a lower version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate_before: Option<u64>,
    /// Set by a soft delete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl StreamMetadata {
    /// Whether the event at `version`, written at `timestamp`, is visible when the head is `head`.
    pub fn is_visible(&self, version: u64, timestamp: Timestamp, head: u64, now: Timestamp) -> bool {
        if self.truncate_before.is_some_and(|t| version < t) {
            return false;
        }
        if self.max_count.is_some_and(|n| head.saturating_sub(version) >= n) {
            return false;
        }
        if let Some(age) = self.max_age_seconds {
            if now.micros().saturating_sub(timestamp.micros()) > age.saturating_mul(1_000_000) {
                return false;
            }
        }
        true
    }

    /// The lowest version that can be visible (a lower bound; max age is checked per event).
    pub fn first_visible_version(&self, head: u64) -> u64 {
        let by_count = self.max_count.map_or(0, |n| (head + 1).saturating_sub(n));
        by_count.max(self.truncate_before.unwrap_or(0))
    }

    /// Whether a stream with this metadata and head version reads as deleted.
    pub fn hides_whole_stream(&self, head: u64) -> bool {
        self.deleted && self.truncate_before.is_some_and(|t| t > head)
    }
}

/// What the store knows about one stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// The stream.
    pub stream: String,
    /// Version of its newest event.
    pub head_version: u64,
    /// Position of its newest event.
    pub head_position: u64,
    /// Its settings.
    pub metadata: StreamMetadata,
}

/// A page of the stream list, ordered by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamList {
    /// Streams, ordered by name.
    pub streams: Vec<StreamInfo>,
    /// Pass as `after` to get the next page.
    pub next_after: Option<String>,
}

/// Where a subscription starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscribeFrom {
    /// From the first event.
    Start,
    /// Only events committed after the subscription is made.
    End,
    /// From this global position, inclusive.
    Position(u64),
}

/// Events of a subscription: first the stored ones, then live ones, without gap or duplicate.
pub type EventStream = BoxStream<'static, Result<RecordedEvent, Error>>;

/// The contract every backend meets (embedded log, PostgreSQL, NATS JetStream).
///
/// The same test suite runs against each implementation.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends atomically: either every event of every stream is stored, or none is.
    ///
    /// Streams starting with `$` are accepted here (Skald's services write them); the HTTP API
    /// refuses them from users.
    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendOutcome, Error> {
        self.append_if(appends, Vec::new()).await
    }

    /// Appends atomically if every condition holds at the moment of the append (checked with the
    /// expected versions, in the same atomic step); a failed condition is `wrong-expected-version`
    /// naming its stream, and nothing is written.
    ///
    /// An idempotent retry (every id stored by an identical earlier append) is answered with the
    /// original positions without checking the conditions again: they held when it was written.
    async fn append_if(
        &self,
        appends: Vec<StreamAppend>,
        conditions: Vec<StreamCondition>,
    ) -> Result<AppendOutcome, Error>;

    /// Reads a page.
    async fn read(&self, selector: &Selector, options: ReadOptions) -> Result<ReadPage, Error>;

    /// What is known about a stream.
    async fn stream_info(&self, stream: &str) -> Result<StreamInfo, Error>;

    /// Streams ordered by name, after `after`.
    async fn list_streams(&self, after: Option<&str>, limit: usize) -> Result<StreamList, Error>;

    /// The position of the newest committed event, `None` while the log is empty.
    fn head_position(&self) -> Option<u64>;

    /// Catch-up then live events of `selector`.
    fn subscribe(&self, selector: Selector, from: SubscribeFrom) -> EventStream;

    /// Replaces a stream's metadata, as a `$metadata` event in `$meta-<stream>`.
    async fn set_metadata(&self, stream: &str, metadata: StreamMetadata) -> Result<AppendOutcome, Error> {
        validate_stream_name(stream)?;
        let event = NewEvent::new(crate::METADATA_EVENT_TYPE, Json::from_value(&metadata));
        self.append(vec![StreamAppend::new(metadata_stream_of(stream), vec![event])]).await
    }

    /// Soft-deletes a stream: its events are hidden from stream reads until it is appended to again.
    ///
    /// One atomic append: the metadata event is written only if the stream is still at the head
    /// version it was checked at and its metadata was not changed meanwhile. When `expected` does
    /// not pin a version, a race with a concurrent writer is retried (at most
    /// [`DELETE_ATTEMPTS_MAX`] times); with an exact version it is `wrong-expected-version`.
    async fn delete_stream(&self, stream: &str, expected: ExpectedVersion) -> Result<AppendOutcome, Error> {
        validate_stream_name(stream)?;
        let meta_stream = metadata_stream_of(stream);
        let (mut head, mut metadata, mut meta_head) = deletion_base(self, stream, &meta_stream).await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            expected.check(stream, Some(head))?;
            let deleted = StreamMetadata { truncate_before: Some(head + 1), deleted: true, ..metadata.clone() };
            let event = NewEvent::new(crate::METADATA_EVENT_TYPE, Json::from_value(&deleted));
            let append = StreamAppend::new(meta_stream.clone(), vec![event]).expect(meta_head);
            let condition = StreamCondition::new(stream, ExpectedVersion::Exact(head));
            match self.append_if(vec![append], vec![condition]).await {
                // Lost a race with a metadata change: look again. With a writer of the stream, the
                // error names its new head: aim at that one, unless the caller pinned a version.
                Err(Error::WrongExpectedVersion { stream: ref raced, actual, .. }) if attempt < DELETE_ATTEMPTS_MAX => {
                    if *raced == meta_stream {
                        (head, metadata, meta_head) = deletion_base(self, stream, &meta_stream).await?;
                    } else if let (false, Some(actual)) = (matches!(expected, ExpectedVersion::Exact(_)), actual) {
                        head = actual;
                    } else {
                        return Err(Error::WrongExpectedVersion { stream: raced.clone(), expected, actual });
                    }
                }
                outcome => return outcome,
            }
        }
    }
}

/// What a delete starts from: the stream's head and metadata, and the metadata stream's head.
async fn deletion_base<S: EventStore + ?Sized>(
    store: &S,
    stream: &str,
    meta_stream: &str,
) -> Result<(u64, StreamMetadata, ExpectedVersion), Error> {
    let info = store.stream_info(stream).await?;
    let meta_head = match store.stream_info(meta_stream).await {
        Ok(meta) => ExpectedVersion::Exact(meta.head_version),
        Err(Error::StreamNotFound { .. }) => ExpectedVersion::NoStream,
        Err(error) => return Err(error),
    };
    Ok((info.head_version, info.metadata, meta_head))
}

/// How often [`EventStore::delete_stream`] tries again after losing a race with a writer. Each try
/// loses only to appends committed in the same group before it, so against a few busy writers a
/// try wins about one time in five: 64 tries fail together about once in a million.
pub const DELETE_ATTEMPTS_MAX: usize = 64;

/// Checks the conditions of [`EventStore::append_if`] against each other and the appends: valid
/// names, a real expectation (not `any`), no stream twice, none that the append also writes (put
/// the expectation on that stream's entry instead). Every backend calls this after
/// [`validate_appends`].
pub fn validate_conditions(appends: &[StreamAppend], conditions: &[StreamCondition]) -> Result<(), Error> {
    if conditions.is_empty() {
        return Ok(());
    }
    let streams = appends.len() + conditions.len();
    if streams > APPEND_STREAMS_MAX {
        return Err(Error::limit("conditions", "append_streams_max", streams, APPEND_STREAMS_MAX));
    }
    let mut seen: HashSet<&str> = appends.iter().map(|a| a.stream.as_str()).collect();
    for (i, condition) in conditions.iter().enumerate() {
        let field = format!("conditions[{i}].stream");
        validate_stream_name(&condition.stream).map_err(|e| relocate(e, &field))?;
        if condition.expected_version == ExpectedVersion::Any {
            return Err(Error::invalid(
                format!("conditions[{i}].expected_version"),
                "a condition of `any` checks nothing; say `no_stream`, `exists` or a version",
            ));
        }
        if !seen.insert(condition.stream.as_str()) {
            return Err(Error::invalid(
                field,
                format!(
                    "stream `{}` is already written or checked by this append; put the expectation on one entry",
                    condition.stream
                ),
            ));
        }
    }
    Ok(())
}

/// Checks an append request against the limits and shape rules. Every backend calls this first.
pub fn validate_appends(appends: &[StreamAppend]) -> Result<(), Error> {
    if appends.is_empty() {
        return Err(Error::invalid("streams", "an append needs at least one stream"));
    }
    if appends.len() > APPEND_STREAMS_MAX {
        return Err(Error::limit("streams", "append_streams_max", appends.len(), APPEND_STREAMS_MAX));
    }
    let total: usize = appends.iter().map(|a| a.events.len()).sum();
    if total > APPEND_EVENTS_MAX {
        return Err(Error::limit("events", "append_events_max", total, APPEND_EVENTS_MAX));
    }
    // Appends are checked on every write: the common case (one stream, distinct ids) makes no
    // set, hashes nothing and formats no field name.
    let mut streams = (appends.len() > 1).then(|| HashSet::with_capacity(appends.len()));
    let mut ids = has_duplicate_ids(appends, total).then(|| HashSet::with_capacity(total));
    let mut bytes = 0usize;
    for (i, append) in appends.iter().enumerate() {
        let prefix = || if appends.len() == 1 { String::new() } else { format!("streams[{i}].") };
        validate_stream_name(&append.stream).map_err(|e| relocate(e, &format!("{}stream", prefix())))?;
        if streams.as_mut().is_some_and(|streams| !streams.insert(append.stream.as_str())) {
            return Err(Error::invalid(
                format!("{}stream", prefix()),
                format!("stream `{}` appears twice; put all its events in one entry", append.stream),
            ));
        }
        if append.events.is_empty() {
            return Err(Error::invalid(format!("{}events", prefix()), "an append needs at least one event"));
        }
        for (j, event) in append.events.iter().enumerate() {
            let field = || format!("{}events[{j}]", prefix());
            if !event.is_valid() {
                event.validate(&field())?;
            }
            if ids.as_mut().is_some_and(|ids| !ids.insert(event.id)) {
                return Err(Error::invalid(
                    format!("{}.id", field()),
                    format!("event id {} appears twice in this append", event.id),
                ));
            }
            bytes += event.size_bytes();
        }
    }
    if bytes > APPEND_SIZE_BYTES_MAX {
        return Err(Error::limit("events", "append_size_bytes_max", bytes, APPEND_SIZE_BYTES_MAX));
    }
    Ok(())
}

/// Whether any event id appears twice among `appends` (`total` events).
fn has_duplicate_ids(appends: &[StreamAppend], total: usize) -> bool {
    let mut ids = Vec::with_capacity(total);
    ids.extend(appends.iter().flat_map(|a| &a.events).map(|e| e.id.as_u128()));
    ids.sort_unstable();
    ids.windows(2).any(|pair| pair[0] == pair[1])
}

fn relocate(error: Error, field: &str) -> Error {
    match error {
        Error::Invalid { reason, .. } => Error::Invalid { field: field.to_owned(), reason },
        other => other,
    }
}

/// Where an already stored event id sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredId {
    /// Its stream.
    pub stream: String,
    /// Its version.
    pub version: u64,
    /// Its position.
    pub position: u64,
}

/// What an append is, given which of its ids are stored already.
#[derive(Debug, PartialEq, Eq)]
pub enum RetryCheck {
    /// No id is stored: write it.
    Fresh,
    /// Every id is stored where an identical earlier append put it: answer with the old outcome.
    Replay(AppendOutcome),
}

/// Recognises an idempotent retry. `lookup` finds where an id is stored.
///
/// A retry must carry the same ids for the same streams in the same order, stored at consecutive
/// versions: then it is answered with the original positions and nothing is written. Any partial
/// overlap is an [`Error::IdempotencyConflict`], because writing the rest would break the
/// all-or-nothing promise of the first append.
pub fn check_retry(
    appends: &[StreamAppend],
    mut lookup: impl FnMut(&Uuid) -> Result<Option<StoredId>, Error>,
) -> Result<RetryCheck, Error> {
    let mut stored = Vec::with_capacity(appends.len());
    let mut missing = false;
    for append in appends {
        let mut found = Vec::with_capacity(append.events.len());
        for event in &append.events {
            match lookup(&event.id)? {
                Some(at) => found.push((event.id, at)),
                None => missing = true,
            }
        }
        stored.push(found);
    }
    let Some((first_id, first_found)) = stored.iter().flatten().next() else {
        return Ok(RetryCheck::Fresh);
    };
    if missing {
        return Err(Error::IdempotencyConflict {
            id: *first_id,
            stream: first_found.stream.clone(),
            version: first_found.version,
            reason: "some ids of this append are stored and others are not".into(),
        });
    }
    let mut streams = Vec::with_capacity(appends.len());
    for (append, found) in appends.iter().zip(&stored) {
        for (pair, (id, at)) in found.iter().enumerate() {
            let consecutive = pair == 0 || at.version == found[pair - 1].1.version + 1;
            if at.stream != append.stream || !consecutive {
                return Err(Error::IdempotencyConflict {
                    id: *id,
                    stream: at.stream.clone(),
                    version: at.version,
                    reason: "the retry's events are not stored in the same stream and order".into(),
                });
            }
        }
        let (first, last) = (&found[0].1, &found[found.len() - 1].1);
        streams.push(StreamAppended {
            stream: append.stream.clone(),
            first_version: first.version,
            last_version: last.version,
            first_position: first.position,
            last_position: last.position,
        });
    }
    Ok(RetryCheck::Replay(AppendOutcome { streams, replayed: true }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expected_version_wire_forms() {
        for (wire, parsed) in [
            (json!("any"), ExpectedVersion::Any),
            (json!("no_stream"), ExpectedVersion::NoStream),
            (json!("exists"), ExpectedVersion::Exists),
            (json!(7), ExpectedVersion::Exact(7)),
        ] {
            assert_eq!(serde_json::from_value::<ExpectedVersion>(wire.clone()).unwrap(), parsed);
            assert_eq!(serde_json::to_value(parsed).unwrap(), wire);
        }
        assert!(serde_json::from_value::<ExpectedVersion>(json!("latest")).is_err());
    }

    #[test]
    fn expected_version_checks() {
        assert!(ExpectedVersion::NoStream.check("s", None).is_ok());
        assert!(ExpectedVersion::Exists.check("s", None).is_err());
        let err = ExpectedVersion::Exact(3).check("s", Some(4)).unwrap_err();
        assert_eq!(
            err,
            Error::WrongExpectedVersion { stream: "s".into(), expected: ExpectedVersion::Exact(3), actual: Some(4) }
        );
    }

    #[test]
    fn appends_are_validated_with_field_paths() {
        let e = || NewEvent::new("A", json!({}));
        assert!(validate_appends(&[]).is_err());
        let err = validate_appends(&[StreamAppend::new("a", vec![]), StreamAppend::new("b", vec![e()])]).unwrap_err();
        assert!(matches!(err, Error::Invalid { ref field, .. } if field == "streams[0].events"));
        let err =
            validate_appends(&[StreamAppend::new("a", vec![e()]), StreamAppend::new("a", vec![e()])]).unwrap_err();
        assert!(err.to_string().contains("twice"));
        let dup = e();
        let err = validate_appends(&[StreamAppend::new("a", vec![dup.clone(), dup])]).unwrap_err();
        assert!(matches!(err, Error::Invalid { ref field, .. } if field == "events[1].id"));
        let err = validate_appends(&[StreamAppend::new("", vec![e()])]).unwrap_err();
        assert!(matches!(err, Error::Invalid { ref field, .. } if field == "stream"));
    }

    #[test]
    fn metadata_visibility() {
        let now = Timestamp(100_000_000);
        let m = StreamMetadata { max_count: Some(2), ..Default::default() };
        assert!(!m.is_visible(7, now, 9, now));
        assert!(m.is_visible(8, now, 9, now));
        assert_eq!(m.first_visible_version(9), 8);
        let m = StreamMetadata { max_age_seconds: Some(10), ..Default::default() };
        assert!(!m.is_visible(0, Timestamp(80_000_000), 0, now));
        assert!(m.is_visible(0, Timestamp(95_000_000), 0, now));
        let m = StreamMetadata { truncate_before: Some(5), deleted: true, ..Default::default() };
        assert!(m.hides_whole_stream(4));
        assert!(!m.hides_whole_stream(5));
    }
}
