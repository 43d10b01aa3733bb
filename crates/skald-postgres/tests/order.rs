//! Commit order and gap-free positions across nodes: the classic bug of PostgreSQL event stores is
//! a reader that skips an event committing later with a lower position. Here several nodes append
//! concurrently while raw transactions hold the commit lock or an append in progress (and roll some
//! back), and every reader — subscriptions and paged reads — must see 0..N with nothing skipped.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use skald_core::{
    EventStore, EventStream, ExpectedVersion, NewEvent, ReadOptions, Selector, StreamAppend, SubscribeFrom, Uuid,
};

const NODES: usize = 3;
const APPENDERS_PER_NODE: usize = 8;
const APPENDS_PER_APPENDER: usize = 40;

/// Reads a subscription until it has delivered `count` events; returns their positions and ids.
async fn drain(mut events: EventStream, count: usize) -> Vec<(u64, Uuid)> {
    let mut seen = Vec::with_capacity(count);
    while seen.len() < count {
        let next = tokio::time::timeout(Duration::from_secs(30), events.next()).await;
        let event = next.expect("an event in time").expect("the subscription goes on").expect("no error");
        seen.push((event.position, event.id));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_skip_an_event_across_nodes() {
    common::with_schema(|url, schema| async move {
        let mut nodes = Vec::new();
        for _ in 0..NODES {
            nodes.push(common::connect(&url, &schema).await);
        }
        let all = nodes[0].subscribe(Selector::All, SubscribeFrom::Start);
        let category = nodes[1].subscribe(Selector::Category("cat".into()), SubscribeFrom::Start);
        // `done`: the appenders have finished; `settled`: the disruptors too (nothing more commits).
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let settled = Arc::new(std::sync::atomic::AtomicBool::new(false));

        // Paged reader on the last node: every page of `$all` must continue exactly where the last ended.
        let pager = {
            let store = nodes[NODES - 1].clone();
            let settled = settled.clone();
            tokio::spawn(async move {
                let mut cursor = 0u64;
                loop {
                    let finished = settled.load(std::sync::atomic::Ordering::SeqCst);
                    let page = store.read(&Selector::All, ReadOptions::forward(cursor, 97)).await.expect("page");
                    for event in &page.events {
                        assert_eq!(event.position, cursor, "a paged read skipped or repeated a position");
                        cursor += 1;
                    }
                    if finished && page.events.is_empty() {
                        return cursor;
                    }
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            })
        };

        // Disruptors: hold the commit lock for a while, or an append in progress that commits or
        // rolls back, from connections that are not Skald's writers.
        let mut disruptors = Vec::new();
        for d in 0..2 {
            let (url, schema, done) = (url.clone(), schema.clone(), done.clone());
            disruptors.push(tokio::spawn(async move {
                let client = common::raw_client(&url).await;
                let mut committed = 0u64;
                let mut round = 0u64;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    round += 1;
                    client.batch_execute("BEGIN").await.expect("begin");
                    let holds_lock_only = round.is_multiple_of(2);
                    if holds_lock_only {
                        let lock = format!(
                            "SELECT pg_advisory_xact_lock({}, hashtext('{schema}'))",
                            skald_postgres::schema::APPEND_LOCK_CLASS
                        );
                        client.batch_execute(&lock).await.expect("lock");
                    } else {
                        client
                            .batch_execute(&common::raw_append_sql(&schema, &format!("cat-raw{d}")))
                            .await
                            .expect("raw");
                    }
                    tokio::time::sleep(Duration::from_millis(15)).await;
                    // Every third raw append rolls back: it must leave no gap behind.
                    if !holds_lock_only && round.is_multiple_of(3) {
                        client.batch_execute("ROLLBACK").await.expect("rollback");
                    } else {
                        client.batch_execute("COMMIT").await.expect("commit");
                        committed += u64::from(!holds_lock_only);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                committed
            }));
        }

        let mut appenders = Vec::new();
        for (n, node) in nodes.iter().enumerate() {
            for a in 0..APPENDERS_PER_NODE {
                let store = node.clone();
                appenders.push(tokio::spawn(async move {
                    let mut acked = Vec::new();
                    for i in 0..APPENDS_PER_APPENDER {
                        let stream = format!("{}-{n}x{a}", if i % 3 == 0 { "other" } else { "cat" });
                        let count = 1 + i % 3;
                        let events: Vec<NewEvent> = (0..count).map(|k| NewEvent::new("E", json!({"k": k}))).collect();
                        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
                        // Streams of one appender: its expected versions hold unless something is lost.
                        let outcome =
                            store.append(vec![StreamAppend::new(stream.clone(), events)]).await.expect("append");
                        let placed = &outcome.streams[0];
                        for (k, id) in ids.into_iter().enumerate() {
                            acked.push((placed.first_position + k as u64, id, stream.clone()));
                        }
                    }
                    acked
                }));
            }
        }
        let mut acked: BTreeMap<u64, (Uuid, String)> = BTreeMap::new();
        for appender in appenders {
            for (position, id, stream) in appender.await.expect("appender") {
                assert!(acked.insert(position, (id, stream)).is_none(), "position {position} acknowledged twice");
            }
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut raw_committed = 0;
        for disruptor in disruptors {
            raw_committed += disruptor.await.expect("disruptor");
        }
        settled.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(raw_committed > 0, "the disruptors committed something");

        let head = nodes[0].read(&Selector::All, ReadOptions::backward(1)).await.expect("head").events[0].position;
        let total = head as usize + 1;
        assert_eq!(total, acked.len() + raw_committed as usize, "every committed event has a position, no more");

        let seen = drain(all, total).await;
        for (expected, (position, id)) in seen.iter().enumerate() {
            assert_eq!(*position, expected as u64, "the $all subscription skipped or repeated");
            if let Some((acked_id, _)) = acked.get(position) {
                assert_eq!(id, acked_id, "position {position} holds another event than acknowledged");
            }
        }
        let in_category: HashMap<u64, Uuid> = seen
            .iter()
            .filter(|(p, _)| acked.get(p).is_none_or(|(_, stream)| stream.starts_with("cat-")))
            .copied()
            .collect();
        let by_category = drain(category, in_category.len()).await;
        assert!(by_category.windows(2).all(|w| w[0].0 < w[1].0), "category order");
        for (position, id) in &by_category {
            assert_eq!(in_category.get(position), Some(id), "category reader saw a foreign or missing event");
        }
        assert_eq!(pager.await.expect("pager"), total as u64, "the paged reader reached the head");
        for node in &nodes {
            // Every node's watch has caught up (its own commits or NOTIFY from the others).
            assert!(common::wait_for_head(node, head).await, "a node's head stayed behind");
            node.close().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_commit_delays_later_commits_instead_of_being_overtaken() {
    common::with_schema(|url, schema| async move {
        let a = common::connect(&url, &schema).await;
        let b = common::connect(&url, &schema).await;
        a.append(vec![StreamAppend::new("seed-1", vec![NewEvent::new("Seed", json!({}))])]).await.expect("seed");

        // A commit in progress elsewhere: position 1 is taken, not yet visible.
        let raw = common::raw_client(&url).await;
        raw.batch_execute("BEGIN").await.expect("begin");
        let row = raw.query_one(&common::raw_append_sql(&schema, "slow-1"), &[]).await.expect("raw append");
        assert_eq!(row.get::<_, i64>(0), 1);

        let later = {
            let b = b.clone();
            tokio::spawn(async move {
                let event = NewEvent::new("Later", json!({}));
                b.append(vec![StreamAppend::new("fast-1", vec![event]).expect(ExpectedVersion::NoStream)]).await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!later.is_finished(), "a later commit must wait for the open one");
        let page = a.read(&Selector::All, ReadOptions::default()).await.expect("read");
        assert_eq!(page.events.len(), 1, "nothing after position 0 is visible yet");
        assert_eq!(b.head_position(), Some(0));

        raw.batch_execute("COMMIT").await.expect("commit");
        let outcome = later.await.expect("task").expect("append");
        assert_eq!(outcome.streams[0].first_position, 2, "the later commit got the later position");
        let page = a.read(&Selector::All, ReadOptions::default()).await.expect("read");
        let streams: Vec<_> = page.events.iter().map(|e| e.stream.as_str()).collect();
        assert_eq!(streams, ["seed-1", "slow-1", "fast-1"]);
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_taking_turns_on_one_stream_see_each_others_versions() {
    common::with_schema(|url, schema| async move {
        // Each writer caches the heads it wrote; a commit by anyone else must invalidate them.
        let nodes = [common::connect(&url, &schema).await, common::connect(&url, &schema).await];
        let raw = common::raw_client(&url).await;
        let mut head: Option<u64> = None;
        for i in 0..60u64 {
            if i % 7 == 3 {
                // A commit from outside both nodes' caches.
                raw.batch_execute(&common::raw_append_sql(&schema, "turns-1")).await.expect("raw append");
                head = Some(head.map_or(0, |h| h + 1));
                continue;
            }
            let node = &nodes[(i % 2) as usize];
            let stale = head.map_or(ExpectedVersion::Exact(u64::MAX), |h| {
                if h == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(h - 1)
                }
            });
            let refused = node
                .append(vec![StreamAppend::new("turns-1", vec![NewEvent::new("T", json!({ "i": i }))]).expect(stale)])
                .await
                .unwrap_err();
            assert_eq!(refused.code(), "wrong-expected-version", "{refused:?}");
            let expected = head.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
            let event = NewEvent::new("T", json!({ "i": i }));
            let outcome = node
                .append(vec![StreamAppend::new("turns-1", vec![event]).expect(expected)])
                .await
                .unwrap_or_else(|e| panic!("turn {i}: {e:?}"));
            let version = outcome.streams[0].first_version;
            assert_eq!(Some(version), Some(head.map_or(0, |h| h + 1)), "turn {i}");
            head = Some(version);
        }
        for node in &nodes {
            assert_eq!(node.stream_info("turns-1").await.expect("info").head_version, head.expect("written"));
            node.close().await;
        }
    })
    .await;
}
