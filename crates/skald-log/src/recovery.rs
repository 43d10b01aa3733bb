//! Opening a store: locking the directory, checking segments, cutting a torn tail, and bringing
//! the indexes up to the end of the log. Also `verify` and `rebuild_index` for operators.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use skald_core::{Error, Timestamp};
use tokio::sync::watch;

use crate::format::{decode_frame, EventView, Frame, FRAME_HEADER_BYTES, SEAL_PAYLOAD_BYTES, SEGMENT_HEADER_BYTES};
use crate::index::{Index, IndexedEvent, Location, CHUNK_EVENTS_MAX};
use crate::read::{corrupt, Shared};
use crate::segment::{
    list_segments, scan_segment, segment_file_name, verify_sealed, ActiveSegment, FrameReader, ReadFailure,
    READ_CHUNK_BYTES,
};
use crate::storage::{is_not_found, DirLock, Open, OsStorage, Storage};
use crate::syncer::Failure;
use crate::writer::{Writer, WriterConfig};
use crate::Options;

/// Events replayed into the indexes per transaction while recovering.
const REPLAY_EVENTS_PER_TRANSACTION: usize = 50_000;
/// How often replay reports progress, in events.
const REPLAY_PROGRESS_EVENTS: u64 = 1_000_000;

/// What opening a store repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// A torn tail was cut: the file, the offset it was cut at, the bytes removed and why.
    pub cut_tail: Option<(PathBuf, u64, u64, String)>,
    /// The index was missing or unusable and was rebuilt from the whole log.
    pub index_rebuilt: bool,
    /// Events replayed into the indexes.
    pub replayed_events: u64,
}

pub(crate) struct Recovered {
    pub writer: Writer,
    pub report: RecoveryReport,
    pub lock: Box<dyn DirLock>,
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::storage(format!("{}: {e}", path.display()))
}

pub(crate) fn open(dir: &Path, options: &Options) -> Result<Recovered, Error> {
    let storage = options.storage.as_ref();
    let segments_dir = dir.join("segments");
    storage.create_dir_all(&segments_dir).map_err(io_at(&segments_dir))?;
    let lock_path = dir.join("LOCK");
    let lock = storage.lock(&lock_path).map_err(|error| {
        if error.kind() != std::io::ErrorKind::WouldBlock {
            return io_at(&lock_path)(error);
        }
        Error::storage(format!(
            "{} is in use by another Skald process (it holds {})",
            dir.display(),
            lock_path.display()
        ))
    })?;

    let mut report = RecoveryReport::default();
    let failed = Arc::new(Failure::default());
    let index_path = dir.join("index.redb");
    let mut index = Index::open(storage, &index_path, options.index_cache_bytes)?;
    let (indexed, checkpoint) = match &index {
        Some(index) => last_checkpoint(storage, &segments_dir, index)?,
        None => (None, None),
    };
    let (segment, next_position) = recover_segments(&segments_dir, options, &failed, checkpoint, &mut report)?;

    if index.is_none() || indexed.is_some_and(|p| p >= next_position) {
        // Unusable, or ahead of the log (the log was replaced or cut by hand): start over.
        drop(index.take());
        remove_if_there(storage, &index_path)?;
        index = Index::open(storage, &index_path, options.index_cache_bytes)?;
        report.index_rebuilt = true;
    }
    // A new index file's entry must be durable too, or a power cut takes its checkpoints away.
    storage.sync_dir(dir).map_err(io_at(dir))?;
    let index = index.ok_or_else(|| Error::storage(format!("cannot create {}", index_path.display())))?;
    if !report.index_rebuilt && indexed.is_none() && next_position > 0 {
        report.index_rebuilt = true;
    }
    let shared = Arc::new(Shared::new(options.storage.clone(), segments_dir.clone(), index));
    let replay_from = if report.index_rebuilt { 0 } else { indexed.map_or(0, |p| p + 1) };
    let (replayed, last_timestamp) = replay(&shared, &segments_dir, replay_from, next_position)?;
    report.replayed_events = replayed;
    if let Some(last) = next_position.checked_sub(1) {
        shared.indexed.publish(last);
    }
    if let Some((file, offset, bytes, reason)) = &report.cut_tail {
        tracing::warn!(file = %file.display(), offset, bytes, %reason, "cut a torn tail off the log");
    }

    let committed = watch::Sender::new(next_position.checked_sub(1));
    let writer = Writer {
        shared,
        segment,
        next_position,
        last_timestamp: last_timestamp.unwrap_or_default(),
        committed,
        config: WriterConfig {
            sync: options.sync,
            storage: options.storage.clone(),
            segment_bytes_target: options.segment_bytes_target,
            checkpoint_interval: options.checkpoint_interval,
            checkpoint_events: options.checkpoint_events,
        },
        pending: Default::default(),
        spare_frames: Default::default(),
        last_snapshot: None,
        failed,
    };
    Ok(Recovered { writer, report, lock })
}

