//! A typed Rust client of Skald's HTTP API (see `skald-server`): the one the CLI speaks through.
//!
//! Every route has a method: appends, reads, stream metadata and live tails, typed with
//! skald-core's types ([`NewEvent`](skald_core::NewEvent), [`ReadPage`](skald_core::ReadPage), …);
//! state machines, executions, task callbacks and activity polls ([`StartExecution`],
//! [`ExecutionDescription`], …); consumer groups, leases, acks and parked events ([`GroupSpec`],
//! [`LeaseBatch`], …). The saga and group types are this crate's own wire types, mirroring the
//! server's, so a client builds neither the coordinator nor the groups service.
//!
//! Errors are [`ClientError`], whose `Problem` variant keeps the server's RFC 9457 problem (stable
//! code, status, detail and the whole body) so that callers can branch on
//! [`ClientError::code`] and act on fields such as `actual_version`. Live tails
//! ([`Client::subscribe`]) reconnect by themselves and resume after the last event seen
//! (`Last-Event-ID`), so they yield every event once, in order. Plain HTTP only.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use skald_client::Client;
//! use skald_core::{ExpectedVersion, NewEvent, ReadOptions, Selector, SubscribeFrom};
//!
//! # async fn run() -> Result<(), skald_client::ClientError> {
//! let client = Client::new("http://127.0.0.1:2113")?;
//! let event = NewEvent::new("OrderPlaced", serde_json::json!({"total": 12}));
//! let outcome = client.append("order-1", ExpectedVersion::NoStream, vec![event]).await?;
//! let page = client.read_stream("order-1", ReadOptions::default()).await?;
//! assert_eq!(page.events[0].version, outcome.first_version);
//!
//! let mut live = client.subscribe(Selector::Category("order".into()), SubscribeFrom::Start);
//! while let Some(event) = live.next().await {
//!     println!("{}", event?.event_type);
//! }
//! # Ok(()) }
//! ```

mod client;
mod cluster;
mod error;
mod groups;
mod sagas;
mod sse;

pub use client::{Client, EventStream, Health, StreamAppendOutcome, CONNECT_TIMEOUT, READ_TIMEOUT, REQUEST_TIMEOUT};
pub use cluster::{ClusterStatus, LeaseStatus, NodeStatus};
pub use error::ClientError;
pub use groups::{
    Acked, Backoff, GroupInfo, GroupList, GroupSpec, GroupStats, LeaseBatch, LeaseStream, LeasedEvent, Nacked,
    ParkedEvent, ParkedPage, PushSpec, Replayed, StartFrom,
};
pub use sagas::{
    ActivityTask, ExecutionDescription, ExecutionList, ExecutionStatus, ExecutionSummary, HistoryEvent, HistoryPage,
    ListExecutions, StartExecution, StartedExecution, StateMachine, StateMachineList, UnknownStatus,
};
pub use sse::SubscribeOptions;
