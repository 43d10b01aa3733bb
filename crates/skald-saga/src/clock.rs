//! Time for the coordinator: the [`Clock`] trait, the [`SystemClock`] it uses by default and a
//! [`ManualClock`] that tests move by hand. Every time the interpreter sees comes from here, and
//! durable timers sleep on it.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use skald_asl::Timestamp;
use tokio::sync::watch;

/// A sleep that a [`Clock`] hands out.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where the coordinator gets the time from.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
    /// Resolves at (or after) `at`.
    fn sleep_until(&self, at: Timestamp) -> Sleep;
}

/// The wall clock and tokio's timers.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp::from_millis(since.as_millis() as i64)
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let wait = at.millis().saturating_sub(self.now().millis()).max(0) as u64;
        // Tokio rounds sleeps to the millisecond; add one so the wake-up is never early.
        Box::pin(tokio::time::sleep(Duration::from_millis(wait + 1)))
    }
}

/// A clock that moves only when told ([`ManualClock::advance`]). Cheap to clone; clones share time.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: watch::Sender<i64>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock { now: watch::Sender::new(start.millis()) }
    }

    /// Moves the clock forward by `millis`, waking every sleep that is due.
    pub fn advance(&self, millis: i64) {
        self.now.send_modify(|now| *now = now.saturating_add(millis.max(0)));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(*self.now.borrow())
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // An error means the clock was dropped: time will never come, so sleep forever.
            if rx.wait_for(|now| *now >= at.millis()).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_when_advanced() {
        let clock = ManualClock::new(Timestamp::from_millis(1_000));
        let sleep = clock.sleep_until(Timestamp::from_millis(5_000));
        let task = tokio::spawn(sleep);
        clock.advance(3_000);
        tokio::task::yield_now().await;
        assert!(!task.is_finished());
        clock.advance(1_000);
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
        assert_eq!(clock.now(), Timestamp::from_millis(5_000));
    }
}
