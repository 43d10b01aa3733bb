//! Subscriptions: catch-up then live with no gap and no duplicate at the switch, while appends run
//! concurrently (from several nodes where the backend has them); one stream; from the end.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::StreamExt;
use skald_core::{EventStream, RecordedEvent, Selector, StreamAppend, SubscribeFrom};

use super::{append, event};
use crate::TestStore;

/// The next event of a subscription, within 10 s.
pub async fn next(events: &mut EventStream) -> RecordedEvent {
    let next = tokio::time::timeout(Duration::from_secs(10), events.next()).await;
    next.expect("an event in time").expect("the subscription goes on").expect("no error")
}

fn kind(i: u64) -> &'static str {
    if i.is_multiple_of(2) {
        "Even"
    } else {
        "Odd"
    }
}

pub async fn subscriptions_catch_up_then_follow_live(kit: TestStore) {
    let store = kit.store();
    for i in 0..700 {
        append(&*store, &format!("feed-{}", i % 3), &[kind(i)]).await;
    }
    let mut all = store.subscribe(Selector::All, SubscribeFrom::Position(100));
    let mut odd = store.subscribe(Selector::Type("Odd".into()), SubscribeFrom::Start);
    let mut late = store.subscribe(Selector::Category("feed".into()), SubscribeFrom::End);
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 700..1000 {
                append(&*store, &format!("feed-{}", i % 3), &[kind(i)]).await;
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

/// Eight writers (half on a second node where the backend has nodes) append while subscribers of
/// `$all` and of a category follow: each sees every acknowledged event once, in position order,
/// without a gap.
pub async fn subscriptions_see_no_gap_while_appends_run_concurrently(kit: TestStore) {
    const WRITERS: u64 = 8;
    const EACH: u64 = 60;
    let store = kit.store();
    let other = kit.node().await.unwrap_or_else(|| store.clone());
    let mut all = store.subscribe(Selector::All, SubscribeFrom::Start);
    let mut category = other.subscribe(Selector::Category("conc".into()), SubscribeFrom::Start);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = if w % 2 == 0 { store.clone() } else { other.clone() };
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in 0..EACH {
                    let mut appends = vec![StreamAppend::new(format!("conc-{w}"), vec![event("C", n)])];
                    if n % 5 == 0 {
                        appends.push(StreamAppend::new(format!("noise-{w}"), vec![event("N", n)]));
                    }
                    let outcome = store.append(appends).await.unwrap();
                    acked.push(outcome.streams[0].first_position);
                }
                acked
            })
        })
        .collect();
    let mut acked = BTreeSet::new();
    for writer in writers {
        acked.extend(writer.await.unwrap());
    }
    let total = store.head_position().expect("events were written") + 1;
    for expected in 0..total {
        assert_eq!(next(&mut all).await.position, expected, "$all: no gap, no duplicate");
    }
    let mut seen = Vec::new();
    for _ in 0..acked.len() {
        seen.push(next(&mut category).await.position);
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "category in position order");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), acked, "the category saw every acknowledged event once");
}

pub async fn subscriptions_of_one_stream_and_from_the_end(kit: TestStore) {
    let store = kit.store();
    for n in 0..300 {
        store.append(vec![StreamAppend::new(format!("item-{}", n % 7), vec![event("I", n)])]).await.unwrap();
    }
    let mut one = store.subscribe(Selector::Stream("item-3".into()), SubscribeFrom::Start);
    let mut unborn = store.subscribe(Selector::Stream("later-1".into()), SubscribeFrom::Start);
    let mut live = store.subscribe(Selector::All, SubscribeFrom::End);
    for version in 0..(300 / 7) {
        assert_eq!(next(&mut one).await.version, version);
    }
    append(&*store, "later-1", &["Born"]).await;
    let born = next(&mut unborn).await;
    assert_eq!((born.stream.as_str(), born.version), ("later-1", 0), "a stream subscribed before it exists");
    assert_eq!(next(&mut live).await.position, 300, "from the end: only what comes after");
}
