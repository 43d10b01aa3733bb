//! The dispatcher: the pure state machine of one group's deliveries. No I/O, no clock, no tasks.
//!
//! It owns the window of events read but not yet resolved (acknowledged or parked), bounded by
//! `max_in_flight`; the per-stream queues that keep each stream's events in order; the leases that
//! hand a stream to **one** worker at a time; retry delays (exponential backoff with jitter from a
//! seeded generator); and the decision to park. Time comes in as `now` (milliseconds of any
//! monotonic clock), so tests drive it by hand.
//!
//! Invariants (checked by `check_invariants` in tests):
//! - a stream is held by at most one lease; while held, none of its events go to another lease;
//! - a stream's events are handed out in log order: a lease takes a stream's events only from the
//!   front of its queue, and a retried event stays at the front until it is delivered again;
//! - the checkpoint (the lowest unresolved live position, or the read cursor) never passes an
//!   event that is not acknowledged or durably parked.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use skald_core::{RecordedEvent, Timestamp, Uuid};

use crate::spec::{Backoff, GROUP_LEASES_MAX, LEASE_EVENTS_MAX};

/// A dispatcher-local sequence number of an entry in the window.
type Seq = u64;

/// The retry and bounding policy of one dispatcher.
#[derive(Clone, Debug)]
pub(crate) struct DispatchConfig {
    pub max_attempts: u32,
    pub backoff: Backoff,
    pub lease_timeout_ms: u64,
    pub max_in_flight: usize,
}

/// Where an entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Read from the log; counts for the checkpoint.
    Live,
    /// Re-delivered from `$parked-<group>`, at this version of the parked stream.
    Replay { parked_version: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Pending { ready_at: u64 },
    Leased { lease: u64 },
    Parking,
}

struct Entry {
    event: Arc<RecordedEvent>,
    stream: Arc<str>,
    attempts: u32,
    source: Source,
    state: State,
}

#[derive(Default)]
struct StreamQueue {
    /// Unresolved, unparked entries of the stream, in log order.
    seqs: VecDeque<Seq>,
    leased: Option<u64>,
    ready_queued: bool,
}

struct Lease {
    worker: Arc<str>,
    deadline: u64,
    ids: HashMap<Uuid, Seq>,
    per_stream: HashMap<Arc<str>, u32>,
}

/// One event handed to a worker.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The event.
    pub event: Arc<RecordedEvent>,
    /// Which delivery this is (1 = first).
    pub attempt: u32,
}

/// Events leased to one worker. `lease_id` is 0 when `events` is empty.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Pass to ack and nack.
    pub lease_id: u64,
    /// The events, each stream's in log order.
    pub events: Vec<Delivery>,
}

/// An event the dispatcher decided to park; the caller appends it to `$parked-<group>` and then
/// calls [`Dispatcher::parked`].
#[derive(Clone, Debug)]
pub(crate) struct ParkRequest {
    pub seq: Seq,
    pub event: Arc<RecordedEvent>,
    pub attempts: u32,
    pub reason: String,
    pub source: Source,
}

/// What an ack or nack did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Events of the lease it applied to.
    pub applied: usize,
    /// Ids that were not (or no longer) part of the lease.
    pub unknown: usize,
}

/// The lease is gone (expired, fully resolved, or never existed).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LeaseGone;

/// Too many leases outstanding.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooManyLeases;

/// Counters and gauges of one dispatcher.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub delivered: u64,
    pub acked: u64,
    pub retried: u64,
    pub parked: u64,
    pub window: usize,
    pub leased: usize,
    pub parking: usize,
}

pub(crate) struct Dispatcher {
    cfg: DispatchConfig,
    rng: u64,
    next_seq: Seq,
    next_lease: u64,
    entries: HashMap<Seq, Entry>,
    /// Unresolved live entries by position.
    live: BTreeMap<u64, Seq>,
    /// Unresolved replayed entries by parked-stream version.
    replaying: BTreeSet<u64>,
    streams: HashMap<Arc<str>, StreamQueue>,
    ready: VecDeque<Arc<str>>,
    delayed: BinaryHeap<Reverse<(u64, Seq)>>,
    leases: HashMap<u64, Lease>,
    deadlines: BinaryHeap<Reverse<(u64, u64)>>,
    parking: Vec<ParkRequest>,
    /// Next log position to read.
    read_cursor: u64,
    /// Like `read_cursor`, but moved only by events outside Skald's own `$` streams, so that a
    /// group's checkpoint writes do not move its checkpoint (and cause more writes).
    checkpoint_cursor: u64,
    counts: Counts,
}

