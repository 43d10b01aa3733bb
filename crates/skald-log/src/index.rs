//! The secondary indexes, kept in one redb database (`index.redb`).
//!
//! The indexes are derived data: everything here can be rebuilt from the segments, so they are
//! committed without fsync after every group and made durable only at checkpoints. The
//! `indexed_position` checkpoint says how far they reach; on open the log past it is replayed.
//! `durable_position` is the `indexed_position` of the last durable commit, made only after the
//! log was fsynced that far: recovery's proof of where the log was durable.
//!
//! Events of one append to one stream sit next to each other in the log, so the stream, category and
//! type indexes store *runs* — `(name, first cursor) → (first position, count, segment, offset)` —
//! rather than one entry per event: a batch of 1,000 events costs one entry, not 1,000. Only event
//! ids (for idempotent retries) are indexed one by one.
//!
//! Stream runs are exact: every event of a run belongs to the stream, at consecutive versions and
//! positions. So a stream's head is the end of its last run: no table of heads is kept (it would
//! cost an insert per append for what one backward step in `stream_runs` gives). Category and type runs are
//! *spans*: they start and end with an event of their name but may hold events of other names in
//! between, as long as at most [`SPAN_FRAMES_PER_MATCH`] frames are read per matching event; reads
//! skip the others. Interleaved writers (sagas alternate event types step by step, many sagas write
//! at once) would otherwise cost an entry per event.
//!
//! | table | key | value |
//! |---|---|---|
//! | `stream_metadata` | stream | metadata JSON (latest `$meta-<stream>` event) |
//! | `stream_runs` | (stream, first version) | run |
//! | `category_runs` | (category, first position) | span |
//! | `type_runs` | (event type, first position) | span |
//! | `chunks` | first position of up to [`CHUNK_EVENTS_MAX`] neighbouring events | run (for `$all` reads) |
//! | `ids` | event id | position |
//! | `times` | commit timestamp | last position committed at it |
//! | `meta` | `indexed_position`, `index_format` | u64 |

use std::cell::OnceCell;
use std::path::Path;

use crate::format::EventView;
use crate::index_file::IndexFile;
use crate::storage::{Open, Storage};
use redb::{
    Database, DatabaseError, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, Table, TableDefinition,
    WriteTransaction,
};
use skald_core::{category_of, described_by_metadata_stream, Error, StreamMetadata, Timestamp, Uuid};

/// Where a frame starts: the segment (by its first position) and the byte offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub segment: u64,
    pub offset: u64,
}

/// Consecutive events of one stream, category or type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// Cursor of the first event: its version in `stream_runs`, else its position.
    pub first_cursor: u64,
    pub first_position: u64,
    pub count: u64,
    pub location: Location,
}

type RunValue = (u64, u64, u64, u64);
type NamedRuns = TableDefinition<'static, (&'static str, u64), RunValue>;

const STREAM_METADATA: TableDefinition<&str, &[u8]> = TableDefinition::new("stream_metadata");
const STREAM_RUNS: NamedRuns = TableDefinition::new("stream_runs");
const CATEGORY_RUNS: NamedRuns = TableDefinition::new("category_runs");
const TYPE_RUNS: NamedRuns = TableDefinition::new("type_runs");
const CHUNKS: TableDefinition<u64, (u64, u64, u64)> = TableDefinition::new("chunks");
const IDS: TableDefinition<u128, u64> = TableDefinition::new("ids");
const TIMES: TableDefinition<u64, u64> = TableDefinition::new("times");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Events per `chunks` entry at most: a backward `$all` read scans at most this many frames to
/// reach its first event.
pub const CHUNK_EVENTS_MAX: usize = 256;

const INDEXED_POSITION: &str = "indexed_position";
/// The `indexed_position` of the last durable commit. Durable commits come only after the log is
/// fsynced up to it, and non-durable ones may outlive a crash of the process (the page cache keeps
/// them), so only this one says how far the log was known durable.
const DURABLE_POSITION: &str = "durable_position";
/// Present (1) in an index that keeps `durable_position`: made by this build, or checkpointed by
/// it. Without it a missing `durable_position` says nothing (an index of an older build); with it,
/// that no position was ever checkpointed.
const DURABLE_POSITION_KEPT: &str = "durable_position_kept";
const INDEX_FORMAT_KEY: &str = "index_format";
/// Bumped when the tables change shape or meaning; an index of another format is rebuilt.
/// 2: category and type runs became spans. 3: the `streams` table of heads is gone (heads are
/// the ends of the last stream runs).
const INDEX_FORMAT: u64 = 3;

