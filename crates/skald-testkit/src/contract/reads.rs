//! Reads: paging both ways by stream, category, type and `$all`; as of a position and a time;
//! the stream list; data and metadata kept byte for byte across a reopen.

use std::time::Duration;

use serde_json::json;
use skald_core::{AsOf, Direction, Json, NewEvent, ReadOptions, Selector, StreamAppend, Timestamp};

use super::{append, event, positions, read, read_to_end, versions};
use crate::TestStore;

pub async fn reads_page_both_ways_by_stream_category_type_and_all(kit: TestStore) {
    let store = kit.store();
    for i in 0..10u64 {
        let stream = format!("{}-{}", if i % 2 == 0 { "cart" } else { "user" }, i % 3);
        let kind = if i < 5 { "Early" } else { "Late" };
        store.append(vec![StreamAppend::new(stream, vec![event(kind, i)])]).await.unwrap();
    }
    let page = store.read(&Selector::All, ReadOptions::forward(2, 3)).await.unwrap();
    assert_eq!((positions(&page.events), page.next), (vec![2, 3, 4], Some(5)));
    let page = store.read(&Selector::All, ReadOptions { from: Some(8), ..ReadOptions::backward(3) }).await.unwrap();
    assert_eq!((positions(&page.events), page.next), (vec![8, 7, 6], Some(5)));
    let carts = read(&*store, Selector::Category("cart".into()), ReadOptions::default()).await;
    assert_eq!(positions(&carts), vec![0, 2, 4, 6, 8]);
    let late = store.read(&Selector::Type("Late".into()), ReadOptions::backward(2)).await.unwrap();
    assert_eq!((positions(&late.events), late.next), (vec![9, 8], Some(7)));
    // cart-0 holds positions 0 and 6; cart-2 holds 2 and 8; cart-1 holds 4.
    let stream = store.read(&Selector::Stream("cart-0".into()), ReadOptions::forward(0, 1)).await.unwrap();
    assert_eq!((positions(&stream.events), stream.next), (vec![0], Some(1)), "stream cursors are versions");
    let stream = read(&*store, Selector::Stream("cart-0".into()), ReadOptions::backward(10)).await;
    assert_eq!(versions(&stream), vec![1, 0]);
    let missing = store.read(&Selector::Stream("nope".into()), ReadOptions::default()).await.unwrap_err();
    assert_eq!(missing.code(), "stream-not-found");
    let past_end = store.read(&Selector::All, ReadOptions::forward(100, 10)).await.unwrap();
    assert_eq!((past_end.events.len(), past_end.next), (0, None));
    assert_eq!(store.read(&Selector::All, ReadOptions::forward(0, 0)).await.unwrap_err().code(), "invalid-request");
    let over = ReadOptions::forward(0, skald_core::limits::READ_EVENTS_MAX + 1);
    assert_eq!(store.read(&Selector::All, over).await.unwrap_err().code(), "limit-exceeded");
}

pub async fn reads_as_of_a_position_see_the_past(kit: TestStore) {
    let store = kit.store();
    append(&*store, "acct-1", &["Opened", "Deposited"]).await;
    append(&*store, "acct-2", &["Opened"]).await;
    append(&*store, "acct-1", &["Withdrawn"]).await;
    let then = ReadOptions { as_of: Some(AsOf::Position(2)), ..ReadOptions::default() };
    let stream = read(&*store, Selector::Stream("acct-1".into()), then).await;
    assert_eq!(stream.len(), 2, "the withdrawal came later");
    let backward =
        ReadOptions { as_of: Some(AsOf::Position(2)), direction: Direction::Backward, ..ReadOptions::default() };
    assert_eq!(positions(&read(&*store, Selector::All, backward).await), vec![2, 1, 0]);
    let before = ReadOptions { as_of: Some(AsOf::Position(1)), ..ReadOptions::default() };
    let error = store.read(&Selector::Stream("acct-2".into()), before).await.unwrap_err();
    assert_eq!(error.code(), "stream-not-found");
}

