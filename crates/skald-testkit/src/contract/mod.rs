//! The `EventStore` contract: one async function per promise of the trait, each taking a fresh
//! [`TestStore`](crate::TestStore) of any backend. [`event_store_contract!`](crate::event_store_contract)
//! runs them all on every backend; a backend that passes is interchangeable with the others, and a
//! bug found once gets a case here and is then tested everywhere.
//!
//! The cases are grouped by theme: [`appends`] (positions, expected versions and their races,
//! idempotency, atomicity, conditions, validation), [`reads`] (paging, selectors, as of a position or
//! a time, listing, reopen), [`metadata`] (hiding, deletion and its races) and [`subscriptions`]
//! (catch-up then live while writers run).

pub mod appends;
pub mod metadata;
pub mod reads;
pub mod subscriptions;

/// Every case, under one path for the macros.
pub mod cases {
    pub use super::appends::*;
    pub use super::metadata::*;
    pub use super::reads::*;
    pub use super::subscriptions::*;
}

use serde_json::json;
use skald_core::{AppendOutcome, EventStore, NewEvent, ReadOptions, RecordedEvent, Selector, StreamAppend};

/// An event of type `kind` with data `{"n": n}`.
pub fn event(kind: &str, n: u64) -> NewEvent {
    NewEvent::new(kind, json!({ "n": n }))
}

/// Appends one event per kind to `stream`, with no version check.
pub async fn append(store: &dyn EventStore, stream: &str, kinds: &[&str]) -> AppendOutcome {
    let events = kinds.iter().enumerate().map(|(i, k)| event(k, i as u64)).collect();
    store.append(vec![StreamAppend::new(stream, events)]).await.expect("append")
}

/// One page of `selector`.
pub async fn read(store: &dyn EventStore, selector: Selector, options: ReadOptions) -> Vec<RecordedEvent> {
    store.read(&selector, options).await.expect("read").events
}

/// Every event of `selector`, page by page.
pub async fn read_to_end(store: &dyn EventStore, selector: Selector) -> Vec<RecordedEvent> {
    let mut events = Vec::new();
    let mut from = Some(0);
    while let Some(start) = from {
        let page = store.read(&selector, ReadOptions::forward(start, 1000)).await.expect("read");
        events.extend(page.events);
        from = page.next;
    }
    events
}

/// The positions of `events`.
pub fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

/// The versions of `events`.
pub fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.version).collect()
}
