//! The read path: turning index runs into events read from segment files.
//!
//! Readers share open file handles (a bounded cache) and never take the writer's lock. Every read
//! is bounded by the committed (fsynced) position and first waits until the index covers it, so a
//! reader can never return an event that a crash could take back, and an appender reads its own
//! events. Category and type runs are spans that may hold other events; reads skip those.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use skald_core::{
    category_of, AsOf, Direction, Error, ReadOptions, ReadPage, RecordedEvent, Selector, StreamInfo, Timestamp,
};

use crate::format::{Frame, SEGMENT_HEADER_BYTES};
use crate::index::{Index, IndexReader, Location, Run, RunKind, StreamHead};
use crate::indexer::IndexedPosition;
use crate::segment::{segment_file_name, FrameReader, ReadFailure};
use crate::storage::{FileRef, Open, Storage};

/// Open segment files kept for readers at most.
pub const OPEN_FILES_MAX: usize = 128;

/// The part of the store that readers and the writer share.
pub struct Shared {
    /// Where every file is read and written.
    pub storage: Arc<dyn Storage>,
    pub segments_dir: PathBuf,
    pub index: Index,
    files: Mutex<HashMap<u64, FileRef>>,
    /// Counters of the write path, for [`crate::Store::stats`].
    pub stats: WriteStats,
    /// How far the index reaches; reads wait for it to cover what they read.
    pub indexed: IndexedPosition,
}

/// Counters of the write path since the store was opened.
#[derive(Debug, Default)]
pub struct WriteStats {
    /// Events written.
    pub events: AtomicU64,
    /// Groups the writer committed (one write each).
    pub groups: AtomicU64,
    /// `fdatasync` batches the syncer ran.
    pub syncs: AtomicU64,
    /// Index transactions the indexer committed (each covers one or more groups).
    pub index_commits: AtomicU64,
}

/// What to tell a user about damaged data: where and what to run.
pub fn corrupt(file: &Path, offset: u64, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        file: file.to_owned(),
        offset,
        reason: reason.into(),
        hint:
            "Run `skald verify --data-dir <dir>` for a full report; restore the segment from the archive or a backup."
                .into(),
    }
}

impl Shared {
    pub fn new(storage: Arc<dyn Storage>, segments_dir: PathBuf, index: Index) -> Self {
        Shared {
            storage,
            segments_dir,
            index,
            files: Mutex::new(HashMap::new()),
            stats: WriteStats::default(),
            indexed: IndexedPosition::new(None),
        }
    }

    fn segment_path(&self, segment: u64) -> PathBuf {
        self.segments_dir.join(segment_file_name(segment))
    }

