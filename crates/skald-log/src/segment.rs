//! Segment files: creating, appending, sealing, and reading frames back.
//!
//! A segment is written by exactly one [`ActiveSegment`] (owned by the writer thread) and read by
//! any number of [`FrameReader`]s through positioned reads, so readers never move a shared cursor.
//! The layout of the bytes is specified in [`crate::format`].
//!
//! After small groups the active segment keeps at least [`PREALLOCATE_BYTES`] of written zeros
//! past its last frame (big groups do not: [`ZEROED_GROUP_BYTES_MAX`]). Overwriting blocks the
//! file already has needs no metadata change, so the `fdatasync` after a group is one data write
//! and a cache flush; appending to the end of a file would also commit the file system's journal
//! (new blocks, new size) every time. On this machine kind that made an fsync ~150 µs instead of
//! ~100 µs. Zeros are never a frame (a frame declares at least 2 bytes), so recovery reads a
//! zeroed tail as the end of the log, and sealing cuts it off.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use skald_core::Timestamp;

use crate::format::{decode_frame, Frame, FrameError, Seal, SegmentHeader, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use crate::storage::{FileRef, Open, Storage};
use crate::syncer::Failure;

/// Bytes a reader fetches per positioned read, at most: a scan's reads double from
/// [`READ_CHUNK_MIN_BYTES`] up to this.
pub const READ_CHUNK_BYTES: usize = 256 * 1024;
/// A reader's first positioned read. Small because a live reader (a subscription at the tail)
/// wants one or two frames, and past the last frame of the active segment lie zeros it would
/// copy for nothing: reading 256 KiB per live read made subscribers fall tens of ms behind.
pub const READ_CHUNK_MIN_BYTES: usize = 4 * 1024;
/// Written zeros kept ahead of the active segment's last frame, at least (see the module docs).
pub const PREALLOCATE_BYTES: u64 = 1024 * 1024;
/// The zeroed tail grows by steps of this size. Each step costs the next fsync a journal commit
/// and this many bytes of writeback: whole-MiB steps lifted the p99 of 64 writers from ~4 ms to
/// ~6 ms here.
pub const ZEROED_STEP_BYTES: u64 = 256 * 1024;
/// Groups larger than this do not extend the zeroed tail. Zeros cost each byte a second write and
/// writeback; that pays for small groups (a journal commit saved per fsync, ~50 µs here, against a
/// few KiB written twice) but not for batches, whose own write dominates their fsync: with zeros
/// after every group, batches of 1,000 events fell from ~1.1 M to ~0.75 M events/s.
pub const ZEROED_GROUP_BYTES_MAX: usize = 64 * 1024;
/// What the zeroed tail is written from (in the zero-initialised data segment: costs nothing).
static ZEROS: [u8; ZEROED_STEP_BYTES as usize] = [0; ZEROED_STEP_BYTES as usize];
/// Frames examined after a damaged frame when telling a torn tail from damage inside the log.
const DAMAGE_SEARCH_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// The file name of the segment whose first event has `first_position`.
pub fn segment_file_name(first_position: u64) -> String {
    format!("{first_position:020}.seg")
}

/// Parses a segment file name back to its first position.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
}

/// Segment files of `dir`, ordered by first position.
pub fn list_segments(storage: &dyn Storage, dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut segments: Vec<(u64, PathBuf)> = storage
        .list(dir)?
        .into_iter()
        .filter_map(|name| Some((parse_segment_file_name(&name)?, dir.join(name))))
        .collect();
    segments.sort();
    Ok(segments)
}

/// The segment the writer appends to.
pub struct ActiveSegment {
    file: FileRef,
    path: PathBuf,
    header: SegmentHeader,
    /// Bytes of the header and frames.
    len: u64,
    /// Bytes in the file: `len` plus the zeroed tail.
    zeroed_to: u64,
    /// Running CRC32C of everything after the header (becomes the seal's `body_crc`).
    body_crc: u32,
    event_count: u64,
    /// The seal frame is written: nothing more is.
    sealed: bool,
}

