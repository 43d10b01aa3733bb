//! Durable timers. A timer is durable because its `StartTimer` command is recorded in the history
//! (as `TaskScheduled`'s timeout, `RetryScheduled`, `WaitTimerStarted`, …) and rebuilt by replay
//! after a restart; this module is only the in-memory wheel: an ordered set of
//! `(fire_at, execution, timer)` that one task sleeps on, using the coordinator's [`Clock`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use skald_asl::Timestamp;
use tokio::sync::Notify;

/// The pending timers of every open execution.
#[derive(Default)]
pub(crate) struct Timers {
    inner: Mutex<Wheel>,
    /// Woken when a timer earlier than the one being slept on is added.
    pub changed: Notify,
}

#[derive(Default)]
struct Wheel {
    due: BTreeSet<(Timestamp, String, String)>,
    /// Execution → timer → time: cancelling one execution's timers is O(its timers).
    by_execution: HashMap<String, HashMap<String, Timestamp>>,
}

impl Wheel {
    fn forget(&mut self, execution: &str, timer: &str) -> Option<Timestamp> {
        let timers = self.by_execution.get_mut(execution)?;
        let at = timers.remove(timer);
        if timers.is_empty() {
            self.by_execution.remove(execution);
        }
        at
    }
}

impl Timers {
    fn wheel(&self) -> std::sync::MutexGuard<'_, Wheel> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds (or moves) a timer.
    pub fn start(&self, execution: &str, timer: &str, fire_at: Timestamp) {
        let mut wheel = self.wheel();
        let old = wheel.by_execution.entry(execution.to_owned()).or_default().insert(timer.to_owned(), fire_at);
        if let Some(old) = old {
            wheel.due.remove(&(old, execution.to_owned(), timer.to_owned()));
        }
        let earliest = wheel.due.first().is_none_or(|(at, _, _)| fire_at < *at);
        wheel.due.insert((fire_at, execution.to_owned(), timer.to_owned()));
        drop(wheel);
        if earliest {
            self.changed.notify_one();
        }
    }

    /// Withdraws a timer.
    pub fn cancel(&self, execution: &str, timer: &str) {
        let mut wheel = self.wheel();
        if let Some(at) = wheel.forget(execution, timer) {
            wheel.due.remove(&(at, execution.to_owned(), timer.to_owned()));
        }
    }

    /// Withdraws every timer of an execution.
    pub fn cancel_all(&self, execution: &str) {
        let mut wheel = self.wheel();
        for (timer, at) in wheel.by_execution.remove(execution).unwrap_or_default() {
            wheel.due.remove(&(at, execution.to_owned(), timer));
        }
    }

    /// The earliest pending time.
    pub fn next(&self) -> Option<Timestamp> {
        self.wheel().due.first().map(|(at, _, _)| *at)
    }

    /// Removes and returns the timers due at `now`.
    pub fn take_due(&self, now: Timestamp) -> Vec<(Timestamp, String, String)> {
        let mut wheel = self.wheel();
        let mut out = Vec::new();
        while wheel.due.first().is_some_and(|(at, _, _)| *at <= now) {
            if let Some(entry) = wheel.due.pop_first() {
                wheel.forget(&entry.1, &entry.2);
                out.push(entry);
            }
        }
        out
    }

    /// How many timers are pending.
    pub fn len(&self) -> usize {
        self.wheel().due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_moves_and_cancels() {
        let t = Timers::default();
        t.start("e1", "timer-1", Timestamp::from_millis(30));
        t.start("e2", "timer-1", Timestamp::from_millis(10));
        t.start("e1", "timer-2", Timestamp::from_millis(20));
        t.start("e1", "timer-2", Timestamp::from_millis(40));
        assert_eq!(t.next(), Some(Timestamp::from_millis(10)));
        t.cancel("e2", "timer-1");
        assert_eq!(t.take_due(Timestamp::from_millis(35)).len(), 1);
        assert_eq!(t.len(), 1);
        t.cancel_all("e1");
        assert_eq!(t.len(), 0);
    }
}
