//! Injected disk faults: a failed write, a failed fsync and a failed index commit, on the
//! simulated disk (`skald_log::storage::SimStorage`).
//!
//! A failed write refuses that group's appends, cuts the file back and carries on. A failed fsync
//! leaves the file's state unknown, so the store refuses every later append until it is reopened;
//! nothing that was acknowledged is lost, and nothing unacknowledged is half there. A failed index
//! commit stops appends and reads the same way; reopening indexes the log again.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use skald_core::{Error, EventStore, NewEvent, ReadOptions, Selector, StreamAppend};
use skald_log::storage::faults::{FaultPlan, FileKind, Injected, Op};
use skald_log::storage::SimStorage;
use skald_log::{Options, Store};

const DIR: &str = "/faults";

fn open(sim: &SimStorage) -> Store {
    let options = Options { storage: Arc::new(sim.clone()), ..Options::default() };
    Store::open(Path::new(DIR), options).unwrap()
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
    let sim = SimStorage::new();
    let store = open(&sim);
    store.append(append("a", 0)).await.unwrap();
    // Half the bytes land, as on a disk that fills up mid-write.
    sim.set_plan(FaultPlan::always(FileKind::Segment, Op::Write, Injected::NoSpace));
    let error = store.append(append("a", 1)).await.unwrap_err();
    assert!(matches!(error, Error::Storage(ref m) if m.contains("No space left")), "{error:?}");
    sim.set_plan(FaultPlan::none());
    let outcome = store.append(append("a", 2)).await.unwrap();
    assert_eq!(outcome.streams[0].first_position, 2, "the failed append left no trace");
    assert_eq!(outcome.streams[0].first_version, 2);
    let expected = vec![(0, "E".into()), (1, "F".into()), (2, "E".into()), (3, "F".into())];
    assert_eq!(positions(&store).await, expected);
    store.close();
    drop(store);
    let store = open(&sim);
    assert_eq!(store.recovery_report().cut_tail, None, "the half-written group was cut back at once");
    assert_eq!(positions(&store).await, expected);
    store.close();
}

#[tokio::test]
async fn a_failed_fsync_stops_appends_until_the_store_is_reopened() {
    let sim = SimStorage::new();
    let store = open(&sim);
    store.append(append("a", 0)).await.unwrap();
    sim.set_plan(FaultPlan::always(FileKind::Segment, Op::Sync, Injected::Io));
    let unacknowledged = append("a", 1);
    let error = store.append(unacknowledged.clone()).await.unwrap_err();
    assert!(matches!(error, Error::Storage(ref m) if m.contains("fsync failed")), "{error:?}");
    sim.set_plan(FaultPlan::none());
    let error = store.append(append("b", 2)).await.unwrap_err();
    assert!(matches!(error, Error::Storage(ref m) if m.contains("stopped")), "later appends are refused: {error:?}");
    // Readers only ever see what was made durable.
    assert_eq!(store.head_position(), Some(1));
    assert_eq!(positions(&store).await.len(), 2);
    store.close();
    drop(store);

    let store = open(&sim);
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
    let sim = SimStorage::new();
    // No timed checkpoint may hit the failing index before the append below does.
    let options = Options {
        storage: Arc::new(sim.clone()),
        checkpoint_interval: std::time::Duration::from_secs(3600),
        ..Options::default()
    };
    let store = Store::open(Path::new(DIR), options).unwrap();
    store.append(append("a", 0)).await.unwrap();
    assert_eq!(positions(&store).await.len(), 2);
    sim.set_plan(FaultPlan::always(FileKind::Index, Op::Write, Injected::Io));
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
    assert!(matches!(error, Error::Storage(ref m) if m.contains("index")), "{error:?}");
    let error = store.append(append("b", 2)).await.unwrap_err();
    assert!(matches!(error, Error::Storage(_)), "later appends are refused: {error:?}");
    sim.set_plan(FaultPlan::none());
    store.close();
    drop(store);

    let store = open(&sim);
    let after = positions(&store).await;
    assert!(after.len() == 4 || (!acknowledged && after.len() == 2), "acknowledged: {acknowledged}, {after:?}");
    let retried = store.append(unindexed).await.unwrap();
    assert_eq!(retried.replayed, after.len() == 4, "a retry is answered from the log when the events made it");
    store.append(append("b", 2)).await.unwrap();
    let expected: Vec<(u64, String)> = (0..6).map(|p| (p, if p % 2 == 0 { "E" } else { "F" }.to_owned())).collect();
    assert_eq!(positions(&store).await, expected, "every event once, indexed again");
    store.close();
}
