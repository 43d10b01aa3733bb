//! Behaviour of the embedded store that the shared contract (skald-testkit) does not cover.

use skald_core::{Error, EventStore, NewEvent, StreamAppend};
use skald_log::{Options, Store};

fn event(n: u64) -> NewEvent {
    NewEvent::new("Even", serde_json::json!({ "n": n }))
}

#[tokio::test]
async fn closed_store_refuses_appends() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    store.close();
    let error = store.append(vec![StreamAppend::new("a", vec![event(0)])]).await.unwrap_err();
    assert_eq!(error, Error::ShuttingDown);
}