/// Removes a file that may not exist.
fn remove_if_there(storage: &dyn Storage, path: &Path) -> Result<(), Error> {
    match storage.remove_file(path) {
        Err(e) if !is_not_found(&e) => Err(io_at(path)(e)),
        _ => Ok(()),
    }
}

/// The last position the index covers, and where the log was known durable: the end of the
/// frame of the last durable commit's position (the indexer fsyncs the log before every durable
/// commit). With nothing indexed yet, nothing is known durable: the start of the log. `None` when
/// it cannot be told (an index of an older build, or that frame is not where the index says:
/// the recovery then takes no damage for a torn write).
fn last_checkpoint(
    storage: &dyn Storage,
    segments_dir: &Path,
    index: &Index,
) -> Result<(Option<u64>, Option<Location>), Error> {
    let reader = index.read()?;
    let indexed = reader.indexed_position()?;
    let durable = match reader.durable_position()? {
        None => return Ok((indexed, None)),
        Some(None) => return Ok((indexed, Some(Location { segment: 0, offset: 0 }))),
        Some(Some(durable)) => durable,
    };
    let Some(chunk) = reader.chunk_at(durable)? else { return Ok((indexed, None)) };
    Ok((indexed, frame_end(storage, segments_dir, chunk.location, durable)?))
}

/// Where the frame of event `position` ends, reading frames from `from` (its chunk's first frame)
/// and across seals. `Ok(None)` if it is not there (a missing or shorter segment: recovery tells
/// those apart); a damaged frame on the way is `corrupt-data`, since a checkpoint proved those
/// bytes durable.
fn frame_end(
    storage: &dyn Storage,
    segments_dir: &Path,
    from: Location,
    position: u64,
) -> Result<Option<Location>, Error> {
    let open = |segment: u64, offset: u64| {
        let path = segments_dir.join(segment_file_name(segment));
        let file = storage.open(&path, Open::Read).ok()?;
        Some((path, FrameReader::new(file, offset).ok()?))
    };
    let Some((mut path, mut reader)) = open(from.segment, from.offset) else { return Ok(None) };
    let mut segment = from.segment;
    // A chunk holds at most CHUNK_EVENTS_MAX events, plus the seals between them.
    for _ in 0..=2 * CHUNK_EVENTS_MAX {
        let frame = match reader.next_frame() {
            Ok(Some((_, frame))) => frame,
            Ok(None) => return Ok(None),
            Err(ReadFailure::Io(e)) => return Err(io_at(&path)(e)),
            Err(ReadFailure::Incomplete { offset }) => {
                return Err(corrupt(&path, offset, "a frame the last checkpoint proved durable is cut short"))
            }
            Err(ReadFailure::Damaged { offset, reason }) => {
                return Err(corrupt(&path, offset, format!("{reason}, in a frame the last checkpoint proved durable")))
            }
        };
        match frame {
            Frame::Event { event, .. } if event.position == position => {
                return Ok(Some(Location { segment, offset: reader.offset() }));
            }
            Frame::Event { event, .. } if event.position > position => return Ok(None),
            Frame::Event { .. } => {}
            Frame::Seal(seal) => {
                segment = seal.last_position + 1;
                let Some(next) = open(segment, SEGMENT_HEADER_BYTES as u64) else { return Ok(None) };
                (path, reader) = next;
            }
        }
    }
    Ok(None)
}

