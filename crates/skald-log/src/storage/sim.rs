//! [`SimStorage`]: a file system in memory for tests, which keeps written bytes apart from synced
//! ones (`power_cut.rs`), cuts the power on demand, and fails, slows down or fills up as a
//! seeded [`FaultPlan`] says.
//!
//! The model, and where it is simpler than a real disk:
//! - Files: see `power_cut.rs` (what a cut keeps of unsynced writes).
//! - Directory entries: a created, renamed or removed file is visible at once, but the entry
//!   survives a power cut only after [`Storage::sync_dir`] of its directory; until then a cut may
//!   take a new file away or bring a removed one back. Directories themselves, once created, are
//!   durable (the engine creates its two directories once, before anything else).
//! - A power cut ([`SimStorage::power_cut`]) is the death of the process as well: every handle and
//!   lock opened before it fails from then on, so the engine that was running cannot touch what the
//!   next one recovers from. Reopening a store on the same `SimStorage` is the restart.
//! - Faults: each operation asks the plan ([`FaultPlan::decide`]) whether it fails; a failed sync
//!   may drop the file's unsynced writes for good ([`FaultPlan::drop_unsynced_on_sync_error`]);
//!   a write past [`FaultPlan::capacity_bytes`] writes what fits and fails with `ENOSPC`.
//!
//! One mutex guards everything: simulated operations are atomic with respect to each other (a
//! reader never sees half of a write), which real files do not promise but the engine never relies
//! on either (readers stay below the committed position).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::faults::{FaultPlan, FileKind, Injected, Op, Rng};
use super::power_cut::{CutMode, Inode};
use super::{DirLock, Open, Storage, StorageFile};

/// A simulated disk. Clones share it.
#[derive(Clone, Debug, Default)]
pub struct SimStorage {
    state: Arc<Mutex<State>>,
}

/// What happened on a simulated disk so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    pub writes: u64,
    pub syncs: u64,
    pub reads: u64,
    /// Injected failures, by file kind and operation (a full disk's `ENOSPC` included).
    pub injected: BTreeMap<(FileKind, Op), u64>,
    pub power_cuts: u64,
    /// Unsynced writes a failed sync dropped ([`FaultPlan::drop_unsynced_on_sync_error`]).
    pub dropped_by_failed_sync: u64,
}

impl SimStats {
    /// Injected failures of `op` on any kind of file.
    pub fn injected(&self, op: Op) -> u64 {
        self.injected.iter().filter(|((_, o), _)| *o == op).map(|(_, n)| n).sum()
    }
}

/// What a power cut found: for each file that survived, the bytes that had to survive it (durable
/// before the cut) and what the cut kept of the rest.
#[derive(Clone, Debug, Default)]
pub struct PowerCut {
    pub files: BTreeMap<PathBuf, CutFile>,
}

/// One file at a power cut.
#[derive(Clone, Debug)]
pub struct CutFile {
    /// The file as it was durable before the cut: the cut kept these bytes, and maybe more.
    pub durable: Vec<u8>,
    pub mode: CutMode,
}

#[derive(Debug, Default)]
struct State {
    /// Bumped by every power cut; handles and locks of an older generation are dead.
    generation: u64,
    dirs: BTreeSet<PathBuf>,
    /// Path → inode, as reads see it.
    entries: BTreeMap<PathBuf, u64>,
    /// Path → inode, as a power cut keeps it.
    durable_entries: BTreeMap<PathBuf, u64>,
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
    locks: BTreeSet<PathBuf>,
    plan: FaultPlan,
    /// Operations per (file kind, operation) since the plan was set: what [`FaultPlan::decide`]
    /// is asked with.
    counters: HashMap<(FileKind, Op), u64>,
    stats: SimStats,
}

impl State {
    /// Counts an operation and draws its fate: an injected error, and a delay.
    fn ticket(&mut self, kind: FileKind, op: Op) -> (Option<Injected>, Duration) {
        let count = self.counters.entry((kind, op)).or_default();
        let n = *count;
        *count += 1;
        let fate = (self.plan.decide(kind, op, n), self.plan.latency(kind, op, n));
        if fate.0.is_some() {
            *self.stats.injected.entry((kind, op)).or_default() += 1;
        }
        fate
    }

    fn used_bytes(&self) -> u64 {
        self.inodes.values().map(|inode| inode.data.len() as u64).sum()
    }

    /// How far the file with `len` bytes may grow before the disk is full.
    fn growth_limit(&self, len: u64) -> u64 {
        match self.plan.capacity_bytes {
            None => u64::MAX,
            Some(capacity) => len + capacity.saturating_sub(self.used_bytes()),
        }
    }

