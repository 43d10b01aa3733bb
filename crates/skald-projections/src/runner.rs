//! What every runner shares: the read-model definition ([`Projection`]), reading the log in
//! bounded pages with progress, following it live, and the shape of a versioned rebuild.
//!
//! A runner plugs in as a [`Checkpointed`] sink: it knows its store, reads a checkpoint and applies
//! one page of events together with the checkpoint that covers it. The loops here are written once
//! against that, so the SQLite, PostgreSQL and idempotent runners page, report progress, switch
//! from catch-up to live and rebuild the same way; only their storage differs.

use std::future::Future;
use std::sync::Arc;

use skald_core::{EventStore, ReadOptions, RecordedEvent, Selector, SubscribeFrom};

use crate::ProjectionError;

/// The table holding every projection's checkpoint (in SQLite, and in each PostgreSQL schema).
pub const CHECKPOINT_TABLE: &str = "skald_projection_checkpoints";
/// Events read and applied per transaction (and per live burst).
pub const PAGE_EVENTS: usize = 1000;
/// Suffix of the shadow tables (and the checkpoint key) a rebuild writes.
pub(crate) const REBUILD_SUFFIX: &str = "__rebuild";

/// An error a projection's own code returns; it rolls back the page it happened in.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a read model is, whatever database holds it: its name, the events it reads and its
/// tables. The dialect-specific halves ([`SqlProjection`](crate::SqlProjection), and
/// `PgProjection` with the `postgres` feature) add how to create the tables and apply an event.
pub trait Projection: Send + Sync + 'static {
    /// A stable name: the checkpoint's key.
    fn name(&self) -> &str;

    /// The events it reads: the whole log, a category or an event type.
    fn selector(&self) -> Selector;

    /// The tables it owns (without suffix), so a rebuild can swap them.
    fn tables(&self) -> &[&str];
}

/// The table names a projection writes to: the live ones, or the shadows during a rebuild.
#[derive(Clone, Copy, Debug)]
pub struct Tables {
    suffix: &'static str,
}

impl Tables {
    pub(crate) const LIVE: Tables = Tables { suffix: "" };
    pub(crate) const REBUILD: Tables = Tables { suffix: REBUILD_SUFFIX };

    /// The name to use for `table` (quote it in SQL if it needs quoting).
    pub fn name(&self, table: &str) -> String {
        format!("{table}{}", self.suffix)
    }
}

/// How far a catch-up or rebuild got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Events applied so far.
    pub applied: u64,
    /// Position of the last event applied.
    pub position: Option<u64>,
    /// The log's head when the page was read.
    pub head: Option<u64>,
}

/// Where a page goes: the checkpoint it moves and the tables it writes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    pub key: &'a str,
    pub tables: Tables,
}

impl Target<'_> {
    pub(crate) fn live(name: &str) -> Target<'_> {
        Target { key: name, tables: Tables::LIVE }
    }
}

/// What a runner reads: the log, and the projection's name and selector (checked once, here).
pub(crate) struct Source {
    pub store: Arc<dyn EventStore>,
    pub name: String,
    pub selector: Selector,
}

impl Source {
    /// Refuses a single-stream selector: projections read the log, a category or a type.
    pub(crate) fn new(store: Arc<dyn EventStore>, name: &str, selector: Selector) -> Result<Source, ProjectionError> {
        if matches!(selector, Selector::Stream(_)) {
            return Err(ProjectionError::Invalid {
                projection: name.to_owned(),
                reason: "a projection reads the whole log, a category or a type; for one stream use its category"
                    .into(),
            });
        }
        Ok(Source { store, name: name.to_owned(), selector })
    }

    /// The projection's refusal of the event at `position`.
    pub(crate) fn handler_error(&self, position: u64, error: BoxError) -> ProjectionError {
        ProjectionError::Handler { projection: self.name.clone(), position, reason: error.to_string() }
    }

