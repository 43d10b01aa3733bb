//! [`MemoryStore`]: the reference implementation of [`EventStore`], kept in memory.
//!
//! It is written for obviousness, not speed: the property tests of every real backend compare
//! their answers with this one. It forgets everything when dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;
use uuid::Uuid;

use crate::{
    check_retry, described_by_metadata_stream, follow, validate_appends, validate_conditions, AppendOutcome, AsOf,
    Direction, Error, EventStore, EventStream, ReadOptions, ReadPage, RecordedEvent, RetryCheck, Selector, StoredId,
    StreamAppend, StreamAppended, StreamCondition, StreamInfo, StreamList, StreamMetadata, SubscribeFrom, Timestamp,
};

#[derive(Default)]
struct Stream {
    positions: Vec<u64>,
    metadata: StreamMetadata,
}

#[derive(Default)]
struct State {
    log: Vec<RecordedEvent>,
    streams: BTreeMap<String, Stream>,
    ids: HashMap<Uuid, u64>,
}

/// An [`EventStore`] in memory. Cheap to clone; clones share the same events.
#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    committed: watch::Sender<Option<u64>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore { state: Arc::default(), committed: watch::Sender::new(None) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The highest position a read may return, given its `as_of` and the log's head.
pub(crate) fn position_bound(
    as_of: Option<AsOf>,
    head: Option<u64>,
    at_time: impl Fn(Timestamp) -> Option<u64>,
) -> Option<u64> {
    let head = head?;
    match as_of {
        None => Some(head),
        Some(AsOf::Position(p)) => Some(p.min(head)),
        Some(AsOf::Time(t)) => at_time(t).map(|p| p.min(head)),
    }
}

impl State {
    fn head(&self) -> Option<u64> {
        (self.log.len() as u64).checked_sub(1)
    }

    fn position_at(&self, time: Timestamp) -> Option<u64> {
        let after = self.log.partition_point(|e| e.timestamp <= time);
        (after as u64).checked_sub(1)
    }

    fn read_stream(&self, stream: &str, options: ReadOptions, bound: Option<u64>) -> Result<ReadPage, Error> {
        let not_found = || Error::StreamNotFound { stream: stream.to_owned() };
        let entry = self.streams.get(stream).ok_or_else(not_found)?;
        let bound = bound.ok_or_else(not_found)?;
        let known = entry.positions.partition_point(|p| *p <= bound);
        let Some(head) = (known as u64).checked_sub(1) else {
            return Err(not_found());
        };
        if entry.metadata.hides_whole_stream(head) {
            return Err(Error::StreamDeleted { stream: stream.to_owned() });
        }
        let now = Timestamp::now();
        let first = entry.metadata.first_visible_version(head);
        let visible = |v: u64| {
            let event = &self.log[entry.positions[v as usize] as usize];
            entry.metadata.is_visible(v, event.timestamp, head, now).then(|| event.clone())
        };
        let versions: Box<dyn Iterator<Item = u64>> = match options.direction {
            Direction::Forward => Box::new(options.from.unwrap_or(0).max(first)..=head),
            Direction::Backward => {
                let start = options.from.unwrap_or(head).min(head);
                if start < first {
                    Box::new(std::iter::empty())
                } else {
                    Box::new((first..=start).rev())
                }
            }
        };
        page(versions.filter_map(|v| visible(v).map(|e| (v, e))), options.limit)
    }

    fn read_global(&self, selector: &Selector, options: ReadOptions, bound: Option<u64>) -> ReadPage {
        let Some(bound) = bound else {
            return ReadPage { events: Vec::new(), next: None };
        };
        let positions: Box<dyn Iterator<Item = u64>> = match options.direction {
            Direction::Forward => Box::new(options.from.unwrap_or(0)..=bound),
            Direction::Backward => Box::new((0..=options.from.unwrap_or(bound).min(bound)).rev()),
        };
        let events =
            positions.map(|p| &self.log[p as usize]).filter(|e| selector.matches(e)).map(|e| (e.position, e.clone()));
        page(events, options.limit).expect("global reads do not fail")
    }

    fn info(&self, stream: &str) -> Option<StreamInfo> {
        let entry = self.streams.get(stream)?;
        let head_position = *entry.positions.last()?;
        Some(StreamInfo {
            stream: stream.to_owned(),
            head_version: entry.positions.len() as u64 - 1,
            head_position,
            metadata: entry.metadata.clone(),
        })
    }
}