/// Frames a category or type span may hold per event of its name, at most (see the module docs).
pub const SPAN_FRAMES_PER_MATCH: usize = 8;

/// What every error of the index module says first (see [`is_index_failure`]).
const INDEX_ERROR_PREFIX: &str = "index: ";

fn storage(error: impl std::fmt::Display) -> Error {
    Error::storage(format!("{INDEX_ERROR_PREFIX}{error}"))
}

/// Whether `error` came from the index file. redb refuses every operation after an I/O error until
/// it is reopened, so such an error is not passing: the writer stops on it.
pub fn is_index_failure(error: &Error) -> bool {
    matches!(error, Error::Storage(message) if message.starts_with(INDEX_ERROR_PREFIX))
}

/// A stream and its newest event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamHead {
    pub stream: String,
    pub version: u64,
    pub position: u64,
}

/// An event and where its frame starts: what the index records.
pub struct IndexedEvent<'a> {
    pub event: EventView<'a>,
    pub location: Location,
}

/// The index database.
pub struct Index {
    db: Database,
}

impl Index {
    /// Opens or creates the index file in `files` (redb's backend over it: `index_file.rs`).
    /// `Ok(None)`: the file is unusable (damaged or of another format) and should be rebuilt.
    pub fn open(files: &dyn Storage, path: &Path, cache_bytes: usize) -> Result<Option<Index>, Error> {
        let opened = files
            .open(path, Open::Create)
            .map_err(DatabaseError::from)
            .map(IndexFile::new)
            .and_then(|backend| Database::builder().set_cache_size(cache_bytes).create_with_backend(backend));
        let db = match opened {
            Ok(db) => db,
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "index file cannot be opened; it will be rebuilt");
                return Ok(None);
            }
        };
        let index = Index { db };
        let txn = index.db.begin_write().map_err(storage)?;
        let format = {
            let mut meta = txn.open_table(META).map_err(storage)?;
            let format = meta.get(INDEX_FORMAT_KEY).map_err(storage)?.map(|v| v.value());
            if format.is_none() {
                meta.insert(INDEX_FORMAT_KEY, INDEX_FORMAT).map_err(storage)?;
                meta.insert(DURABLE_POSITION_KEPT, 1).map_err(storage)?;
            }
            format
        };
        for def in [STREAM_RUNS, CATEGORY_RUNS, TYPE_RUNS] {
            txn.open_table(def).map_err(storage)?;
        }
        txn.open_table(STREAM_METADATA).map_err(storage)?;
        txn.open_table(CHUNKS).map_err(storage)?;
        txn.open_table(IDS).map_err(storage)?;
        txn.open_table(TIMES).map_err(storage)?;
        txn.commit().map_err(storage)?;
        if format.is_some_and(|f| f != INDEX_FORMAT) {
            return Ok(None);
        }
        Ok(Some(index))
    }

    /// Runs `work` in one write transaction, then commits it; `durable` makes the commit a
    /// checkpoint that survives a crash. If `work` fails nothing is committed.
    pub fn write<R>(
        &self,
        durable: bool,
        work: impl FnOnce(&mut IndexWriter<'_>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut txn = self.db.begin_write().map_err(storage)?;
        if durable {
            txn.set_quick_repair(true);
        } else {
            txn.set_durability(Durability::None).map_err(storage)?;
        }
        let result = {
            let mut writer = IndexWriter::new(&txn)?;
            work(&mut writer)?
        };
        txn.commit().map_err(storage)?;
        Ok(result)
    }

    /// A consistent snapshot for reading.
    pub fn read(&self) -> Result<IndexReader, Error> {
        let txn = self.db.begin_read().map_err(storage)?;
        Ok(IndexReader::new(txn))
    }
}

