//! Consumer groups (persistent subscriptions) over any [`EventStore`](skald_core::EventStore):
//! competing consumers with per-stream order, leases, acks, retries with backoff, parking, and
//! pull or push delivery.
//!
//! This crate owns the group lifecycle and delivery. It is written only against
//! `Arc<dyn EventStore>`, and everything durable is an event (see [`durable`]): definitions in
//! `$groups`, checkpoints in `$sub-<group>`, parked events in `$parked-<group>`. A group's state
//! after a restart is what those streams say.
//!
//! How an event travels: the group's reader follows `$all` from the checkpoint and keeps the
//! events its filter (a `skald_pattern` event pattern) accepts in a bounded window. Workers
//! [`lease`](GroupsHandle::lease) batches; a stream belongs to at most one lease at a time, and its
//! events are handed out in log order. A worker [`ack`](GroupsHandle::ack)s or
//! [`nack`](GroupsHandle::nack)s each event; a lease not renewed by an ack or nack before
//! `lease_timeout_ms` expires and its events go back to the queue, so a crashed worker's streams
//! move to the others. Failed events are retried after an exponential backoff with jitter, and
//! after `max_attempts` deliveries parked to `$parked-<group>` with the reason;
//! [`replay_parked`](GroupsHandle::replay_parked) delivers them again. The checkpoint is the
//! lowest position not yet acknowledged or parked, written every `checkpoint_interval`: delivery
//! is at least once, and nothing below a durable checkpoint is delivered again.
//!
//! Push groups ([`PushSpec`]) run lanes that lease like workers and POST batches to a URL with
//! the semantics of a Lambda event-source mapping (see the `push` module).
//!
//! # Limits
//!
//! Everything is bounded: groups per service ([`GroupsOptions::groups_max`]), events read ahead
//! and unacknowledged per group (`max_in_flight`, at most [`GROUP_IN_FLIGHT_EVENTS_MAX`]), events
//! per lease ([`LEASE_EVENTS_MAX`]), leases per group ([`GROUP_LEASES_MAX`]), lease waits
//! ([`LEASE_WAIT_MAX`]), push batch events and bytes ([`PUSH_BATCH_EVENTS_MAX`],
//! [`PUSH_BATCH_BYTES_MAX`]) and lanes ([`PUSH_PARALLELISM_MAX`]). A replay holds the parked
//! records it re-delivers in memory.
//!
//! # Tests
//!
//! `src/dispatch/tests.rs` drives the dispatcher with a hand-moved clock; `src/dispatch/prop.rs`
//! is a property test of four workers that crash and rejoin at random; `tests/pull.rs` covers
//! the service end to end; `tests/crash.rs` SIGKILLs a child process running a skald-log store
//! with four workers, some of which abandon batches; `tests/push.rs` pushes to a real HTTP
//! endpoint that fails, times out and answers partial batch failures. Throughput, fan-out and
//! latency are measured by `skald-bench` (`skald bench`, `cargo bench -p skald-bench --bench groups`).
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use skald_core::{EventStore, MemoryStore, NewEvent, StreamAppend};
//! use skald_groups::{GroupSpec, Groups, GroupsOptions};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let groups = Groups::start(store.clone(), GroupsOptions::default()).await?;
//! groups.create_group(GroupSpec::new("billing").filter(serde_json::json!({"type": ["OrderPlaced"]}))).await?;
//! store.append(vec![StreamAppend::new("order-1", vec![NewEvent::new("OrderPlaced", serde_json::json!({}))])]).await?;
//!
//! let batch = groups.lease("billing", "worker-1", 100, Duration::from_secs(5)).await?;
//! assert_eq!(batch.events[0].event.stream, "order-1");
//! groups.ack_all("billing", batch.lease_id)?;
//! groups.shutdown().await;
//! # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
//! ```

mod dispatch;
pub mod durable;
mod error;
pub mod metrics;
mod push;
mod runtime;
mod service;
mod spec;

pub use dispatch::{Batch, Delivery, Resolved};
pub use error::GroupError;
pub use runtime::LEASE_WAIT_MAX;
pub use service::{GroupInfo, GroupStats, Groups, GroupsHandle, GroupsOptions, GROUPS_MAX};
pub use spec::{
    validate_group_name, Backoff, GroupSpec, PushSpec, StartFrom, ATTEMPTS_MAX, GROUP_IN_FLIGHT_EVENTS_MAX,
    GROUP_LEASES_MAX, GROUP_NAME_BYTES_MAX, LEASE_EVENTS_MAX, LEASE_TIMEOUT_MS_MAX, PUSH_BATCH_BYTES_MAX,
    PUSH_BATCH_EVENTS_MAX, PUSH_PARALLELISM_MAX,
};