/// Checks sealed segments, recovers the last one, and returns it with the next position.
///
/// `checkpoint` is where the log was last known durable (`None`: unknown, the index being lost):
/// damage in the last segment after it is what a power cut leaves of writes that reached the disk
/// out of order, and is cut like a torn tail; damage before it is `corrupt-data`. What the last
/// segment holds after it is written again and fsynced before anything is served or a next segment
/// is created, because after a failed fsync the page cache may hold bytes that no fsync will ever
/// write (see [`rewrite_durably`]).
fn recover_segments(
    segments_dir: &Path,
    options: &Options,
    failed: &Failure,
    checkpoint: Option<Location>,
    report: &mut RecoveryReport,
) -> Result<(ActiveSegment, u64), Error> {
    let storage = options.storage.as_ref();
    let mut segments = list_segments(storage, segments_dir).map_err(io_at(segments_dir))?;
    // A crash while creating a segment can leave a file without a whole header: it held nothing.
    while let Some((_, path)) = segments.last() {
        let len = storage.open(path, Open::Read).and_then(|f| f.len()).map_err(io_at(path))?;
        if len >= SEGMENT_HEADER_BYTES as u64 || segments.len() == 1 && len > 0 {
            break;
        }
        storage.remove_file(path).map_err(io_at(path))?;
        segments.pop();
    }
    let Some((last_first, last_path)) = segments.last().cloned() else {
        let segment = ActiveSegment::create(storage, segments_dir, 0, failed).map_err(Error::storage)?;
        return Ok((segment, 0));
    };
    let mut expected_first = segments[0].0;
    for (first, path) in &segments[..segments.len() - 1] {
        if *first != expected_first {
            return Err(corrupt(
                path,
                0,
                format!("segment starts at position {first}, but {expected_first} was expected (a segment is missing)"),
            ));
        }
        let seal = read_seal(storage, path)?;
        if options.verify_sealed_on_open {
            if let Some(damage) = verify_sealed(storage, path).map_err(io_at(path))? {
                return Err(corrupt(path, damage.offset, damage.reason));
            }
        }
        expected_first = seal.1 + 1;
    }
    if last_first != expected_first {
        return Err(corrupt(
            &last_path,
            0,
            format!(
                "segment starts at position {last_first}, but {expected_first} was expected (a segment is missing)"
            ),
        ));
    }
    // Offset in the last segment from which nothing is known to be durable.
    let unsynced_from = checkpoint.and_then(|c| match c.segment.cmp(&last_first) {
        std::cmp::Ordering::Less => Some(0),
        std::cmp::Ordering::Equal => Some(c.offset),
        std::cmp::Ordering::Greater => None, // an index ahead of the log: trust nothing
    });
    let scan = match scan_segment(storage, &last_path, unsynced_from).map_err(io_at(&last_path))? {
        Ok(scan) => scan,
        Err(damage) => return Err(corrupt(&last_path, damage.offset, damage.reason)),
    };
    if let Some(durable_end) = unsynced_from.filter(|end| scan.valid_len < *end) {
        // The tail would be cut before bytes a checkpoint proved durable: that is damage, not a tear.
        let reason = scan.cut.map_or_else(|| "the log ends early".to_owned(), |(_, why)| why);
        let reason = format!("{reason}, before the end of the last checkpoint at offset {durable_end}");
        return Err(corrupt(&last_path, scan.valid_len, reason));
    }
    rewrite_durably(storage, &last_path, unsynced_from.unwrap_or(0), scan.valid_len)?;
    let next_position = last_first + scan.event_count;
    if let Some((bytes, reason)) = &scan.cut {
        report.cut_tail = Some((last_path.clone(), scan.valid_len, *bytes, reason.clone()));
    }
    if scan.sealed.is_some() {
        // Crashed after sealing, before the next segment existed; perhaps before the cut of the
        // zeroed tail was durable too (`rewrite_durably` cut it): a segment before the last one
        // must end with its seal.
        let segment = ActiveSegment::create(storage, segments_dir, next_position, failed).map_err(Error::storage)?;
        return Ok((segment, next_position));
    }
    let segment = ActiveSegment::reopen(storage, &last_path, &scan).map_err(io_at(&last_path))?;
    Ok((segment, next_position))
}

