//! Connect and reconnect: idempotent retries across a reopen, schema versions (migrating
//! concurrently, refusing a newer schema), and NOTIFY waking another node's subscriber.

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use skald_core::{Error, EventStore, ExpectedVersion, NewEvent, Selector, StreamAppend, SubscribeFrom};
use skald_postgres::schema::SCHEMA_VERSION;
use skald_postgres::PgStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_reopen_is_answered_with_the_original_positions() {
    common::with_schema(|url, schema| async move {
        let store = common::connect(&url, &schema).await;
        store.append(vec![StreamAppend::new("other-1", vec![NewEvent::new("A", json!({}))])]).await.expect("append");
        let request = vec![
            StreamAppend::new("pay-1", vec![NewEvent::new("A", json!({"n": 1})), NewEvent::new("B", json!({"n": 2}))])
                .expect(ExpectedVersion::NoStream),
            StreamAppend::new("pay-2", vec![NewEvent::new("C", json!({"n": 3}))]),
        ];
        let first = store.append(request.clone()).await.expect("first");
        store.close().await;
        assert_eq!(store.append(request.clone()).await.unwrap_err(), Error::ShuttingDown);

        let store = common::connect(&url, &schema).await;
        assert_eq!(store.head_position(), Some(3), "the head is read at connect");
        let again = store.append(request).await.expect("retry");
        assert!(again.replayed);
        assert_eq!(again.streams, first.streams);
        assert_eq!(store.head_position(), Some(3), "nothing written twice");
        store.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused_with_both_versions_named() {
    common::with_schema(|url, schema| async move {
        let store = common::connect(&url, &schema).await;
        store.close().await;
        let newer = SCHEMA_VERSION + 7;
        let raw = common::raw_client(&url).await;
        raw.batch_execute(&format!("UPDATE \"{schema}\".skald_schema_version SET version = {newer}"))
            .await
            .expect("bump the version");
        let error = PgStore::connect(common::options(&url, &schema)).await.err().expect("refused");
        let text = error.to_string();
        assert_eq!(error.code(), "storage-error");
        assert!(text.contains(&format!("version {newer}")), "{text}");
        assert!(text.contains(&format!("up to {SCHEMA_VERSION}")), "{text}");
        assert!(text.contains("upgrade Skald"), "{text}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    common::with_schema(|url, schema| async move {
        let connects = (0..4).map(|_| PgStore::connect(common::options(&url, &schema)));
        let stores: Vec<PgStore> =
            futures_util::future::join_all(connects).await.into_iter().map(|s| s.expect("connect")).collect();
        let raw = common::raw_client(&url).await;
        let rows =
            raw.query(&format!("SELECT version FROM \"{schema}\".skald_schema_version"), &[]).await.expect("versions");
        let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(versions, vec![SCHEMA_VERSION]);
        // They all write to the same log.
        for (i, store) in stores.iter().enumerate() {
            let event = NewEvent::new("Started", json!({ "node": i }));
            let outcome = store.append(vec![StreamAppend::new("nodes", vec![event])]).await.expect("append");
            assert_eq!(outcome.streams[0].first_position, i as u64);
        }
        for store in stores {
            store.close().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_wakes_a_subscriber_on_another_node() {
    common::with_schema(|url, schema| async move {
        let reader = common::connect(&url, &schema).await;
        let writer = common::connect(&url, &schema).await;
        let mut live = reader.subscribe(Selector::Category("order".into()), SubscribeFrom::End);
        // Let the subscription reach its wait for the head to move.
        let pending = tokio::time::timeout(Duration::from_millis(200), live.next()).await;
        assert!(pending.is_err(), "nothing to deliver yet");
        for i in 0..3u64 {
            let event = NewEvent::new("Placed", json!({ "i": i }));
            writer.append(vec![StreamAppend::new(format!("order-{i}"), vec![event])]).await.expect("append");
            let next = tokio::time::timeout(Duration::from_secs(5), live.next()).await;
            let event = next.expect("woken in time").expect("open").expect("event");
            assert_eq!((event.position, event.stream.as_str()), (i, format!("order-{i}").as_str()));
            assert!(reader.head_position() >= Some(i), "the reader's head moved by NOTIFY");
        }
        reader.close().await;
        writer.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_are_refused_before_connecting() {
    let options = skald_postgres::PgOptions { schema: "Not-Valid".into(), ..skald_postgres::PgOptions::new("x") };
    let error = PgStore::connect(options).await.err().expect("refused");
    assert!(matches!(error, Error::Invalid { ref field, .. } if field == "schema"), "{error:?}");
    let error = PgStore::connect(skald_postgres::PgOptions::new("postgres://[bad")).await.err().expect("refused");
    assert!(matches!(error, Error::Invalid { ref field, .. } if field == "url"), "{error:?}");
    // Nothing listens on port 1: unavailable, not a panic or a hang.
    let options = skald_postgres::PgOptions {
        connect_timeout: Duration::from_secs(2),
        ..skald_postgres::PgOptions::new("postgres://postgres@127.0.0.1:1/test")
    };
    let error = PgStore::connect(options).await.err().expect("refused");
    assert_eq!(error.code(), "unavailable", "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_writer_queue_answers_overloaded() {
    common::with_schema(|url, schema| async move {
        let options = skald_postgres::PgOptions { writer_queue_appends_max: 2, ..common::options(&url, &schema) };
        let store = PgStore::connect(options).await.expect("connect");
        // Hold the commit lock, so the writer's first call waits and the queue behind it fills.
        let raw = common::raw_client(&url).await;
        raw.batch_execute("BEGIN").await.expect("begin");
        let lock = format!(
            "SELECT pg_advisory_xact_lock({}, hashtext('{schema}'))",
            skald_postgres::schema::APPEND_LOCK_CLASS
        );
        raw.batch_execute(&lock).await.expect("lock");
        let append = |i: u64| {
            let store = store.clone();
            tokio::spawn(async move {
                store.append(vec![StreamAppend::new("q-1", vec![NewEvent::new("A", json!({ "i": i }))])]).await
            })
        };
        let first = append(0);
        tokio::time::sleep(Duration::from_millis(200)).await; // the writer took it and waits for the lock
        let queued = [append(1), append(2)];
        tokio::time::sleep(Duration::from_millis(100)).await;
        let refused = append(3).await.expect("task").unwrap_err();
        assert!(matches!(refused, Error::Overloaded { .. }), "{refused:?}");
        raw.batch_execute("COMMIT").await.expect("commit");
        assert_eq!(first.await.expect("task").expect("first").streams[0].first_position, 0);
        for task in queued {
            task.await.expect("task").expect("queued appends are committed");
        }
        store.close().await;
    })
    .await;
}
