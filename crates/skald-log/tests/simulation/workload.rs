//! The operations a seed drives against a running store, each checked as it completes: appends
//! (one or many streams, expected versions, retries with the same ids, bursts in flight at once),
//! reads (`$all` both ways, a stream, a category), subscriptions, and the fault plan of the epoch.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use skald_core::{
    category_of, Error, EventStore, ExpectedVersion, NewEvent, ReadOptions, Selector, StreamAppend, SubscribeFrom, Uuid,
};
use skald_log::storage::faults::{FaultPlan, FileKind, Injected, Op, Rng, Rule};
use skald_log::Store;

use super::oracle::Oracle;

/// Streams the workload writes: two categories of a few streams each, so that expected versions
/// collide and category reads cover several streams.
const STREAMS: [&str; 6] = ["acct-1", "acct-2", "acct-3", "order-1", "order-2", "order-3"];
/// Appends in flight at once in a burst, at most.
pub const BURST_APPENDS_MAX: u64 = 12;
/// How long a subscription may take to deliver what is committed.
const SUBSCRIPTION_WAIT: Duration = Duration::from_secs(5);

/// Faults an epoch runs under, drawn from the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Clean,
    SegmentSyncErrors,
    SegmentWriteErrors,
    IndexErrors,
    ReadErrors,
    DiskFull,
    Latency,
    Mixed,
    /// One fsync fails, the n-th of the epoch: a schedule rather than a chance.
    ScheduledSyncFailure,
}

impl Profile {
    pub const ALL: [Profile; 9] = [
        Profile::Clean,
        Profile::SegmentSyncErrors,
        Profile::SegmentWriteErrors,
        Profile::IndexErrors,
        Profile::ReadErrors,
        Profile::DiskFull,
        Profile::Latency,
        Profile::Mixed,
        Profile::ScheduledSyncFailure,
    ];

    /// The fault plan of this profile; `used_bytes` is what the disk holds now (for a full disk).
    pub fn plan(self, rng: &mut Rng, used_bytes: u64) -> FaultPlan {
        let seed = rng.next_u64();
        let chance = [0.005, 0.02, 0.08][rng.below(3) as usize];
        let error = if rng.chance(0.5) { Injected::Io } else { Injected::NoSpace };
        let rule = |kind, op, error| Rule { kind, op, chance, error, nth: None };
        let mut plan = FaultPlan { seed, drop_unsynced_on_sync_error: rng.chance(0.7), ..FaultPlan::none() };
        match self {
            Profile::Clean => {}
            Profile::SegmentSyncErrors => plan.rules.push(rule(FileKind::Segment, Op::Sync, Injected::Io)),
            Profile::SegmentWriteErrors => plan.rules.push(rule(FileKind::Segment, Op::Write, error)),
            Profile::IndexErrors => {
                plan.rules.push(rule(FileKind::Index, Op::Write, error));
                plan.rules.push(rule(FileKind::Index, Op::Sync, Injected::Io));
            }
            Profile::ReadErrors => {
                plan.rules.push(rule(FileKind::Segment, Op::Read, Injected::Io));
                plan.rules.push(rule(FileKind::Index, Op::Read, Injected::Io));
            }
            Profile::DiskFull => plan.capacity_bytes = Some(used_bytes + rng.below(512 * 1024)),
            Profile::Latency => {
                plan.latency_chance = 0.3;
                plan.latency_max = Duration::from_micros(rng.below(2000) + 1);
            }
            Profile::ScheduledSyncFailure => {
                let nth = Some(rng.below(40));
                let kind = *rng.pick(&[FileKind::Segment, FileKind::Index]);
                plan.rules.push(Rule { kind, op: Op::Sync, chance: 0.0, error: Injected::Io, nth });
            }
            Profile::Mixed => {
                for kind in [FileKind::Segment, FileKind::Index] {
                    for op in [Op::Write, Op::Sync, Op::Read] {
                        plan.rules.push(Rule { kind, op, chance: chance / 4.0, error: Injected::Io, nth: None });
                    }
                }
                plan.latency_chance = 0.1;
                plan.latency_max = Duration::from_micros(500);
            }
        }
        plan
    }