/// Writes bytes `from..to` of a segment again, as they read now, cuts the file at `to` (a torn
/// tail, the zeroed tail, zeros after a seal), and fsyncs it all.
///
/// After a failed fsync Linux marks the pages it could not write clean: they still read back, but
/// no later fsync writes them, and a power cut or an eviction takes them away. A store reopened
/// without a power cut would otherwise serve (and acknowledge retries of) appends that were never
/// durable. Writing them again dirties them, so the fsync that follows either makes them durable
/// or fails the open. Bounded by what was written since the last index checkpoint (the whole last
/// segment only when the index is lost).
fn rewrite_durably(storage: &dyn Storage, path: &Path, from: u64, to: u64) -> Result<(), Error> {
    let file = storage.open(path, Open::Write).map_err(io_at(path))?;
    let mut buf = vec![0u8; READ_CHUNK_BYTES.min(to.saturating_sub(from) as usize)];
    let mut at = from;
    while at < to {
        let n = (to - at).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], at).map_err(io_at(path))?;
        file.write_all_at(&buf[..n], at).map_err(io_at(path))?;
        at += n as u64;
    }
    // Cut (or cut again: a cut whose fsync failed may not be durable) so the length is durable too.
    file.set_len(to).and_then(|()| file.sync_all()).map_err(io_at(path))
}

/// Reads the seal frame at the end of a sealed segment: (event count, last position).
fn read_seal(storage: &dyn Storage, path: &Path) -> Result<(u64, u64), Error> {
    let file = storage.open(path, Open::Read).map_err(io_at(path))?;
    let len = file.len().map_err(io_at(path))?;
    let seal_bytes = (FRAME_HEADER_BYTES + SEAL_PAYLOAD_BYTES) as u64;
    let not_sealed = || corrupt(path, len, "a segment before the last one has no valid seal frame at its end");
    if len < SEGMENT_HEADER_BYTES as u64 + seal_bytes {
        return Err(not_sealed());
    }
    let mut bytes = vec![0u8; seal_bytes as usize];
    file.read_exact_at(&mut bytes, len - seal_bytes).map_err(io_at(path))?;
    match decode_frame(&bytes.into()) {
        Ok((Frame::Seal(seal), _)) => Ok((seal.event_count, seal.last_position)),
        _ => Err(not_sealed()),
    }
}

/// Indexes events `from..end` from the segments. Returns how many, and the last timestamp.
fn replay(shared: &Shared, segments_dir: &Path, from: u64, end: u64) -> Result<(u64, Option<Timestamp>), Error> {
    let segments = list_segments(shared.storage.as_ref(), segments_dir).map_err(io_at(segments_dir))?;
    let mut last_timestamp = None;
    if from >= end {
        // Nothing to index; still learn the last timestamp so new events never go back in time.
        if let Some(last) = end.checked_sub(1) {
            last_timestamp = Some(shared.event_at(&shared.index.read()?, last)?.timestamp);
        }
        return Ok((0, last_timestamp));
    }
    let started = Instant::now();
    let start_segment = segments.iter().rev().find(|(first, _)| *first <= from).map(|(f, _)| *f).unwrap_or(0);
    let mut pending: Vec<(skald_core::RecordedEvent, Location)> = Vec::with_capacity(1024);
    let mut batch: Vec<Vec<(skald_core::RecordedEvent, Location)>> = Vec::new();
    let mut batch_events = 0usize;
    let mut replayed = 0u64;
    for (first, path) in segments.iter().filter(|(first, _)| *first >= start_segment) {
        let file = shared.storage.open(path, Open::Read).map_err(io_at(path))?;
        let mut reader = FrameReader::new(file, SEGMENT_HEADER_BYTES as u64).map_err(io_at(path))?;
        loop {
            let frame = match reader.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(ReadFailure::Io(e)) => return Err(io_at(path)(e)),
                Err(ReadFailure::Incomplete { offset } | ReadFailure::Damaged { offset, .. }) => {
                    if pending.is_empty() && batch_events as u64 + replayed + from >= end {
                        break; // past the recovered end
                    }
                    return Err(corrupt(path, offset, "damaged frame inside the recovered log"));
                }
            };
            let (offset, Frame::Event { event, end_of_append }) = frame else { break };
            if event.position >= end {
                break;
            }
            if event.position < from {
                continue;
            }
            pending.push((event, Location { segment: *first, offset }));
            if end_of_append {
                batch_events += pending.len();
                batch.push(std::mem::take(&mut pending));
                if batch_events >= REPLAY_EVENTS_PER_TRANSACTION {
                    last_timestamp = index_batch(shared, &mut batch)?.or(last_timestamp);
                    let before = replayed;
                    replayed += batch_events as u64;
                    batch_events = 0;
                    if replayed / REPLAY_PROGRESS_EVENTS > before / REPLAY_PROGRESS_EVENTS {
                        tracing::info!(replayed, total = end - from, "rebuilding indexes from the log");
                    }
                }
            }
        }
    }
    last_timestamp = index_batch(shared, &mut batch)?.or(last_timestamp);
    replayed += batch_events as u64;
    assert!(pending.is_empty(), "recovery left a partial append after cutting the tail");
    assert_eq!(replayed, end - from, "replay did not reach the end of the recovered log");
    // `recover_segments` rewrote and fsynced the recovered tail: the whole log is durable now.
    shared.index.write(true, |index| index.mark_log_durable())?;
    tracing::info!(replayed, elapsed_ms = started.elapsed().as_millis() as u64, "indexes are up to date");
    Ok((replayed, last_timestamp))
}