impl Dispatcher {
    /// A dispatcher whose log reading starts at `read_cursor`. `seed` drives the jitter; lease ids
    /// start above `lease_base` so that ids of an earlier run are not reused.
    pub fn new(cfg: DispatchConfig, read_cursor: u64, seed: u64, lease_base: u64) -> Self {
        Dispatcher {
            cfg,
            rng: seed | 1,
            next_seq: 0,
            next_lease: lease_base.max(1),
            entries: HashMap::new(),
            live: BTreeMap::new(),
            replaying: BTreeSet::new(),
            streams: HashMap::new(),
            ready: VecDeque::new(),
            delayed: BinaryHeap::new(),
            leases: HashMap::new(),
            deadlines: BinaryHeap::new(),
            parking: Vec::new(),
            read_cursor,
            checkpoint_cursor: read_cursor,
            counts: Counts::default(),
        }
    }

    /// Room left in the window.
    pub fn room(&self) -> usize {
        self.cfg.max_in_flight.saturating_sub(self.entries.len())
    }

    /// The next log position to read.
    pub fn read_cursor(&self) -> u64 {
        self.read_cursor
    }

    /// Everything below this position is acknowledged, parked or filtered out.
    pub fn checkpoint(&self) -> u64 {
        self.live.keys().next().copied().unwrap_or(self.checkpoint_cursor)
    }

    /// Events not yet handled, given the log's head: unread positions plus unresolved live events.
    pub fn lag_events(&self, head: Option<u64>) -> u64 {
        head.map_or(0, |h| (h + 1).saturating_sub(self.read_cursor)) + self.live.len() as u64
    }

    /// Commit time of the oldest unresolved live event.
    pub fn oldest_unresolved(&self) -> Option<Timestamp> {
        let seq = self.live.values().next()?;
        self.entries.get(seq).map(|e| e.event.timestamp)
    }

    /// Replayed events not yet resolved.
    pub fn replay_outstanding(&self) -> usize {
        self.replaying.len()
    }

    pub fn counts(&self) -> Counts {
        Counts { window: self.entries.len(), ..self.counts }
    }

    /// Distinct workers holding leases.
    pub fn workers(&self) -> usize {
        let mut names: Vec<&str> = self.leases.values().map(|l| &*l.worker).collect();
        names.sort_unstable();
        names.dedup();
        names.len()
    }

    /// Whether some event could be leased right now (after [`Self::tick`]).
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Takes the next event read from the log. `deliver` is false for events the filter rejects:
    /// they only move the read cursor. The caller keeps `room() > 0` for delivered events.
    pub fn offer(&mut self, event: RecordedEvent, deliver: bool) {
        debug_assert!(event.position >= self.read_cursor, "events are offered in log order");
        self.read_cursor = event.position + 1;
        if !event.stream.starts_with(skald_core::RESERVED_PREFIX) {
            self.checkpoint_cursor = self.read_cursor;
        }
        if deliver {
            let position = event.position;
            let seq = self.insert(Arc::new(event), Source::Live);
            self.live.insert(position, seq);
        }
    }

    /// Takes an event to deliver again from `$parked-<group>`.
    pub fn offer_replay(&mut self, event: Arc<RecordedEvent>, parked_version: u64) {
        self.replaying.insert(parked_version);
        self.insert(event, Source::Replay { parked_version });
    }

    fn insert(&mut self, event: Arc<RecordedEvent>, source: Source) -> Seq {
        let seq = self.next_seq;
        self.next_seq += 1;
        let stream: Arc<str> = match self.streams.get_key_value(event.stream.as_str()) {
            Some((key, _)) => key.clone(),
            None => Arc::from(event.stream.as_str()),
        };
        self.entries.insert(
            seq,
            Entry { event, stream: stream.clone(), attempts: 0, source, state: State::Pending { ready_at: 0 } },
        );
        let queue = self.streams.entry(stream.clone()).or_default();
        queue.seqs.push_back(seq);
        if queue.seqs.len() == 1 && queue.leased.is_none() && !queue.ready_queued {
            queue.ready_queued = true;
            self.ready.push_back(stream);
        }
        seq
    }

