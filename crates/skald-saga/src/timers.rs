//! Durable timers. A timer is durable because its `StartTimer` command is recorded in the history
//! (as `TaskScheduled`'s timeout, `RetryScheduled`, `WaitTimerStarted`, …) and rebuilt by replay
//! after a restart; this module is only the in-memory wheel: an ordered set of
//! `(fire_at, execution, timer)` that one task sleeps on, using the coordinator's [`skald_core::Clock`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use skald_core::Timestamp;
use tokio::sync::Notify;

/// The pending timers of every open execution.
#[derive(Default)]
pub(crate) struct Timers {
    inner: Mutex<Wheel>,
    /// Woken when a timer earlier than the one being slept on is added.
    pub changed: Notify,
}

/// Where a timer sits in `due`: its time, then the order it was started in (timers may share a time).
type DueKey = (Timestamp, u64);

#[derive(Default)]
struct Wheel {
    due: BTreeMap<DueKey, (String, String)>,
    /// Execution → timer → its key in `due`: moving or cancelling a timer needs no new strings,
    /// and cancelling one execution's timers is O(its timers).
    by_execution: HashMap<String, HashMap<String, DueKey>>,
    started: u64,
}

impl Wheel {
    fn forget(&mut self, execution: &str, timer: &str) -> Option<DueKey> {
        let timers = self.by_execution.get_mut(execution)?;
        let key = timers.remove(timer);
        if timers.is_empty() {
            self.by_execution.remove(execution);
        }
        key
    }
}

impl Timers {
    fn wheel(&self) -> std::sync::MutexGuard<'_, Wheel> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds (or moves) a timer.
    pub fn start(&self, execution: &str, timer: &str, fire_at: Timestamp) {
        let mut wheel = self.wheel();
        if let Some(old) = wheel.forget(execution, timer) {
            wheel.due.remove(&old);
        }
        wheel.started += 1;
        let key = (fire_at, wheel.started);
        let earliest = wheel.due.first_key_value().is_none_or(|((at, _), _)| fire_at < *at);
        wheel.due.insert(key, (execution.to_owned(), timer.to_owned()));
        match wheel.by_execution.get_mut(execution) {
            Some(timers) => {
                timers.insert(timer.to_owned(), key);
            }
            None => {
                wheel.by_execution.insert(execution.to_owned(), HashMap::from([(timer.to_owned(), key)]));
            }
        }
        drop(wheel);
        if earliest {
            self.changed.notify_one();
        }
    }

    /// Withdraws a timer.
    pub fn cancel(&self, execution: &str, timer: &str) {
        let mut wheel = self.wheel();
        if let Some(key) = wheel.forget(execution, timer) {
            wheel.due.remove(&key);
        }
    }

    /// Withdraws every timer of an execution.
    pub fn cancel_all(&self, execution: &str) {
        let mut wheel = self.wheel();
        for key in wheel.by_execution.remove(execution).unwrap_or_default().into_values() {
            wheel.due.remove(&key);
        }
    }

    /// The earliest pending time.
    pub fn next(&self) -> Option<Timestamp> {
        self.wheel().due.first_key_value().map(|((at, _), _)| *at)
    }

    /// Removes and returns the timers due at `now`: `(time, execution, timer)`, earliest first.
    pub fn take_due(&self, now: Timestamp) -> Vec<(Timestamp, String, String)> {
        let mut wheel = self.wheel();
        let mut out = Vec::new();
        while wheel.due.first_key_value().is_some_and(|((at, _), _)| *at <= now) {
            if let Some(((at, _), (execution, timer))) = wheel.due.pop_first() {
                wheel.forget(&execution, &timer);
                out.push((at, execution, timer));
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

    #[test]
    fn timers_at_the_same_time_all_fire_and_a_moved_timer_fires_once() {
        let t = Timers::default();
        t.start("e1", "timer-1", Timestamp::from_millis(10));
        t.start("e2", "timer-1", Timestamp::from_millis(10));
        t.start("e3", "timer-1", Timestamp::from_millis(10));
        t.start("e3", "timer-1", Timestamp::from_millis(50));
        let due: Vec<_> = t.take_due(Timestamp::from_millis(10)).into_iter().map(|(_, e, _)| e).collect();
        assert_eq!(due, vec!["e1", "e2"]);
        assert_eq!(t.next(), Some(Timestamp::from_millis(50)));
        assert_eq!(t.take_due(Timestamp::from_millis(60)).len(), 1);
        assert_eq!(t.len(), 0);
        t.cancel("e3", "timer-1"); // already fired: nothing to do
        assert_eq!(t.next(), None);
    }
}