pub async fn reads_as_of_a_time_see_the_past(kit: TestStore) {
    let store = kit.store();
    store.append(vec![StreamAppend::new("acct-1", vec![event("A", 0), event("A", 1)])]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let between = Timestamp::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.append(vec![StreamAppend::new("acct-1", vec![event("A", 2)])]).await.unwrap();
    let options = ReadOptions { as_of: Some(AsOf::Time(between)), ..ReadOptions::default() };
    let then = store.read(&Selector::Stream("acct-1".into()), options).await.unwrap();
    assert_eq!(then.events.len(), 2);
    let backward = ReadOptions { as_of: Some(AsOf::Time(between)), ..ReadOptions::backward(10) };
    assert_eq!(positions(&store.read(&Selector::All, backward).await.unwrap().events), vec![1, 0]);
    let before_anything = ReadOptions { as_of: Some(AsOf::Time(Timestamp(1))), ..ReadOptions::default() };
    let error = store.read(&Selector::Stream("acct-1".into()), before_anything).await.unwrap_err();
    assert_eq!(error.code(), "stream-not-found");
}

pub async fn streams_are_listed_by_name_in_pages(kit: TestStore) {
    let store = kit.store();
    for name in ["b-1", "a-1", "c-1", "a-2"] {
        append(&*store, name, &["A"]).await;
    }
    append(&*store, "a-1", &["B"]).await;
    let names = |list: &skald_core::StreamList| {
        list.streams.iter().map(|s| (s.stream.clone(), s.head_version)).collect::<Vec<_>>()
    };
    let first = store.list_streams(None, 2).await.unwrap();
    assert_eq!(names(&first), vec![("a-1".into(), 1), ("a-2".into(), 0)]);
    let rest = store.list_streams(first.next_after.as_deref(), 10).await.unwrap();
    assert_eq!(names(&rest), vec![("b-1".into(), 0), ("c-1".into(), 0)]);
    assert_eq!(rest.next_after, None);
    // A page may start after a name no stream has, and end on a stream of several appends.
    let from_gap = store.list_streams(Some("a-15"), 1).await.unwrap();
    assert_eq!(names(&from_gap), vec![("a-2".into(), 0)]);
    assert_eq!(from_gap.next_after.as_deref(), Some("a-2"));
    assert_eq!(names(&store.list_streams(None, 1).await.unwrap()), vec![("a-1".into(), 1)]);
}

/// Data and metadata come back exactly as written (whitespace, key order, escapes, non-ASCII,
/// large values), before and after a reopen, and so do positions, versions, ids and timestamps.
pub async fn data_survives_reopen_byte_for_byte(mut kit: TestStore) {
    let texts: [&[u8]; 5] = [
        br#"{"b": 1,  "a": [true, null, 1.50, 1e3]}"#,
        "{\"name\":\"Ærøskøbing \u{1F600}\",\"esc\":\"\\u00e9\\n\"}".as_bytes(),
        b"  [1,2,3]  ",
        b"\"just a string\"",
        b"12345678901234567890.123",
    ];
    let big = json!({"pad": "x".repeat(300_000)});
    let mut events: Vec<NewEvent> = texts
        .iter()
        .map(|t| NewEvent::new("Raw", Json::from_slice(t).unwrap()).with_metadata(json!({"k": "v", "n": [1, 2]})))
        .collect();
    events.push(NewEvent::new("Big", big));
    kit.store().append(vec![StreamAppend::new("raw-1", events.clone())]).await.unwrap();
    let before = read_to_end(&*kit.store(), Selector::All).await;
    kit.reopen().await;
    let after = read_to_end(&*kit.store(), Selector::All).await;
    assert_eq!(before, after, "a reopen changes nothing");
    for (stored, sent) in after.iter().zip(&events) {
        assert_eq!(stored.data.as_bytes(), sent.data.as_bytes(), "data of {} kept byte for byte", stored.position);
        assert_eq!(stored.metadata.as_bytes(), sent.metadata.as_bytes());
        assert_eq!((stored.id, stored.event_type.as_str()), (sent.id, sent.event_type.as_str()));
    }
}
