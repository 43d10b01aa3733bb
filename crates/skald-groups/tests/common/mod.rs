//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use skald_core::{EventStore, NewEvent, ReadOptions, Selector, StreamAppend, Uuid};
use skald_groups::{Backoff, GroupSpec, Groups, GroupsHandle, GroupsOptions};

pub fn fast_options() -> GroupsOptions {
    GroupsOptions {
        checkpoint_interval: Duration::from_millis(20),
        tick: Duration::from_millis(5),
        ..Default::default()
    }
}

/// The kit's store and a groups service on it.
pub async fn start(kit: &skald_testkit::TestStore) -> (Arc<dyn EventStore>, GroupsHandle) {
    let store = kit.store();
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

/// Waits (up to 10 s) until `group` has read at least `events` matching events that wait for a
/// worker, so that a lease right after gets them all: the dispatcher follows the log on its own
/// task, and a real backend takes a moment to hand it what was just appended.
pub async fn settle(groups: &GroupsHandle, group: &str, events: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stats = groups.group_stats(group).unwrap();
        if stats.pending >= events {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{group}: {} of {events} events read in 10 s", stats.pending);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
