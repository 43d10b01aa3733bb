//! A disk that is really full: a size-limited tmpfs mounted for the test (skipped, saying why, where
//! mounting is not permitted). Appends get `storage-error` naming the full disk, nothing is
//! corrupted, and the store takes appends again once space returns — at once when only the log
//! ran out of room, after a reopen when the index did (redb refuses every write after a failed
//! one). A reopen while the disk is still full opens or fails cleanly, and loses nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use skald_core::{Error, EventStore, NewEvent, ReadOptions, Selector, StreamAppend};
use skald_log::{Options, Store};

/// The size of the file system: room for the zeroed tail of the first segment, the index, and a
/// filler, and little more.
const TMPFS_BYTES: u64 = 6 * 1024 * 1024;
/// The filler deleted to give space back.
const FILLER_BYTES: usize = 1024 * 1024;
/// Appends tried before the disk must have filled up.
const APPENDS_MAX: u64 = 100_000;

/// A tmpfs mounted on a temporary directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(bytes: u64) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(format!("mount -t tmpfs failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn event(n: u64) -> Vec<StreamAppend> {
    vec![StreamAppend::new(format!("s-{}", n % 7), vec![NewEvent::new("E", json!({ "n": n, "pad": "x".repeat(900) }))])]
}

async fn positions(store: &Store) -> Result<Vec<u64>, Error> {
    let mut all = Vec::new();
    loop {
        let page = store.read(&Selector::All, ReadOptions::forward(all.len() as u64, 1000)).await?;
        let more = page.next.is_some();
        all.extend(page.events.iter().map(|e| e.position));
        if !more {
            return Ok(all);
        }
    }
}

fn open(dir: &Path) -> Result<Store, Error> {
    Store::open(dir.join("store"), Options { segment_bytes_target: 512 * 1024, ..Options::default() })
}

/// Writes a file until the disk is full.
fn fill_up(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![1u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
}

/// Appends until the disk refuses; returns how many were acknowledged and the refusal.
async fn fill(store: &Store) -> (u64, Error) {
    for n in 0..APPENDS_MAX {
        if let Err(error) = store.append(event(n)).await {
            return (n, error);
        }
    }
    panic!("{APPENDS_MAX} appends of ~1 KiB fit in a {TMPFS_BYTES}-byte file system");
}

#[tokio::test]
async fn a_full_disk_refuses_appends_cleanly_and_service_resumes_when_space_returns() {
    let tmpfs = match Tmpfs::mount(TMPFS_BYTES) {
        Ok(tmpfs) => tmpfs,
        Err(reason) => {
            println!("skipped: cannot mount a size-limited file system here ({reason}); tests/simulation.rs fills a simulated disk instead");
            return;
        }
    };
    let dir = tmpfs.path();
    std::fs::write(dir.join("filler"), vec![1u8; FILLER_BYTES]).unwrap();
    let store = open(&dir).unwrap();
    let (acked, error) = fill(&store).await;
    println!("the disk filled after {acked} appends: {error}");
    assert!(matches!(error, Error::Storage(ref m) if m.contains("No space left")), "{error:?}");
    assert!(acked > 0);
    let index_failed = match positions(&store).await {
        Ok(read) => {
            assert_eq!(read, (0..acked).collect::<Vec<_>>(), "every acknowledged append reads back, nothing else");
            false
        }
        Err(error) => {
            assert!(matches!(error, Error::Storage(ref m) if m.contains("index")), "{error:?}");
            true
        }
    };
    println!("the index ran out of room as well: {index_failed}");

    // Space returns: the same store takes appends again, unless the index failed (then: a reopen).
    std::fs::remove_file(dir.join("filler")).unwrap();
    match store.append(event(acked)).await {
        Ok(outcome) => assert_eq!(outcome.streams[0].first_position, acked, "the refused appends left no trace"),
        Err(error) => assert!(index_failed, "space is back, yet: {error:?}"),
    }
    store.close();
    drop(store);

    // Full again, then reopened: opens, or fails with a clean storage error; never corrupt-data.
    fill_up(&dir.join("filler"));
    match open(&dir) {
        Ok(store) => {
            assert!(positions(&store).await.unwrap().starts_with(&(0..acked).collect::<Vec<_>>()));
            store.close();
        }
        Err(error) => assert!(matches!(error, Error::Storage(_)), "reopening on a full disk: {error:?}"),
    }

    std::fs::remove_file(dir.join("filler")).unwrap();
    let store = open(&dir).unwrap();
    let before = positions(&store).await.unwrap();
    assert!(before.len() as u64 >= acked, "acknowledged appends survive: {} of {acked}", before.len());
    assert_eq!(before, (0..before.len() as u64).collect::<Vec<_>>());
    let outcome = store.append(event(APPENDS_MAX)).await.unwrap();
    assert_eq!(outcome.streams[0].first_position, before.len() as u64);
    store.close();
}
