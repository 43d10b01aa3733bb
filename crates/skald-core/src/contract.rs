//! The `EventStore` contract as one test suite that every backend runs (feature `contract`).
//!
//! Each case in [`cases`] takes a fresh, empty store and checks one promise of the trait;
//! [`event_store_contract!`](crate::event_store_contract) turns them all into `#[tokio::test]`s.
//! A backend that passes the suite is interchangeable with the others; a bug found once gets a case
//! here and is then tested everywhere.
//!
//! ```ignore
//! // tests/contract.rs of a backend crate (dev-dependencies: skald-core with feature `contract`, tokio)
//! skald_core::event_store_contract!(|| std::sync::Arc::new(my_backend()) as std::sync::Arc<dyn skald_core::EventStore>);
//! ```

/// Turns every case of [`cases`] into a `#[tokio::test]` using `$make_store` for a fresh store.
#[macro_export]
macro_rules! event_store_contract {
    ($make_store:expr) => {
        $crate::event_store_contract!(@cases $make_store;
            appends_get_gap_free_positions_and_versions,
            expected_versions_hold_and_report_the_actual_version,
            retries_are_idempotent_and_overlaps_refused,
            multi_stream_appends_are_all_or_nothing,
            reads_page_both_ways_by_stream_category_type_and_all,
            reads_as_of_a_position_see_the_past,
            metadata_hides_events_and_a_deleted_stream_can_be_recreated,
            streams_are_listed_by_name_in_pages,
            subscriptions_catch_up_then_follow_live,
            invalid_appends_name_the_field,
            conditions_guard_appends_atomically
        );
    };
    (@cases $make_store:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let make_store = $make_store;
                $crate::contract::cases::$case(make_store()).await;
            }
        )*
    };
}

/// One async function per promise of the trait.
pub mod cases {
    use std::sync::Arc;
    use std::time::Duration;

    use futures_util::StreamExt;
    use serde_json::json;
    use uuid::Uuid;

    use crate::{
        AsOf, Direction, Error, EventStore, ExpectedVersion, NewEvent, ReadOptions, RecordedEvent, Selector,
        StreamAppend, StreamCondition, StreamMetadata, SubscribeFrom,
    };

    fn event(kind: &str, n: u64) -> NewEvent {
        NewEvent::new(kind, json!({ "n": n }))
    }

    async fn append(store: &dyn EventStore, stream: &str, kinds: &[&str]) -> crate::AppendOutcome {
        let events = kinds.iter().enumerate().map(|(i, k)| event(k, i as u64)).collect();
        store.append(vec![StreamAppend::new(stream, events)]).await.expect("append")
    }

    async fn read(store: &dyn EventStore, selector: Selector, options: ReadOptions) -> Vec<RecordedEvent> {
        store.read(&selector, options).await.expect("read").events
    }

    fn positions(events: &[RecordedEvent]) -> Vec<u64> {
        events.iter().map(|e| e.position).collect()
    }

    pub async fn appends_get_gap_free_positions_and_versions(store: Arc<dyn EventStore>) {
        assert_eq!(store.head_position(), None);
        let first = append(&*store, "order-1", &["A", "B"]).await;
        assert_eq!((first.streams[0].first_position, first.streams[0].last_position), (0, 1));
        assert_eq!((first.streams[0].first_version, first.streams[0].last_version), (0, 1));
        let second = append(&*store, "order-2", &["A"]).await;
        assert_eq!((second.streams[0].first_position, second.streams[0].first_version), (2, 0));
        let third = append(&*store, "order-1", &["C"]).await;
        assert_eq!((third.streams[0].first_position, third.streams[0].first_version), (3, 2));
        assert_eq!(store.head_position(), Some(3));
        let all = read(&*store, Selector::All, ReadOptions::default()).await;
        assert_eq!(positions(&all), vec![0, 1, 2, 3]);
        assert!(all.windows(2).all(|w| w[0].timestamp <= w[1].timestamp), "timestamps never go back");
        let info = store.stream_info("order-1").await.unwrap();
        assert_eq!((info.head_version, info.head_position), (2, 3));
    }