    /// Expires leases whose deadline passed and releases retries whose delay passed. Returns
    /// whether anything can be leased.
    pub fn tick(&mut self, now: u64) -> bool {
        self.expire(now);
        while let Some(&Reverse((ready_at, seq))) = self.delayed.peek() {
            if ready_at > now {
                break;
            }
            self.delayed.pop();
            let stream = match self.entries.get(&seq) {
                Some(Entry { state: State::Pending { ready_at }, stream, .. }) if *ready_at <= now => stream.clone(),
                _ => continue,
            };
            self.make_ready(&stream, now);
        }
        self.has_ready()
    }

    /// When [`Self::tick`] next has something to do, if ever.
    #[cfg(test)]
    pub fn next_due(&self) -> Option<u64> {
        let retry = self.delayed.peek().map(|Reverse((at, _))| *at);
        let lease = self.deadlines.peek().map(|Reverse((at, _))| *at);
        match (retry, lease) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Leases up to `max` events (at most [`LEASE_EVENTS_MAX`]) to `worker`: whole runs of ready
    /// events from streams no other lease holds.
    pub fn lease(&mut self, worker: &str, max: usize, now: u64) -> Result<Batch, TooManyLeases> {
        self.tick(now);
        let max = max.clamp(1, LEASE_EVENTS_MAX);
        if self.ready.is_empty() {
            return Ok(Batch::default());
        }
        if self.leases.len() >= GROUP_LEASES_MAX {
            return Err(TooManyLeases);
        }
        let lease_id = self.next_lease;
        let mut lease = Lease {
            worker: Arc::from(worker),
            deadline: now + self.cfg.lease_timeout_ms,
            ids: HashMap::new(),
            per_stream: HashMap::new(),
        };
        let mut events = Vec::new();
        while events.len() < max {
            let Some(stream) = self.ready.pop_front() else { break };
            let Some(queue) = self.streams.get_mut(&stream) else { continue };
            queue.ready_queued = false;
            if queue.leased.is_some() {
                continue;
            }
            let mut took = 0u32;
            for &seq in &queue.seqs {
                if events.len() >= max {
                    break;
                }
                let Some(entry) = self.entries.get_mut(&seq) else { break };
                match entry.state {
                    State::Pending { ready_at } if ready_at <= now => {}
                    _ => break,
                }
                entry.state = State::Leased { lease: lease_id };
                entry.attempts += 1;
                lease.ids.insert(entry.event.id, seq);
                events.push(Delivery { event: entry.event.clone(), attempt: entry.attempts });
                took += 1;
            }
            if took > 0 {
                queue.leased = Some(lease_id);
                lease.per_stream.insert(stream, took);
            }
        }
        if events.is_empty() {
            return Ok(Batch::default());
        }
        self.next_lease += 1;
        self.counts.delivered += events.len() as u64;
        self.counts.leased += events.len();
        self.deadlines.push(Reverse((lease.deadline, lease_id)));
        self.leases.insert(lease_id, lease);
        Ok(Batch { lease_id, events })
    }

    /// Acknowledges events of a lease (and renews it).
    pub fn ack(&mut self, lease_id: u64, ids: &[Uuid], now: u64) -> Result<Resolved, LeaseGone> {
        let mut lease = self.take_lease(lease_id, now)?;
        let mut resolved = Resolved::default();
        for id in ids {
            let Some(seq) = lease.ids.remove(id) else {
                resolved.unknown += 1;
                continue;
            };
            resolved.applied += 1;
            self.counts.leased -= 1;
            self.counts.acked += 1;
            let Some(entry) = self.remove_entry(seq) else { continue };
            if let Some(queue) = self.streams.get_mut(&entry.stream) {
                if let Some(i) = queue.seqs.iter().position(|s| *s == seq) {
                    queue.seqs.remove(i);
                }
            }
            self.release_one(&mut lease, &entry.stream, now);
        }
        self.put_back_lease(lease_id, lease);
        Ok(resolved)
    }

    /// Acknowledges every event of a lease.
    pub fn ack_all(&mut self, lease_id: u64, now: u64) -> Result<Resolved, LeaseGone> {
        let ids: Vec<Uuid> = match self.leases.get(&lease_id) {
            Some(lease) => lease.ids.keys().copied().collect(),
            None => Vec::new(),
        };
        self.ack(lease_id, &ids, now)
    }

    /// Gives events of a lease back: each is retried after a backoff delay, or parked when it
    /// used its last attempt (or at once with `park`). Later events of the same stream in this
    /// lease are given back too, without counting an attempt, so that the stream's order holds.
    pub fn nack(
        &mut self,
        lease_id: u64,
        ids: &[Uuid],
        reason: &str,
        park: bool,
        now: u64,
    ) -> Result<Resolved, LeaseGone> {
        let mut lease = self.take_lease(lease_id, now)?;
        let mut resolved = Resolved::default();
        for id in ids {
            let Some(seq) = lease.ids.remove(id) else {
                resolved.unknown += 1;
                continue;
            };
            resolved.applied += 1;
            let Some(stream) = self.entries.get(&seq).map(|e| e.stream.clone()) else { continue };
            // Later events of the stream held by this lease go back first (uncounted).
            let later: Vec<Seq> = self
                .streams
                .get(&stream)
                .map(|q| q.seqs.iter().skip_while(|s| **s != seq).skip(1).copied().collect())
                .unwrap_or_default();
            for later_seq in later {
                let Some(entry) = self.entries.get_mut(&later_seq) else { continue };
                if entry.state != (State::Leased { lease: lease_id }) {
                    continue;
                }
                entry.state = State::Pending { ready_at: now };
                entry.attempts = entry.attempts.saturating_sub(1);
                lease.ids.remove(&entry.event.id);
                self.counts.leased -= 1;
                self.release_count(&mut lease, &stream);
            }
            self.fail(seq, reason, park, now, None);
            self.release_one(&mut lease, &stream, now);
        }
        self.put_back_lease(lease_id, lease);
        Ok(resolved)
    }

    /// The events chosen for parking since the last call.
    pub fn take_parking(&mut self) -> Vec<ParkRequest> {
        std::mem::take(&mut self.parking)
    }

    /// Puts back park requests whose append failed, to be tried again.
    pub fn return_parking(&mut self, requests: Vec<ParkRequest>) {
        self.parking.extend(requests);
    }

    /// Marks a parked event as durably written to `$parked-<group>`: it leaves the window.
    pub fn parked(&mut self, seq: Seq) {
        if self.entries.get(&seq).is_some_and(|e| e.state == State::Parking) {
            self.remove_entry(seq);
            self.counts.parking -= 1;
            self.counts.parked += 1;
        }
    }

    fn remove_entry(&mut self, seq: Seq) -> Option<Entry> {
        let entry = self.entries.remove(&seq)?;
        match entry.source {
            Source::Live => {
                self.live.remove(&entry.event.position);
            }
            Source::Replay { parked_version } => {
                self.replaying.remove(&parked_version);
            }
        }
        Some(entry)
    }

    fn take_lease(&mut self, lease_id: u64, now: u64) -> Result<Lease, LeaseGone> {
        self.expire(now);
        let mut lease = self.leases.remove(&lease_id).ok_or(LeaseGone)?;
        lease.deadline = now + self.cfg.lease_timeout_ms;
        self.deadlines.push(Reverse((lease.deadline, lease_id)));
        Ok(lease)
    }

    fn put_back_lease(&mut self, lease_id: u64, lease: Lease) {
        if !lease.ids.is_empty() {
            self.leases.insert(lease_id, lease);
        }
    }

    fn release_count(&mut self, lease: &mut Lease, stream: &Arc<str>) -> bool {
        let Some(count) = lease.per_stream.get_mut(stream) else { return false };
        *count -= 1;
        if *count > 0 {
            return false;
        }
        lease.per_stream.remove(stream);
        if let Some(queue) = self.streams.get_mut(stream) {
            queue.leased = None;
        }
        true
    }

    /// One event of `stream` in `lease` is resolved; frees the stream when it was the last.
    fn release_one(&mut self, lease: &mut Lease, stream: &Arc<str>, now: u64) {
        if self.release_count(lease, stream) {
            self.make_ready(stream, now);
        }
        // A stream whose queue emptied and that nobody holds is forgotten.
        if self.streams.get(stream).is_some_and(|q| q.seqs.is_empty() && q.leased.is_none() && !q.ready_queued) {
            self.streams.remove(stream);
        }
    }

    /// Makes a delivered event fail: park it, or retry it at `ready_at` (default: after the
    /// jittered backoff). Returns when it is retried.
    fn fail(&mut self, seq: Seq, reason: &str, park: bool, now: u64, ready_at: Option<u64>) -> Option<u64> {
        let entry = self.entries.get_mut(&seq)?;
        self.counts.leased -= 1;
        if park || entry.attempts >= self.cfg.max_attempts {
            entry.state = State::Parking;
            self.counts.parking += 1;
            let reason = if park { reason.to_owned() } else { format!("{reason} (after {} attempts)", entry.attempts) };
            self.parking.push(ParkRequest {
                seq,
                event: entry.event.clone(),
                attempts: entry.attempts,
                reason,
                source: entry.source,
            });
            if let Some(queue) = self.streams.get_mut(&entry.stream) {
                if let Some(i) = queue.seqs.iter().position(|s| *s == seq) {
                    queue.seqs.remove(i);
                }
            }
            None
        } else {
            let ready_at = ready_at.unwrap_or_else(|| {
                let delay = self.cfg.backoff.delay_ms(entry.attempts);
                now + delay / 2 + next_random(&mut self.rng) % (delay - delay / 2 + 1)
            });
            entry.state = State::Pending { ready_at };
            self.delayed.push(Reverse((ready_at, seq)));
            self.counts.retried += 1;
            Some(ready_at)
        }
    }

    fn expire(&mut self, now: u64) {
        while let Some(&Reverse((deadline, lease_id))) = self.deadlines.peek() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            if self.leases.get(&lease_id).is_none_or(|l| l.deadline != deadline) {
                continue;
            }
            let Some(lease) = self.leases.remove(&lease_id) else { continue };
            let mut seqs: Vec<Seq> = lease.ids.values().copied().collect();
            seqs.sort_unstable();
            // Each stream's events come back together: all wait out the first one's delay.
            let mut due: HashMap<Arc<str>, u64> = HashMap::new();
            for seq in seqs {
                let Some(stream) = self.entries.get(&seq).map(|e| e.stream.clone()) else { continue };
                let ready_at = due.get(&stream).copied();
                if let Some(at) = self.fail(seq, "lease expired", false, now, ready_at) {
                    due.entry(stream).or_insert(at);
                }
            }
            for stream in lease.per_stream.keys() {
                if let Some(queue) = self.streams.get_mut(stream) {
                    queue.leased = None;
                }
                self.make_ready(stream, now);
                if self.streams.get(stream).is_some_and(|q| q.seqs.is_empty() && !q.ready_queued) {
                    self.streams.remove(stream);
                }
            }
        }
    }

