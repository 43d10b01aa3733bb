//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use skald_core::{EventStore, MemoryStore, NewEvent, ReadOptions, Selector, StreamAppend, Uuid};
use skald_groups::{Backoff, GroupSpec, Groups, GroupsHandle, GroupsOptions};

pub fn fast_options() -> GroupsOptions {
    GroupsOptions {
        checkpoint_interval: Duration::from_millis(20),
        tick: Duration::from_millis(5),
        ..Default::default()
    }
}

pub async fn memory() -> (Arc<MemoryStore>, GroupsHandle) {
    let store = Arc::new(MemoryStore::new());
    let groups = Groups::start(store.clone(), fast_options()).await.unwrap();
    (store, groups)
}

pub fn spec(name: &str) -> GroupSpec {
    GroupSpec {
        backoff: Backoff { initial_ms: 10, max_ms: 40, multiplier: 2.0 },
        lease_timeout_ms: 2_000,
        ..GroupSpec::new(name)
    }
}

pub fn id_of(stream: usize, seq: u64) -> Uuid {
    Uuid::from_u128(((stream as u128 + 1) << 64) | seq as u128)
}

/// Appends `count` events to each of `streams` streams named `order-<i>`, one append per event.
pub async fn append_orders(store: &dyn EventStore, streams: usize, count: u64) {
    for seq in 0..count {
        for s in 0..streams {
            let event = NewEvent::new("OrderPlaced", json!({"seq": seq, "stream": s})).with_id(id_of(s, seq));
            store.append(vec![StreamAppend::new(format!("order-{s}"), vec![event])]).await.unwrap();
        }
    }
}

pub async fn read_stream(store: &dyn EventStore, stream: &str) -> Vec<skald_core::RecordedEvent> {
    match store.read(&Selector::Stream(stream.into()), ReadOptions::forward(0, 10_000)).await {
        Ok(page) => page.events,
        Err(_) => Vec::new(),
    }
}
