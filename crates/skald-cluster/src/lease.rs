//! Leases in the log. Lease `<name>` is the stream `$lease-<name>`; each change of owner is one
//! event: `LeaseAcquired {node, address}` or `LeaseReleased {node}`. The owner is whoever the last
//! event names (nobody after a release). Acquiring appends with the expected version of the last
//! event seen, so of two nodes racing for a free lease exactly one wins.
//!
//! **Fencing.** The owner's *epoch* is the version of its `LeaseAcquired` event. Every append it
//! makes as owner carries the condition "`$lease-<name>` is still at my epoch"
//! ([`Fence::condition`]). A node that lost the lease — it was presumed dead and another node
//! appended its own `LeaseAcquired` — therefore cannot write as owner any more: its appends fail
//! with `wrong-expected-version` naming the lease stream, however late they arrive.

use serde::{Deserialize, Serialize};
use skald_core::{
    Direction, Error, EventStore, ExpectedVersion, Json, NewEvent, ReadOptions, RecordedEvent, Selector, StreamAppend,
    StreamCondition, Timestamp,
};

/// The prefix of every lease stream.
pub const LEASE_STREAM_PREFIX: &str = "$lease-";
/// The category of the lease streams.
pub const LEASE_CATEGORY: &str = "$lease";
/// Event type of an acquisition.
pub const ACQUIRED_TYPE: &str = "LeaseAcquired";
/// Event type of a release.
pub const RELEASED_TYPE: &str = "LeaseReleased";

/// The stream of lease `name`.
pub fn lease_stream(name: &str) -> String {
    format!("{LEASE_STREAM_PREFIX}{name}")
}

/// The data of a lease event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseChange {
    /// The node acquiring or releasing.
    pub node: String,
    /// Where it listens (acquisitions).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub address: String,
}

/// A lease as its last event leaves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The owner, `None` after a release.
    pub owner: Option<LeaseChange>,
    /// The version of the last event: the owner's epoch while it owns the lease.
    pub version: u64,
    /// When the last event was written.
    pub since: Timestamp,
}

impl LeaseRecord {
    /// The lease as `event` (of its stream) leaves it; `None` for an event that is not a lease change.
    pub fn from_event(event: &RecordedEvent) -> Option<LeaseRecord> {
        let change: LeaseChange = event.data.decode().ok()?;
        let owner = match event.event_type.as_str() {
            ACQUIRED_TYPE => Some(change),
            RELEASED_TYPE => None,
            _ => return None,
        };
        Some(LeaseRecord { owner, version: event.version, since: event.timestamp })
    }
}

/// What an owner's appends carry: the lease stream must still be at its epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// The lease's stream.
    pub stream: String,
    /// The version of the owner's `LeaseAcquired`.
    pub epoch: u64,
}

impl Fence {
    /// The condition to append with.
    pub fn condition(&self) -> StreamCondition {
        StreamCondition::new(self.stream.clone(), ExpectedVersion::Exact(self.epoch))
    }

    /// Whether `error` says that this fence no longer holds (the lease changed hands).
    pub fn is_broken_by(&self, error: &Error) -> bool {
        matches!(error, Error::WrongExpectedVersion { stream, .. } if *stream == self.stream)
    }
}

/// The last record of lease `name`, `None` when it was never acquired.
pub async fn read(store: &dyn EventStore, name: &str) -> Result<Option<LeaseRecord>, Error> {
    let options = ReadOptions { direction: Direction::Backward, limit: 1, ..ReadOptions::default() };
    match store.read(&Selector::Stream(lease_stream(name)), options).await {
        Ok(page) => Ok(page.events.first().and_then(LeaseRecord::from_event)),
        Err(Error::StreamNotFound { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Acquires lease `name` for `node` if it is still as `seen` left it. Answers the fence of the
/// new epoch, or `None` when another node changed the lease first.
pub async fn acquire(
    store: &dyn EventStore,
    name: &str,
    seen: Option<&LeaseRecord>,
    node: &str,
    address: &str,
) -> Result<Option<Fence>, Error> {
    let change = LeaseChange { node: node.to_owned(), address: address.to_owned() };
    let event = NewEvent::new(ACQUIRED_TYPE, Json::from_value(&change));
    let expected = seen.map_or(ExpectedVersion::NoStream, |r| ExpectedVersion::Exact(r.version));
    match store.append(vec![StreamAppend::new(lease_stream(name), vec![event]).expect(expected)]).await {
        Ok(outcome) => Ok(Some(Fence { stream: lease_stream(name), epoch: outcome.streams[0].first_version })),
        Err(Error::WrongExpectedVersion { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Releases lease `name` held under `fence`. Answers the lease as the release leaves it, or
/// `None` when it had changed hands meanwhile (nothing is written then).
pub async fn release(store: &dyn EventStore, fence: &Fence, node: &str) -> Result<Option<LeaseRecord>, Error> {
    let change = LeaseChange { node: node.to_owned(), address: String::new() };
    let event = NewEvent::new(RELEASED_TYPE, Json::from_value(&change));
    let append = StreamAppend::new(fence.stream.clone(), vec![event]).expect(ExpectedVersion::Exact(fence.epoch));
    match store.append(vec![append]).await {
        Ok(outcome) => {
            Ok(Some(LeaseRecord { owner: None, version: outcome.streams[0].first_version, since: Timestamp::now() }))
        }
        Err(Error::WrongExpectedVersion { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}
