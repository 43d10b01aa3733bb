//! Differential test against `MemoryStore`: random appends (expected versions, retries, partial
//! overlaps, multi-stream batches, appends committed as one group), metadata changes, deletes, reads
//! and reconnects, step by step. The approach of `skald-log`'s `tests/model.rs`, on PostgreSQL.

mod common;

use proptest::prelude::*;
use serde_json::json;
use skald_core::{
    AsOf, Direction, Error, EventStore, ExpectedVersion, MemoryStore, NewEvent, ReadOptions, ReadPage, Selector,
    StreamAppend, StreamMetadata, Uuid,
};
use skald_postgres::PgStore;

const STREAMS: [&str; 4] = ["order-1", "order-2", "payment-1", "stock"];
const TYPES: [&str; 3] = ["Placed", "Paid", "Shipped"];

#[derive(Clone, Debug)]
enum Expect {
    Any,
    NoStream,
    Exists,
    Exact(u64),
}

#[derive(Clone, Debug)]
enum Op {
    Append(Vec<(usize, Expect, Vec<usize>)>),
    /// Several appends submitted at once, so the writer commits them as one group.
    Concurrent(Vec<Vec<(usize, Expect, Vec<usize>)>>),
    RetryLast,
    /// The last append again behind a new first event: a partial overlap, refused whole.
    OverlapLast,
    Read {
        selector: usize,
        name: usize,
        from: Option<u64>,
        backward: bool,
        limit: usize,
        as_of: Option<u64>,
    },
    /// A page of the stream list, after a stream name or a name between two.
    List {
        after: Option<usize>,
        between: bool,
        limit: usize,
    },
    SetMaxCount(usize, u64),
    Delete(usize),
    /// Close the store and connect again (to the same schema).
    Reopen,
}

