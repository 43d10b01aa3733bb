//! One simulated file's bytes, written and durable, and what of them a power cut keeps.
//!
//! An [`Inode`] holds what reads see (`data`), what survived the last sync (`durable`), and the
//! changes since (`unsynced`, in order). A sync makes every unsynced change durable. A power cut
//! keeps the durable bytes and, of the unsynced changes, whatever a [`CutMode`] drawn from the
//! seed keeps: none, all, a prefix, or any subset — of whole writes, or of 512-byte or 4-KiB
//! sectors (a torn write). Kept changes land in their original order: a sector ends up holding
//! some version it was written with, never an older one over a newer.
//!
//! The page cache writes back by itself too: past [`UNSYNCED_CHANGES_MAX`] changes or
//! [`UNSYNCED_BYTES_MAX`] bytes the oldest become durable, which also bounds the memory a file
//! that is never synced can take.

use std::collections::VecDeque;

use super::faults::Rng;

/// Unsynced changes a file keeps at most before the oldest are written back by themselves.
pub const UNSYNCED_CHANGES_MAX: usize = 4096;
/// Unsynced bytes a file keeps at most before the oldest are written back by themselves.
pub const UNSYNCED_BYTES_MAX: usize = 64 * 1024 * 1024;
/// The sector sizes a torn write is cut at.
pub const SECTOR_BYTES: [usize; 2] = [512, 4096];

/// A change not yet durable.
#[derive(Clone, Debug)]
enum Change {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

impl Change {
    fn apply(&self, bytes: &mut Vec<u8>) {
        match self {
            Change::Write { offset, data } => {
                let start = *offset as usize;
                let end = start + data.len();
                if bytes.len() < end {
                    bytes.resize(end, 0);
                }
                bytes[start..end].copy_from_slice(data);
            }
            Change::SetLen(len) => bytes.resize(*len as usize, 0),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Change::Write { data, .. } => data.len(),
            Change::SetLen(_) => 0,
        }
    }

    /// The change cut at sector boundaries of the file (a resize stays whole).
    fn sectors(&self, sector: usize) -> Vec<Change> {
        let Change::Write { offset, data } = self else { return vec![self.clone()] };
        let mut pieces = Vec::with_capacity(data.len() / sector + 2);
        let (mut at, end) = (*offset as usize, *offset as usize + data.len());
        while at < end {
            let next = ((at / sector) + 1) * sector;
            let piece = next.min(end);
            pieces.push(Change::Write {
                offset: at as u64,
                data: data[at - *offset as usize..piece - *offset as usize].to_vec(),
            });
            at = piece;
        }
        pieces
    }
}

/// What a power cut kept of a file's unsynced changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutMode {
    /// Only what was synced.
    Nothing,
    /// Every change (the page cache happened to be written back).
    Everything,
    /// The first changes, in the order they were made.
    Prefix,
    /// Any subset of the changes.
    Subset,
    /// Any subset of the changes' sectors of this many bytes: torn writes.
    TornSectors(usize),
}

/// A simulated file's contents.
#[derive(Debug, Default)]
pub struct Inode {
    /// What reads see.
    pub data: Vec<u8>,
    /// What a power cut keeps for sure.
    durable: Vec<u8>,
    unsynced: VecDeque<Change>,
    unsynced_bytes: usize,
}

impl Inode {
    pub fn write(&mut self, offset: u64, bytes: &[u8]) {
        let change = Change::Write { offset, data: bytes.to_vec() };
        change.apply(&mut self.data);
        self.push(change);
    }

    pub fn set_len(&mut self, len: u64) {
        let change = Change::SetLen(len);
        change.apply(&mut self.data);
        self.push(change);
    }

    fn push(&mut self, change: Change) {
        self.unsynced_bytes += change.bytes();
        self.unsynced.push_back(change);
        while self.unsynced.len() > UNSYNCED_CHANGES_MAX || self.unsynced_bytes > UNSYNCED_BYTES_MAX {
            let oldest = self.unsynced.pop_front().expect("over a bound, so not empty");
            self.unsynced_bytes -= oldest.bytes();
            oldest.apply(&mut self.durable);
        }
    }

