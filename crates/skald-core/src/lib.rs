//! Skald's event model and the [`EventStore`] contract. No I/O lives here.
//!
//! This crate owns what every backend must agree on: the shape of an event ([`NewEvent`],
//! [`RecordedEvent`]), stream naming ([`category_of`], the reserved `$` prefix), the named limits
//! ([`limits`]), the errors with their stable codes ([`Error::code`]), the [`EventStore`] trait, and
//! the rules that do not depend on storage ([`validate_appends`], [`check_retry`],
//! [`StreamMetadata::is_visible`]). [`MemoryStore`] is the reference implementation that property
//! tests compare the real engines against. Time is shared too: [`Timestamp`] is every crate's
//! instant (with its RFC 3339 parser and formatters), [`Clock`] every service's source of it.
//!
//! ```
//! use skald_core::{EventStore, MemoryStore, NewEvent, ReadOptions, Selector, StreamAppend};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let event = NewEvent::new("OrderPlaced", serde_json::json!({"total": 12}));
//! store.append(vec![StreamAppend::new("order-1", vec![event])]).await?;
//! let page = store.read(&Selector::Category("order".into()), ReadOptions::default()).await?;
//! assert_eq!(page.events[0].stream, "order-1");
//! # Ok::<_, skald_core::Error>(()) }).unwrap();
//! ```

mod clock;
mod error;
mod event;
mod follow;
pub mod limits;
pub mod membership;
mod memory;
mod store;
mod stream;

pub use clock::{Clock, ManualClock, Sleep, SystemClock};
pub use error::Error;
pub use event::{
    parse_rfc3339_micros, rfc3339_millis, validate_event_type, Json, NewEvent, RecordedEvent, Timestamp, TimestampError,
};
pub use follow::{follow, SUBSCRIPTION_PAGE_EVENTS_MAX};
pub use membership::{LocalMembership, Membership, NodeInfo};
pub use memory::MemoryStore;
pub use store::{
    check_retry, validate_appends, validate_conditions, AppendOutcome, AsOf, Direction, EventStore, EventStream,
    ExpectedVersion, ReadOptions, ReadPage, RetryCheck, Selector, StoredId, StreamAppend, StreamAppended,
    StreamCondition, StreamInfo, StreamList, StreamMetadata, SubscribeFrom, DELETE_ATTEMPTS_MAX,
};
pub use stream::{
    category_of, described_by_metadata_stream, metadata_stream_of, validate_stream_name, validate_user_stream,
    METADATA_EVENT_TYPE, METADATA_STREAM_PREFIX, RESERVED_PREFIX,
};
pub use uuid::Uuid;
