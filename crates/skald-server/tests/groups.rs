//! The consumer-group routes end to end over HTTP (a MemoryStore behind `TestServer`).

use std::sync::Arc;

use serde_json::{json, Value};
use skald_core::{EventStore, MemoryStore, NewEvent, StreamAppend};
use skald_server::testing::TestServer;

async fn call(server: &TestServer, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let reply = server.call(method, path, body, &[]).await;
    (reply.status, reply.body)
}

#[tokio::test]
async fn groups_over_http() {
    use reqwest::Method;
    let store = Arc::new(MemoryStore::new());
    let server = TestServer::start(store.clone()).await;
    let (status, _) =
        call(&server, Method::POST, "/v1/groups", Some(json!({"name": "g", "filter": {"type": ["A"]}}))).await;
    assert_eq!(status, 201);
    let (status, problem) = call(&server, Method::POST, "/v1/groups", Some(json!({"name": "g"}))).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/errors/group-already-exists")));
    let (_, problem) =
        call(&server, Method::POST, "/v1/groups", Some(json!({"name": "h", "filter": {"type": "A"}}))).await;
    assert_eq!(problem["type"], "/errors/invalid-filter");
    assert_eq!(problem["pointer"], "/filter/type");
    store.append(vec![StreamAppend::new("o-1", vec![NewEvent::new("A", json!({"x": 1}))])]).await.unwrap();
    let (_, batch) = call(&server, Method::POST, "/v1/groups/g/lease?worker=w&wait=2", None).await;
    assert_eq!((batch["events"][0]["stream"].as_str(), batch["events"][0]["attempt"].as_u64()), (Some("o-1"), Some(1)));
    let ack = json!({"lease_id": batch["lease_id"]});
    let (_, acked) = call(&server, Method::POST, "/v1/groups/g/ack", Some(ack.clone())).await;
    assert_eq!(acked["acked"], 1);
    let (status, problem) = call(&server, Method::POST, "/v1/groups/g/ack", Some(ack)).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/errors/lease-expired")));
    let (_, info) = call(&server, Method::GET, "/v1/groups/g", None).await;
    assert_eq!(info["stats"]["acked"], 1);
    let (status, _) = call(&server, Method::PUT, "/v1/groups/g", Some(json!({"max_attempts": 2}))).await;
    assert_eq!(status, 200);
    let (_, list) = call(&server, Method::GET, "/v1/groups", None).await;
    assert_eq!(list["groups"][0]["max_attempts"], 2);
    assert_eq!(call(&server, Method::GET, "/v1/groups/g/parked", None).await.0, 200);
    assert_eq!(call(&server, Method::POST, "/v1/groups/g/parked/replay", None).await.0, 200);
    assert_eq!(call(&server, Method::DELETE, "/v1/groups/g", None).await.0, 204);
    assert_eq!(call(&server, Method::GET, "/v1/groups/g", None).await.0, 404);
}