impl ActiveSegment {
    /// Creates a new, empty segment and makes its existence durable (its fsync through `failed`,
    /// like every fsync of the log: a failed one stops the store). A failure removes the file again
    /// (as far as it can), so that the creation can be tried again.
    pub fn create(storage: &dyn Storage, dir: &Path, first_position: u64, failed: &Failure) -> Result<Self, String> {
        let path = dir.join(segment_file_name(first_position));
        let header = SegmentHeader { first_position, created: Timestamp::now() };
        let named = |error: std::io::Error| format!("{}: {error}", path.display());
        let file = storage.open(&path, Open::CreateNew).map_err(named)?;
        let made_durable = file
            .write_all_at(&header.encode(), 0)
            .map_err(named)
            .and_then(|()| failed.sync(file.as_ref()))
            .and_then(|()| storage.sync_dir(dir).map_err(named));
        if let Err(error) = made_durable {
            // Holds nothing: recovery would remove it too (a file without a whole header).
            let _ = storage.remove_file(&path);
            return Err(error);
        }
        Ok(ActiveSegment {
            file,
            path,
            header,
            len: SEGMENT_HEADER_BYTES as u64,
            zeroed_to: SEGMENT_HEADER_BYTES as u64,
            body_crc: 0,
            event_count: 0,
            sealed: false,
        })
    }

    /// Reopens a segment after recovery has found its valid length, cutting anything beyond it
    /// (a zeroed tail too: the next append writes a new one).
    pub fn reopen(storage: &dyn Storage, path: &Path, tail: &TailScan) -> std::io::Result<Self> {
        let file = storage.open(path, Open::Write)?;
        if file.len()? != tail.valid_len {
            file.set_len(tail.valid_len)?;
            file.sync_all()?;
        }
        Ok(ActiveSegment {
            file,
            path: path.to_owned(),
            header: tail.header,
            len: tail.valid_len,
            zeroed_to: tail.valid_len,
            body_crc: tail.body_crc,
            event_count: tail.event_count,
            sealed: false,
        })
    }

    /// Position of the first event of this segment.
    pub fn first_position(&self) -> u64 {
        self.header.first_position
    }

    /// Bytes of the header and frames (the zeroed tail not counted).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no event was written yet.
    pub fn is_empty(&self) -> bool {
        self.event_count == 0
    }

    /// Writes encoded frames holding `events` events after the last frame (not yet durable), and,
    /// after a small group, zeros past them when fewer than [`PREALLOCATE_BYTES`] are left.
    pub fn append(&mut self, frames: &[u8], events: u64) -> std::io::Result<()> {
        assert!(!self.sealed, "a sealed segment is never written again");
        self.file.write_all_at(frames, self.len)?;
        let end = self.len + frames.len() as u64;
        if frames.len() > ZEROED_GROUP_BYTES_MAX {
            // Big groups (batches) just grow the file: see ZEROED_GROUP_BYTES_MAX.
            self.zeroed_to = self.zeroed_to.max(end);
        } else if self.zeroed_to < end + PREALLOCATE_BYTES {
            let from = self.zeroed_to.max(end);
            let to = (end + PREALLOCATE_BYTES).next_multiple_of(ZEROED_STEP_BYTES);
            for start in (from..to).step_by(ZEROS.len()) {
                let n = (to - start).min(ZEROS.len() as u64) as usize;
                self.file.write_all_at(&ZEROS[..n], start)?;
            }
            self.zeroed_to = to;
        }
        assert!(self.zeroed_to >= end, "the file holds every frame written");
        self.len = end;
        self.body_crc = crc32c::crc32c_append(self.body_crc, frames);
        self.event_count += events;
        Ok(())
    }

