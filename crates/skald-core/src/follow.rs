//! Catch-up-then-live subscriptions built on reads and a committed-position signal.
//!
//! A subscription never keeps its own copy of the log: it reads pages through
//! [`EventStore::read`] from its cursor, and when it reaches the end it waits for the committed
//! position to move. Because every event comes from the same ordered read path, the switch from
//! catch-up to live can neither skip nor repeat an event. Memory per subscription is one page.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::watch;

use crate::{Direction, Error, EventStore, EventStream, ReadOptions, RecordedEvent, Selector, SubscribeFrom};

/// Events one subscription holds in memory at most.
pub const SUBSCRIPTION_PAGE_EVENTS_MAX: usize = 512;

struct Follower<S: ?Sized> {
    store: Arc<S>,
    selector: Selector,
    /// Next cursor to read (version for a stream selector, else position).
    cursor: u64,
    /// Events below this global position are skipped (start of a stream subscription).
    position_min: u64,
    buffer: VecDeque<RecordedEvent>,
    committed: watch::Receiver<Option<u64>>,
    failed: bool,
}

/// Turns a store and its committed-position signal into a subscription.
///
/// `committed` carries the newest committed position (`None` while the log is empty); the store
/// must update it after events become readable.
pub fn follow<S: EventStore + ?Sized>(
    store: Arc<S>,
    selector: Selector,
    from: SubscribeFrom,
    committed: watch::Receiver<Option<u64>>,
) -> EventStream {
    let position_min = match from {
        SubscribeFrom::Start => 0,
        SubscribeFrom::Position(p) => p,
        SubscribeFrom::End => store.head_position().map_or(0, |p| p + 1),
    };
    let cursor = match selector {
        Selector::Stream(_) => 0,
        _ => position_min,
    };
    let follower =
        Follower { store, selector, cursor, position_min, buffer: VecDeque::new(), committed, failed: false };
    Box::pin(futures_util::stream::unfold(follower, |mut f| async move {
        if f.failed {
            return None;
        }
        loop {
            if let Some(event) = f.buffer.pop_front() {
                return Some((Ok(event), f));
            }
            // Mark the current value seen before reading, so a commit during the read wakes us.
            f.committed.borrow_and_update();
            match f.fill().await {
                Ok(true) => continue,
                Ok(false) => {
                    if f.committed.changed().await.is_err() {
                        return None; // the store closed
                    }
                }
                Err(error) => {
                    f.failed = true;
                    return Some((Err(error), f));
                }
            }
        }
    }))
}

impl<S: EventStore + ?Sized> Follower<S> {
    /// Reads the next page into the buffer. Returns whether the cursor moved.
    async fn fill(&mut self) -> Result<bool, Error> {
        let options = ReadOptions {
            from: Some(self.cursor),
            direction: Direction::Forward,
            limit: SUBSCRIPTION_PAGE_EVENTS_MAX,
            as_of: None,
        };
        let page = match self.store.read(&self.selector, options).await {
            Ok(page) => page,
            Err(Error::StreamNotFound { .. } | Error::StreamDeleted { .. }) => return Ok(false),
            Err(error) => return Err(error),
        };
        let Some(last) = page.events.last() else {
            return Ok(false);
        };
        self.cursor = self.selector.cursor_of(last) + 1;
        let position_min = self.position_min;
        self.buffer.extend(page.events.into_iter().filter(|e| e.position >= position_min));
        Ok(true)
    }
}
