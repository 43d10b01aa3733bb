//! Everything a group keeps durably, as events: the streams, the event types and their payloads,
//! and the functions that read a group's state back after a restart.
//!
//! - `$groups`: `GroupCreated` / `GroupUpdated` ([`GroupRecord`]) and `GroupDeleted`.
//! - `$sub-<group>`: `Checkpoint` — every live position below it is acknowledged or parked.
//! - `$parked-<group>`: `Parked` ([`ParkedEvent`]: the original event, reason, attempts),
//!   `ReplayRequested` and `ReplayCompleted` (the parked-stream version a replay covers).
//!
//! Each record carries the group's `incarnation` (a UUID made at creation), so a group deleted and
//! created again under the same name never picks up its predecessor's checkpoints or parked events.

use serde::{Deserialize, Serialize};
use skald_core::{
    Direction, Error, EventStore, ExpectedVersion, Json, NewEvent, ReadOptions, RecordedEvent, Selector, StreamAppend,
    StreamCondition, StreamMetadata, Uuid,
};

use crate::GroupSpec;

/// The stream of group definitions.
pub const GROUPS_STREAM: &str = "$groups";
/// Checkpoint events kept readable in `$sub-<group>` (older ones are hidden by `max_count`).
const CHECKPOINTS_KEPT: u64 = 16;
const PAGE: usize = 1000;

/// `$sub-<group>`.
pub fn checkpoint_stream(group: &str) -> String {
    format!("$sub-{group}")
}

/// `$parked-<group>`.
pub fn parked_stream(group: &str) -> String {
    format!("$parked-{group}")
}

/// A group definition as stored in `$groups`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// The definition.
    pub spec: GroupSpec,
    /// Made at creation; distinguishes a re-created group from its predecessor.
    pub incarnation: Uuid,
    /// `spec.start` resolved to a log position at creation.
    pub start_position: u64,
}

#[derive(Serialize, Deserialize)]
struct Deleted {
    name: String,
    incarnation: Uuid,
}

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    incarnation: Uuid,
    position: u64,
}

#[derive(Serialize, Deserialize)]
struct Replay {
    incarnation: Uuid,
    through_version: u64,
}

/// An event a group gave up on, as stored in `$parked-<group>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParkedEvent {
    /// The group's incarnation.
    pub incarnation: Uuid,
    /// Why it was parked.
    pub reason: String,
    /// Deliveries made.
    pub attempts: u32,
    /// True when it was parked during a replay of parked events.
    #[serde(default)]
    pub replayed: bool,
    /// The original event (its position, stream, version and id identify it in the log).
    pub event: RecordedEvent,
    /// Version of this record in `$parked-<group>` (filled in when read).
    #[serde(default)]
    pub parked_version: u64,
}

pub(crate) fn created_event(record: &GroupRecord, updated: bool) -> NewEvent {
    NewEvent::new(if updated { "GroupUpdated" } else { "GroupCreated" }, Json::from_value(record))
}

pub(crate) fn deleted_event(name: &str, incarnation: Uuid) -> NewEvent {
    NewEvent::new("GroupDeleted", Json::from_value(&Deleted { name: name.to_owned(), incarnation }))
}

pub(crate) fn checkpoint_event(incarnation: Uuid, position: u64) -> NewEvent {
    NewEvent::new("Checkpoint", Json::from_value(&Checkpoint { incarnation, position }))
}

pub(crate) fn replay_event(incarnation: Uuid, through_version: u64, completed: bool) -> NewEvent {
    let kind = if completed { "ReplayCompleted" } else { "ReplayRequested" };
    NewEvent::new(kind, Json::from_value(&Replay { incarnation, through_version }))
}

pub(crate) fn parked_event(record: &ParkedEvent) -> NewEvent {
    NewEvent::new("Parked", Json::from_value(record))
}

/// Reads a whole stream forward, page by page; a missing stream is empty.
pub(crate) async fn read_stream(
    store: &dyn EventStore,
    stream: &str,
    mut visit: impl FnMut(RecordedEvent),
) -> Result<Option<u64>, Error> {
    let selector = Selector::Stream(stream.to_owned());
    let mut from = Some(0);
    let mut head = None;
    while let Some(start) = from {
        let page = match store.read(&selector, ReadOptions::forward(start, PAGE)).await {
            Ok(page) => page,
            Err(Error::StreamNotFound { .. } | Error::StreamDeleted { .. }) => return Ok(head),
            Err(error) => return Err(error),
        };
        for event in page.events {
            head = Some(event.version);
            visit(event);
        }
        from = page.next;
    }
    Ok(head)
}

/// The live groups in `$groups` and the stream's head version.
pub(crate) async fn load_groups(store: &dyn EventStore) -> Result<(Vec<GroupRecord>, Option<u64>), Error> {
    let mut groups: Vec<GroupRecord> = Vec::new();
    let head = read_stream(store, GROUPS_STREAM, |event| {
        apply_definition(&mut groups, &event);
    })
    .await?;
    Ok((groups, head))
}

/// Applies one `$groups` event to the list of live groups; answers the name of the group it
/// changed (`None` for an event that changes nothing).
pub(crate) fn apply_definition(groups: &mut Vec<GroupRecord>, event: &RecordedEvent) -> Option<String> {
    match event.event_type.as_str() {
        "GroupCreated" | "GroupUpdated" => {
            let record = event.data.decode::<GroupRecord>().ok()?;
            let name = record.spec.name.clone();
            groups.retain(|g| g.spec.name != name);
            groups.push(record);
            Some(name)
        }
        "GroupDeleted" => {
            let deleted = event.data.decode::<Deleted>().ok()?;
            let before = groups.len();
            groups.retain(|g| g.spec.name != deleted.name || g.incarnation != deleted.incarnation);
            (groups.len() != before).then_some(deleted.name)
        }
        _ => None,
    }
}

