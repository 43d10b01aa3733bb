//! The saga routes over HTTP (RFC 9457 problems included).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use skald_core::{EventStore, MemoryStore};
use skald_saga::{Coordinator, CoordinatorOptions, ResourceRegistry};

async fn serve() -> String {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let options = CoordinatorOptions {
        resources: ResourceRegistry::new().activity("approve", "approvals"),
        ..Default::default()
    };
    let saga = Coordinator::start(store.clone(), options).await.unwrap();
    let services = skald_server::Services { sagas: Some(saga), ..Default::default() };
    let app = skald_server::router_with(store, skald_server::ServerConfig::default(), services);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

async fn call(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

#[tokio::test]
async fn state_machines_executions_tasks_and_problems() {
    use reqwest::Method;
    let base = serve().await;
    let definition = json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "approve", "End": true}}});
    let (status, sm) =
        call(Method::PUT, format!("{base}/v1/state-machines/review"), Some(json!({"definition": definition}))).await;
    assert_eq!((status, sm["version"].clone()), (201, json!(1)));
    let (status, problem) = call(
        Method::PUT,
        format!("{base}/v1/state-machines/bad"),
        Some(json!({"definition": {"StartAt": "X", "States": {"X": {"Type": "Task", "Resource": "nowhere", "End": true}}}})),
    )
    .await;
    assert_eq!((status, problem["type"].clone()), (400, json!("/errors/invalid-definition")));
    assert_eq!(problem["errors"][0]["field"], json!("/States/X/Resource"));

    let start = json!({"state_machine": "review", "name": "r1", "input": {"doc": 7}});
    let (status, started) = call(Method::POST, format!("{base}/v1/executions"), Some(start.clone())).await;
    assert_eq!(status, 201);
    assert_eq!(started["execution_id"], json!("review.r1"));
    let (status, again) = call(Method::POST, format!("{base}/v1/executions"), Some(start)).await;
    assert_eq!((status, again["already_started"].clone()), (200, json!(true)));
    let other = json!({"state_machine": "review", "name": "r1", "input": {"doc": 8}});
    let (status, problem) = call(Method::POST, format!("{base}/v1/executions"), Some(other)).await;
    assert_eq!((status, problem["type"].clone()), (409, json!("/errors/execution-already-exists")));

    let (status, task) = call(Method::GET, format!("{base}/v1/activities/approvals/task?wait=5"), None).await;
    assert_eq!(status, 200);
    assert_eq!(task["input"], json!({"doc": 7}));
    let token = task["task_token"].as_str().unwrap().to_owned();
    let (status, _) = call(Method::POST, format!("{base}/v1/tasks/{token}/heartbeat"), None).await;
    assert_eq!(status, 204);
    let (status, _) =
        call(Method::POST, format!("{base}/v1/tasks/{token}/success"), Some(json!({"output": {"ok": true}}))).await;
    assert_eq!(status, 204);
    let (status, problem) =
        call(Method::POST, format!("{base}/v1/tasks/{token}/success"), Some(json!({"output": 1}))).await;
    assert_eq!((status, problem["type"].clone()), (404, json!("/errors/task-token-not-found")));

    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, described) = call(Method::GET, format!("{base}/v1/executions/review.r1"), None).await;
    assert_eq!(
        (status, described["status"].clone(), described["output"].clone()),
        (200, json!("SUCCEEDED"), json!({"ok": true}))
    );
    let (_, history) = call(Method::GET, format!("{base}/v1/executions/review.r1/history?limit=2"), None).await;
    assert_eq!(history["events"].as_array().unwrap().len(), 2);
    assert_eq!(history["next"], json!(3));
    let (_, listed) = call(Method::GET, format!("{base}/v1/executions?status=SUCCEEDED"), None).await;
    assert_eq!(listed["executions"][0]["execution_id"], json!("review.r1"));

    let (_, s2) =
        call(Method::POST, format!("{base}/v1/executions"), Some(json!({"state_machine": "review", "name": "r2"})))
            .await;
    let id = s2["execution_id"].as_str().unwrap();
    let (status, stopped) =
        call(Method::POST, format!("{base}/v1/executions/{id}/stop"), Some(json!({"error": "Ops", "cause": "no"})))
            .await;
    assert_eq!((status, stopped["status"].clone()), (200, json!("ABORTED")));
    let (status, problem) = call(Method::GET, format!("{base}/v1/executions/review.none"), None).await;
    assert_eq!((status, problem["type"].clone()), (404, json!("/errors/execution-not-found")));
    let (status, _) = call(Method::DELETE, format!("{base}/v1/state-machines/review"), None).await;
    assert_eq!(status, 204);
    let (status, problem) = call(Method::GET, format!("{base}/v1/state-machines/review"), None).await;
    assert_eq!((status, problem["type"].clone()), (404, json!("/errors/state-machine-not-found")));
}
