//! Format compatibility: a store written by format version 1 (checked in under
//! `tests/fixtures/format-v1`) must open and read back exactly, forever. If this test fails, the
//! on-disk format changed: bump `FORMAT_VERSION` and keep a reader for version 1 instead.
//!
//! `SKALD_WRITE_FIXTURE=1 cargo test -p skald-log --test format_v1` rewrites the fixture (only ever
//! for a new format version, into a new directory).

use std::path::{Path, PathBuf};

use serde_json::json;
use skald_core::{EventStore, Json, NewEvent, ReadOptions, Selector, StreamAppend, Uuid};
use skald_log::{Options, Store};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1")
}

fn events() -> Vec<StreamAppend> {
    let event = |n: u128, kind: &str, data: serde_json::Value| {
        NewEvent::new(kind, data).with_id(Uuid::from_u128(n)).with_metadata(json!({"correlation_id": format!("c{n}")}))
    };
    vec![
        StreamAppend::new(
            "order-1",
            vec![event(1, "OrderPlaced", json!({"total": 12})), event(2, "OrderPaid", json!({}))],
        ),
        StreamAppend::new("stock-7", vec![event(3, "Reserved", json!({"sku": "ä-∑", "n": [1, 2.5, null]}))]),
        StreamAppend::new("order-2", vec![event(4, "OrderPlaced", json!({"total": 99}))]),
    ]
}

/// Options with tiny segments, so the fixture holds a sealed segment and an active one.
fn options() -> Options {
    Options { segment_bytes_target: 300, ..Options::default() }
}

#[tokio::test]
async fn a_format_1_store_reads_back_exactly() {
    if std::env::var("SKALD_WRITE_FIXTURE").is_ok() {
        let _ = std::fs::remove_dir_all(fixture());
        let store = Store::open(fixture(), options()).unwrap();
        for append in events() {
            store.append(vec![append]).await.unwrap();
        }
        store.close();
        drop(store);
        for derived in ["index.redb", "LOCK"] {
            std::fs::remove_file(fixture().join(derived)).unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("segments")).unwrap();
    let mut segments = 0;
    for entry in std::fs::read_dir(fixture().join("segments")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join("segments").join(entry.file_name())).unwrap();
        segments += 1;
    }
    assert!(segments >= 2, "the fixture has a sealed segment and an active one");
    let store = Store::open(dir.path(), options()).unwrap();
    assert!(store.recovery_report().index_rebuilt);
    let page = store.read(&Selector::All, ReadOptions::forward(0, 100)).await.unwrap();
    let expected: Vec<(u64, String, u64, Uuid, String, Json)> = events()
        .into_iter()
        .flat_map(|a| {
            let stream = a.stream.clone();
            a.events.into_iter().enumerate().map(move |(i, e)| (stream.clone(), i as u64, e))
        })
        .enumerate()
        .map(|(position, (stream, version, e))| {
            let version = if stream == "order-1" { version } else { 0 };
            (position as u64, stream, version, e.id, e.event_type, e.data)
        })
        .collect();
    let actual: Vec<_> = page
        .events
        .iter()
        .map(|e| (e.position, e.stream.clone(), e.version, e.id, e.event_type.clone(), e.data.clone()))
        .collect();
    assert_eq!(actual, expected);
    assert_eq!(page.events[2].metadata.to_value(), json!({"correlation_id": "c3"}));
    // Timestamps were stored too, and never go backwards.
    assert!(page.events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp && w[0].timestamp.micros() > 0));
    store.close();
}