    fn no_space(&mut self, kind: FileKind) -> io::Error {
        *self.stats.injected.entry((kind, Op::Write)).or_default() += 1;
        Injected::NoSpace.error()
    }
}

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

impl SimStorage {
    pub fn new() -> SimStorage {
        SimStorage::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the fault plan; operations are counted from 0 again (a scheduled fault's `nth`
    /// counts from here).
    pub fn set_plan(&self, plan: FaultPlan) {
        let mut state = self.state();
        state.plan = plan;
        state.counters.clear();
    }

    /// Bytes all files hold (what [`FaultPlan::capacity_bytes`] is held against).
    pub fn used_bytes(&self) -> u64 {
        self.state().used_bytes()
    }

    pub fn stats(&self) -> SimStats {
        self.state().stats.clone()
    }

    /// Cuts the power: every file keeps its durable bytes and what a mode drawn from `seed` keeps
    /// of its unsynced writes (`power_cut.rs`); directory entries not synced may vanish or
    /// come back; every open handle and lock dies.
    pub fn power_cut(&self, seed: u64) -> PowerCut {
        self.power_cut_as(seed, None)
    }

    /// [`Self::power_cut`], with every file keeping what `mode` keeps (when given).
    pub fn power_cut_as(&self, seed: u64, mode: Option<CutMode>) -> PowerCut {
        let mut state = self.state();
        let mut rng = Rng::new(seed);
        state.generation += 1;
        state.stats.power_cuts += 1;
        state.locks.clear();
        state.entries = state.durable_entries.clone();
        let mut cut = PowerCut::default();
        let entries: Vec<(PathBuf, u64)> = state.entries.iter().map(|(p, i)| (p.clone(), *i)).collect();
        let mut alive = HashMap::with_capacity(entries.len());
        for (path, id) in entries {
            let Some(mut inode) = state.inodes.remove(&id) else { continue };
            let durable = inode.durable().to_vec();
            let mode = inode.power_cut(&mut rng, mode);
            cut.files.insert(path, CutFile { durable, mode });
            alive.insert(id, inode);
        }
        state.inodes = alive;
        cut
    }

    /// Puts `bytes` at `offset` of a file on the disk itself (durable, and what reads see),
    /// bypassing the store: a sector that never made it, a misdirected write, bit rot.
    pub fn damage(&self, path: &Path, offset: u64, bytes: &[u8]) {
        let mut state = self.state();
        let id = state.entries.get(path).copied().unwrap_or_else(|| panic!("{} does not exist", path.display()));
        let inode = state.inodes.get_mut(&id).expect("entries point at inodes");
        assert!(!inode.is_dirty(), "damage goes to a file with no pending writes (after a power cut, say)");
        inode.write(offset, bytes);
        inode.sync();
    }

    /// The bytes of a file as reads see them.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.state();
        state.entries.get(path).and_then(|id| state.inodes.get(id)).map(|inode| inode.data.clone())
    }

    /// Writes a whole file and makes it and its entry durable (a filler for a full disk, say),
    /// ignoring the capacity.
    pub fn put_durable(&self, path: &Path, bytes: &[u8]) {
        let mut state = self.state();
        let id = state.next_inode;
        state.next_inode += 1;
        let mut inode = Inode::default();
        inode.write(0, bytes);
        inode.sync();
        state.inodes.insert(id, inode);
        state.dirs.insert(parent(path).to_owned());
        state.entries.insert(path.to_owned(), id);
        state.durable_entries.insert(path.to_owned(), id);
    }

    fn handle(&self, path: &Path, id: u64, generation: u64) -> Arc<dyn StorageFile> {
        Arc::new(SimFile { storage: self.clone(), id, path: path.to_owned(), kind: FileKind::of(path), generation })
    }
}

/// A power cut killed the handle's process.
fn dead() -> io::Error {
    io::Error::other("simulated power cut: this handle belongs to a process that died")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{}: no such file", path.display()))
}

impl Storage for SimStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state();
        for ancestor in dir.ancestors() {
            state.dirs.insert(ancestor.to_owned());
        }
        Ok(())
    }

    fn open(&self, path: &Path, how: Open) -> io::Result<Arc<dyn StorageFile>> {
        let mut state = self.state();
        let existing = state.entries.get(path).copied();
        let id = match (how, existing) {
            (Open::CreateNew, Some(_)) => {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} exists", path.display())))
            }
            (Open::Read | Open::Write | Open::Create, Some(id)) => id,
            (Open::Read | Open::Write, None) => return Err(not_found(path)),
            (Open::CreateNew | Open::Create, None) => {
                if !state.dirs.contains(parent(path)) {
                    return Err(not_found(parent(path)));
                }
                let id = state.next_inode;
                state.next_inode += 1;
                state.inodes.insert(id, Inode::default());
                state.entries.insert(path.to_owned(), id);
                id
            }
        };
        let generation = state.generation;
        drop(state);
        Ok(self.handle(path, id, generation))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.state();
        if !state.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let names = state.entries.keys().filter(|p| parent(p) == dir).filter_map(|p| p.file_name()?.to_str());
        Ok(names.map(str::to_owned).collect())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state();
        let id = state.entries.remove(from).ok_or_else(|| not_found(from))?;
        state.entries.insert(to.to_owned(), id);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        // The inode stays: open handles still use it, and a cut may bring the entry back.
        self.state().entries.remove(path).map(|_| ()).ok_or_else(|| not_found(path))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state();
        if let (Some(error), _) = state.ticket(FileKind::Directory, Op::Sync) {
            return Err(error.error());
        }
        state.stats.syncs += 1;
        let visible: Vec<(PathBuf, u64)> =
            state.entries.iter().filter(|(p, _)| parent(p) == dir).map(|(p, i)| (p.clone(), *i)).collect();
        state.durable_entries.retain(|p, _| parent(p) != dir);
        state.durable_entries.extend(visible);
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn DirLock>> {
        let mut state = self.state();
        if !state.locks.insert(path.to_owned()) {
            return Err(io::Error::from(io::ErrorKind::WouldBlock));
        }
        let generation = state.generation;
        Ok(Box::new(SimLock { storage: self.clone(), path: path.to_owned(), generation }))
    }
}