/// Indexes whole appends in one transaction; returns the last timestamp.
fn index_batch(
    shared: &Shared,
    batch: &mut Vec<Vec<(skald_core::RecordedEvent, Location)>>,
) -> Result<Option<Timestamp>, Error> {
    let mut last = None;
    shared.index.write(false, |index| {
        let events: Vec<IndexedEvent<'_>> = batch
            .iter()
            .flatten()
            .map(|(e, location)| IndexedEvent { event: EventView::of(e), location: *location })
            .collect();
        index.add_events(&events)?;
        index.add_ids(&events)?;
        // Every append's commit time, so reads as of a time are as exact after a rebuild as before.
        for append in batch.iter() {
            let (last_event, _) = append.last().expect("appends are not empty");
            index.finish(last_event.position, last_event.timestamp)?;
            last = Some(last_event.timestamp);
        }
        Ok(())
    })?;
    batch.clear();
    Ok(last)
}

/// What `verify` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segment files checked.
    pub segments: usize,
    /// Events read and checked.
    pub events: u64,
    /// Problems, each naming a file and offset.
    pub problems: Vec<String>,
    /// A torn tail that opening the store would cut.
    pub torn_tail: Option<String>,
}

/// Reads every frame of every segment and checks checksums, seals and the position sequence.
/// Does not change anything; the store must not be open in another process for a stable answer.
pub fn verify(dir: &Path, progress: impl FnMut(u64)) -> Result<VerifyReport, Error> {
    verify_in(&OsStorage, dir, progress)
}

/// [`verify`] on any storage.
pub fn verify_in(storage: &dyn Storage, dir: &Path, mut progress: impl FnMut(u64)) -> Result<VerifyReport, Error> {
    let segments_dir = dir.join("segments");
    let segments = list_segments(storage, &segments_dir).map_err(io_at(&segments_dir))?;
    let mut report = VerifyReport { segments: segments.len(), ..Default::default() };
    let mut expected = segments.first().map_or(0, |(first, _)| *first);
    for (i, (first, path)) in segments.iter().enumerate() {
        if *first != expected {
            report.problems.push(format!("{}: starts at position {first}, expected {expected}", path.display()));
        }
        match scan_segment(storage, path, None).map_err(io_at(path))? {
            Err(damage) => {
                report.problems.push(format!("{} at offset {}: {}", path.display(), damage.offset, damage.reason));
                // Its event count is unknown: take the next segment's word for where it starts.
                expected = segments.get(i + 1).map_or(expected, |(next, _)| *next);
            }
            Ok(scan) => {
                let last = i + 1 == segments.len();
                if !last && scan.sealed.is_none() {
                    report.problems.push(format!("{}: not sealed, but later segments exist", path.display()));
                }
                if let Some((bytes, reason)) = scan.cut {
                    let text = format!(
                        "{} at offset {}: {bytes} bytes of torn tail ({reason})",
                        path.display(),
                        scan.valid_len
                    );
                    if last {
                        report.torn_tail = Some(text)
                    } else {
                        report.problems.push(text)
                    }
                }
                report.events += scan.event_count;
                expected = first + scan.event_count;
                progress(report.events);
            }
        }
    }
    Ok(report)
}

/// Deletes the index file so that the next open rebuilds it from the log, then opens the store
/// once to do so. Returns the recovery report of that open.
pub fn rebuild_index(dir: &Path, options: Options) -> Result<RecoveryReport, Error> {
    remove_if_there(options.storage.as_ref(), &dir.join("index.redb"))?;
    let store = crate::Store::open(dir, options)?;
    let report = store.recovery_report().clone();
    store.close();
    Ok(report)
}