    /// A shared read handle to a segment file.
    fn file(&self, segment: u64) -> Result<FileRef, Error> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = files.get(&segment) {
            return Ok(file.clone());
        }
        if files.len() >= OPEN_FILES_MAX {
            files.clear();
        }
        let path = self.segment_path(segment);
        let file =
            self.storage.open(&path, Open::Read).map_err(|e| Error::storage(format!("{}: {e}", path.display())))?;
        files.insert(segment, file.clone());
        Ok(file)
    }

    /// Reads frames from `location` on, crossing into following segments, calling `visit` for
    /// each event until it returns false. Events up to `bound` only.
    pub fn scan_from(
        &self,
        location: Location,
        bound: u64,
        mut visit: impl FnMut(RecordedEvent) -> bool,
    ) -> Result<(), Error> {
        let mut segment = location.segment;
        let mut reader = FrameReader::new(self.file(segment)?, location.offset)?;
        loop {
            let next = match reader.next_frame() {
                Ok(next) => next,
                Err(failure) => return Err(self.failure(segment, failure)),
            };
            match next {
                Some((_, Frame::Event { event, .. })) => {
                    if event.position > bound {
                        return Ok(());
                    }
                    let position = event.position;
                    if !visit(event) || position == bound {
                        return Ok(());
                    }
                }
                // End of a sealed segment: the next one starts at the following position.
                Some((_, Frame::Seal(seal))) => {
                    segment = seal.last_position + 1;
                    reader = FrameReader::new(self.file(segment)?, SEGMENT_HEADER_BYTES as u64)?;
                }
                None => return Ok(()),
            }
        }
    }

    fn failure(&self, segment: u64, failure: ReadFailure) -> Error {
        let path = self.segment_path(segment);
        match failure {
            ReadFailure::Io(e) => Error::storage(format!("{}: {e}", path.display())),
            ReadFailure::Incomplete { offset } => corrupt(&path, offset, "frame ends before its declared length"),
            ReadFailure::Damaged { offset, reason } => corrupt(&path, offset, reason),
        }
    }

    /// The events of a run with cursors in `cursors` (cursor = first_cursor + index in run).
    fn run_events(
        &self,
        run: &Run,
        cursors: std::ops::RangeInclusive<u64>,
        bound: u64,
    ) -> Result<Vec<RecordedEvent>, Error> {
        let run_last = run.first_cursor + run.count - 1;
        let (low, high) = ((*cursors.start()).max(run.first_cursor), (*cursors.end()).min(run_last));
        let mut out = Vec::new();
        if low > high {
            return Ok(out);
        }
        let mut cursor = run.first_cursor;
        self.scan_from(run.location, bound, |event| {
            if cursor >= low {
                out.push(event);
            }
            cursor += 1;
            cursor <= high
        })?;
        Ok(out)
    }

    /// The event at `position`.
    pub fn event_at(&self, index: &IndexReader, position: u64) -> Result<RecordedEvent, Error> {
        let chunk = index.chunk_at(position)?.filter(|c| position < c.first_position + c.count);
        let chunk = chunk.ok_or_else(|| Error::storage(format!("no index entry for position {position}")))?;
        self.run_events(&chunk, position..=position, position)?
            .pop()
            .ok_or_else(|| Error::storage(format!("position {position} is indexed but not in the log")))
    }

    /// Reads a page for any selector.
    pub fn read(&self, selector: &Selector, options: ReadOptions, committed: Option<u64>) -> Result<ReadPage, Error> {
        options.validate()?;
        let index = self.index.read()?;
        let bound = match (committed, options.as_of) {
            (None, _) => None,
            (Some(head), None) => Some(head),
            (Some(head), Some(AsOf::Position(p))) => Some(p.min(head)),
            (Some(head), Some(AsOf::Time(t))) => index.position_at(t)?.map(|p| p.min(head)),
        };
        match selector {
            Selector::Stream(stream) => self.read_stream(&index, stream, options, bound),
            Selector::All => match bound {
                None => Ok(ReadPage { events: Vec::new(), next: None }),
                Some(bound) => self.read_all(&index, options, bound),
            },
            Selector::Category(name) => self.read_runs(&index, RunKind::Category, name, options, bound),
            Selector::Type(name) => self.read_runs(&index, RunKind::Type, name, options, bound),
        }
    }

    fn read_all(&self, index: &IndexReader, options: ReadOptions, bound: u64) -> Result<ReadPage, Error> {
        let wanted = options.limit + 1; // one more tells whether a next page exists
        let mut events = Vec::with_capacity(wanted.min(4096));
        match options.direction {
            Direction::Forward => {
                let from = options.from.unwrap_or(0);
                if from <= bound {
                    if let Some(chunk) = index.chunk_at(from)? {
                        self.scan_from(chunk.location, bound, |event| {
                            if event.position >= from {
                                events.push(event);
                            }
                            events.len() < wanted
                        })?;
                    }
                }
            }
            Direction::Backward => {
                let from = options.from.unwrap_or(bound).min(bound);
                for chunk in index.chunks_backward(from, wanted)? {
                    let mut part = self.run_events(&chunk, chunk.first_cursor..=from, bound)?;
                    part.reverse();
                    events.extend(part);
                    if events.len() >= wanted {
                        break;
                    }
                }
            }
        }
        Ok(finish_page(events, options.limit, |e| e.position))
    }

    fn read_runs(
        &self,
        index: &IndexReader,
        kind: RunKind,
        name: &str,
        options: ReadOptions,
        bound: Option<u64>,
    ) -> Result<ReadPage, Error> {
        let Some(bound) = bound else {
            return Ok(ReadPage { events: Vec::new(), next: None });
        };
        // Category and type runs are spans that may hold other events (see `crate::index`).
        let named = |event: &RecordedEvent| match kind {
            RunKind::Stream => event.stream == name,
            RunKind::Category => category_of(&event.stream) == name,
            RunKind::Type => event.event_type == name,
        };
        let events = self.collect_runs(index, kind, name, options, bound, bound, named)?;
        Ok(finish_page(events, options.limit, |e| e.position))
    }

    /// Walks runs in the asked direction, keeping events with cursors up to `cursor_max` that
    /// `keep` accepts, until one more than the limit is found.
    #[allow(clippy::too_many_arguments)]
    fn collect_runs(
        &self,
        index: &IndexReader,
        kind: RunKind,
        name: &str,
        options: ReadOptions,
        cursor_max: u64,
        bound: u64,
        keep: impl Fn(&RecordedEvent) -> bool,
    ) -> Result<Vec<RecordedEvent>, Error> {
        let wanted = options.limit + 1;
        let mut events = Vec::new();
        match options.direction {
            Direction::Forward => {
                let mut from = options.from.unwrap_or(0);
                'runs: while from <= cursor_max {
                    let runs = index.runs_forward(kind, name, from, wanted)?;
                    if runs.is_empty() {
                        break;
                    }
                    for run in &runs {
                        if run.first_position > bound {
                            break 'runs;
                        }
                        for event in self.run_events(run, from..=cursor_max, bound)? {
                            if keep(&event) {
                                events.push(event);
                                if events.len() >= wanted {
                                    break 'runs;
                                }
                            }
                        }
                        from = run.first_cursor + run.count;
                    }
                }
            }
            Direction::Backward => {
                let mut from = options.from.unwrap_or(cursor_max).min(cursor_max);
                'back: loop {
                    let runs = index.runs_backward(kind, name, from, wanted)?;
                    if runs.is_empty() {
                        break;
                    }
                    for run in &runs {
                        let mut part = self.run_events(run, run.first_cursor..=from, bound)?;
                        part.reverse();
                        for event in part {
                            if keep(&event) {
                                events.push(event);
                                if events.len() >= wanted {
                                    break 'back;
                                }
                            }
                        }
                        match run.first_cursor.checked_sub(1) {
                            Some(before) => from = before,
                            None => break 'back,
                        }
                    }
                }
            }
        }
        Ok(events)
    }

    fn read_stream(
        &self,
        index: &IndexReader,
        stream: &str,
        options: ReadOptions,
        bound: Option<u64>,
    ) -> Result<ReadPage, Error> {
        let not_found = || Error::StreamNotFound { stream: stream.to_owned() };
        let (head, _) = committed_head(index, stream, bound)?.ok_or_else(not_found)?;
        let bound = bound.ok_or_else(not_found)?;
        let metadata = index.stream_metadata(stream)?;
        if metadata.hides_whole_stream(head) {
            return Err(Error::StreamDeleted { stream: stream.to_owned() });
        }
        let first = metadata.first_visible_version(head);
        let now = Timestamp::now();
        let visible = |e: &RecordedEvent| metadata.is_visible(e.version, e.timestamp, head, now);
        let options = match options.direction {
            Direction::Forward => ReadOptions { from: Some(options.from.unwrap_or(0).max(first)), ..options },
            Direction::Backward => {
                let from = options.from.unwrap_or(head).min(head);
                if from < first {
                    return Ok(ReadPage { events: Vec::new(), next: None });
                }
                options
            }
        };
        let mut events = self.collect_runs(index, RunKind::Stream, stream, options, head, bound, visible)?;
        if options.direction == Direction::Backward {
            events.retain(|e| e.version >= first);
        }
        Ok(finish_page(events, options.limit, |e| e.version))
    }

    /// What is known about a stream, as of the committed position.
    pub fn stream_info(&self, stream: &str, committed: Option<u64>) -> Result<StreamInfo, Error> {
        let index = self.index.read()?;
        let head = committed_head(&index, stream, committed)?;
        let (head_version, head_position) = head.ok_or_else(|| Error::StreamNotFound { stream: stream.to_owned() })?;
        Ok(StreamInfo {
            stream: stream.to_owned(),
            head_version,
            head_position,
            metadata: index.stream_metadata(stream)?,
        })
    }

    /// Metadata of many streams for a listing, as of the committed position.
    pub fn stream_infos(
        &self,
        index: &IndexReader,
        heads: Vec<StreamHead>,
        committed: Option<u64>,
    ) -> Result<Vec<StreamInfo>, Error> {
        let mut infos = Vec::with_capacity(heads.len());
        for head in heads {
            let (head_version, head_position) = if committed.is_some_and(|c| head.position <= c) {
                (head.version, head.position)
            } else {
                // Written but not yet durable: show the stream as it was at the committed position.
                match committed_head(index, &head.stream, committed)? {
                    Some(older) => older,
                    None => continue,
                }
            };
            let metadata = index.stream_metadata(&head.stream)?;
            infos.push(StreamInfo { stream: head.stream, head_version, head_position, metadata });
        }
        Ok(infos)
    }
}

