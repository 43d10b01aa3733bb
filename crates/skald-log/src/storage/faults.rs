//! What the simulated disk ([`super::SimStorage`]) does wrong, and when: a [`FaultPlan`] of
//! [`Rule`]s (this kind of file, this operation, this chance, this error), a capacity (a disk that
//! fills up), latency, and what a failed sync does to the unsynced writes. Every decision is drawn
//! from the plan's seed and a per-(file kind, operation) counter, so the n-th segment write of a
//! run gets the same answer whatever the other threads did meanwhile.

use std::io;
use std::path::Path;
use std::time::Duration;

/// Linux's `EIO`.
const EIO: i32 = 5;
/// Linux's `ENOSPC`.
const ENOSPC: i32 = 28;

/// A small, fast, seedable generator (SplitMix64): the simulation's only source of randomness.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "an empty range");
        self.next_u64() % n
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        unit(self.next_u64()) < p
    }

    /// One of `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// SplitMix64's finaliser: spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in `[0, 1)` from 53 random bits.
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The kinds of file a fault can aim at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    /// `segments/*.seg`.
    Segment,
    /// `index.redb`.
    Index,
    /// A directory (its sync).
    Directory,
    /// Anything else.
    Other,
}

impl FileKind {
    /// The kind of the file at `path`, by its name.
    pub fn of(path: &Path) -> FileKind {
        match path.extension().and_then(|e| e.to_str()) {
            Some("seg") => FileKind::Segment,
            Some("redb") => FileKind::Index,
            _ => FileKind::Other,
        }
    }
}

/// The operations a fault can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// A write or a resize.
    Write,
    /// A sync of a file or directory.
    Sync,
    /// A read.
    Read,
}

/// The error an injected fault returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injected {
    /// `EIO`: nothing of a failed write lands.
    Io,
    /// `ENOSPC`: half of a failed write lands, as when a disk fills up during it.
    NoSpace,
}

impl Injected {
    pub fn error(self) -> io::Error {
        io::Error::from_raw_os_error(match self {
            Injected::Io => EIO,
            Injected::NoSpace => ENOSPC,
        })
    }
}

/// Operations `op` on files of `kind` fail with `error`, each with probability `chance`
/// (1.0: every one), or on a schedule: only the `nth` one (counted from 0 per kind and operation).
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub kind: FileKind,
    pub op: Op,
    pub chance: f64,
    pub error: Injected,
    pub nth: Option<u64>,
}

/// Everything the simulated disk does wrong.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    /// Where every decision of the plan comes from.
    pub seed: u64,
    pub rules: Vec<Rule>,
    /// Bytes all files may hold together; a write past it fails with `ENOSPC` after writing what
    /// fits, as a full disk does.
    pub capacity_bytes: Option<u64>,
    /// Chance that an operation is delayed, by up to `latency_max`.
    pub latency_chance: f64,
    pub latency_max: Duration,
    /// After a failed sync the file's unsynced writes are dropped: reads still see them, no later
    /// sync makes them durable (what Linux does with pages whose writeback failed). Otherwise they
    /// stay pending and the next sync may still make them durable.
    pub drop_unsynced_on_sync_error: bool,
}

impl FaultPlan {
    /// No faults at all.
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    /// A plan that fails `op` on `kind` always, with `error`.
    pub fn always(kind: FileKind, op: Op, error: Injected) -> FaultPlan {
        FaultPlan { rules: vec![Rule { kind, op, chance: 1.0, error, nth: None }], ..FaultPlan::default() }
    }

    /// Whether the `count`-th operation `op` on files of `kind` fails, and how.
    pub fn decide(&self, kind: FileKind, op: Op, count: u64) -> Option<Injected> {
        self.rules.iter().enumerate().find_map(|(i, rule)| {
            let applies = rule.kind == kind && rule.op == op;
            let fires = match rule.nth {
                Some(nth) => count == nth,
                None => unit(self.draw(&[kind as u64, op as u64, count, i as u64])) < rule.chance,
            };
            (applies && fires).then_some(rule.error)
        })
    }

    /// How long the `count`-th operation `op` on files of `kind` is delayed.
    pub fn latency(&self, kind: FileKind, op: Op, count: u64) -> Duration {
        if self.latency_chance <= 0.0 || self.latency_max.is_zero() {
            return Duration::ZERO;
        }
        let draw = self.draw(&[kind as u64, op as u64, count, u64::MAX]);
        if unit(draw) >= self.latency_chance {
            return Duration::ZERO;
        }
        self.latency_max.mul_f64(unit(mix(draw)))
    }

    fn draw(&self, parts: &[u64]) -> u64 {
        parts.iter().fold(mix(self.seed), |acc, part| mix(acc ^ part.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_depend_on_the_seed_and_the_count_only() {
        let rule = Rule { kind: FileKind::Segment, op: Op::Sync, chance: 0.5, error: Injected::Io, nth: None };
        let plan = FaultPlan { seed: 7, rules: vec![rule], ..FaultPlan::default() };
        let first: Vec<_> = (0..64).map(|n| plan.decide(FileKind::Segment, Op::Sync, n)).collect();
        let again: Vec<_> = (0..64).map(|n| plan.decide(FileKind::Segment, Op::Sync, n)).collect();
        assert_eq!(first, again);
        let failed = first.iter().filter(|d| d.is_some()).count();
        assert!((16..48).contains(&failed), "about half fail: {failed}");
        assert!((0..64).all(|n| plan.decide(FileKind::Index, Op::Sync, n).is_none()), "other kinds are spared");
        let other = FaultPlan { seed: 8, ..plan.clone() };
        assert_ne!(first, (0..64).map(|n| other.decide(FileKind::Segment, Op::Sync, n)).collect::<Vec<_>>());
    }

    #[test]
    fn a_scheduled_fault_fails_the_nth_operation_only() {
        let rule = Rule { kind: FileKind::Index, op: Op::Write, chance: 0.0, error: Injected::NoSpace, nth: Some(5) };
        let plan = FaultPlan { rules: vec![rule], ..FaultPlan::default() };
        let failed: Vec<u64> = (0..64).filter(|n| plan.decide(FileKind::Index, Op::Write, *n).is_some()).collect();
        assert_eq!(failed, vec![5]);
    }

    #[test]
    fn injected_errors_are_the_operating_systems() {
        assert!(Injected::NoSpace.error().to_string().contains("No space left"));
        assert_eq!(Injected::NoSpace.error().kind(), io::ErrorKind::StorageFull);
    }
}