/// The tables of one write transaction.
pub struct IndexWriter<'txn> {
    stream_metadata: Table<'txn, &'static str, &'static [u8]>,
    stream_runs: Table<'txn, (&'static str, u64), RunValue>,
    category_runs: Table<'txn, (&'static str, u64), RunValue>,
    type_runs: Table<'txn, (&'static str, u64), RunValue>,
    chunks: Table<'txn, u64, (u64, u64, u64)>,
    ids: Table<'txn, u128, u64>,
    times: Table<'txn, u64, u64>,
    meta: Table<'txn, &'static str, u64>,
}

impl<'txn> IndexWriter<'txn> {
    fn new(txn: &'txn WriteTransaction) -> Result<Self, Error> {
        Ok(IndexWriter {
            stream_metadata: txn.open_table(STREAM_METADATA).map_err(storage)?,
            stream_runs: txn.open_table(STREAM_RUNS).map_err(storage)?,
            category_runs: txn.open_table(CATEGORY_RUNS).map_err(storage)?,
            type_runs: txn.open_table(TYPE_RUNS).map_err(storage)?,
            chunks: txn.open_table(CHUNKS).map_err(storage)?,
            ids: txn.open_table(IDS).map_err(storage)?,
            times: txn.open_table(TIMES).map_err(storage)?,
            meta: txn.open_table(META).map_err(storage)?,
        })
    }

    /// Indexes consecutive events of the log (whole appends, in position order, any streams).
    ///
    /// Neighbours are folded into runs across append boundaries: a group of single-event appends
    /// to one category costs one category entry, not one per append.
    pub fn add_events(&mut self, events: &[IndexedEvent<'_>]) -> Result<(), Error> {
        assert!(
            events.windows(2).all(|w| w[1].event.position == w[0].event.position + 1),
            "indexed events are contiguous"
        );
        let run = |events: &[IndexedEvent<'_>]| -> RunValue {
            (events[0].event.position, events.len() as u64, events[0].location.segment, events[0].location.offset)
        };
        for part in runs_of(events, |a, b| a.event.stream == b.event.stream && b.event.version == a.event.version + 1) {
            let first = &part[0].event;
            self.stream_runs.insert((first.stream, first.version), run(part)).map_err(storage)?;
        }
        for (name, part) in spans_of(events, |e| category_of(e.event.stream)) {
            self.category_runs.insert((name, part[0].event.position), run(part)).map_err(storage)?;
        }
        for (name, part) in spans_of(events, |e| e.event.event_type) {
            self.type_runs.insert((name, part[0].event.position), run(part)).map_err(storage)?;
        }
        for part in events.chunks(CHUNK_EVENTS_MAX) {
            let first = &part[0];
            self.chunks
                .insert(first.event.position, (part.len() as u64, first.location.segment, first.location.offset))
                .map_err(storage)?;
        }
        for IndexedEvent { event, .. } in events {
            if let Some(described) = described_by_metadata_stream(event.stream) {
                // Only well-formed metadata events take effect; anything else stays a plain event.
                if serde_json::from_slice::<StreamMetadata>(event.data).is_ok() {
                    self.stream_metadata.insert(described, event.data).map_err(storage)?;
                }
            }
        }
        Ok(())
    }

    /// Indexes event ids, one entry each (for idempotent retries).
    pub fn add_ids(&mut self, events: &[IndexedEvent<'_>]) -> Result<(), Error> {
        for IndexedEvent { event, .. } in events {
            self.ids.insert(event.id.as_u128(), event.position).map_err(storage)?;
        }
        Ok(())
    }

    /// Records that the indexes cover every event up to `position`, committed at `timestamp`.
    /// Called once per transaction, after its last [`Self::add_events`].
    pub fn finish(&mut self, position: u64, timestamp: Timestamp) -> Result<(), Error> {
        self.meta.insert(INDEXED_POSITION, position).map_err(storage)?;
        self.times.insert(timestamp.micros(), position).map_err(storage)?;
        Ok(())
    }

    /// Records the indexed position as the log's durable end: only in a durable commit, and only
    /// once the log is fsynced that far (so never in [`crate::SyncMode::Relaxed`], which does not
    /// fsync it).
    pub fn mark_log_durable(&mut self) -> Result<(), Error> {
        let indexed = self.meta.get(INDEXED_POSITION).map_err(storage)?.map(|v| v.value());
        if let Some(position) = indexed {
            self.meta.insert(DURABLE_POSITION, position).map_err(storage)?;
        }
        self.meta.insert(DURABLE_POSITION_KEPT, 1).map_err(storage)?;
        Ok(())
    }
}

/// `(last version, last position)` of a stream run that starts at `first_version`.
fn run_end(first_version: u64, (first_position, count, _, _): RunValue) -> (u64, u64) {
    assert!(count > 0, "runs are never empty");
    (first_version + count - 1, first_position + count - 1)
}

/// Splits `events` into maximal runs of neighbours for which `same(previous, next)` holds.
fn runs_of<'e, 'a>(
    events: &'e [IndexedEvent<'a>],
    same: impl Fn(&IndexedEvent<'a>, &IndexedEvent<'a>) -> bool,
) -> impl Iterator<Item = &'e [IndexedEvent<'a>]> {
    events.chunk_by(move |a, b| same(a, b))
}

