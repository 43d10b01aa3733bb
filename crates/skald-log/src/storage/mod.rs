//! The storage seam: every byte the engine reads or writes goes through a [`Storage`] (a small file
//! system) and the [`StorageFile`]s it opens: segment files, the index file (redb's backend,
//! `index_file.rs`), directory listings, removals and directory syncs. Only the directory's
//! `LOCK` is taken through [`Storage::lock`] as well, so that a simulated store needs no real file.
//!
//! Two implementations:
//! - [`OsStorage`] ([`os`]): the operating system's files. Each method is the one system call it
//!   names (`pwrite`, `fdatasync`, …) behind one virtual call: the append path pays no allocation
//!   and no system call more than it did when it held `std::fs::File`s.
//! - [`SimStorage`] ([`sim`]): files in memory that keep what was written apart from what was
//!   synced, so that a test can cut the power ([`SimStorage::power_cut`]) and keep only what a real
//!   disk must keep, or inject errors, latency and a full disk ([`faults`]).
//!
//! Semantics every implementation follows (what the engine relies on, and what the simulator
//! holds it to):
//! - A write is visible to every later read at once, through any handle, but survives a power cut
//!   only once a [`StorageFile::sync_data`] (or `sync_all`) of that file has returned `Ok` after it.
//! - A created, renamed or removed directory entry survives a power cut only once
//!   [`Storage::sync_dir`] of its directory has returned `Ok` after the change.
//! - After a failed sync nothing is known about the unsynced writes: they may be lost even though
//!   reads still return them and a later sync succeeds (Linux marks the pages clean after a
//!   writeback error). The engine therefore never acknowledges anything after a failed sync of the
//!   log ([`crate::syncer::Failure`]).

pub mod faults;
pub mod os;
mod power_cut;
pub mod sim;

use std::fmt::Debug;
use std::io;
use std::path::Path;
use std::sync::Arc;

pub use os::OsStorage;
pub use power_cut::CutMode;
pub use sim::SimStorage;

/// How [`Storage::open`] opens a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// An existing file, for reading.
    Read,
    /// An existing file, for reading and writing.
    Write,
    /// A new file, for reading and writing; fails if it exists.
    CreateNew,
    /// An existing file or else a new one, for reading and writing.
    Create,
}

/// A file system: the directory operations of the engine, and opening files.
pub trait Storage: Send + Sync + Debug {
    /// Creates `dir` and its missing parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;

    /// Opens the file at `path`.
    fn open(&self, path: &Path, how: Open) -> io::Result<Arc<dyn StorageFile>>;

    /// Names of the files in `dir` (not directories), in no particular order.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;

    /// Renames a file, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;

    /// Makes the entries of `dir` (files created, renamed or removed in it) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;

    /// Takes the exclusive lock of a store directory (the `LOCK` file at `path`), held until the
    /// returned guard is dropped; fails with [`io::ErrorKind::WouldBlock`] while another holds it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn DirLock>>;
}

/// A held directory lock ([`Storage::lock`]); dropping it releases the lock.
pub trait DirLock: Send + Sync + Debug {}

/// An open file. Shared between threads: every access is positioned, there is no cursor.
#[allow(clippy::len_without_is_empty, reason = "a file's length is an I/O call; emptiness is never asked")]
pub trait StorageFile: Send + Sync + Debug {
    /// The file's length in bytes.
    fn len(&self) -> io::Result<u64>;

    /// Reads up to `buf.len()` bytes at `offset`; fewer only at the end of the file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// Writes all of `data` at `offset`, growing the file if needed (a gap reads as zeros).
    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()>;

    /// Cuts or grows (with zeros) the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;

    /// Makes the file's data and length durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;

    /// Makes the file's data and all its metadata durable (`fsync`).
    fn sync_all(&self) -> io::Result<()>;

    /// Fills `buf` from `offset`; an end of file before that is [`io::ErrorKind::UnexpectedEof`].
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file ends before the read")),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The whole file.
    fn read_all(&self) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.len()?).map_err(io::Error::other)?;
        let mut bytes = vec![0u8; len];
        self.read_exact_at(&mut bytes, 0)?;
        Ok(bytes)
    }
}

/// A shared handle to an open file.
pub type FileRef = Arc<dyn StorageFile>;

/// Whether an error says that a file or directory does not exist.
pub fn is_not_found(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound
}
