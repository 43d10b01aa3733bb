//! The client against a real server (`MemoryStore`) on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use skald_client::{Client, ClientError, SubscribeOptions};
use skald_core::{
    AsOf, Direction, EventStore, ExpectedVersion, MemoryStore, NewEvent, ReadOptions, Selector, StreamAppend,
    StreamMetadata, SubscribeFrom,
};

mod common;
use common::start;

const WAIT: Duration = Duration::from_secs(10);

fn events(event_type: &str, range: std::ops::Range<u64>) -> Vec<NewEvent> {
    range.map(|n| NewEvent::new(event_type, json!({"n": n}))).collect()
}

#[tokio::test]
async fn every_call_round_trips() {
    let server = start(Arc::new(MemoryStore::new()), "127.0.0.1:0").await;
    let client = server.client().with_header("x-correlation-id", "c-1").unwrap();
    assert_eq!(client.health().await.unwrap().head_position, None);

    let outcome = client.append("order-1", ExpectedVersion::NoStream, events("Placed", 0..3)).await.unwrap();
    assert_eq!((outcome.first_version, outcome.last_version, outcome.replayed), (0, 2, false));
    let retry = NewEvent::new("Paid", json!(1));
    let first = client.append("order-1", ExpectedVersion::Exact(2), vec![retry.clone()]).await.unwrap();
    let again = client.append("order-1", ExpectedVersion::Exact(2), vec![retry]).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.first_position, first.first_position);

    let multi = client
        .append_multi(vec![
            StreamAppend::new("order-2", events("Placed", 0..1)).expect(ExpectedVersion::NoStream),
            StreamAppend::new("stock-1", events("Reserved", 0..2)),
        ])
        .await
        .unwrap();
    assert_eq!(multi.streams.len(), 2);
    assert_eq!(multi.streams[1].last_position, 6);

    let page = client.read_stream("order-1", ReadOptions::default()).await.unwrap();
    assert_eq!(page.events.len(), 4);
    assert_eq!(page.events[0].metadata.to_value()["correlation_id"], "c-1");
    let page = client.read_stream("order-1", ReadOptions { from: Some(1), limit: 2, ..Default::default() }).await;
    assert_eq!(page.unwrap().next, Some(3));
    let page = client.read_all(ReadOptions::backward(2)).await.unwrap();
    assert_eq!(page.events.iter().map(|e| e.position).collect::<Vec<_>>(), [6, 5]);
    let page = client.read_category("order", ReadOptions::default()).await.unwrap();
    assert_eq!(page.events.len(), 5);
    let page = client.read_type("Reserved", ReadOptions::default()).await.unwrap();
    assert_eq!(page.events.len(), 2);
    let as_of = ReadOptions { as_of: Some(AsOf::Position(2)), direction: Direction::Forward, ..Default::default() };
    assert_eq!(client.read_all(as_of).await.unwrap().events.len(), 3);
    let now = skald_core::Timestamp::now();
    let as_of = ReadOptions { as_of: Some(AsOf::Time(now)), ..Default::default() };
    assert_eq!(client.read_all(as_of).await.unwrap().events.len(), 7);

    let list = client.list_streams(None, 2).await.unwrap();
    assert_eq!(list.streams.iter().map(|s| s.stream.as_str()).collect::<Vec<_>>(), ["order-1", "order-2"]);
    let list = client.list_streams(list.next_after.as_deref(), 2).await.unwrap();
    assert_eq!(list.streams[0].stream, "stock-1");
    assert_eq!(list.next_after, None);

    let metadata = StreamMetadata { max_count: Some(1), ..Default::default() };
    assert_eq!(client.set_metadata("stock-1", &metadata).await.unwrap(), metadata);
    assert_eq!(client.metadata("stock-1").await.unwrap(), metadata);
    client.delete_stream("stock-1", ExpectedVersion::Exact(1)).await.unwrap();
    let error = client.read_stream("stock-1", ReadOptions::default()).await.unwrap_err();
    assert_eq!((error.status(), error.code()), (Some(410), Some("stream-deleted")));
    assert_eq!(client.health().await.unwrap().head_position, Some(8));
    server.stop().await;
}