/// A lock taken on a simulated disk; a power cut releases it (its process died).
#[derive(Debug)]
struct SimLock {
    storage: SimStorage,
    path: PathBuf,
    generation: u64,
}

impl DirLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut state = self.storage.state();
        if state.generation == self.generation {
            state.locks.remove(&self.path);
        }
    }
}

/// An open simulated file.
#[derive(Debug)]
struct SimFile {
    storage: SimStorage,
    id: u64,
    path: PathBuf,
    kind: FileKind,
    generation: u64,
}

impl SimFile {
    /// Runs `work` on the file's inode after the plan's delay, unless the plan fails the operation
    /// or the handle died in a power cut.
    fn with<R>(&self, op: Op, work: impl FnOnce(&mut State, Option<Injected>) -> io::Result<R>) -> io::Result<R> {
        let (fate, delay) = {
            let mut state = self.storage.state();
            if state.generation != self.generation {
                return Err(dead());
            }
            state.ticket(self.kind, op)
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let mut state = self.storage.state();
        if state.generation != self.generation {
            return Err(dead());
        }
        work(&mut state, fate)
    }

    fn inode<'s>(&self, state: &'s mut State) -> io::Result<&'s mut Inode> {
        state.inodes.get_mut(&self.id).ok_or_else(|| not_found(&self.path))
    }
}