/// Splits `events` into spans per name: each starts and ends with an event of its name, and holds at
/// most [`SPAN_FRAMES_PER_MATCH`] events per event of its name. Spans of one name do not overlap.
/// Returned in no particular order.
fn spans_of<'e, 'a>(
    events: &'e [IndexedEvent<'a>],
    name_of: impl Fn(&IndexedEvent<'a>) -> &'a str,
) -> Vec<(&'a str, &'e [IndexedEvent<'a>])> {
    /// An open span: its first and last index into `events`, and how many events of its name it holds.
    struct Open {
        first: usize,
        last: usize,
        matches: usize,
    }
    let mut open: foldhash::HashMap<&'a str, Open> = foldhash::HashMap::default();
    let mut spans = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let name = name_of(event);
        match open.get_mut(name) {
            Some(span) if i - span.first < SPAN_FRAMES_PER_MATCH * (span.matches + 1) => {
                span.last = i;
                span.matches += 1;
            }
            Some(span) => {
                spans.push((name, &events[span.first..=span.last]));
                *span = Open { first: i, last: i, matches: 1 };
            }
            None => {
                open.insert(name, Open { first: i, last: i, matches: 1 });
            }
        }
    }
    spans.extend(open.into_iter().map(|(name, span)| (name, &events[span.first..=span.last])));
    spans
}

/// Which run table to search.
#[derive(Clone, Copy, Debug)]
pub enum RunKind {
    Stream,
    Category,
    Type,
}

/// A read snapshot of the indexes.
pub struct IndexReader {
    txn: redb::ReadTransaction,
    /// The tables the writer asks for once or twice per append, opened once per snapshot: opening a
    /// table searches redb's table of tables, which costs as much as the lookup itself.
    stream_runs: OnceCell<ReadOnlyTable<(&'static str, u64), RunValue>>,
    ids: OnceCell<ReadOnlyTable<u128, u64>>,
}

impl IndexReader {
    fn new(txn: redb::ReadTransaction) -> Self {
        IndexReader { txn, stream_runs: OnceCell::new(), ids: OnceCell::new() }
    }

