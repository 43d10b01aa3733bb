//! Time as the groups see it: a monotonic millisecond clock for leases and retries, and the wall
//! clock for lag. [`ManualClock`] lets tests move time by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use skald_core::Timestamp;

/// A source of time.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds of a monotonic clock (any origin).
    fn now_ms(&self) -> u64;
    /// The wall-clock time.
    fn wall(&self) -> Timestamp;
}

/// The real clocks.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock { origin: Instant::now() }
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }
    fn wall(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told; wall time moves with it.
#[derive(Debug)]
pub struct ManualClock {
    ms: AtomicU64,
    wall_origin: Timestamp,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock { ms: AtomicU64::new(0), wall_origin: Timestamp::now() }
    }
}

impl ManualClock {
    /// Moves the clock forward.
    pub fn advance(&self, ms: u64) {
        self.ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.ms.load(Ordering::SeqCst)
    }
    fn wall(&self) -> Timestamp {
        Timestamp(self.wall_origin.micros() + self.now_ms() * 1000)
    }
}
