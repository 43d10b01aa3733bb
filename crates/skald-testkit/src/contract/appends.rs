//! Appends: gap-free positions, expected versions and their races, idempotent retries (also after a
//! reopen), multi-stream atomicity, conditions, and validation that names the field.

use std::sync::Arc;

use skald_core::{Error, EventStore, ExpectedVersion, NewEvent, StreamAppend, StreamCondition};
use uuid::Uuid;

use super::{append, event, positions, read, read_to_end};
use crate::TestStore;
use skald_core::{ReadOptions, Selector};

pub async fn appends_get_gap_free_positions_and_versions(kit: TestStore) {
    let store = kit.store();
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

pub async fn expected_versions_hold_and_report_the_actual_version(kit: TestStore) {
    let store = kit.store();
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

/// Appenders that all saw the same head race for the next version: in every round exactly one
/// wins, the others learn the winner's version; on backends with nodes, half race from another node.
pub async fn concurrent_appenders_race_and_exactly_one_wins(kit: TestStore) {
    const ROUNDS: u64 = 20;
    const APPENDERS: usize = 8;
    let store = kit.store();
    let other = kit.node().await.unwrap_or_else(|| store.clone());
    for round in 0..ROUNDS {
        let expected = round.checked_sub(1).map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
        let racers = (0..APPENDERS).map(|i| {
            let store = if i % 2 == 0 { store.clone() } else { other.clone() };
            tokio::spawn(async move {
                let append = StreamAppend::new("race-1", vec![event("Raced", i as u64)]).expect(expected);
                store.append(vec![append]).await
            })
        });
        let outcomes: Vec<_> = futures_util::future::join_all(racers).await.into_iter().map(|r| r.unwrap()).collect();
        let winners = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: exactly one appender wins: {outcomes:?}");
        for outcome in outcomes.iter().filter_map(|o| o.as_ref().err()) {
            assert_eq!(
                outcome,
                &Error::WrongExpectedVersion { stream: "race-1".into(), expected, actual: Some(round) },
                "round {round}: a loser learns the winner's version"
            );
        }
    }
    let events = read_to_end(&*store, Selector::Stream("race-1".into())).await;
    assert_eq!(events.len() as u64, ROUNDS);
}

pub async fn retries_are_idempotent_and_overlaps_refused(kit: TestStore) {
    let store = kit.store();
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

pub async fn retries_are_idempotent_after_reopen(mut kit: TestStore) {
    let request = vec![
        StreamAppend::new("order-1", vec![event("A", 0), event("B", 1)]).expect(ExpectedVersion::NoStream),
        StreamAppend::new("stock-9", vec![event("C", 2)]),
    ];
    let first = kit.store().append(request.clone()).await.unwrap();
    assert!(!first.replayed);
    kit.reopen().await;
    let store = kit.store();
    let again = store.append(request.clone()).await.unwrap();
    assert!(again.replayed, "a retry after a restart is recognised");
    assert_eq!(again.streams, first.streams);
    assert_eq!(store.head_position(), Some(2), "nothing was written twice");
    let mixed = vec![StreamAppend::new("order-1", vec![request[0].events[0].clone(), event("D", 9)])];
    assert_eq!(store.append(mixed).await.unwrap_err().code(), "idempotency-conflict");
}

pub async fn multi_stream_appends_are_all_or_nothing(kit: TestStore) {
    let store = kit.store();
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

pub async fn conditions_guard_appends_atomically(kit: TestStore) {
    let store: Arc<dyn EventStore> = kit.store();
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
        Error::WrongExpectedVersion { stream: "lease-1".into(), expected: ExpectedVersion::Exact(0), actual: Some(1) },
        "the failed condition names its stream"
    );
    assert_eq!(store.head_position(), Some(2), "nothing of a refused append is written");
    assert!(guarded(ExpectedVersion::NoStream).await.is_err());
    guarded(ExpectedVersion::Exists).await.unwrap();
    // A retry is answered with the original positions even though the condition no longer holds.
    let request = vec![StreamAppend::new("work-2", vec![event("Done", 0)])];
    let lease_at = |v| vec![StreamCondition::new("lease-1", ExpectedVersion::Exact(v))];
    let first = store.append_if(request.clone(), lease_at(1)).await.unwrap();
    append(&*store, "lease-1", &["Renewed"]).await;
    let again = store.append_if(request, lease_at(1)).await.unwrap();
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

pub async fn invalid_appends_name_the_field(kit: TestStore) {
    let store = kit.store();
    let error = store.append(vec![StreamAppend::new("", vec![event("A", 0)])]).await.unwrap_err();
    assert!(matches!(error, Error::Invalid { ref field, .. } if field == "stream"), "{error:?}");
    let error = store.append(vec![StreamAppend::new("s", vec![event("", 0)])]).await.unwrap_err();
    assert!(matches!(error, Error::Invalid { ref field, .. } if field == "events[0].type"), "{error:?}");
    let twice = event("A", 0);
    let distinct = store.append(vec![StreamAppend::new("s", vec![twice.clone(), twice.with_id(Uuid::nil())])]).await;
    assert!(distinct.is_ok(), "distinct ids are fine");
    let (a, b) = (event("A", 0), event("B", 0));
    let error = store.append(vec![StreamAppend::new("s", vec![a.clone(), b.clone(), a.clone()])]).await.unwrap_err();
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
