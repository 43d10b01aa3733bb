//! What the writer knows and the index does not yet: the stream heads and event ids of groups that
//! are written but not yet indexed.
//!
//! The writer checks expected versions and idempotency against the index *plus* this overlay, so
//! it never waits for the indexer ([`crate::indexer`]). The overlay is owned by the writer thread
//! alone (no lock): after each index commit the indexer publishes the position it reached, and at
//! the start of each group the writer drops what that position covers, then opens its index
//! snapshot (or keeps the last group's, when nothing was published since it was opened). That
//! order matters: a fact leaves the overlay only once a commit holding it is published, and the
//! snapshot in use was opened after the writer saw that publication, so every fact is always in
//! one of the two.
//!
//! Maps use foldhash (seeded per process), not SipHash: the writer hashes every event id two or
//! three times, and SipHash showed up as a tenth of its time.
//!
//! Bounded by the groups in flight between writer and indexer ([`crate::indexer::INDEX_QUEUE_GROUPS_MAX`]).
//!
//! Heads that leave the overlay are kept a while longer in [`RecentHeads`]: most appends go to
//! streams written a few milliseconds earlier (a saga's next step, an aggregate's next command),
//! and a head found here spares the writer a B-tree lookup in the index. The writer is the only
//! one that moves a head, and every head it moves passes through the overlay into this cache, so
//! a cached head is never stale.

use std::collections::VecDeque;
use std::sync::Arc;

use foldhash::HashMap;
use skald_core::StoredId;

/// A stream's newest event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub version: u64,
    pub position: u64,
}

/// One event id and where it went.
#[derive(Clone, Debug)]
pub struct PendingId {
    pub stream: Arc<str>,
    pub version: u64,
    pub position: u64,
}

impl PendingId {
    pub fn stored(&self) -> StoredId {
        StoredId { stream: self.stream.to_string(), version: self.version, position: self.position }
    }
}

/// What one group adds to the overlay (collected while staging, merged once it is written).
#[derive(Debug, Default)]
pub struct GroupFacts {
    pub heads: HashMap<Arc<str>, Head>,
    pub ids: HashMap<u128, PendingId>,
}

/// Heads of streams the index holds, kept after they left the overlay, in two generations of at
/// most [`RECENT_HEADS_MAX`] streams each: when the young one is full it becomes the old one and
/// the previous old one is dropped, so a stream written now and then stays while memory is bounded.
#[derive(Debug, Default)]
pub struct RecentHeads {
    young: HashMap<Arc<str>, Head>,
    old: HashMap<Arc<str>, Head>,
}

/// Streams per generation of [`RecentHeads`].
pub const RECENT_HEADS_MAX: usize = 16 * 1024;

impl RecentHeads {
    fn get(&self, stream: &str) -> Option<Head> {
        self.young.get(stream).or_else(|| self.old.get(stream)).copied()
    }

    fn insert(&mut self, stream: Arc<str>, head: Head) {
        if self.young.len() >= RECENT_HEADS_MAX && !self.young.contains_key(&stream) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(stream, head);
        assert!(self.young.len() <= RECENT_HEADS_MAX && self.old.len() <= RECENT_HEADS_MAX);
    }
}

/// The overlay: facts of written groups the index does not hold yet, and which group brought them.
#[derive(Debug, Default)]
pub struct Pending {
    heads: HashMap<Arc<str>, Head>,
    ids: HashMap<u128, PendingId>,
    /// Per group, in log order: its last position, its streams and its ids.
    groups: VecDeque<(u64, Vec<Arc<str>>, Vec<u128>)>,
    recent: RecentHeads,
}

impl Pending {
    /// The stream's head if the overlay or the cache of recent heads knows it; `None` means "ask
    /// the index" (the stream may still exist).
    pub fn head(&self, stream: &str) -> Option<Head> {
        self.heads.get(stream).copied().or_else(|| self.recent.get(stream))
    }

    pub fn id(&self, id: u128) -> Option<&PendingId> {
        self.ids.get(&id)
    }