/// `(version, position)` of a stream's newest committed event.
fn committed_head(index: &IndexReader, stream: &str, committed: Option<u64>) -> Result<Option<(u64, u64)>, Error> {
    let (Some(head), Some(bound)) = (index.stream_head(stream)?, committed) else {
        return Ok(None);
    };
    if head.1 <= bound {
        return Ok(Some(head));
    }
    stream_head_as_of(index, stream, bound)
}

/// `(version, position)` of a stream's newest event at or below position `bound`.
fn stream_head_as_of(index: &IndexReader, stream: &str, bound: u64) -> Result<Option<(u64, u64)>, Error> {
    let mut cursor = u64::MAX;
    loop {
        let runs = index.runs_backward(RunKind::Stream, stream, cursor, 64)?;
        if runs.is_empty() {
            return Ok(None);
        }
        for run in &runs {
            if run.first_position <= bound {
                let offset = (bound - run.first_position).min(run.count - 1);
                return Ok(Some((run.first_cursor + offset, run.first_position + offset)));
            }
            match run.first_cursor.checked_sub(1) {
                Some(before) => cursor = before,
                None => return Ok(None),
            }
        }
    }
}

/// Cuts a list of `limit + 1` candidates into a page and the next cursor.
fn finish_page(mut events: Vec<RecordedEvent>, limit: usize, cursor: impl Fn(&RecordedEvent) -> u64) -> ReadPage {
    let next = if events.len() > limit {
        events.truncate(limit + 1);
        events.pop().map(|e| cursor(&e))
    } else {
        None
    };
    ReadPage { events, next }
}