    pub async fn expected_versions_hold_and_report_the_actual_version(store: Arc<dyn EventStore>) {
        let try_append = |stream: &'static str, expected| {
            let store = store.clone();
            async move { store.append(vec![StreamAppend::new(stream, vec![event("A", 0)]).expect(expected)]).await }
        };
        assert!(try_append("s", ExpectedVersion::Exists).await.is_err());
        try_append("s", ExpectedVersion::NoStream).await.unwrap();
        let error = try_append("s", ExpectedVersion::NoStream).await.unwrap_err();
        assert_eq!(
            error,
            Error::WrongExpectedVersion { stream: "s".into(), expected: ExpectedVersion::NoStream, actual: Some(0) }
        );
        try_append("s", ExpectedVersion::Exact(0)).await.unwrap();
        try_append("s", ExpectedVersion::Exists).await.unwrap();
        try_append("s", ExpectedVersion::Any).await.unwrap();
        let error = try_append("s", ExpectedVersion::Exact(1)).await.unwrap_err();
        assert!(matches!(error, Error::WrongExpectedVersion { actual: Some(3), .. }), "{error:?}");
        assert_eq!(error.code(), "wrong-expected-version");
    }

    pub async fn retries_are_idempotent_and_overlaps_refused(store: Arc<dyn EventStore>) {
        let request =
            vec![StreamAppend::new("pay-1", vec![event("A", 0), event("B", 1)]).expect(ExpectedVersion::NoStream)];
        let first = store.append(request.clone()).await.unwrap();
        assert!(!first.replayed);
        // A retry succeeds with the original positions although the expected version no longer holds.
        let again = store.append(request.clone()).await.unwrap();
        assert!(again.replayed);
        assert_eq!(again.streams, first.streams);
        assert_eq!(store.head_position(), Some(1), "nothing written twice");
        // A new event next to a stored one is neither a retry nor new: refused whole.
        let overlap = vec![StreamAppend::new("pay-1", vec![event("C", 2), request[0].events[1].clone()])];
        let error = store.append(overlap).await.unwrap_err();
        assert!(
            matches!(error, Error::IdempotencyConflict { id, ref stream, version: 1, .. }
                if id == request[0].events[1].id && stream == "pay-1"),
            "{error:?}"
        );
        // The same ids in another stream are a conflict too.
        let elsewhere = vec![StreamAppend::new("pay-2", request[0].events.clone())];
        assert_eq!(store.append(elsewhere).await.unwrap_err().code(), "idempotency-conflict");
        assert_eq!(store.head_position(), Some(1));
    }

    pub async fn multi_stream_appends_are_all_or_nothing(store: Arc<dyn EventStore>) {
        append(&*store, "stock-1", &["Stocked"]).await;
        let both = vec![
            StreamAppend::new("order-9", vec![event("Placed", 0)]),
            StreamAppend::new("stock-1", vec![event("Reserved", 1)]).expect(ExpectedVersion::Exact(0)),
        ];
        let outcome = store.append(both).await.unwrap();
        assert_eq!(outcome.streams.len(), 2);
        assert_eq!(outcome.streams[1].first_position, outcome.streams[0].last_position + 1);
        let failing = vec![
            StreamAppend::new("order-10", vec![event("Placed", 0)]),
            StreamAppend::new("stock-1", vec![event("Reserved", 1)]).expect(ExpectedVersion::Exact(0)),
        ];
        assert_eq!(store.append(failing).await.unwrap_err().code(), "wrong-expected-version");
        assert_eq!(store.stream_info("order-10").await.unwrap_err().code(), "stream-not-found");
        assert_eq!(store.head_position(), Some(2));
    }

    pub async fn reads_page_both_ways_by_stream_category_type_and_all(store: Arc<dyn EventStore>) {
        for i in 0..10u64 {
            let stream = format!("{}-{}", if i % 2 == 0 { "cart" } else { "user" }, i % 3);
            store
                .append(vec![StreamAppend::new(stream, vec![event(if i < 5 { "Early" } else { "Late" }, i)])])
                .await
                .unwrap();
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
        assert_eq!(stream.iter().map(|e| e.version).collect::<Vec<_>>(), vec![1, 0]);
        let missing = store.read(&Selector::Stream("nope".into()), ReadOptions::default()).await.unwrap_err();
        assert_eq!(missing.code(), "stream-not-found");
        let past_end = store.read(&Selector::All, ReadOptions::forward(100, 10)).await.unwrap();
        assert_eq!((past_end.events.len(), past_end.next), (0, None));
        assert_eq!(store.read(&Selector::All, ReadOptions::forward(0, 0)).await.unwrap_err().code(), "invalid-request");
    }

    pub async fn reads_as_of_a_position_see_the_past(store: Arc<dyn EventStore>) {
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
        assert_eq!(
            store.read(&Selector::Stream("acct-2".into()), before).await.unwrap_err().code(),
            "stream-not-found"
        );
    }

    pub async fn metadata_hides_events_and_a_deleted_stream_can_be_recreated(store: Arc<dyn EventStore>) {
        append(&*store, "log-1", &["A", "B", "C", "D"]).await;
        store.set_metadata("log-1", StreamMetadata { max_count: Some(2), ..Default::default() }).await.unwrap();
        let visible = read(&*store, Selector::Stream("log-1".into()), ReadOptions::default()).await;
        assert_eq!(visible.iter().map(|e| e.version).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(store.stream_info("log-1").await.unwrap().metadata.max_count, Some(2));
        store.set_metadata("log-1", StreamMetadata { truncate_before: Some(3), ..Default::default() }).await.unwrap();
        let visible = read(&*store, Selector::Stream("log-1".into()), ReadOptions::default()).await;
        assert_eq!(visible.iter().map(|e| e.version).collect::<Vec<_>>(), vec![3]);
        store.delete_stream("log-1", ExpectedVersion::Exact(3)).await.unwrap();
        let gone = store.read(&Selector::Stream("log-1".into()), ReadOptions::default()).await.unwrap_err();
        assert_eq!(gone.code(), "stream-deleted");
        assert_eq!(
            read(&*store, Selector::Category("log".into()), ReadOptions::default()).await.len(),
            4,
            "still in the log"
        );
        let recreated = append(&*store, "log-1", &["E"]).await;
        assert_eq!(recreated.streams[0].first_version, 4, "versions continue");
        let visible = read(&*store, Selector::Stream("log-1".into()), ReadOptions::default()).await;
        assert_eq!(visible.iter().map(|e| e.version).collect::<Vec<_>>(), vec![4]);
    }

    pub async fn streams_are_listed_by_name_in_pages(store: Arc<dyn EventStore>) {
        for name in ["b-1", "a-1", "c-1", "a-2"] {
            append(&*store, name, &["A"]).await;
        }
        append(&*store, "a-1", &["B"]).await;
        let first = store.list_streams(None, 2).await.unwrap();
        let names: Vec<_> = first.streams.iter().map(|s| s.stream.as_str()).collect();
        assert_eq!(names, vec!["a-1", "a-2"]);
        assert_eq!(first.streams[0].head_version, 1);
        let rest = store.list_streams(first.next_after.as_deref(), 10).await.unwrap();
        let names: Vec<_> = rest.streams.iter().map(|s| s.stream.as_str()).collect();
        assert_eq!(names, vec!["b-1", "c-1"]);
        assert_eq!(rest.next_after, None);
        // A page may start after a name no stream has, and end on a stream of several appends.
        let from_gap = store.list_streams(Some("a-15"), 1).await.unwrap();
        let names: Vec<_> = from_gap.streams.iter().map(|s| (s.stream.as_str(), s.head_version)).collect();
        assert_eq!(names, vec![("a-2", 0)]);
        assert_eq!(from_gap.next_after.as_deref(), Some("a-2"));
        let one = store.list_streams(None, 1).await.unwrap();
        let names: Vec<_> = one.streams.iter().map(|s| (s.stream.as_str(), s.head_version)).collect();
        assert_eq!(names, vec![("a-1", 1)]);
    }

    async fn next(events: &mut crate::EventStream) -> RecordedEvent {
        let next = tokio::time::timeout(Duration::from_secs(10), events.next()).await;
        next.expect("an event in time").expect("the subscription goes on").expect("no error")
    }

    pub async fn subscriptions_catch_up_then_follow_live(store: Arc<dyn EventStore>) {
        for i in 0..700 {
            append(&*store, &format!("feed-{}", i % 3), &[if i % 2 == 0 { "Even" } else { "Odd" }]).await;
        }
        let mut all = store.subscribe(Selector::All, SubscribeFrom::Position(100));
        let mut odd = store.subscribe(Selector::Type("Odd".into()), SubscribeFrom::Start);
        let mut late = store.subscribe(Selector::Category("feed".into()), SubscribeFrom::End);
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 700..1000 {
                    append(&*store, &format!("feed-{}", i % 3), &[if i % 2 == 0 { "Even" } else { "Odd" }]).await;
                }
            })
        };
        for expected in 100..1000u64 {
            assert_eq!(next(&mut all).await.position, expected, "no gap, no duplicate");
        }
        for expected in (1..1000u64).step_by(2) {
            assert_eq!(next(&mut odd).await.position, expected);
        }
        let first_live = next(&mut late).await.position;
        assert!(first_live >= 700, "from the end means only new events, got {first_live}");
        writer.await.unwrap();
    }

    pub async fn invalid_appends_name_the_field(store: Arc<dyn EventStore>) {
        let error = store.append(vec![StreamAppend::new("", vec![event("A", 0)])]).await.unwrap_err();
        assert!(matches!(error, Error::Invalid { ref field, .. } if field == "stream"), "{error:?}");
        let error = store.append(vec![StreamAppend::new("s", vec![event("", 0)])]).await.unwrap_err();
        assert!(matches!(error, Error::Invalid { ref field, .. } if field == "events[0].type"), "{error:?}");
        let twice = event("A", 0);
        let error = store.append(vec![StreamAppend::new("s", vec![twice.clone(), twice.with_id(Uuid::nil())])]).await;
        assert!(error.is_ok(), "distinct ids are fine");
        let (a, b) = (event("A", 0), event("B", 0));
        let error =
            store.append(vec![StreamAppend::new("s", vec![a.clone(), b.clone(), a.clone()])]).await.unwrap_err();
        assert!(matches!(error, Error::Invalid { ref field, .. } if field == "events[2].id"), "{error:?}");
        let two =
            |x: &str, y: &str, e: NewEvent| vec![StreamAppend::new(x, vec![b.clone()]), StreamAppend::new(y, vec![e])];
        let error = store.append(two("s", "t", b.clone())).await.unwrap_err();
        assert!(matches!(error, Error::Invalid { ref field, .. } if field == "streams[1].events[0].id"), "{error:?}");
        let error = store.append(two("s", "s", a.clone())).await.unwrap_err();
        assert!(matches!(error, Error::Invalid { ref field, .. } if field == "streams[1].stream"), "{error:?}");
        let error = store.append(vec![StreamAppend::new("s", vec![])]).await.unwrap_err();
        assert!(matches!(error, Error::Invalid { ref field, .. } if field == "events"), "{error:?}");
        assert_eq!(store.head_position(), Some(1));
    }

    pub async fn conditions_guard_appends_atomically(store: Arc<dyn EventStore>) {
        append(&*store, "lease-1", &["Acquired"]).await;
        let guarded = |expected| {
            let store = store.clone();
            async move {
                let events = vec![StreamAppend::new("work-1", vec![event("Done", 0)])];
                store.append_if(events, vec![StreamCondition::new("lease-1", expected)]).await
            }
        };
        let outcome = guarded(ExpectedVersion::Exact(0)).await.unwrap();
        assert_eq!(outcome.streams.len(), 1, "a condition writes nothing of its own");
        assert_eq!(outcome.streams[0].first_position, 1);
        append(&*store, "lease-1", &["TakenOver"]).await;
        let error = guarded(ExpectedVersion::Exact(0)).await.unwrap_err();
        assert_eq!(
            error,
            Error::WrongExpectedVersion {
                stream: "lease-1".into(),
                expected: ExpectedVersion::Exact(0),
                actual: Some(1)
            },
            "the failed condition names its stream"
        );
        assert_eq!(store.head_position(), Some(2), "nothing of a refused append is written");
        assert!(guarded(ExpectedVersion::NoStream).await.is_err());
        guarded(ExpectedVersion::Exists).await.unwrap();
        // A retry is answered with the original positions even though the condition no longer holds.
        let request = vec![StreamAppend::new("work-2", vec![event("Done", 0)])];
        let first = store
            .append_if(request.clone(), vec![StreamCondition::new("lease-1", ExpectedVersion::Exact(1))])
            .await
            .unwrap();
        append(&*store, "lease-1", &["Renewed"]).await;
        let again =
            store.append_if(request, vec![StreamCondition::new("lease-1", ExpectedVersion::Exact(1))]).await.unwrap();
        assert!(again.replayed);
        assert_eq!(again.streams, first.streams);
        // Conditions are checked for shape: a real expectation, a stream not written by the append.
        let any = vec![StreamCondition::new("lease-1", ExpectedVersion::Any)];
        let error = store.append_if(vec![StreamAppend::new("w", vec![event("A", 0)])], any).await.unwrap_err();
        assert!(matches!(error, Error::Invalid { ref field, .. } if field == "conditions[0].expected_version"));
        let same = vec![StreamCondition::new("w", ExpectedVersion::NoStream)];
        let error = store.append_if(vec![StreamAppend::new("w", vec![event("A", 0)])], same).await.unwrap_err();
        assert!(matches!(error, Error::Invalid { ref field, .. } if field == "conditions[0].stream"), "{error:?}");
    }
}