    fn make_ready(&mut self, stream: &Arc<str>, now: u64) {
        let Some(queue) = self.streams.get_mut(stream) else { return };
        if queue.leased.is_some() || queue.ready_queued {
            return;
        }
        let Some(front) = queue.seqs.front() else { return };
        if let Some(Entry { state: State::Pending { ready_at }, .. }) = self.entries.get(front) {
            if *ready_at <= now {
                queue.ready_queued = true;
                self.ready.push_back(stream.clone());
            }
        }
    }

    /// Checks the invariants; for tests.
    #[cfg(test)]
    pub fn check_invariants(&self) {
        let mut held: HashMap<&str, u64> = HashMap::new();
        for (id, lease) in &self.leases {
            for stream in lease.per_stream.keys() {
                assert!(held.insert(stream, *id).is_none(), "stream {stream} held by two leases");
                assert_eq!(self.streams[stream].leased, Some(*id));
            }
        }
        let leased = self.entries.values().filter(|e| matches!(e.state, State::Leased { .. })).count();
        assert_eq!(leased, self.counts.leased);
        assert!(self.entries.len() <= self.cfg.max_in_flight + self.replaying.len());
        if let Some((&first, _)) = self.live.iter().next() {
            assert!(first < self.read_cursor);
        }
    }
}

/// xorshift64*: a small, seeded generator for jitter.
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[cfg(test)]
mod prop;
#[cfg(test)]
mod tests;
