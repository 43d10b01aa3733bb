//! Injected disk faults: a failed write, a failed fsync and a failed index commit, through the
//! `Disk` seam.
//!
//! A failed write refuses that group's appends, cuts the file back and carries on. A failed fsync
//! leaves the file's state unknown, so the store refuses every later append until it is reopened;
//! nothing that was acknowledged is lost, and nothing unacknowledged is half there. A failed index
//! commit stops appends and reads the same way; reopening indexes the log again.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;
use skald_core::{Error, EventStore, NewEvent, ReadOptions, Selector, StreamAppend};
use skald_log::segment::Disk;
use skald_log::{Options, Store};

#[derive(Debug, Default)]
struct FaultyDisk {
    fail_writes: AtomicBool,
    fail_syncs: AtomicBool,
    fail_index: AtomicBool,
}

impl Disk for FaultyDisk {
    fn write_at(&self, file: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
        if self.fail_writes.load(Ordering::SeqCst) {
            // Half the bytes land, as on a disk that filled up mid-write.
            file.write_all_at(&data[..data.len() / 2], offset)?;
            return Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "injected: no space left"));
        }
        file.write_all_at(data, offset)
    }

    fn sync(&self, file: &File) -> std::io::Result<()> {
        if self.fail_syncs.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("injected: fsync failed"));
        }
        file.sync_data()
    }

    fn index_change(&self) -> std::io::Result<()> {
        if self.fail_index.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("injected: index write failed"));
        }
        Ok(())
    }
}

fn append(stream: &str, n: u64) -> Vec<StreamAppend> {
    vec![StreamAppend::new(stream, vec![NewEvent::new("E", json!({ "n": n })), NewEvent::new("F", json!({ "n": n }))])]
}

async fn positions(store: &Store) -> Vec<(u64, String)> {
    let page = store.read(&Selector::All, ReadOptions::forward(0, 1000)).await.unwrap();
    page.events.into_iter().map(|e| (e.position, e.event_type)).collect()
}

#[tokio::test]
async fn a_failed_write_refuses_its_appends_and_the_store_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FaultyDisk::default());
    let store = Store::open(dir.path(), Options { disk: disk.clone(), ..Options::default() }).unwrap();
    store.append(append("a", 0)).await.unwrap();
    disk.fail_writes.store(true, Ordering::SeqCst);
    let error = store.append(append("a", 1)).await.unwrap_err();
    assert!(matches!(error, Error::Storage(ref m) if m.contains("no space")), "{error:?}");
    disk.fail_writes.store(false, Ordering::SeqCst);
    let outcome = store.append(append("a", 2)).await.unwrap();
    assert_eq!(outcome.streams[0].first_position, 2, "the failed append left no trace");
    assert_eq!(outcome.streams[0].first_version, 2);
    let expected = vec![(0, "E".into()), (1, "F".into()), (2, "E".into()), (3, "F".into())];
    assert_eq!(positions(&store).await, expected);
    store.close();
    drop(store);
    let store = Store::open(dir.path(), Options::default()).unwrap();
    assert_eq!(store.recovery_report().cut_tail, None, "the half-written group was cut back at once");
    assert_eq!(positions(&store).await, expected);
    store.close();
}

#[tokio::test]
async fn a_failed_fsync_stops_appends_until_the_store_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FaultyDisk::default());
    let store = Store::open(dir.path(), Options { disk: disk.clone(), ..Options::default() }).unwrap();
    store.append(append("a", 0)).await.unwrap();
    disk.fail_syncs.store(true, Ordering::SeqCst);
    let unacknowledged = append("a", 1);
    let error = store.append(unacknowledged.clone()).await.unwrap_err();
    assert!(matches!(error, Error::Storage(ref m) if m.contains("fsync failed")), "{error:?}");
    disk.fail_syncs.store(false, Ordering::SeqCst);
    let error = store.append(append("b", 2)).await.unwrap_err();
    assert!(matches!(error, Error::Storage(ref m) if m.contains("stopped")), "later appends are refused: {error:?}");
    // Readers only ever see what was made durable.
    assert_eq!(store.head_position(), Some(1));
    assert_eq!(positions(&store).await.len(), 2);
    store.close();
    drop(store);

    let store = Store::open(dir.path(), Options::default()).unwrap();
    let after = positions(&store).await;
    // The acknowledged append is there. The unacknowledged one may be (its bytes were written; only
    // their fsync failed) — but only whole: clients retry with the same ids and get a replay.
    assert!(after.len() == 2 || after.len() == 4, "{after:?}");
    assert_eq!(after[..2], [(0, "E".into()), (1, "F".into())]);
    let retried = store.append(unacknowledged).await.unwrap();
    assert_eq!(retried.replayed, after.len() == 4, "a retry is answered from the log when the events made it");
    assert_eq!(positions(&store).await.len(), 4, "either way, the events are there exactly once");
    store.close();
}

#[tokio::test]
async fn a_failed_index_commit_stops_the_store_until_it_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FaultyDisk::default());
    // No timed checkpoint may hit the failing index before the append below does.
    let options =
        Options { disk: disk.clone(), checkpoint_interval: std::time::Duration::from_secs(3600), ..Options::default() };
    let store = Store::open(dir.path(), options).unwrap();
    store.append(append("a", 0)).await.unwrap();
    assert_eq!(positions(&store).await.len(), 2);
    disk.fail_index.store(true, Ordering::SeqCst);
    // The append's write and fsync succeed; whether it is answered before its index commit fails
    // is a race, and either answer is allowed.
    let unindexed = append("a", 1);
    let acknowledged = match store.append(unindexed.clone()).await {
        Ok(_) => true,
        Err(error) => {
            assert!(matches!(error, Error::Storage(ref m) if m.contains("index")), "{error:?}");
            false
        }
    };
    // A read waits for the index to cover what is committed: it learns of the failure.
    let error = store.read(&Selector::All, ReadOptions::forward(0, 1000)).await.unwrap_err();
    assert!(matches!(error, Error::Storage(ref m) if m.contains("index write failed")), "{error:?}");
    let error = store.append(append("b", 2)).await.unwrap_err();
    assert!(matches!(error, Error::Storage(_)), "later appends are refused: {error:?}");
    disk.fail_index.store(false, Ordering::SeqCst);
    store.close();
    drop(store);

    let store = Store::open(dir.path(), Options::default()).unwrap();
    let after = positions(&store).await;
    assert!(after.len() == 4 || (!acknowledged && after.len() == 2), "acknowledged: {acknowledged}, {after:?}");
    let retried = store.append(unindexed).await.unwrap();
    assert_eq!(retried.replayed, after.len() == 4, "a retry is answered from the log when the events made it");
    store.append(append("b", 2)).await.unwrap();
    let expected: Vec<(u64, String)> = (0..6).map(|p| (p, if p % 2 == 0 { "E" } else { "F" }.to_owned())).collect();
    assert_eq!(positions(&store).await, expected, "every event once, indexed again");
    store.close();
}
