//! Stream metadata: max count, max age, truncate-before and soft delete hide events from stream
//! reads (not from `$all`, categories and types); a deleted stream can be recreated; a delete that
//! races with writers is atomic.

use std::time::Duration;

use skald_core::{ExpectedVersion, ReadOptions, Selector, StreamAppend, StreamMetadata};

use super::{append, event, read, read_to_end, versions};
use crate::TestStore;

pub async fn metadata_hides_events_and_a_deleted_stream_can_be_recreated(kit: TestStore) {
    let store = kit.store();
    append(&*store, "log-1", &["A", "B", "C", "D"]).await;
    store.set_metadata("log-1", StreamMetadata { max_count: Some(2), ..Default::default() }).await.unwrap();
    let visible = read(&*store, Selector::Stream("log-1".into()), ReadOptions::default()).await;
    assert_eq!(versions(&visible), vec![2, 3]);
    assert_eq!(store.stream_info("log-1").await.unwrap().metadata.max_count, Some(2));
    store.set_metadata("log-1", StreamMetadata { truncate_before: Some(3), ..Default::default() }).await.unwrap();
    let visible = read(&*store, Selector::Stream("log-1".into()), ReadOptions::default()).await;
    assert_eq!(versions(&visible), vec![3]);
    let wrong = store.delete_stream("log-1", ExpectedVersion::Exact(2)).await.unwrap_err();
    assert_eq!(wrong.code(), "wrong-expected-version");
    store.delete_stream("log-1", ExpectedVersion::Exact(3)).await.unwrap();
    let gone = store.read(&Selector::Stream("log-1".into()), ReadOptions::default()).await.unwrap_err();
    assert_eq!(gone.code(), "stream-deleted");
    let category = read(&*store, Selector::Category("log".into()), ReadOptions::default()).await;
    assert_eq!(category.len(), 4, "still in the log");
    let recreated = append(&*store, "log-1", &["E"]).await;
    assert_eq!(recreated.streams[0].first_version, 4, "versions continue");
    let visible = read(&*store, Selector::Stream("log-1".into()), ReadOptions::default()).await;
    assert_eq!(versions(&visible), vec![4]);
    let missing = store.delete_stream("never-1", ExpectedVersion::Any).await.unwrap_err();
    assert_eq!(missing.code(), "stream-not-found");
}

pub async fn metadata_by_age_and_count_hides_old_events(kit: TestStore) {
    let store = kit.store();
    append(&*store, "temp-1", &["A"]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    append(&*store, "temp-1", &["B", "C"]).await;
    store.set_metadata("temp-1", StreamMetadata { max_age_seconds: Some(1), ..Default::default() }).await.unwrap();
    let visible = read(&*store, Selector::Stream("temp-1".into()), ReadOptions::default()).await;
    assert_eq!(versions(&visible), vec![1, 2], "the old event is hidden by age");
    let backward = read(&*store, Selector::Stream("temp-1".into()), ReadOptions::backward(10)).await;
    assert_eq!(versions(&backward), vec![2, 1]);
    let combined = StreamMetadata { max_age_seconds: Some(1), max_count: Some(1), ..Default::default() };
    store.set_metadata("temp-1", combined.clone()).await.unwrap();
    let visible = read(&*store, Selector::Stream("temp-1".into()), ReadOptions::default()).await;
    assert_eq!(versions(&visible), vec![2]);
    assert_eq!(store.stream_info("temp-1").await.unwrap().metadata, combined);
    let category = read(&*store, Selector::Category("temp".into()), ReadOptions::default()).await;
    assert_eq!(category.len(), 3, "the global log keeps hidden events until a scavenge");
}

/// A delete with `any` while writers append: the metadata event hides exactly the versions that
/// were written before it in the log, never a later one, and never leaves a half-deleted stream.
pub async fn delete_stream_races_with_writers_atomically(kit: TestStore) {
    let store = kit.store();
    append(&*store, "busy-1", &["A"]).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..40 {
                    store.append(vec![StreamAppend::new("busy-1", vec![event("W", w * 100 + n)])]).await.unwrap();
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(2)).await;
    let deleted = store.delete_stream("busy-1", ExpectedVersion::Any).await.unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let at = deleted.streams[0].first_position;
    let metadata: StreamMetadata =
        read_to_end(&*store, Selector::Stream("$meta-busy-1".into())).await[0].data.decode().unwrap();
    let truncate_before = metadata.truncate_before.expect("a delete truncates");
    let history = read_to_end(&*store, Selector::Category("busy".into())).await;
    for event in &history {
        let hidden = event.version < truncate_before;
        assert_eq!(hidden, event.position < at, "version {} at {} vs delete at {at}", event.version, event.position);
    }
}