impl StorageFile for SimFile {
    fn len(&self) -> io::Result<u64> {
        let mut state = self.storage.state();
        if state.generation != self.generation {
            return Err(dead());
        }
        Ok(self.inode(&mut state)?.data.len() as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.with(Op::Read, |state, fate| {
            if let Some(error) = fate {
                return Err(error.error());
            }
            state.stats.reads += 1;
            let data = &self.inode(state)?.data;
            let start = (offset as usize).min(data.len());
            let n = buf.len().min(data.len() - start);
            buf[..n].copy_from_slice(&data[start..start + n]);
            Ok(n)
        })
    }

    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.with(Op::Write, |state, fate| {
            state.stats.writes += 1;
            let len = self.inode(state)?.data.len() as u64;
            let limit = state.growth_limit(len);
            let end = offset + data.len() as u64;
            let (fits, error) = match fate {
                Some(Injected::Io) => return Err(Injected::Io.error()),
                Some(Injected::NoSpace) => (data.len() / 2, Some(Injected::NoSpace.error())),
                None if end > limit => (limit.saturating_sub(offset) as usize, Some(state.no_space(self.kind))),
                None => (data.len(), None),
            };
            if fits > 0 {
                self.inode(state)?.write(offset, &data[..fits]);
            }
            error.map_or(Ok(()), Err)
        })
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with(Op::Write, |state, fate| {
            let now = self.inode(state)?.data.len() as u64;
            match fate {
                // Cutting a file frees space: a full disk never refuses it.
                Some(Injected::NoSpace) if len <= now => {}
                Some(error) => return Err(error.error()),
                None => {}
            }
            if len > state.growth_limit(now) {
                return Err(state.no_space(self.kind));
            }
            self.inode(state)?.set_len(len);
            Ok(())
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        self.with(Op::Sync, |state, fate| {
            state.stats.syncs += 1;
            let drop_unsynced = state.plan.drop_unsynced_on_sync_error;
            let inode = self.inode(state)?;
            match fate {
                None => {
                    inode.sync();
                    Ok(())
                }
                Some(error) => {
                    if drop_unsynced && inode.is_dirty() {
                        inode.drop_unsynced();
                        state.stats.dropped_by_failed_sync += 1;
                    }
                    Err(error.error())
                }
            }
        })
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (SimStorage, PathBuf) {
        let sim = SimStorage::new();
        let dir = PathBuf::from("/store");
        sim.create_dir_all(&dir).unwrap();
        (sim, dir)
    }

    #[test]
    fn a_file_survives_a_power_cut_once_it_and_its_directory_are_synced() {
        let (sim, dir) = setup();
        let path = dir.join("a.seg");
        let file = sim.open(&path, Open::CreateNew).unwrap();
        file.write_all_at(b"hello", 0).unwrap();
        file.sync_data().unwrap();
        let cut = sim.power_cut(1);
        assert!(cut.files.is_empty() && sim.contents(&path).is_none(), "the entry was never synced");
        assert!(file.read_at(&mut [0u8; 5], 0).is_err(), "the handle died with its process");

        let file = sim.open(&path, Open::CreateNew).unwrap();
        file.write_all_at(b"hello", 0).unwrap();
        file.sync_data().unwrap();
        sim.sync_dir(&dir).unwrap();
        file.write_all_at(b" world", 5).unwrap();
        let cut = sim.power_cut(2);
        assert_eq!(cut.files[&path].durable, b"hello");
        let after = sim.contents(&path).unwrap();
        assert!(after.starts_with(b"hello"), "{after:?}");
        sim.remove_file(&path).unwrap();
        sim.power_cut(3);
        assert!(sim.contents(&path).is_some(), "an unsynced removal may be undone");
    }

    #[test]
    fn a_failed_sync_can_drop_what_reads_still_see() {
        let (sim, dir) = setup();
        let path = dir.join("a.seg");
        let file = sim.open(&path, Open::CreateNew).unwrap();
        sim.sync_dir(&dir).unwrap();
        file.write_all_at(b"acked", 0).unwrap();
        file.sync_data().unwrap();
        file.write_all_at(b"lost!", 5).unwrap();
        let plan = FaultPlan::always(FileKind::Segment, Op::Sync, Injected::Io);
        sim.set_plan(FaultPlan { drop_unsynced_on_sync_error: true, ..plan });
        assert!(file.sync_data().is_err());
        sim.set_plan(FaultPlan::none());
        file.sync_data().unwrap();
        assert_eq!(sim.contents(&path).unwrap(), b"ackedlost!", "reads still see the dropped write");
        sim.power_cut(4);
        assert_eq!(sim.contents(&path).unwrap(), b"acked", "a later sync 'succeeded' without it");
        assert_eq!(sim.stats().dropped_by_failed_sync, 1);
    }

    #[test]
    fn a_full_disk_writes_what_fits_and_says_enospc() {
        let (sim, dir) = setup();
        sim.set_plan(FaultPlan { capacity_bytes: Some(10), ..FaultPlan::none() });
        let file = sim.open(&dir.join("a.seg"), Open::CreateNew).unwrap();
        let error = file.write_all_at(&[1; 16], 0).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        assert_eq!(file.len().unwrap(), 10);
        file.write_all_at(&[2; 4], 2).unwrap(); // overwriting needs no space
        sim.set_plan(FaultPlan::none());
        file.write_all_at(&[3; 6], 10).unwrap();
        assert_eq!(file.len().unwrap(), 16);
    }

    #[test]
    fn a_lock_is_exclusive_until_dropped_or_the_power_goes() {
        let (sim, dir) = setup();
        let lock = sim.lock(&dir.join("LOCK")).unwrap();
        assert_eq!(sim.lock(&dir.join("LOCK")).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(lock);
        let held = sim.lock(&dir.join("LOCK")).unwrap();
        sim.power_cut(5);
        let _again = sim.lock(&dir.join("LOCK")).unwrap();
        drop(held); // a dead process's lock releases nothing of the new one's
        assert!(sim.lock(&dir.join("LOCK")).is_err());
    }
}