    /// Whether reads may fail under this profile (an index that failed to commit stops reads too).
    pub fn reads_may_fail(self) -> bool {
        self != Profile::Clean && self != Profile::Latency
    }
}

/// An append sent and not answered yet: its number and its task.
pub type InFlight = (usize, tokio::task::JoinHandle<Result<skald_core::AppendOutcome, Error>>);

/// Counts of what runs did, by name, in the order the names first came up.
#[derive(Clone, Debug, Default)]
pub struct Tally(Vec<(&'static str, u64)>);

impl Tally {
    pub fn add(&mut self, name: &'static str, n: u64) {
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some((_, count)) => *count += n,
            None => self.0.push((name, n)),
        }
    }

    pub fn get(&self, name: &str) -> u64 {
        self.0.iter().find(|(k, _)| *k == name).map_or(0, |(_, n)| *n)
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Tally) {
        for (name, n) in &other.0 {
            self.add(name, *n);
        }
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts: Vec<String> = self.0.iter().map(|(name, n)| format!("{n} {name}")).collect();
        f.write_str(&counts.join(", "))
    }
}

/// One epoch's driver: a store, the seed's generator, the oracle.
pub struct Workload<'a> {
    pub store: &'a Store,
    pub rng: &'a mut Rng,
    pub oracle: &'a mut Oracle,
    pub tally: &'a mut Tally,
    pub profile: Profile,
}

/// A fresh id from the seed (the store never makes one: runs replay exactly).
fn id(rng: &mut Rng) -> Uuid {
    Uuid::from_u64_pair(rng.next_u64(), rng.next_u64())
}

/// A new append of one to three streams, 1 to 4 events each, with data of 0 to ~1.5 KiB.
fn new_append(rng: &mut Rng, n: usize) -> Vec<StreamAppend> {
    let parts = if rng.chance(0.25) { 2 + rng.below(2) } else { 1 };
    let mut streams: Vec<&str> = Vec::new();
    while streams.len() < parts as usize {
        let stream = *rng.pick(&STREAMS);
        if !streams.contains(&stream) {
            streams.push(stream);
        }
    }
    streams
        .into_iter()
        .map(|stream| {
            let events = (0..1 + rng.below(4))
                .map(|i| {
                    let pad = "x".repeat([0, 40, 300, 1500][rng.below(4) as usize]);
                    NewEvent::new(if i % 2 == 0 { "Even" } else { "Odd" }, json!({ "n": n, "i": i, "pad": pad }))
                        .with_id(id(rng))
                })
                .collect();
            let expected = match rng.below(6) {
                0 => ExpectedVersion::NoStream,
                1 => ExpectedVersion::Exact(rng.below(8)),
                2 => ExpectedVersion::Exists,
                _ => ExpectedVersion::Any,
            };
            StreamAppend::new(stream, events).expect(expected)
        })
        .collect()
}

