//! Time for services: the [`Clock`] trait they take in their options, the [`SystemClock`] they use
//! by default, and the [`ManualClock`] tests move by hand.
//!
//! A clock gives two readings. [`Clock::now`] is wall time, for what is recorded or compared with
//! recorded times (saga history, durable timers, a group's lag). [`Clock::monotonic`] never goes
//! backwards and ignores steps of the wall clock, for durations that must not jump when NTP or an
//! operator sets the time: a step forward would expire every consumer-group lease at once, a step
//! back would hold leases and retry delays for as long as the step.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::Timestamp;

/// A sleep that a [`Clock`] hands out.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where a service gets the time from.
pub trait Clock: Send + Sync + 'static {
    /// The wall-clock time.
    fn now(&self) -> Timestamp;
    /// Resolves when [`Clock::now`] has reached `at` (at once if it has).
    fn sleep_until(&self, at: Timestamp) -> Sleep;
    /// Time since an origin fixed for the clock's life, which never goes backwards: for durations
    /// (leases, backoff), never for telling the time.
    fn monotonic(&self) -> Duration;
}

/// The system's wall clock, its monotonic clock, and tokio's timers.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let wait = at.saturating_duration_since(Timestamp::now());
        // Tokio's timers tick in milliseconds; one more keeps the wake-up from being early.
        Box::pin(tokio::time::sleep(wait + Duration::from_millis(1)))
    }

    fn monotonic(&self) -> Duration {
        // One origin per process, so every `SystemClock` (a unit value) reads the same line.
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed()
    }
}

/// A clock that moves only when told ([`ManualClock::advance`]); both readings move together.
/// Cheap to clone; clones share the time.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: watch::Sender<Timestamp>,
    start: Timestamp,
}

impl ManualClock {
    /// A clock standing at `start`; its monotonic reading starts at zero.
    pub fn new(start: Timestamp) -> Self {
        ManualClock { now: watch::Sender::new(start), start }
    }

    /// Moves the clock forward by `by`, waking every sleep that is due.
    pub fn advance(&self, by: Duration) {
        self.now.send_modify(|now| *now = now.saturating_add(by));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // An error means the clock was dropped: that time will never come, so sleep forever.
            if rx.wait_for(|now| *now >= at).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }

    fn monotonic(&self) -> Duration {
        self.now().saturating_duration_since(self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_when_advanced_to_their_time() {
        let clock = ManualClock::new(Timestamp::from_millis(1_000));
        let task = tokio::spawn(clock.sleep_until(Timestamp::from_millis(5_000)));
        clock.advance(Duration::from_millis(3_999));
        tokio::task::yield_now().await;
        assert!(!task.is_finished());
        clock.advance(Duration::from_millis(1));
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
        assert_eq!(clock.now(), Timestamp::from_millis(5_000));
    }

    #[tokio::test]
    async fn manual_clock_sleeps_end_at_once_when_due_and_never_after_the_clock_is_gone() {
        let clock = ManualClock::new(Timestamp::from_millis(1_000));
        clock.sleep_until(Timestamp::from_millis(1_000)).await;
        clock.sleep_until(Timestamp(0)).await;
        let later = clock.sleep_until(Timestamp::from_millis(2_000));
        drop(clock);
        assert!(tokio::time::timeout(Duration::from_millis(20), later).await.is_err());
    }

    #[test]
    fn manual_clock_clones_share_time_and_monotonic_follows_advances() {
        let clock = ManualClock::new(Timestamp::from_micros(7));
        let clone = clock.clone();
        assert_eq!(clock.monotonic(), Duration::ZERO);
        clone.advance(Duration::from_micros(1_500));
        assert_eq!(clock.now(), Timestamp::from_micros(1_507));
        assert_eq!(clock.monotonic(), Duration::from_micros(1_500));
    }

    #[tokio::test]
    async fn system_clock_sleeps_until_its_wall_time_and_its_monotonic_reading_grows() {
        let clock = SystemClock;
        let before = clock.monotonic();
        let at = clock.now().plus_millis(20);
        clock.sleep_until(at).await;
        assert!(clock.now() >= at);
        assert!(clock.monotonic() >= before + Duration::from_millis(20));
        // A time already past does not wait (beyond the one-millisecond guard).
        tokio::time::timeout(Duration::from_secs(1), clock.sleep_until(Timestamp(0))).await.unwrap();
    }
}