    fn cached<'r, K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        cell: &'r OnceCell<ReadOnlyTable<K, V>>,
        def: TableDefinition<'static, K, V>,
    ) -> Result<&'r ReadOnlyTable<K, V>, Error> {
        if let Some(table) = cell.get() {
            return Ok(table);
        }
        let table = self.txn.open_table(def).map_err(storage)?;
        Ok(cell.get_or_init(|| table))
    }

    fn runs_table(&self, kind: RunKind) -> Result<ReadOnlyTable<(&'static str, u64), RunValue>, Error> {
        let def = match kind {
            RunKind::Stream => STREAM_RUNS,
            RunKind::Category => CATEGORY_RUNS,
            RunKind::Type => TYPE_RUNS,
        };
        self.txn.open_table(def).map_err(storage)
    }

    /// The position the indexes cover up to.
    pub fn indexed_position(&self) -> Result<Option<u64>, Error> {
        self.meta(INDEXED_POSITION)
    }

    /// The indexed position of the last durable commit (`durable_position`): `Ok(None)` if
    /// the index cannot tell (made by an older build), `Ok(Some(None))` if none was checkpointed.
    pub fn durable_position(&self) -> Result<Option<Option<u64>>, Error> {
        let kept = self.meta(DURABLE_POSITION_KEPT)?.is_some();
        Ok(kept.then_some(self.meta(DURABLE_POSITION)?))
    }

    fn meta(&self, key: &str) -> Result<Option<u64>, Error> {
        let meta = self.txn.open_table(META).map_err(storage)?;
        Ok(meta.get(key).map_err(storage)?.map(|v| v.value()))
    }

    /// `(head version, head position)` of a stream: the end of its last run.
    pub fn stream_head(&self, stream: &str) -> Result<Option<(u64, u64)>, Error> {
        let table = self.cached(&self.stream_runs, STREAM_RUNS)?;
        let last = table.range((stream, 0)..=(stream, u64::MAX)).map_err(storage)?.next_back();
        Ok(last.transpose().map_err(storage)?.map(|(key, run)| run_end(key.value().1, run.value())))
    }

    /// The stream's metadata (default when none was set).
    pub fn stream_metadata(&self, stream: &str) -> Result<StreamMetadata, Error> {
        let table = self.txn.open_table(STREAM_METADATA).map_err(storage)?;
        let Some(json) = table.get(stream).map_err(storage)? else {
            return Ok(StreamMetadata::default());
        };
        serde_json::from_slice(json.value()).map_err(storage)
    }

    /// Streams after `after`, by name, with their heads; at most `limit`, plus whether more follow.
    ///
    /// Two steps in `stream_runs` per stream, however many runs it has: the first run after the
    /// previous stream's last names the next stream, and one backward step finds its last run.
    pub fn list_streams(&self, after: Option<&str>, limit: usize) -> Result<(Vec<StreamHead>, bool), Error> {
        use std::ops::Bound::{Excluded, Unbounded};
        let table = self.cached(&self.stream_runs, STREAM_RUNS)?;
        let mut out = Vec::with_capacity(limit.min(1024));
        let mut previous: Option<String> = after.map(str::to_owned);
        loop {
            let next = match previous.as_deref() {
                Some(name) => table.range::<(&str, u64)>((Excluded((name, u64::MAX)), Unbounded)),
                None => table.range::<(&str, u64)>(..),
            }
            .map_err(storage)?
            .next()
            .transpose()
            .map_err(storage)?;
            let Some((key, _)) = next else { return Ok((out, false)) };
            if out.len() == limit {
                return Ok((out, true));
            }
            let stream = key.value().0.to_owned();
            let (version, position) = self
                .stream_head(&stream)?
                .ok_or_else(|| Error::storage(format!("the index lost the last run of {stream} while listing")))?;
            out.push(StreamHead { stream: stream.clone(), version, position });
            previous = Some(stream);
        }
    }

    /// Where an event id is stored.
    pub fn position_of_id(&self, id: &Uuid) -> Result<Option<u64>, Error> {
        let table = self.cached(&self.ids, IDS)?;
        Ok(table.get(id.as_u128()).map_err(storage)?.map(|v| v.value()))
    }

    /// The last position committed at or before `time`.
    pub fn position_at(&self, time: Timestamp) -> Result<Option<u64>, Error> {
        let table = self.txn.open_table(TIMES).map_err(storage)?;
        let last = table.range(..=time.micros()).map_err(storage)?.next_back();
        Ok(last.transpose().map_err(storage)?.map(|(_, p)| p.value()))
    }

    /// The append chunk holding `position`, as a run whose cursor is a position.
    pub fn chunk_at(&self, position: u64) -> Result<Option<Run>, Error> {
        let table = self.txn.open_table(CHUNKS).map_err(storage)?;
        let found = table.range(..=position).map_err(storage)?.next_back().transpose().map_err(storage)?;
        Ok(found.map(|(first, value)| {
            let (count, segment, offset) = value.value();
            let first = first.value();
            Run { first_cursor: first, first_position: first, count, location: Location { segment, offset } }
        }))
    }

    /// Append chunks from the one holding `position` downwards, newest first; at most `chunks_max`.
    pub fn chunks_backward(&self, position: u64, chunks_max: usize) -> Result<Vec<Run>, Error> {
        let table = self.txn.open_table(CHUNKS).map_err(storage)?;
        let mut out = Vec::new();
        for entry in table.range(..=position).map_err(storage)?.rev().take(chunks_max) {
            let (first, value) = entry.map_err(storage)?;
            let (count, segment, offset) = value.value();
            let first = first.value();
            out.push(Run { first_cursor: first, first_position: first, count, location: Location { segment, offset } });
        }
        Ok(out)
    }

    /// Runs of `name`, starting with the run that holds `cursor` (or the first after it), in order.
    /// Stops after `runs_max` runs.
    pub fn runs_forward(&self, kind: RunKind, name: &str, cursor: u64, runs_max: usize) -> Result<Vec<Run>, Error> {
        let table = self.runs_table(kind)?;
        let holding =
            table.range((name, 0)..=(name, cursor)).map_err(storage)?.next_back().transpose().map_err(storage)?;
        let start = match holding {
            Some((key, value)) if key.value().1 + value.value().1 > cursor => key.value().1,
            _ => cursor,
        };
        let mut out = Vec::new();
        for entry in table.range((name, start)..=(name, u64::MAX)).map_err(storage)?.take(runs_max) {
            let (key, value) = entry.map_err(storage)?;
            out.push(to_run(key.value().1, value.value()));
        }
        Ok(out)
    }

    /// Runs of `name` whose first cursor is at or below `cursor`, newest first. At most `runs_max`.
    pub fn runs_backward(&self, kind: RunKind, name: &str, cursor: u64, runs_max: usize) -> Result<Vec<Run>, Error> {
        let table = self.runs_table(kind)?;
        let mut out = Vec::new();
        for entry in table.range((name, 0)..=(name, cursor)).map_err(storage)?.rev().take(runs_max) {
            let (key, value) = entry.map_err(storage)?;
            out.push(to_run(key.value().1, value.value()));
        }
        Ok(out)
    }
}