impl Workload<'_> {
    /// Picks an append: a new one, or (one time in five) a retry of an earlier one with its ids.
    pub fn pick_append(&mut self) -> (usize, Vec<StreamAppend>) {
        if !self.oracle.intents.is_empty() && self.rng.chance(0.2) {
            self.tally.add("retries", 1);
            let n = self.rng.below(self.oracle.intents.len() as u64) as usize;
            return (n, self.oracle.intents[n].appends.clone());
        }
        let n = self.oracle.intents.len();
        let appends = new_append(self.rng, n);
        (self.oracle.intend(appends.clone()), appends)
    }

    /// Sends `count` appends at once, without waiting for their answers.
    pub fn send(&mut self, count: u64) -> Vec<InFlight> {
        (0..count)
            .map(|_| {
                let (n, appends) = self.pick_append();
                let store = self.store.clone();
                (n, tokio::spawn(async move { store.append(appends).await }))
            })
            .collect()
    }

    /// Waits for the answers of appends sent and records them: (append, acknowledged).
    pub async fn receive(&mut self, in_flight: Vec<InFlight>) -> Result<Vec<(usize, bool)>, String> {
        let mut answers = Vec::with_capacity(in_flight.len());
        for (n, task) in in_flight {
            let answer = task.await.map_err(|e| format!("append task panicked: {e}"))?;
            self.record(n, &answer)?;
            answers.push((n, answer.is_ok()));
        }
        Ok(answers)
    }

    pub fn record(&mut self, n: usize, answer: &Result<skald_core::AppendOutcome, Error>) -> Result<(), String> {
        self.tally.add("appends", 1);
        match answer {
            Ok(_) => self.tally.add("acknowledgements", 1),
            Err(Error::Storage(_) | Error::Overloaded { .. } | Error::ShuttingDown) => self.tally.add("refusals", 1),
            Err(Error::WrongExpectedVersion { .. } | Error::IdempotencyConflict { .. }) => {}
            Err(other) => return Err(format!("append {n} got an unexpected error: {other}")),
        }
        self.oracle.answered(n, answer)
    }

    /// One read of a random kind, held against the oracle.
    pub async fn read(&mut self) -> Result<(), String> {
        self.tally.add("reads", 1);
        let head = self.store.head_position();
        let limit = 1 + self.rng.below(300) as usize;
        let (selector, options) = match self.rng.below(4) {
            0 => (Selector::All, ReadOptions::forward(self.rng.below(head.map_or(1, |h| h + 1)), limit)),
            1 => (Selector::All, ReadOptions::backward(limit)),
            2 => (Selector::Stream((*self.rng.pick(&STREAMS)).into()), ReadOptions::forward(0, limit)),
            _ => (Selector::Category((*self.rng.pick(&["acct", "order"])).into()), ReadOptions::forward(0, limit)),
        };
        let page = match self.store.read(&selector, options).await {
            Ok(page) => page,
            Err(Error::StreamNotFound { .. }) => return Ok(()),
            Err(Error::Storage(_)) if self.profile.reads_may_fail() => return Ok(()),
            Err(error) => return Err(format!("read {selector:?} failed: {error}")),
        };
        let committed = self.store.head_position();
        for (i, event) in page.events.iter().enumerate() {
            if committed.is_none_or(|c| event.position > c) {
                return Err(format!(
                    "read {selector:?} returned position {} past the committed {committed:?}",
                    event.position
                ));
            }
            let fits = match &selector {
                Selector::Stream(s) => {
                    event.stream == *s && (i == 0 || event.version == page.events[i - 1].version + 1)
                }
                Selector::Category(c) => category_of(&event.stream) == c,
                _ => true,
            };
            if !fits {
                return Err(format!("read {selector:?} returned {event:?}"));
            }
        }
        self.oracle.observe(&page.events)
    }

    /// Follows `$all` from a random position until it has delivered what was committed when it
    /// started; every event must be one reads agree on.
    pub async fn subscribe(&mut self) -> Result<(), String> {
        let Some(head) = self.store.head_position() else { return Ok(()) };
        self.tally.add("subscriptions", 1);
        let from = self.rng.below(head + 1);
        let mut events = self.store.subscribe(Selector::All, SubscribeFrom::Position(from));
        let mut expected = from;
        while expected <= head {
            let next = tokio::time::timeout(SUBSCRIPTION_WAIT, events.next()).await;
            let event = match next {
                Ok(Some(Ok(event))) => event,
                Ok(Some(Err(Error::Storage(_)))) if self.profile.reads_may_fail() => return Ok(()),
                Ok(other) => return Err(format!("subscription from {from} ended at {expected}: {other:?}")),
                Err(_) => return Err(format!("subscription from {from} stalled at {expected} (head {head})")),
            };
            if event.position != expected {
                return Err(format!("subscription from {from} delivered {} where {expected} was due", event.position));
            }
            self.oracle.observe([&event])?;
            expected += 1;
        }
        Ok(())
    }
}
