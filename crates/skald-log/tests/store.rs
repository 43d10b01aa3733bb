//! Behaviour of the embedded store that the model test does not cover: subscriptions, reads as of
//! a time, idempotent retries across a restart, and metadata by age.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use skald_core::{
    AsOf, Error, EventStore, ExpectedVersion, NewEvent, ReadOptions, Selector, StreamAppend, StreamMetadata,
    SubscribeFrom, Timestamp,
};
use skald_log::{Options, Store};

fn event(n: u64) -> NewEvent {
    NewEvent::new(if n.is_multiple_of(2) { "Even" } else { "Odd" }, json!({ "n": n }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_switches_from_catch_up_to_live_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options { segment_bytes_target: 8192, ..Options::default() }).unwrap();
    for n in 0..1500 {
        store.append(vec![StreamAppend::new(format!("item-{}", n % 7), vec![event(n)])]).await.unwrap();
    }
    // Appends keep coming while the subscriber catches up.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 1500..3000 {
                store.append(vec![StreamAppend::new(format!("item-{}", n % 7), vec![event(n)])]).await.unwrap();
            }
        })
    };
    let mut all = store.subscribe(Selector::All, SubscribeFrom::Start);
    let mut odd = store.subscribe(Selector::Type("Odd".into()), SubscribeFrom::Position(1000));
    let mut one = store.subscribe(Selector::Stream("item-3".into()), SubscribeFrom::Start);
    for expected in 0..3000u64 {
        let got = tokio::time::timeout(Duration::from_secs(10), all.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(got.position, expected);
    }
    for expected in (1001..3000u64).step_by(2) {
        let got = tokio::time::timeout(Duration::from_secs(10), odd.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(got.position, expected);
    }
    for version in 0..(3000 / 7) {
        let got = tokio::time::timeout(Duration::from_secs(10), one.next()).await.unwrap().unwrap().unwrap();
        assert_eq!((got.stream.as_str(), got.version), ("item-3", version));
    }
    writer.await.unwrap();
    store.close();
}

#[tokio::test]
async fn subscription_from_end_sees_only_new_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    store.append(vec![StreamAppend::new("a", vec![event(0)])]).await.unwrap();
    let mut live = store.subscribe(Selector::All, SubscribeFrom::End);
    store.append(vec![StreamAppend::new("a", vec![event(1)])]).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), live.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(got.position, 1);
    store.close();
}

#[tokio::test]
async fn reads_as_of_a_time_see_the_past() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    store.append(vec![StreamAppend::new("acct-1", vec![event(0), event(1)])]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let between = Timestamp::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.append(vec![StreamAppend::new("acct-1", vec![event(2)])]).await.unwrap();
    let options = ReadOptions { as_of: Some(AsOf::Time(between)), ..ReadOptions::default() };
    let then = store.read(&Selector::Stream("acct-1".into()), options).await.unwrap();
    assert_eq!(then.events.len(), 2);
    let backward = ReadOptions { as_of: Some(AsOf::Time(between)), ..ReadOptions::backward(10) };
    let then = store.read(&Selector::All, backward).await.unwrap();
    assert_eq!(then.events.iter().map(|e| e.position).collect::<Vec<_>>(), vec![1, 0]);
    let before_anything = ReadOptions { as_of: Some(AsOf::Time(Timestamp(1))), ..ReadOptions::default() };
    let error = store.read(&Selector::Stream("acct-1".into()), before_anything).await.unwrap_err();
    assert_eq!(error.code(), "stream-not-found");
    store.close();
}

#[tokio::test]
async fn retries_are_idempotent_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let request = vec![
        StreamAppend::new("order-1", vec![event(0), event(1)]).expect(ExpectedVersion::NoStream),
        StreamAppend::new("stock-9", vec![event(2)]),
    ];
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let first = store.append(request.clone()).await.unwrap();
    assert!(!first.replayed);
    store.close();
    drop(store);
    let store = Store::open(dir.path(), Options::default()).unwrap();
    let again = store.append(request.clone()).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.streams, first.streams);
    assert_eq!(store.head_position(), Some(2), "nothing was written twice");
    // Re-using one id in a different append is a conflict, not a silent drop.
    let mixed = vec![StreamAppend::new("order-1", vec![request[0].events[0].clone(), event(9)])];
    let error = store.append(mixed).await.unwrap_err();
    assert!(matches!(error, Error::IdempotencyConflict { .. }), "{error:?}");
    store.close();
}

#[tokio::test]
async fn wrong_expected_version_reports_the_actual_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    store.append(vec![StreamAppend::new("cart-1", vec![event(0), event(1)])]).await.unwrap();
    let error = store
        .append(vec![StreamAppend::new("cart-1", vec![event(2)]).expect(ExpectedVersion::Exact(0))])
        .await
        .unwrap_err();
    assert_eq!(
        error,
        Error::WrongExpectedVersion { stream: "cart-1".into(), expected: ExpectedVersion::Exact(0), actual: Some(1) }
    );
    // A failed check in a multi-stream append writes nothing at all.
    let both = vec![
        StreamAppend::new("cart-2", vec![event(3)]),
        StreamAppend::new("cart-1", vec![event(4)]).expect(ExpectedVersion::NoStream),
    ];
    assert!(store.append(both).await.is_err());
    assert_eq!(store.stream_info("cart-2").await.unwrap_err().code(), "stream-not-found");
    store.close();
}

#[tokio::test]
async fn max_age_hides_old_events_from_stream_reads_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    store.append(vec![StreamAppend::new("temp-1", vec![event(0)])]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    store.append(vec![StreamAppend::new("temp-1", vec![event(1)])]).await.unwrap();
    store.set_metadata("temp-1", StreamMetadata { max_age_seconds: Some(1), ..Default::default() }).await.unwrap();
    let page = store.read(&Selector::Stream("temp-1".into()), ReadOptions::default()).await.unwrap();
    assert_eq!(page.events.iter().map(|e| e.version).collect::<Vec<_>>(), vec![1]);
    let all = store.read(&Selector::Category("temp".into()), ReadOptions::default()).await.unwrap();
    assert_eq!(all.events.len(), 2, "the global log keeps hidden events until a scavenge");
    store.close();
}

#[tokio::test]
async fn closed_store_refuses_appends() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    store.close();
    let error = store.append(vec![StreamAppend::new("a", vec![event(0)])]).await.unwrap_err();
    assert_eq!(error, Error::ShuttingDown);
}
