//! The index's file as redb sees it: a [`StorageFile`] of the store's [`crate::storage::Storage`],
//! so the index's bytes go through the same seam as the segments' (the simulated disk cuts,
//! tears and fails them alike). redb's byte-range locks are not offered (its `Unsupported`
//! default): the store's directory `LOCK` already keeps every other process out.

use redb::StorageBackend;

use crate::storage::FileRef;

/// The index file behind the storage seam.
#[derive(Debug)]
pub struct IndexFile {
    file: FileRef,
}

impl IndexFile {
    /// Wraps `file` (opened for reading and writing).
    pub fn new(file: FileRef) -> IndexFile {
        IndexFile { file }
    }
}

impl StorageBackend for IndexFile {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.file.read_exact_at(out, offset)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.file.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.file.write_all_at(data, offset)
    }
}