    /// Groups held.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Takes in a written group whose events end at `last_position`.
    pub fn add(&mut self, last_position: u64, facts: GroupFacts) {
        assert!(
            self.groups.back().is_none_or(|(last, _, _)| *last < last_position),
            "groups enter the overlay in log order"
        );
        let streams: Vec<Arc<str>> = facts.heads.keys().cloned().collect();
        let ids: Vec<u128> = facts.ids.keys().copied().collect();
        self.heads.extend(facts.heads);
        self.ids.extend(facts.ids);
        self.groups.push_back((last_position, streams, ids));
    }

    /// Forgets every group the index covers now (`indexed` is its last indexed position).
    pub fn forget_indexed(&mut self, indexed: Option<u64>) {
        let Some(indexed) = indexed else { return };
        while self.groups.front().is_some_and(|(last, _, _)| *last <= indexed) {
            let (_, streams, ids) = self.groups.pop_front().expect("checked");
            for stream in streams {
                // A later group may have moved the head again; that one stays.
                if let Some(head) = self.heads.get(&stream).copied().filter(|head| head.position <= indexed) {
                    self.heads.remove(&stream);
                    self.recent.insert(stream, head);
                }
            }
            for id in ids {
                self.ids.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(stream: &str, version: u64, position: u64, id: u128) -> GroupFacts {
        let stream: Arc<str> = stream.into();
        let mut facts = GroupFacts::default();
        facts.heads.insert(stream.clone(), Head { version, position });
        facts.ids.insert(id, PendingId { stream, version, position });
        facts
    }

    #[test]
    fn indexed_groups_leave_and_newer_heads_stay() {
        let mut pending = Pending::default();
        pending.add(0, facts("a", 0, 0, 1));
        pending.add(1, facts("a", 1, 1, 2));
        pending.add(2, facts("b", 0, 2, 3));
        pending.forget_indexed(Some(0));
        assert_eq!(pending.head("a"), Some(Head { version: 1, position: 1 }), "group 1 moved the head");
        assert!(pending.id(1).is_none() && pending.id(2).is_some());
        pending.forget_indexed(Some(2));
        assert!(pending.is_empty() && pending.id(3).is_none());
        assert!(pending.heads.is_empty(), "the overlay holds nothing the index holds");
        assert_eq!(pending.head("a"), Some(Head { version: 1, position: 1 }), "kept as a recent head");
        assert_eq!(pending.head("b"), Some(Head { version: 0, position: 2 }));
    }

    #[test]
    fn recent_heads_follow_later_appends_and_stay_bounded() {
        let mut pending = Pending::default();
        pending.add(0, facts("a", 0, 0, 1));
        pending.forget_indexed(Some(0));
        pending.add(1, facts("a", 1, 1, 2));
        assert_eq!(pending.head("a"), Some(Head { version: 1, position: 1 }), "the overlay comes first");
        pending.forget_indexed(Some(1));
        assert_eq!(pending.head("a"), Some(Head { version: 1, position: 1 }), "the cache took the newer head");

        let mut recent = RecentHeads::default();
        let streams = 2 * RECENT_HEADS_MAX + 1;
        for i in 0..streams {
            recent.insert(format!("s{i}").into(), Head { version: 0, position: i as u64 });
        }
        assert!(recent.young.len() + recent.old.len() <= 2 * RECENT_HEADS_MAX);
        assert!(recent.get("s0").is_none(), "the oldest generation was dropped");
        let last = format!("s{}", streams - 1);
        assert_eq!(recent.get(&last), Some(Head { version: 0, position: streams as u64 - 1 }));
    }

    #[test]
    fn nothing_leaves_before_anything_is_indexed() {
        let mut pending = Pending::default();
        pending.add(5, facts("a", 5, 5, 1));
        pending.forget_indexed(None);
        pending.forget_indexed(Some(4));
        assert_eq!(pending.len(), 1);
        assert!(pending.head("a").is_some());
    }
}
