//! The index's file as redb sees it: the operating system's file, with the store's [`Disk`] asked
//! before every change to it (a write, a resize, a sync). The real disk always agrees; tests make
//! it refuse, so that a failed index commit can be provoked and what the store does then checked
//! (`tests/faults.rs`). Reads are not asked: a failed read is a failed read transaction, which the
//! callers already turn into a storage error.

use std::fs::File;
use std::ops::Bound;
use std::sync::Arc;

use redb::backends::FileBackend;
use redb::{BackendError, DatabaseError, StorageBackend};

use crate::segment::Disk;

/// redb's file backend behind the store's [`Disk`].
#[derive(Debug)]
pub struct IndexFile {
    file: FileBackend,
    disk: Arc<dyn Disk>,
}

impl IndexFile {
    /// Wraps `file` (opened for reading and writing).
    pub fn new(file: File, disk: Arc<dyn Disk>) -> Result<IndexFile, DatabaseError> {
        Ok(IndexFile { file: FileBackend::new(file)?, disk })
    }
}

impl StorageBackend for IndexFile {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.disk.index_change()?;
        self.file.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.disk.index_change()?;
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.disk.index_change()?;
        self.file.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.file.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}