    /// The checkpoint was not at `after` when a page was to move it.
    pub(crate) fn checkpoint_moved(&self, after: Option<u64>) -> ProjectionError {
        ProjectionError::CheckpointMoved { projection: self.name.clone(), after }
    }
}

/// A runner's storage, as the shared loops see it.
pub(crate) trait Checkpointed {
    /// What it reads.
    fn source(&self) -> &Source;
    /// The position of the last event applied under checkpoint `key`.
    async fn checkpoint_of(&mut self, key: &str) -> Result<Option<u64>, ProjectionError>;
    /// Applies `events` to `target` and moves its checkpoint from `after` to the last event, all or
    /// nothing. A checkpoint found elsewhere than `after` (another runner moved it) applies nothing.
    async fn apply_page(
        &mut self,
        target: Target<'_>,
        after: Option<u64>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError>;
}

/// A runner whose tables can be rebuilt beside the live ones.
pub(crate) trait Rebuildable: Checkpointed {
    /// Drops any shadow tables left by an earlier rebuild, creates fresh ones and resets the
    /// shadow checkpoint `shadow`.
    async fn prepare_rebuild(&mut self, shadow: &str) -> Result<(), ProjectionError>;
    /// In one transaction: the shadow tables replace the live ones, and the live checkpoint takes
    /// the shadow's position.
    async fn switch(&mut self, shadow: &str) -> Result<(), ProjectionError>;
}

/// Reads pages after the checkpoint of `target` and applies them until the end of the log,
/// calling `progress` after each; returns how many events were applied.
pub(crate) async fn catch_up(
    sink: &mut impl Checkpointed,
    target: Target<'_>,
    mut progress: impl FnMut(Progress),
) -> Result<u64, ProjectionError> {
    let (store, selector) = (sink.source().store.clone(), sink.source().selector.clone());
    let mut applied = 0u64;
    let mut after = sink.checkpoint_of(target.key).await?;
    let mut from = after.map_or(0, |p| p + 1);
    loop {
        let page = store.read(&selector, ReadOptions::forward(from, PAGE_EVENTS)).await?;
        if let Some(last) = page.events.last() {
            sink.apply_page(target, after, &page.events).await?;
            after = Some(last.position);
            applied += page.events.len() as u64;
            progress(Progress { applied, position: after, head: store.head_position() });
        }
        match page.next {
            Some(next) => from = next,
            None => return Ok(applied),
        }
    }
}

/// Catches up the live tables, then applies live events as they are committed, a burst per page,
/// until `stop` completes.
pub(crate) async fn follow(
    sink: &mut impl Checkpointed,
    stop: impl Future<Output = ()>,
) -> Result<(), ProjectionError> {
    let name = sink.source().name.clone();
    catch_up(sink, Target::live(&name), |_| {}).await?;
    let mut after = sink.checkpoint_of(&name).await?;
    let from = after.map_or(SubscribeFrom::Start, |p| SubscribeFrom::Position(p + 1));
    let source = sink.source();
    let mut live = source.store.subscribe(source.selector.clone(), from);
    tokio::pin!(stop);
    while let Some(page) = crate::live::next_burst(&mut live, &mut stop).await {
        let page = page?;
        sink.apply_page(Target::live(&name), after, &page).await?;
        after = page.last().map(|e| e.position).or(after);
    }
    Ok(())
}

/// Rebuilds from the first event into shadow tables while readers keep the live ones, then
/// switches over in one transaction; returns how many events the new model holds.
pub(crate) async fn rebuild(
    sink: &mut impl Rebuildable,
    progress: impl FnMut(Progress),
) -> Result<u64, ProjectionError> {
    let shadow = format!("{}{REBUILD_SUFFIX}", sink.source().name);
    sink.prepare_rebuild(&shadow).await?;
    let applied = catch_up(sink, Target { key: &shadow, tables: Tables::REBUILD }, progress).await?;
    sink.switch(&shadow).await?;
    tracing::info!(projection = sink.source().name, applied, "rebuilt and switched over");
    Ok(applied)
}