fn expect() -> impl Strategy<Value = Expect> {
    prop_oneof![
        3 => Just(Expect::Any),
        1 => Just(Expect::NoStream),
        1 => Just(Expect::Exists),
        2 => (0u64..6).prop_map(Expect::Exact),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let part = || (0..STREAMS.len(), expect(), prop::collection::vec(0..TYPES.len(), 1..4));
    prop_oneof![
        8 => prop::collection::vec(part(), 1..3).prop_map(Op::Append),
        3 => prop::collection::vec(prop::collection::vec(part(), 1..3), 2..8).prop_map(Op::Concurrent),
        2 => Just(Op::RetryLast),
        1 => Just(Op::OverlapLast),
        6 => (0usize..4, 0..STREAMS.len(), prop::option::of(0u64..12), any::<bool>(), 1usize..6, prop::option::of(0u64..20))
            .prop_map(|(selector, name, from, backward, limit, as_of)| Op::Read { selector, name, from, backward, limit, as_of }),
        2 => (prop::option::of(0..STREAMS.len()), any::<bool>(), 0usize..4)
            .prop_map(|(after, between, limit)| Op::List { after, between, limit }),
        1 => (0..STREAMS.len(), 1u64..4).prop_map(|(s, n)| Op::SetMaxCount(s, n)),
        1 => (0..STREAMS.len()).prop_map(Op::Delete),
        1 => Just(Op::Reopen),
    ]
}

fn to_request(parts: &[(usize, Expect, Vec<usize>)], ids: &mut u128) -> Vec<StreamAppend> {
    let mut seen = std::collections::HashSet::new();
    parts
        .iter()
        .filter(|(s, _, _)| seen.insert(*s))
        .map(|(s, expect, types)| {
            let events = types
                .iter()
                .map(|t| {
                    *ids += 1;
                    NewEvent::new(TYPES[*t], json!({"n": *ids})).with_id(Uuid::from_u128(*ids))
                })
                .collect();
            let expected = match expect {
                Expect::Any => ExpectedVersion::Any,
                Expect::NoStream => ExpectedVersion::NoStream,
                Expect::Exists => ExpectedVersion::Exists,
                Expect::Exact(v) => ExpectedVersion::Exact(*v),
            };
            StreamAppend::new(STREAMS[*s], events).expect(expected)
        })
        .collect()
}

/// Pages compared without timestamps (each store stamps its own clock).
/// An event without its timestamp: (position, stream, version, id, type, data).
type Comparable = (u64, String, u64, Uuid, String, String);

fn strip(page: Result<ReadPage, Error>) -> Result<(Vec<Comparable>, Option<u64>), Error> {
    page.map(|p| {
        let events = p
            .events
            .into_iter()
            .map(|e| {
                let data = String::from_utf8(e.data.as_bytes().to_vec()).unwrap();
                // Metadata events get fresh ids in each store.
                let id = if e.stream.starts_with('$') { Uuid::nil() } else { e.id };
                (e.position, e.stream, e.version, id, e.event_type, data)
            })
            .collect();
        (events, p.next)
    })
}

fn run(ops: Vec<Op>) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(common::with_schema(|url, schema| async move {
        let connect = || PgStore::connect(common::options(&url, &schema));
        let mut store = connect().await.expect("connect");
        let model = MemoryStore::new();
        let mut ids = 0u128;
        let mut last: Option<Vec<StreamAppend>> = None;
        for op in ops {
            match op {
                Op::Append(parts) => {
                    let request = to_request(&parts, &mut ids);
                    let expected = model.append(request.clone()).await;
                    let actual = store.append(request.clone()).await;
                    assert_eq!(actual, expected, "append {request:?}");
                    if actual.is_ok() {
                        last = Some(request);
                    }
                }
                Op::Concurrent(requests) => {
                    let mut requests: Vec<Vec<StreamAppend>> =
                        requests.iter().map(|parts| to_request(parts, &mut ids)).collect();
                    if let Some(previous) = last.clone() {
                        requests.push(previous); // a retry inside the group
                    }
                    // Submitted in this order, so the writer applies them in this order.
                    let actual = futures_util::future::join_all(requests.iter().map(|r| store.append(r.clone()))).await;
                    for (request, actual) in requests.into_iter().zip(actual) {
                        let expected = model.append(request.clone()).await;
                        assert_eq!(actual, expected, "append in a group {request:?}");
                        if actual.is_ok() {
                            last = Some(request);
                        }
                    }
                }
                Op::RetryLast => {
                    if let Some(request) = last.clone() {
                        let expected = model.append(request.clone()).await;
                        let actual = store.append(request).await;
                        assert_eq!(actual, expected, "retry");
                        assert!(actual.unwrap().replayed);
                    }
                }
                Op::OverlapLast => {
                    if let Some(mut request) = last.clone() {
                        ids += 1;
                        let fresh = NewEvent::new("Placed", json!({"n": ids})).with_id(Uuid::from_u128(ids));
                        request[0].events.insert(0, fresh);
                        request[0].expected_version = ExpectedVersion::Any;
                        let expected = model.append(request.clone()).await;
                        let actual = store.append(request).await;
                        assert!(matches!(actual, Err(Error::IdempotencyConflict { .. })), "{actual:?}");
                        assert_eq!(actual, expected, "overlap");
                    }
                }
                Op::Read { selector, name, from, backward, limit, as_of } => {
                    let selector = match selector {
                        0 => Selector::All,
                        1 => Selector::Stream(STREAMS[name].to_owned()),
                        2 => Selector::Category(skald_core::category_of(STREAMS[name]).to_owned()),
                        _ => Selector::Type(TYPES[name % TYPES.len()].to_owned()),
                    };
                    let direction = if backward { Direction::Backward } else { Direction::Forward };
                    let options = ReadOptions { from, direction, limit, as_of: as_of.map(AsOf::Position) };
                    let expected = strip(model.read(&selector, options).await);
                    let actual = strip(store.read(&selector, options).await);
                    assert_eq!(actual, expected, "read {selector:?} {options:?}");
                }
                Op::List { after, between, limit } => {
                    let after = after.map(|s| format!("{}{}", STREAMS[s], if between { "0" } else { "" }));
                    let expected = model.list_streams(after.as_deref(), limit).await;
                    let actual = store.list_streams(after.as_deref(), limit).await;
                    assert_eq!(actual, expected, "list after {after:?} limit {limit}");
                }
                Op::SetMaxCount(s, n) => {
                    let metadata = StreamMetadata { max_count: Some(n), ..Default::default() };
                    let expected =
                        model.set_metadata(STREAMS[s], metadata.clone()).await.map(|o| o.streams[0].first_position);
                    let actual = store.set_metadata(STREAMS[s], metadata).await.map(|o| o.streams[0].first_position);
                    assert_eq!(actual, expected);
                }
                Op::Delete(s) => {
                    let expected = model.delete_stream(STREAMS[s], ExpectedVersion::Any).await.map(|o| o.replayed);
                    let actual = store.delete_stream(STREAMS[s], ExpectedVersion::Any).await.map(|o| o.replayed);
                    assert_eq!(actual, expected);
                }
                Op::Reopen => {
                    store.close().await;
                    store = connect().await.expect("reconnect");
                }
            }
            assert_eq!(store.head_position(), model.head_position());
        }
        for stream in STREAMS {
            assert_eq!(store.stream_info(stream).await, model.stream_info(stream).await);
        }
        let listed = store.list_streams(None, 100).await.unwrap();
        assert_eq!(listed, model.list_streams(None, 100).await.unwrap());
        store.close().await;
    }));
}

#[test]
fn store_behaves_like_the_model() {
    if common::url().is_none() {
        return;
    }
    // Each case gets its own schema; 24 cases of up to 60 steps are a few hundred operations.
    let config = ProptestConfig { cases: 24, max_shrink_iters: 64, ..ProptestConfig::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&prop::collection::vec(op(), 1..60), |ops| {
        run(ops);
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}