    /// The file, for syncing it from another thread.
    pub fn file(&self) -> FileRef {
        self.file.clone()
    }

    /// Whether the seal frame is written.
    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// Cuts the file back to `mark` after a failed write, and makes the cut durable (through
    /// `failed`, like every fsync of the log) before anything is written there again. Otherwise a
    /// power cut could keep sectors of the failed write beside sectors of the next write at the
    /// same offsets: every frame valid, together a log that never was (simulation seed 100007 of
    /// the second soak: two refused appends came back with the same stream version).
    pub fn cut_back(&mut self, mark: Mark, failed: &Failure) -> Result<(), String> {
        let Mark { len, body_crc, event_count } = mark;
        self.file.set_len(len).map_err(|e| format!("could not cut back a failed write: {e}"))?;
        self.len = len;
        self.zeroed_to = len;
        self.body_crc = body_crc;
        self.event_count = event_count;
        failed.sync(self.file.as_ref())
    }

    /// The running state to go back to with [`Self::cut_back`].
    pub fn mark(&self) -> Mark {
        Mark { len: self.len, body_crc: self.body_crc, event_count: self.event_count }
    }

    /// Writes the seal frame, cuts the zeroed tail, and makes the segment durable (through
    /// `failed`, like every fsync of the log). It is never written again. (A crash before the cut
    /// is durable leaves zeros after the seal; recovery accepts those and cuts them.) A failed
    /// write is cut back ([`Self::cut_back`]), so sealing can be tried again.
    pub fn seal(&mut self, failed: &Failure) -> Result<PathBuf, String> {
        assert!(self.event_count > 0, "an empty segment is never sealed");
        assert!(!self.sealed, "a segment is sealed once");
        let seal = Seal {
            last_position: self.header.first_position + self.event_count - 1,
            event_count: self.event_count,
            body_crc: self.body_crc,
        };
        let mut frame = BytesMut::new();
        seal.encode_into(&mut frame);
        let mark = self.mark();
        let written = self.file.write_all_at(&frame, self.len);
        if let Err(error) = written.and_then(|()| self.file.set_len(self.len + frame.len() as u64)) {
            self.cut_back(mark, failed)?;
            return Err(format!("cannot seal the segment: {error}"));
        }
        self.sealed = true;
        failed.sync(self.file.as_ref())?;
        Ok(self.path.clone())
    }
}

/// Where an [`ActiveSegment`] stood before a write: its length, body CRC and event count.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    len: u64,
    body_crc: u32,
    event_count: u64,
}

/// Reads frames one after another from an offset, with large positioned reads.
pub struct FrameReader {
    file: FileRef,
    /// File offset of `buf[0]`.
    offset: u64,
    buf: Bytes,
    file_len: u64,
    /// Bytes the next positioned read fetches (doubles up to [`READ_CHUNK_BYTES`]).
    chunk: usize,
    /// The encoded bytes of the frame returned last.
    last_frame: Bytes,
}

/// A frame could not be read at `offset`.
#[derive(Debug)]
pub enum ReadFailure {
    /// The file ends inside the frame.
    Incomplete { offset: u64 },
    /// The frame is damaged.
    Damaged { offset: u64, reason: String },
    /// The file could not be read.
    Io(std::io::Error),
}

impl FrameReader {
    /// A reader starting at `offset` of `file`.
    pub fn new(file: FileRef, offset: u64) -> std::io::Result<Self> {
        let file_len = file.len()?;
        Ok(FrameReader {
            file,
            offset,
            buf: Bytes::new(),
            file_len,
            chunk: READ_CHUNK_MIN_BYTES,
            last_frame: Bytes::new(),
        })
    }

    /// Offset of the next frame.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The encoded bytes of the frame [`Self::next_frame`] returned last.
    pub fn last_frame_bytes(&self) -> &Bytes {
        &self.last_frame
    }

