//! Power cuts on the simulated disk, each a case the simulation (`tests/simulation.rs`) found,
//! made deterministic: what recovery serves must be durable, and writes that reached the disk out
//! of order are a torn tail, not damage.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use skald_core::{Error, EventStore, NewEvent, ReadOptions, RecordedEvent, Selector, StreamAppend};
use skald_log::storage::faults::{FaultPlan, FileKind, Injected, Op, Rule};
use skald_log::storage::{CutMode, SimStorage};
use skald_log::{Options, Store, SyncMode};

const DIR: &str = "/power";

fn open(sim: &SimStorage, options: Options) -> Store {
    Store::open(Path::new(DIR), Options { storage: Arc::new(sim.clone()), ..options }).unwrap()
}

fn append(n: u64) -> Vec<StreamAppend> {
    vec![StreamAppend::new("s-1", vec![NewEvent::new("E", json!({ "n": n, "pad": "x".repeat(700) }))])]
}

async fn log(store: &Store) -> Vec<RecordedEvent> {
    store.read(&Selector::All, ReadOptions::forward(0, 1000)).await.unwrap().events
}

/// Seed 101 of the simulation: an fsync failed and Linux dropped the pages it could not write;
/// they still read back. The store stopped, as it must, and was reopened without a power cut:
/// recovery found the dropped append in the page cache and served it, without it ever being
/// durable, so the next power cut took back what readers had seen (and, in the simulation, left a
/// sealed segment without its seal before a later one: `corrupt-data`).
#[tokio::test]
async fn what_a_failed_fsync_dropped_is_made_durable_before_it_is_served() {
    let sim = SimStorage::new();
    let store = open(&sim, Options::default());
    store.append(append(0)).await.unwrap();
    let plan = FaultPlan::always(FileKind::Segment, Op::Sync, Injected::Io);
    sim.set_plan(FaultPlan { drop_unsynced_on_sync_error: true, ..plan });
    let error = store.append(append(1)).await.unwrap_err();
    assert!(matches!(error, Error::Storage(ref m) if m.contains("fsync failed")), "{error:?}");
    sim.set_plan(FaultPlan::none());
    store.close();
    drop(store);

    let store = open(&sim, Options::default());
    let served = log(&store).await;
    assert_eq!(served.len(), 2, "the dropped append still reads back, so recovery keeps it");
    store.close();
    drop(store);
    sim.power_cut(1);

    let store = open(&sim, Options::default());
    assert_eq!(log(&store).await, served, "what was served survives the power cut");
    store.close();
}

/// Appends past the last checkpoint whose writes reached the disk out of order: a later one whole,
/// an earlier one without its first sector. Recovery took the valid frame after the damage for
/// damage inside the log and refused to open (`corrupt-data`) after an ordinary power cut; it is
/// a torn tail, cut back to the last whole append before it and reported.
#[tokio::test]
async fn writes_that_reached_the_disk_out_of_order_are_a_torn_tail() {
    let sim = SimStorage::new();
    // Relaxed: the two appends below are written and never fsynced.
    let options = || Options { sync: SyncMode::Relaxed, ..Options::default() };
    let store = open(&sim, options());
    store.append(append(0)).await.unwrap();
    store.close();
    drop(store);

    let store = open(&sim, options());
    let durable = log(&store).await;
    let segment = sim.contents(&Path::new(DIR).join("segments/00000000000000000000.seg")).unwrap();
    let end = segment.iter().rposition(|b| *b != 0).unwrap() as u64 + 1;
    store.append(append(1)).await.unwrap();
    store.append(append(2)).await.unwrap();
    store.close(); // relaxed: its checkpoint does not say they were durable (never fsynced)
    drop(store);
    sim.power_cut_as(2, Some(CutMode::Everything));
    // The first sector of append 1 never made it; append 2 did.
    let path = Path::new(DIR).join("segments/00000000000000000000.seg");
    sim.damage(&path, end, &vec![0u8; (end.next_multiple_of(512) - end) as usize]);

    let store = open(&sim, options());
    let (file, offset, _, reason) = store.recovery_report().cut_tail.clone().expect("the cut is reported");
    assert_eq!((file, offset), (path, end), "{reason}");
    assert_eq!(log(&store).await, durable, "back to the last whole append before the damage");
    store.append(append(3)).await.unwrap();
    assert_eq!(log(&store).await.len(), 2);
    store.close();
}

/// The same damage in bytes a checkpoint proved durable is damage, not a tear.
#[tokio::test]
async fn damage_before_the_last_checkpoint_stops_the_open() {
    let sim = SimStorage::new();
    let store = open(&sim, Options::default());
    for n in 0..3 {
        store.append(append(n)).await.unwrap();
    }
    store.close(); // checkpoints after an fsync
    drop(store);
    sim.power_cut(3);
    let path = Path::new(DIR).join("segments/00000000000000000000.seg");
    sim.damage(&path, 40, &[0u8; 64]);
    let Err(error) = Store::open(Path::new(DIR), Options { storage: Arc::new(sim.clone()), ..Options::default() })
    else {
        panic!("a damaged durable frame opened")
    };
    assert!(matches!(error, Error::Corrupt { ref file, offset: 32, .. } if *file == path), "{error:?}");
}

/// Seed 100007 of the second soak: a group whose write failed for lack of space was cut back and
/// the next group written at the same offsets; a power cut then kept sectors of both, every frame
/// valid, and recovery served two refused appends holding the same stream version. Since then the
/// cut is fsynced before anything is written there again: what was cut back never comes back.
#[tokio::test]
async fn a_write_cut_back_after_a_failure_never_comes_back() {
    for seed in 0..16 {
        let sim = SimStorage::new();
        let store = open(&sim, Options::default());
        // The frames of the first group land; the zeros written ahead of them do not.
        let full = Rule { kind: FileKind::Segment, op: Op::Write, chance: 0.0, error: Injected::NoSpace, nth: Some(1) };
        sim.set_plan(FaultPlan { rules: vec![full], ..FaultPlan::none() });
        let cut_back = append(1);
        let cut_back_id = cut_back[0].events[0].id;
        store.append(cut_back).await.unwrap_err();
        // The next group goes to the same offsets and is never fsynced.
        sim.set_plan(FaultPlan::always(FileKind::Segment, Op::Sync, Injected::Io));
        store.append(append(2)).await.unwrap_err();
        store.close();
        drop(store);
        sim.set_plan(FaultPlan::none());
        sim.power_cut_as(seed, Some(CutMode::Subset));

        let store = open(&sim, Options::default());
        let recovered = log(&store).await;
        assert!(
            recovered.iter().all(|e| e.id != cut_back_id),
            "seed {seed}: the cut-back append is back: {recovered:?}"
        );
        store.close();
    }
}