#[tokio::test]
async fn problems_carry_their_fields() {
    let server = start(Arc::new(MemoryStore::new()), "127.0.0.1:0").await;
    let client = server.client();
    client.append("a-1", ExpectedVersion::Any, events("A", 0..2)).await.unwrap();
    let error = client.append("a-1", ExpectedVersion::Exact(0), events("A", 2..3)).await.unwrap_err();
    assert_eq!(error.code(), Some("wrong-expected-version"));
    assert_eq!(error.status(), Some(409));
    assert_eq!(error.actual_version(), Some(Some(1)));
    assert!(!error.is_retryable());
    let error = client.append("b-1", ExpectedVersion::Exists, events("A", 0..1)).await.unwrap_err();
    assert_eq!(error.actual_version(), Some(None));
    let error = client.append("$exec-1", ExpectedVersion::Any, events("A", 0..1)).await.unwrap_err();
    assert_eq!(error.code(), Some("invalid-request"));
    assert_eq!(error.field("field"), Some(&json!("stream")));
    let error = client.read_stream("nobody-1", ReadOptions::default()).await.unwrap_err();
    assert!(matches!(error, ClientError::Problem { status: 404, ref code, .. } if code == "stream-not-found"));
    let error = client.read_all(ReadOptions { limit: 1_000_000, ..Default::default() }).await.unwrap_err();
    assert_eq!(error.field("limit"), Some(&json!("read_events_max")));
    // Names with characters that URLs reserve are encoded as one path segment.
    client.append("odd name?#%-1", ExpectedVersion::NoStream, events("A", 0..1)).await.unwrap();
    assert_eq!(client.read_stream("odd name?#%-1", ReadOptions::default()).await.unwrap().events.len(), 1);
    assert!(matches!(Client::new("https://example.invalid"), Err(ClientError::InvalidUrl { .. })));
    assert!(matches!(Client::new("not a url"), Err(ClientError::InvalidUrl { .. })));
    server.stop().await;
}

async fn next(live: &mut skald_client::EventStream, n: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let event = tokio::time::timeout(WAIT, live.next()).await.expect("in time").expect("open");
        seen.push(event.expect("an event").position);
    }
    seen
}

#[tokio::test]
async fn subscriptions_resume_across_a_server_restart() {
    let store = MemoryStore::new();
    let server = start(Arc::new(store.clone()), "127.0.0.1:0").await;
    let addr = server.addr;
    let client = server.client();
    client.append("order-1", ExpectedVersion::Any, events("A", 0..3)).await.unwrap();
    client.append("user-1", ExpectedVersion::Any, events("B", 0..1)).await.unwrap();
    let mut all = client.subscribe(Selector::All, SubscribeFrom::Start);
    let mut orders = client.subscribe(Selector::Category("order".into()), SubscribeFrom::Position(1));
    assert_eq!(next(&mut all, 4).await, [0, 1, 2, 3]);
    let first = tokio::time::timeout(WAIT, orders.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.position, 1);

    // The server goes away (its live streams end) and comes back on the same port.
    server.stop().await;
    store.append(vec![StreamAppend::new("order-2", events("A", 0..2))]).await.unwrap();
    let server = start(Arc::new(store.clone()), &addr.to_string()).await;
    assert_eq!(next(&mut all, 2).await, [4, 5], "no gap and no duplicate after the reconnect");
    client.append("order-3", ExpectedVersion::Any, events("A", 0..1)).await.unwrap();
    assert_eq!(next(&mut all, 1).await, [6]);
    let mut positions = Vec::new();
    for _ in 0..4 {
        positions.push(tokio::time::timeout(WAIT, orders.next()).await.unwrap().unwrap().unwrap().position);
    }
    assert_eq!(positions, [2, 4, 5, 6]);
    server.stop().await;
}

#[tokio::test]
async fn subscriptions_from_the_end_and_their_failures() {
    let server = start(Arc::new(MemoryStore::new()), "127.0.0.1:0").await;
    let client = server.client();
    client.append("order-1", ExpectedVersion::Any, events("A", 0..2)).await.unwrap();
    let mut live = client.subscribe(Selector::Stream("order-1".into()), SubscribeFrom::End);
    let pending = tokio::time::timeout(Duration::from_millis(300), live.next()).await;
    assert!(pending.is_err(), "nothing before new events");
    client.append("order-1", ExpectedVersion::Any, events("A", 2..3)).await.unwrap();
    let event = tokio::time::timeout(WAIT, live.next()).await.unwrap().unwrap().unwrap();
    assert_eq!((event.version, event.position), (2, 2));

    let mut bad = client.subscribe(Selector::Type(String::new()), SubscribeFrom::Start);
    let error = tokio::time::timeout(WAIT, bad.next()).await.unwrap().unwrap().unwrap_err();
    assert_eq!(error.code(), Some("invalid-request"), "{error}");
    assert!(bad.next().await.is_none(), "a refused subscription ends");

    let addr = server.addr;
    server.stop().await;
    let options = SubscribeOptions {
        reconnects_max: 2,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
    };
    let gone = Client::new(&format!("http://{addr}")).unwrap();
    let mut live = gone.subscribe_with(Selector::All, SubscribeFrom::Start, options);
    let error = tokio::time::timeout(WAIT, live.next()).await.unwrap().unwrap().unwrap_err();
    assert!(matches!(error, ClientError::Transport(_)), "{error}");
    assert!(live.next().await.is_none());
}
