//! [`IdempotentRunner`]: at-least-once delivery to any store, checkpointed in the log.
//!
//! For read models outside SQLite and PostgreSQL (a search index, a cache, another service's database) the
//! write and the checkpoint cannot share a transaction. The runner calls the handler for each
//! event, and after each page appends a checkpoint event (`{"position": n}`) to
//! `$proj-<name>`. After a crash the events since the last checkpoint are handled again, so the
//! handler must be idempotent: upsert by event id or position rather than increment.

use std::sync::Arc;

use serde_json::json;
use skald_core::{EventStore, NewEvent, ReadOptions, RecordedEvent, Selector, StreamAppend, StreamMetadata};

use crate::runner::{self, BoxError, Checkpointed, Source, Target};
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
    async fn handle(&self, event: &RecordedEvent) -> Result<(), BoxError>;
}

/// Runs one [`IdempotentHandler`].
pub struct IdempotentRunner<H: IdempotentHandler> {
    source: Source,
    handler: H,
}

impl<H: IdempotentHandler> IdempotentRunner<H> {
    /// A runner; nothing is read until [`Self::catch_up`] or [`Self::run`].
    pub fn new(store: Arc<dyn EventStore>, handler: H) -> Result<Self, ProjectionError> {
        let source = Source::new(store, handler.name(), handler.selector())?;
        skald_core::validate_stream_name(&Self::checkpoint_stream_of(handler.name()))?;
        Ok(IdempotentRunner { source, handler })
    }

    fn checkpoint_stream_of(name: &str) -> String {
        format!("{CHECKPOINT_STREAM_PREFIX}{name}")
    }

    /// The position of the last event handled and checkpointed.
    pub async fn checkpoint(&self) -> Result<Option<u64>, ProjectionError> {
        let stream = Self::checkpoint_stream_of(self.handler.name());
        match self.source.store.read(&Selector::Stream(stream), ReadOptions::backward(1)).await {
            Ok(page) => Ok(page.events.first().and_then(|e| e.data.to_value()["position"].as_u64())),
            Err(skald_core::Error::StreamNotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Handles every stored event after the checkpoint; returns how many.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        runner::catch_up(&mut &*self, Target::live(self.handler.name()), |_| {}).await
    }

    /// Catches up, then handles live events until `stop` completes.
    pub async fn run(&self, stop: impl std::future::Future<Output = ()>) -> Result<(), ProjectionError> {
        runner::follow(&mut &*self, stop).await
    }
}

/// The shared loops see the runner through a shared reference: its checkpoint lives in the log,
/// so there is nothing to hold exclusively.
impl<H: IdempotentHandler> Checkpointed for &IdempotentRunner<H> {
    fn source(&self) -> &Source {
        &self.source
    }

    /// One checkpoint per handler: the key is its name.
    async fn checkpoint_of(&mut self, _key: &str) -> Result<Option<u64>, ProjectionError> {
        self.checkpoint().await
    }

    /// Handles the events, then appends the checkpoint. At least once: nothing checks `after`,
    /// since a handler seeing an event twice is expected.
    async fn apply_page(
        &mut self,
        _target: Target<'_>,
        _after: Option<u64>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let Some(last) = events.last() else { return Ok(()) };
        for event in events {
            self.handler.handle(event).await.map_err(|error| self.source.handler_error(event.position, error))?;
        }
        let stream = IdempotentRunner::<H>::checkpoint_stream_of(self.handler.name());
        let checkpoint = NewEvent::new(CHECKPOINT_EVENT_TYPE, json!({ "position": last.position }));
        let outcome = self.source.store.append(vec![StreamAppend::new(stream.clone(), vec![checkpoint])]).await?;
        if outcome.streams[0].first_version == 0 {
            // First checkpoint: keep the stream short from now on.
            let metadata = StreamMetadata { max_count: Some(CHECKPOINTS_KEPT), ..Default::default() };
            self.source.store.set_metadata(&stream, metadata).await?;
        }
        Ok(())
    }
}