/// Appends to `$groups` at the expected head.
pub(crate) async fn append_definition(
    store: &dyn EventStore,
    head: Option<u64>,
    event: NewEvent,
) -> Result<u64, Error> {
    let expected = head.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
    let outcome = store.append(vec![StreamAppend::new(GROUPS_STREAM, vec![event]).expect(expected)]).await?;
    Ok(outcome.streams[0].last_version)
}

/// Keeps `$sub-<group>` short: only the newest checkpoints stay readable.
pub(crate) async fn limit_checkpoints(store: &dyn EventStore, group: &str) -> Result<(), Error> {
    let metadata = StreamMetadata { max_count: Some(CHECKPOINTS_KEPT), ..Default::default() };
    store.set_metadata(&checkpoint_stream(group), metadata).await.map(|_| ())
}

/// The newest checkpoint of this incarnation.
pub(crate) async fn load_checkpoint(
    store: &dyn EventStore,
    group: &str,
    incarnation: Uuid,
) -> Result<Option<u64>, Error> {
    let options =
        ReadOptions { direction: Direction::Backward, limit: CHECKPOINTS_KEPT as usize, ..Default::default() };
    let page = match store.read(&Selector::Stream(checkpoint_stream(group)), options).await {
        Ok(page) => page,
        Err(Error::StreamNotFound { .. } | Error::StreamDeleted { .. }) => return Ok(None),
        Err(error) => return Err(error),
    };
    Ok(page
        .events
        .iter()
        .filter_map(|e| e.data.decode::<Checkpoint>().ok())
        .find(|c| c.incarnation == incarnation)
        .map(|c| c.position))
}

/// Appends a checkpoint as the group's owner (`fence`: the owner's lease condition, if any).
pub(crate) async fn append_checkpoint(
    store: &dyn EventStore,
    group: &str,
    incarnation: Uuid,
    position: u64,
    fence: &[StreamCondition],
) -> Result<(), Error> {
    let event = checkpoint_event(incarnation, position);
    store.append_if(vec![StreamAppend::new(checkpoint_stream(group), vec![event])], fence.to_vec()).await.map(|_| ())
}

/// What `$parked-<group>` says, for one incarnation.
#[derive(Debug, Default)]
pub(crate) struct ParkedState {
    /// Parked live events at or after `checkpoint`: the reader skips them.
    pub skip: std::collections::BTreeSet<u64>,
    /// Parked events a requested replay has not finished.
    pub to_replay: Vec<ParkedEvent>,
    /// Parked events no completed replay covers.
    pub unreplayed: Vec<ParkedEvent>,
    /// The version a running replay covers.
    pub replay_through: Option<u64>,
    /// The stream's head version.
    pub head: Option<u64>,
}

pub(crate) async fn load_parked(
    store: &dyn EventStore,
    group: &str,
    incarnation: Uuid,
    checkpoint: u64,
) -> Result<ParkedState, Error> {
    let mut parked: Vec<ParkedEvent> = Vec::new();
    let mut state = ParkedState::default();
    let (mut requested, mut completed) = (None, None);
    state.head = read_stream(store, &parked_stream(group), |event| match event.event_type.as_str() {
        "Parked" => {
            if let Ok(mut record) = event.data.decode::<ParkedEvent>() {
                if record.incarnation == incarnation {
                    record.parked_version = event.version;
                    if !record.replayed && record.event.position >= checkpoint {
                        state.skip.insert(record.event.position);
                    }
                    parked.push(record);
                }
            }
        }
        "ReplayRequested" | "ReplayCompleted" => {
            if let Ok(replay) = event.data.decode::<Replay>() {
                if replay.incarnation == incarnation {
                    if event.event_type == "ReplayRequested" {
                        requested = Some(replay.through_version);
                    } else {
                        completed = Some(replay.through_version);
                        parked.retain(|p| p.parked_version > replay.through_version);
                    }
                }
            }
        }
        _ => {}
    })
    .await?;
    if let Some(through) = requested.filter(|r| completed.is_none_or(|c| c < *r)) {
        state.replay_through = Some(through);
        state.to_replay = parked
            .iter()
            .filter(|p| p.parked_version <= through && completed.is_none_or(|c| p.parked_version > c))
            .cloned()
            .collect();
    }
    state.unreplayed = parked;
    Ok(state)
}

/// A page of `$parked-<group>` records of this incarnation.
pub(crate) async fn list_parked(
    store: &dyn EventStore,
    group: &str,
    incarnation: Uuid,
    from: u64,
    limit: usize,
) -> Result<(Vec<ParkedEvent>, Option<u64>), Error> {
    let selector = Selector::Stream(parked_stream(group));
    let page = match store.read(&selector, ReadOptions::forward(from, limit.clamp(1, PAGE))).await {
        Ok(page) => page,
        Err(Error::StreamNotFound { .. } | Error::StreamDeleted { .. }) => return Ok((Vec::new(), None)),
        Err(error) => return Err(error),
    };
    let records = page
        .events
        .iter()
        .filter(|e| e.event_type == "Parked")
        .filter_map(|e| {
            let mut record = e.data.decode::<ParkedEvent>().ok()?;
            record.parked_version = e.version;
            (record.incarnation == incarnation).then_some(record)
        })
        .collect();
    Ok((records, page.next))
}