    /// Makes every change durable.
    pub fn sync(&mut self) {
        for change in self.unsynced.drain(..) {
            change.apply(&mut self.durable);
        }
        self.unsynced_bytes = 0;
    }

    /// Forgets the unsynced changes without making them durable; reads still see them.
    pub fn drop_unsynced(&mut self) {
        self.unsynced.clear();
        self.unsynced_bytes = 0;
    }

    /// Whether some change is not durable yet.
    pub fn is_dirty(&self) -> bool {
        !self.unsynced.is_empty()
    }

    /// The bytes that survive a power cut for sure.
    pub fn durable(&self) -> &[u8] {
        &self.durable
    }

    /// Cuts the power: keeps the durable bytes and what a mode (`forced`, or drawn from `rng`)
    /// keeps of the rest. Returns the mode.
    pub fn power_cut(&mut self, rng: &mut Rng, forced: Option<CutMode>) -> CutMode {
        let mode = if self.unsynced.is_empty() {
            CutMode::Nothing
        } else if let Some(mode) = forced {
            mode
        } else {
            *rng.pick(&[
                CutMode::Nothing,
                CutMode::Everything,
                CutMode::Prefix,
                CutMode::Subset,
                CutMode::TornSectors(SECTOR_BYTES[0]),
                CutMode::TornSectors(SECTOR_BYTES[1]),
            ])
        };
        let pieces: Vec<Change> = match mode {
            CutMode::TornSectors(sector) => self.unsynced.iter().flat_map(|c| c.sectors(sector)).collect(),
            _ => self.unsynced.iter().cloned().collect(),
        };
        let kept = match mode {
            CutMode::Nothing => 0,
            CutMode::Prefix => rng.below(pieces.len() as u64 + 1) as usize,
            _ => pieces.len(),
        };
        let subset = matches!(mode, CutMode::Subset | CutMode::TornSectors(_));
        for piece in &pieces[..kept] {
            if !subset || rng.chance(0.5) {
                piece.apply(&mut self.durable);
            }
        }
        self.drop_unsynced();
        self.data = self.durable.clone();
        mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_power_cut_keeps_what_was_synced_and_some_of_the_rest() {
        for seed in 0..200 {
            let mut inode = Inode::default();
            inode.write(0, &[1; 1000]);
            inode.sync();
            inode.write(1000, &[2; 5000]);
            inode.write(300, &[3; 100]);
            let mode = inode.power_cut(&mut Rng::new(seed), None);
            let bytes = &inode.data;
            assert!(bytes.len() >= 1000, "{mode:?}: the synced bytes stay");
            assert!(bytes[..300].iter().chain(&bytes[400..1000]).all(|b| *b == 1), "{mode:?}");
            assert!(bytes[300..400].iter().all(|b| *b == 1 || *b == 3), "{mode:?}: old or new, nothing else");
            assert!(bytes[1000..].iter().all(|b| *b == 2 || *b == 0), "{mode:?}: new bytes or a hole");
            if mode == CutMode::Nothing {
                assert_eq!(bytes.len(), 1000);
            }
            if mode == CutMode::Everything {
                assert_eq!(bytes.len(), 6000);
                assert!(bytes[1000..].iter().all(|b| *b == 2));
            }
            assert!(!inode.is_dirty());
        }
    }

    #[test]
    fn torn_writes_are_cut_at_sector_boundaries() {
        let change = Change::Write { offset: 500, data: vec![7; 1100] };
        let pieces = change.sectors(512);
        let bounds: Vec<(u64, usize)> = pieces
            .iter()
            .map(|p| match p {
                Change::Write { offset, data } => (*offset, data.len()),
                Change::SetLen(_) => unreachable!(),
            })
            .collect();
        assert_eq!(bounds, vec![(500, 12), (512, 512), (1024, 512), (1536, 64)]);
    }

    #[test]
    fn writeback_bounds_what_a_file_keeps_unsynced() {
        let mut inode = Inode::default();
        for i in 0..UNSYNCED_CHANGES_MAX as u64 + 10 {
            inode.write(i, &[1]);
        }
        assert_eq!(inode.unsynced.len(), UNSYNCED_CHANGES_MAX);
        assert_eq!(inode.durable().len(), 10, "the oldest changes were written back");
    }
}
