//! [`IdempotentRunner`]: at-least-once delivery to any store, checkpointed in the log.
//!
//! For read models outside SQLite (a search index, a cache, another service's database) the
//! write and the checkpoint cannot share a transaction. The runner calls the handler for each
//! event, and after each page appends a checkpoint event (`{"position": n}`) to
//! `$proj-<name>`. After a crash the events since the last checkpoint are handled again, so the
//! handler must be idempotent: upsert by event id or position rather than increment.

use std::sync::Arc;

use serde_json::json;
use skald_core::{
    EventStore, NewEvent, ReadOptions, RecordedEvent, Selector, StreamAppend, StreamMetadata, SubscribeFrom,
};

use crate::sqlite::PAGE_EVENTS;
use crate::ProjectionError;

/// Checkpoints of projection `p` are events in `$proj-p`.
pub const CHECKPOINT_STREAM_PREFIX: &str = "$proj-";
/// The type of a checkpoint event.
pub const CHECKPOINT_EVENT_TYPE: &str = "$checkpoint";
/// Checkpoint events kept visible per projection (older ones are hidden by stream metadata).
const CHECKPOINTS_KEPT: u64 = 16;

/// A read model that tolerates seeing an event more than once.
#[async_trait::async_trait]
pub trait IdempotentHandler: Send + Sync + 'static {
    /// A stable name: the checkpoint stream is `$proj-<name>`.
    fn name(&self) -> &str;

    /// The events it reads: the whole log, a category or an event type.
    fn selector(&self) -> Selector;

    /// Handles one event; an error stops the runner before the checkpoint moves past it.
    async fn handle(&self, event: &RecordedEvent) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// Runs one [`IdempotentHandler`].
pub struct IdempotentRunner<H: IdempotentHandler> {
    store: Arc<dyn EventStore>,
    handler: H,
}

impl<H: IdempotentHandler> IdempotentRunner<H> {
    /// A runner; nothing is read until [`Self::catch_up`] or [`Self::run`].
    pub fn new(store: Arc<dyn EventStore>, handler: H) -> Result<Self, ProjectionError> {
        if matches!(handler.selector(), Selector::Stream(_)) {
            return Err(ProjectionError::Invalid {
                projection: handler.name().to_owned(),
                reason: "a projection reads the whole log, a category or a type; for one stream use its category"
                    .into(),
            });
        }
        skald_core::validate_stream_name(&Self::checkpoint_stream_of(handler.name()))?;
        Ok(IdempotentRunner { store, handler })
    }

    fn checkpoint_stream_of(name: &str) -> String {
        format!("{CHECKPOINT_STREAM_PREFIX}{name}")
    }

    /// The position of the last event handled and checkpointed.
    pub async fn checkpoint(&self) -> Result<Option<u64>, ProjectionError> {
        let stream = Self::checkpoint_stream_of(self.handler.name());
        match self.store.read(&Selector::Stream(stream), ReadOptions::backward(1)).await {
            Ok(page) => Ok(page.events.first().and_then(|e| e.data.to_value()["position"].as_u64())),
            Err(skald_core::Error::StreamNotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Handles every stored event after the checkpoint; returns how many.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        let selector = self.handler.selector();
        let mut from = self.checkpoint().await?.map_or(0, |p| p + 1);
        let mut handled = 0;
        loop {
            let page = self.store.read(&selector, ReadOptions::forward(from, PAGE_EVENTS)).await?;
            self.handle_page(&page.events).await?;
            handled += page.events.len() as u64;
            match page.next {
                Some(next) => from = next,
                None => return Ok(handled),
            }
        }
    }

    /// Catches up, then handles live events until `stop` completes.
    pub async fn run(&self, stop: impl std::future::Future<Output = ()>) -> Result<(), ProjectionError> {
        self.catch_up().await?;
        let from = self.checkpoint().await?.map_or(SubscribeFrom::Start, |p| SubscribeFrom::Position(p + 1));
        let mut live = self.store.subscribe(self.handler.selector(), from);
        tokio::pin!(stop);
        while let Some(page) = crate::live::next_burst(&mut live, &mut stop).await {
            let page = page?;
            self.handle_page(&page).await?;
        }
        Ok(())
    }

    async fn handle_page(&self, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let Some(last) = events.last() else { return Ok(()) };
        for event in events {
            self.handler.handle(event).await.map_err(|error| ProjectionError::Handler {
                projection: self.handler.name().to_owned(),
                position: event.position,
                reason: error.to_string(),
            })?;
        }
        let stream = Self::checkpoint_stream_of(self.handler.name());
        let checkpoint = NewEvent::new(CHECKPOINT_EVENT_TYPE, json!({ "position": last.position }));
        let outcome = self.store.append(vec![StreamAppend::new(stream.clone(), vec![checkpoint])]).await?;
        if outcome.streams[0].first_version == 0 {
            // First checkpoint: keep the stream short from now on.
            let metadata = StreamMetadata { max_count: Some(CHECKPOINTS_KEPT), ..Default::default() };
            self.store.set_metadata(&stream, metadata).await?;
        }
        Ok(())
    }
}