fn to_run(first_cursor: u64, (first_position, count, segment, offset): RunValue) -> Run {
    Run { first_cursor, first_position, count, location: Location { segment, offset } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn events<'a>(types: &'a [String]) -> Vec<IndexedEvent<'a>> {
        let view = |(position, event_type): (usize, &'a String)| EventView {
            position: position as u64,
            version: 0,
            timestamp: Timestamp::now(),
            id: Uuid::nil(),
            stream: "s",
            event_type,
            data: b"{}",
            metadata: b"{}",
        };
        types
            .iter()
            .enumerate()
            .map(|e| IndexedEvent { event: view(e), location: Location { segment: 0, offset: 0 } })
            .collect()
    }

    #[test]
    fn interleaved_types_share_spans() {
        // Two writers alternating A, B: one span each instead of one entry per event.
        let types: Vec<String> = (0..100).map(|i| if i % 2 == 0 { "A" } else { "B" }.to_owned()).collect();
        let events = events(&types);
        let mut spans: Vec<(&str, u64, usize)> = spans_of(&events, |e| e.event.event_type)
            .into_iter()
            .map(|(n, s)| (n, s[0].event.position, s.len()))
            .collect();
        spans.sort();
        assert_eq!(spans, vec![("A", 0, 99), ("B", 1, 99)]);
    }

    proptest! {
        /// Every event is in exactly one span of its name; spans start and end with their name and
        /// read at most `SPAN_FRAMES_PER_MATCH` frames per event of their name.
        #[test]
        fn spans_cover_each_event_once_within_the_density_bound(
            picks in proptest::collection::vec(0usize..4, 1..300),
        ) {
            let names = ["A", "B", "C", "D"];
            let types: Vec<String> = picks.iter().map(|&p| names[p].to_owned()).collect();
            let events = events(&types);
            let mut covered = vec![0u32; events.len()];
            for (name, span) in spans_of(&events, |e| e.event.event_type) {
                prop_assert_eq!(span[0].event.event_type, name);
                prop_assert_eq!(span[span.len() - 1].event.event_type, name);
                let matches = span.iter().filter(|e| e.event.event_type == name).count();
                prop_assert!(span.len() <= SPAN_FRAMES_PER_MATCH * matches, "{} frames for {} events", span.len(), matches);
                for e in span.iter().filter(|e| e.event.event_type == name) {
                    covered[e.event.position as usize] += 1;
                }
            }
            prop_assert!(covered.iter().all(|&c| c == 1), "coverage {:?}", covered);
        }
    }
}