/// Takes `limit` (cursor, event) pairs; the cursor of the next one, if any, is the next page's `from`.
fn page(mut events: impl Iterator<Item = (u64, RecordedEvent)>, limit: usize) -> Result<ReadPage, Error> {
    let taken: Vec<RecordedEvent> = events.by_ref().take(limit).map(|(_, e)| e).collect();
    let next = events.next().map(|(cursor, _)| cursor);
    Ok(ReadPage { events: taken, next })
}

#[async_trait::async_trait]
impl EventStore for MemoryStore {
    async fn append_if(
        &self,
        appends: Vec<StreamAppend>,
        conditions: Vec<StreamCondition>,
    ) -> Result<AppendOutcome, Error> {
        validate_appends(&appends)?;
        validate_conditions(&appends, &conditions)?;
        let mut state = self.lock();
        let lookup = |id: &Uuid| {
            Ok(state.ids.get(id).map(|p| {
                let e = &state.log[*p as usize];
                StoredId { stream: e.stream.clone(), version: e.version, position: e.position }
            }))
        };
        if let RetryCheck::Replay(outcome) = check_retry(&appends, lookup)? {
            return Ok(outcome);
        }
        let head_of = |stream: &str| state.streams.get(stream).and_then(|s| (s.positions.len() as u64).checked_sub(1));
        for append in &appends {
            append.expected_version.check(&append.stream, head_of(&append.stream))?;
        }
        for condition in &conditions {
            condition.expected_version.check(&condition.stream, head_of(&condition.stream))?;
        }
        let timestamp = Timestamp::now().max(state.log.last().map_or(Timestamp(0), |e| e.timestamp));
        let mut outcome = AppendOutcome { streams: Vec::with_capacity(appends.len()), replayed: false };
        for append in appends {
            let first_position = state.log.len() as u64;
            let first_version = state.streams.get(&append.stream).map_or(0, |s| s.positions.len() as u64);
            for (i, event) in append.events.into_iter().enumerate() {
                let position = first_position + i as u64;
                let recorded = RecordedEvent {
                    position,
                    stream: append.stream.clone(),
                    version: first_version + i as u64,
                    id: event.id,
                    event_type: event.event_type,
                    timestamp,
                    data: event.data,
                    metadata: event.metadata,
                };
                if let Some(described) = described_by_metadata_stream(&recorded.stream) {
                    if let Ok(metadata) = recorded.data.decode::<StreamMetadata>() {
                        state.streams.entry(described.to_owned()).or_default().metadata = metadata;
                    }
                }
                state.ids.insert(recorded.id, position);
                state.streams.entry(recorded.stream.clone()).or_default().positions.push(position);
                state.log.push(recorded);
            }
            let last_position = state.log.len() as u64 - 1;
            outcome.streams.push(StreamAppended {
                stream: append.stream,
                first_version,
                last_version: first_version + (last_position - first_position),
                first_position,
                last_position,
            });
        }
        let head = state.head();
        drop(state);
        self.committed.send_replace(head);
        Ok(outcome)
    }

    async fn read(&self, selector: &Selector, options: ReadOptions) -> Result<ReadPage, Error> {
        options.validate()?;
        let state = self.lock();
        let bound = position_bound(options.as_of, state.head(), |t| state.position_at(t));
        match selector {
            Selector::Stream(stream) => state.read_stream(stream, options, bound),
            Selector::All | Selector::Category(_) | Selector::Type(_) => {
                Ok(state.read_global(selector, options, bound))
            }
        }
    }

    async fn stream_info(&self, stream: &str) -> Result<StreamInfo, Error> {
        self.lock().info(stream).ok_or_else(|| Error::StreamNotFound { stream: stream.to_owned() })
    }

    async fn list_streams(&self, after: Option<&str>, limit: usize) -> Result<StreamList, Error> {
        let state = self.lock();
        let range = match after {
            Some(after) => {
                state.streams.range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            }
            None => state.streams.range::<str, _>(..),
        };
        let mut names = range.filter(|(_, s)| !s.positions.is_empty()).map(|(name, _)| name.as_str());
        let streams: Vec<StreamInfo> = names.by_ref().take(limit).filter_map(|name| state.info(name)).collect();
        let next_after = names.next().and(streams.last().map(|s| s.stream.clone()));
        Ok(StreamList { streams, next_after })
    }

    fn head_position(&self) -> Option<u64> {
        *self.committed.borrow()
    }

    fn subscribe(&self, selector: Selector, from: SubscribeFrom) -> EventStream {
        follow(Arc::new(self.clone()), selector, from, self.committed.subscribe())
    }
}
