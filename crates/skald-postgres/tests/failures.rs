//! Lost connections: every session of the store is terminated (what a PostgreSQL restart does)
//! while appends are in flight. Each operation then fails with `unavailable` or succeeds — never
//! a wrong answer — the store reconnects by itself, retries with the same ids are idempotent, and
//! nothing acknowledged is lost.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use skald_core::{EventStore, NewEvent, ReadOptions, Selector, StreamAppend, Uuid};
use skald_postgres::PgStore;

/// Appends `request` until it is acknowledged, accepting only `unavailable` on the way.
async fn append_until_acked(store: &PgStore, request: Vec<StreamAppend>) -> (u64, usize) {
    let mut unavailable = 0;
    for _ in 0..200 {
        match store.append(request.clone()).await {
            Ok(outcome) => return (outcome.streams[0].first_position, unavailable),
            Err(error) => {
                assert_eq!(error.code(), "unavailable", "only `unavailable` while reconnecting: {error:?}");
                unavailable += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    panic!("the store did not recover within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_connections_give_unavailable_then_recover() {
    common::with_schema(|url, schema| async move {
        let store = common::connect(&url, &schema).await;
        let other = common::connect(&url, &schema).await;
        let mut acked: BTreeMap<u64, Uuid> = BTreeMap::new();
        let mut unavailable = 0;
        for round in 0..3 {
            // Appends in flight while every session of both nodes is ended.
            let mut tasks = Vec::new();
            for i in 0..20 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let event = NewEvent::new("E", json!({ "round": round, "i": i }));
                    let id = event.id;
                    let result = append_until_acked(&store, vec![StreamAppend::new(format!("s-{i}"), vec![event])]);
                    let (position, failures) = result.await;
                    (position, id, failures)
                }));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            let ended = common::terminate_sessions(&url, &schema).await;
            assert!(ended > 0, "the stores had sessions to end");
            for task in tasks {
                let (position, id, failures) = task.await.expect("appender");
                unavailable += failures;
                assert!(acked.insert(position, id).is_none(), "position {position} acknowledged twice");
            }
            // Reads recover the same way.
            let mut read = None;
            for _ in 0..100 {
                match store.read(&Selector::All, ReadOptions::forward(0, 10_000)).await {
                    Ok(page) => {
                        read = Some(page);
                        break;
                    }
                    Err(error) => {
                        assert_eq!(error.code(), "unavailable", "{error:?}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            let page = read.expect("reads recover");
            let positions: Vec<u64> = page.events.iter().map(|e| e.position).collect();
            assert_eq!(positions, (0..positions.len() as u64).collect::<Vec<_>>(), "gap-free after the failure");
            for event in &page.events {
                assert_eq!(acked.get(&event.position), Some(&event.id), "only acknowledged events, where acked");
            }
            assert_eq!(page.events.len(), acked.len(), "nothing acknowledged is lost, nothing written twice");
        }
        println!("{unavailable} appends answered `unavailable` on the way");

        // The listeners reconnected too: the other node's commits reach this node's head.
        let event = NewEvent::new("After", json!({}));
        let outcome = append_until_acked(&other, vec![StreamAppend::new("after-1", vec![event])]).await;
        assert!(common::wait_for_head(&store, outcome.0).await, "NOTIFY reaches the node after reconnecting");
        store.close().await;
        other.close().await;
    })
    .await;
}