    /// The next frame and its offset, or `None` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<(u64, Frame)>, ReadFailure> {
        loop {
            match decode_frame(&self.buf) {
                Ok((frame, used)) => {
                    let at = self.offset;
                    self.last_frame = self.buf.slice(..used);
                    self.buf = self.buf.slice(used..);
                    self.offset += used as u64;
                    return Ok(Some((at, frame)));
                }
                Err(FrameError::Damaged(reason)) => return Err(ReadFailure::Damaged { offset: self.offset, reason }),
                Err(FrameError::Incomplete) => {
                    let buffered_end = self.offset + self.buf.len() as u64;
                    if buffered_end >= self.file_len {
                        return if self.buf.is_empty() {
                            Ok(None)
                        } else {
                            Err(ReadFailure::Incomplete { offset: self.offset })
                        };
                    }
                    self.refill().map_err(ReadFailure::Io)?;
                }
            }
        }
    }

    /// Keeps the unread bytes and reads at least one more chunk, or enough for the declared frame.
    fn refill(&mut self) -> std::io::Result<()> {
        let declared = if self.buf.len() >= FRAME_HEADER_BYTES {
            FRAME_HEADER_BYTES + u32::from_le_bytes(self.buf[..4].try_into().expect("4 bytes")) as usize
        } else {
            0
        };
        let want = self.chunk.max(declared).max(self.buf.len() + self.chunk);
        self.chunk = (self.chunk * 2).min(READ_CHUNK_BYTES);
        let end = (self.offset + want as u64).min(self.file_len);
        let mut fresh = vec![0u8; (end - self.offset) as usize];
        fresh[..self.buf.len()].copy_from_slice(&self.buf);
        let mut have = self.buf.len();
        while have < fresh.len() {
            match self.file.read_at(&mut fresh[have..], self.offset + have as u64) {
                // Sealing cut the zeroed tail after this reader learnt the length: the file ends here.
                Ok(0) => {
                    fresh.truncate(have);
                    self.file_len = self.offset + have as u64;
                    break;
                }
                Ok(n) => have += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf = Bytes::from(fresh);
        Ok(())
    }
}

/// What recovery found in the last segment.
#[derive(Debug)]
pub struct TailScan {
    pub header: SegmentHeader,
    /// Bytes up to the end of the last whole append.
    pub valid_len: u64,
    pub body_crc: u32,
    pub event_count: u64,
    /// The segment ends with a seal frame.
    pub sealed: Option<Seal>,
    /// Bytes cut off beyond `valid_len`, and why.
    pub cut: Option<(u64, String)>,
}

/// A damaged frame with valid frames after it: data inside the log is lost.
#[derive(Debug)]
pub struct DamageInside {
    pub offset: u64,
    pub reason: String,
}

/// Reads a segment from its header to its end, checking every frame and the position sequence.
///
/// A damaged or incomplete frame after which no valid frame follows is a torn tail: the scan
/// reports where the last whole append ends. A damaged frame followed by a valid one (or a frame
/// out of sequence) is [`DamageInside`] — unless it lies at or after `unsynced_from`, the offset
/// from which nothing was known to be durable: a power cut can keep later writes and lose earlier
/// ones there (writeback has no order), so that too is a torn tail, cut and reported.
pub fn scan_segment(
    storage: &dyn Storage,
    path: &Path,
    unsynced_from: Option<u64>,
) -> std::io::Result<Result<TailScan, DamageInside>> {
    let file = storage.open(path, Open::Read)?;
    let mut header_bytes = [0u8; SEGMENT_HEADER_BYTES];
    let file_len = file.len()?;
    if file_len < SEGMENT_HEADER_BYTES as u64 {
        return Ok(Err(DamageInside { offset: 0, reason: "file is shorter than a segment header".into() }));
    }
    file.read_exact_at(&mut header_bytes, 0)?;
    let header = match SegmentHeader::decode(&header_bytes) {
        Ok(header) => header,
        Err(reason) => return Ok(Err(DamageInside { offset: 0, reason })),
    };
    let mut reader = FrameReader::new(file.clone(), SEGMENT_HEADER_BYTES as u64)?;
    let mut scan = TailScan {
        header,
        valid_len: SEGMENT_HEADER_BYTES as u64,
        body_crc: 0,
        event_count: 0,
        sealed: None,
        cut: None,
    };
    // State up to the last frame read, which may be inside an append that is not complete yet.
    let (mut crc, mut count) = (0u32, 0u64);
    let mut expected_position = header.first_position;
    // Damage at `offset`: inside the log, or a torn tail when nothing there was known durable.
    let damage = |offset: u64, reason: String| match unsynced_from {
        Some(from) if offset >= from => {
            Ok(Some((offset, format!("{reason}, in bytes written after the last checkpoint"))))
        }
        _ => Err(DamageInside { offset, reason }),
    };
    let failure = loop {
        let frame_start = reader.offset();
        match reader.next_frame() {
            Ok(None) => break None,
            Ok(Some((_, Frame::Event { event, end_of_append }))) => {
                if event.position != expected_position {
                    let reason = format!("event position {} where {} was expected", event.position, expected_position);
                    match damage(frame_start, reason) {
                        Ok(torn) => break torn,
                        Err(inside) => return Ok(Err(inside)),
                    }
                }
                expected_position += 1;
                count += 1;
                crc = crc32c::crc32c_append(crc, reader.last_frame_bytes());
                if end_of_append {
                    scan.valid_len = reader.offset();
                    scan.body_crc = crc;
                    scan.event_count = count;
                }
            }
            Ok(Some((_, Frame::Seal(seal)))) => {
                if scan.valid_len != frame_start || seal.body_crc != scan.body_crc || seal.event_count != count {
                    match damage(frame_start, "seal does not match the segment's events".to_owned()) {
                        Ok(torn) => break torn,
                        Err(inside) => return Ok(Err(inside)),
                    }
                }
                scan.sealed = Some(seal);
                scan.valid_len = reader.offset();
                break None;
            }
            Err(ReadFailure::Io(e)) => return Err(e),
            Err(ReadFailure::Incomplete { offset }) => break Some((offset, "the last frame is incomplete".to_owned())),
            Err(ReadFailure::Damaged { offset, reason }) => {
                if is_zero(&file, offset, file_len)? {
                    break None; // the zeroed tail
                }
                if let Some(valid_at) = find_frame_after(&file, offset, file_len)? {
                    match damage(offset, format!("{reason} (a valid frame follows at offset {valid_at})")) {
                        Ok(torn) => break torn,
                        Err(inside) => return Ok(Err(inside)),
                    }
                }
                break Some((offset, reason));
            }
        }
    };
    // Zeros after the last whole append (or the seal) are the preallocated tail, not damage.
    let zero_tail = is_zero(&file, scan.valid_len, file_len)?;
    if scan.sealed.is_some() && scan.valid_len < file_len && !zero_tail {
        let reason = "bytes after the seal".to_owned();
        return Ok(Err(DamageInside { offset: scan.valid_len, reason }));
    }
    if scan.valid_len < file_len && !zero_tail {
        let reason = failure.map_or_else(|| "an append that did not finish".to_owned(), |(_, why)| why);
        scan.cut = Some((file_len - scan.valid_len, reason));
    }
    Ok(Ok(scan))
}

/// Whether bytes `from..to` of `file` are all zero. Reads in chunks and stops at the first other byte.
fn is_zero(file: &FileRef, from: u64, to: u64) -> std::io::Result<bool> {
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    let mut at = from;
    while at < to {
        let n = (to - at).min(READ_CHUNK_BYTES as u64) as usize;
        file.read_exact_at(&mut buf[..n], at)?;
        if buf[..n].iter().any(|b| *b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

/// Looks for any valid frame starting after a damaged one.
fn find_frame_after(file: &FileRef, damaged_at: u64, file_len: u64) -> std::io::Result<Option<u64>> {
    let end = file_len.min(damaged_at + DAMAGE_SEARCH_BYTES_MAX);
    let mut bytes = vec![0u8; (end - damaged_at) as usize];
    file.read_exact_at(&mut bytes, damaged_at)?;
    let bytes = Bytes::from(bytes);
    for skip in 1..bytes.len() {
        if let Ok((Frame::Event { .. }, _)) = decode_frame(&bytes.slice(skip..)) {
            return Ok(Some(damaged_at + skip as u64));
        }
    }
    Ok(None)
}

/// Checks a sealed segment cheaply: one sequential read and one CRC over its body.
/// Returns `Ok(None)` when the seal matches; otherwise scans frame by frame to name the offset.
pub fn verify_sealed(storage: &dyn Storage, path: &Path) -> std::io::Result<Option<DamageInside>> {
    let bytes = storage.open(path, Open::Read)?.read_all()?;
    let seal_bytes = FRAME_HEADER_BYTES + crate::format::SEAL_PAYLOAD_BYTES;
    if bytes.len() >= SEGMENT_HEADER_BYTES + seal_bytes && SegmentHeader::decode(&bytes).is_ok() {
        let seal_at = bytes.len() - seal_bytes;
        let tail = Bytes::copy_from_slice(&bytes[seal_at..]);
        if let Ok((Frame::Seal(seal), _)) = decode_frame(&tail) {
            if crc32c::crc32c(&bytes[SEGMENT_HEADER_BYTES..seal_at]) == seal.body_crc {
                return Ok(None);
            }
        }
    }
    Ok(match scan_segment(storage, path, None)? {
        Err(damage) => Some(damage),
        Ok(scan) if scan.sealed.is_none() => Some(DamageInside {
            offset: scan.valid_len,
            reason: scan.cut.map_or_else(|| "sealed segment has no seal".to_owned(), |(_, why)| why),
        }),
        Ok(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::storage::OsStorage;

    fn file_len(segment: &ActiveSegment) -> u64 {
        segment.file.len().unwrap()
    }

    #[test]
    fn small_groups_keep_zeros_ahead_and_big_groups_grow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut segment = ActiveSegment::create(&OsStorage, dir.path(), 0, &Failure::default()).unwrap();
        // What a frame is does not matter here: the segment writes the bytes it is given.
        segment.append(&[1u8; 100], 1).unwrap();
        assert!(file_len(&segment) >= segment.len() + PREALLOCATE_BYTES, "zeros ahead of a small group");
        // Past the first zeroed stretch and its refill.
        for _ in 0..3 * PREALLOCATE_BYTES / 4096 {
            segment.append(&[1u8; 4096], 1).unwrap();
            assert!(file_len(&segment) >= segment.len() + PREALLOCATE_BYTES);
            assert!(file_len(&segment) <= segment.len() + PREALLOCATE_BYTES + ZEROED_STEP_BYTES, "bounded");
        }
        let big = vec![1u8; ZEROED_GROUP_BYTES_MAX + 1];
        for _ in 0..2 * PREALLOCATE_BYTES as usize / big.len() + 1 {
            segment.append(&big, 1).unwrap();
        }
        assert_eq!(file_len(&segment), segment.len(), "big groups write no zeros");
        segment.append(&[1u8; 100], 1).unwrap();
        assert!(file_len(&segment) >= segment.len() + PREALLOCATE_BYTES, "a small group starts them again");
        let sealed_len = segment.len();
        segment.seal(&Failure::default()).unwrap();
        let seal_bytes = (FRAME_HEADER_BYTES + crate::format::SEAL_PAYLOAD_BYTES) as u64;
        assert_eq!(file_len(&segment), sealed_len + seal_bytes, "sealing cuts the zeros");
    }
}
