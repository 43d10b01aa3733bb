//! The saga API over a [`skald_saga::CoordinatorHandle`]: state machines, executions, task
//! callbacks and activity polls. Every error leaves as an RFC 9457 problem with the coordinator's
//! stable code ([`SagaError::code`]).
//!
//! | method | path | what |
//! |---|---|---|
//! | POST | `/v1/state-machines` | create `{name, definition}` (201; 200 when the same definition exists) |
//! | GET | `/v1/state-machines` | list (`after`, `limit`) |
//! | PUT | `/v1/state-machines/{name}` | create or update `{definition}`: a new version when it changed |
//! | GET | `/v1/state-machines/{name}` | describe (`version` for an older one) |
//! | DELETE | `/v1/state-machines/{name}` | delete (running executions finish on their version) |
//! | POST | `/v1/executions` | start `{state_machine, name?, input?, version?}` (201; 200 when already started) |
//! | GET | `/v1/executions` | list (`state_machine`, `status`, `from`, `limit`), newest first |
//! | GET | `/v1/executions/{id}` | describe |
//! | POST | `/v1/executions/{id}/stop` | stop `{error?, cause?}` |
//! | GET | `/v1/executions/{id}/history` | history page (`from` event id, `limit`, `direction`) |
//! | POST | `/v1/tasks/{token}/success` | `{output}` |
//! | POST | `/v1/tasks/{token}/failure` | `{error, cause?}` |
//! | POST | `/v1/tasks/{token}/heartbeat` | — |
//! | GET | `/v1/activities/{name}/task` | long poll (`wait` seconds): 200 with a task, 204 when none came |

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use skald_core::Direction;
use skald_saga::{CoordinatorHandle, ExecutionStatus, ListExecutions, SagaError, StartExecution};

use crate::extract::{Body, Name, Q};
use crate::forward::{Forwarder, FORWARDED_HEADER};
use crate::problem::Problem;

/// Most seconds an activity long poll waits.
pub const ACTIVITY_WAIT_SECONDS_MAX: u64 = 60;

/// Every `(method, path)` [`router`] serves, for the route table and the OpenAPI check.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/state-machines"),
    ("GET", "/v1/state-machines"),
    ("GET", "/v1/state-machines/{name}"),
    ("PUT", "/v1/state-machines/{name}"),
    ("DELETE", "/v1/state-machines/{name}"),
    ("POST", "/v1/executions"),
    ("GET", "/v1/executions"),
    ("GET", "/v1/executions/{id}"),
    ("POST", "/v1/executions/{id}/stop"),
    ("GET", "/v1/executions/{id}/history"),
    ("POST", "/v1/tasks/{token}/success"),
    ("POST", "/v1/tasks/{token}/failure"),
    ("POST", "/v1/tasks/{token}/heartbeat"),
    ("GET", "/v1/activities/{name}/task"),
];

/// The saga routes, with their own state; merge them into any router (`Router<S>` for any `S`).
pub fn router<S: Clone + Send + Sync + 'static>(handle: CoordinatorHandle) -> Router<S> {
    Router::new()
        .route("/v1/state-machines", post(create_state_machine).get(list_state_machines))
        .route(
            "/v1/state-machines/{name}",
            get(describe_state_machine).put(put_state_machine).delete(delete_state_machine),
        )
        .route("/v1/executions", post(start_execution).get(list_executions))
        .route("/v1/executions/{id}", get(describe_execution))
        .route("/v1/executions/{id}/stop", post(stop_execution))
        .route("/v1/executions/{id}/history", get(history))
        .route("/v1/tasks/{token}/success", post(task_success))
        .route("/v1/tasks/{token}/failure", post(task_failure))
        .route("/v1/tasks/{token}/heartbeat", post(task_heartbeat))
        .route("/v1/activities/{name}/task", get(activity_task))
        .with_state(handle)
}

/// Maps a coordinator error to its problem.
pub fn problem(error: &SagaError) -> Problem {
    let detail = error.to_string();
    let code = error.code();
    match error {
        SagaError::Store(e) => Problem::from_store(e),
        SagaError::InvalidDefinition { errors } => Problem::new(StatusCode::BAD_REQUEST, code, detail).with(
            "errors",
            errors
                .iter()
                .map(|e| json!({"state": e.state, "field": e.field, "message": e.message}))
                .collect::<Vec<_>>(),
        ),
        SagaError::Invalid { field, .. } => {
            Problem::new(StatusCode::BAD_REQUEST, code, detail).with("field", field.as_str())
        }
        SagaError::InputTooLarge { field, actual, max } => Problem::new(StatusCode::PAYLOAD_TOO_LARGE, code, detail)
            .with("field", field.as_str())
            .with("actual", *actual as u64)
            .with("max", *max as u64),
        SagaError::StateMachineNotFound { name } => {
            Problem::new(StatusCode::NOT_FOUND, code, detail).with("name", name.as_str())
        }
        SagaError::ExecutionNotFound { id } => {
            Problem::new(StatusCode::NOT_FOUND, code, detail).with("execution_id", id.as_str())
        }
        SagaError::TaskTokenNotFound => Problem::new(StatusCode::NOT_FOUND, code, detail),
        SagaError::StateMachineAlreadyExists { name } => {
            Problem::new(StatusCode::CONFLICT, code, detail).with("name", name.as_str())
        }
        SagaError::ExecutionAlreadyExists { id } => {
            Problem::new(StatusCode::CONFLICT, code, detail).with("execution_id", id.as_str())
        }
        SagaError::ExecutionNotRunning { id, status } => Problem::new(StatusCode::CONFLICT, code, detail)
            .with("execution_id", id.as_str())
            .with("status", status.to_string()),
        SagaError::NotOwner { id, owner } => {
            Problem::not_owner(detail, owner.as_ref()).with("execution_id", id.as_str())
        }
        SagaError::TooManyExecutions { .. } | SagaError::ShuttingDown => {
            let mut p = Problem::new(StatusCode::SERVICE_UNAVAILABLE, code, detail);
            p.retry_after = Some(Duration::from_secs(1));
            p
        }
        SagaError::HistoryCorrupt { id, .. } => {
            tracing::error!(%error, "execution history does not replay");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, code, detail).with("execution_id", id.as_str())
        }
        _ => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, code, detail),
    }
}

type Answer = Result<Response, Problem>;

fn fail(error: SagaError) -> Problem {
    problem(&error)
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    definition: Value,
}

#[derive(Deserialize)]
struct DefinitionBody {
    definition: Value,
}

async fn create_state_machine(State(saga): State<CoordinatorHandle>, body: Body) -> Answer {
    let request: CreateBody = body.parse()?;
    let existed = saga.describe_state_machine(&request.name, None).await.is_ok();
    let machine = saga.create_state_machine(&request.name, request.definition).await.map_err(fail)?;
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(machine)).into_response())
}

async fn put_state_machine(State(saga): State<CoordinatorHandle>, Name(name): Name, body: Body) -> Answer {
    let request: DefinitionBody = body.parse()?;
    let machine = match saga.update_state_machine(&name, request.definition.clone()).await {
        Err(SagaError::StateMachineNotFound { .. }) => {
            let created = saga.create_state_machine(&name, request.definition).await.map_err(fail)?;
            return Ok((StatusCode::CREATED, Json(created)).into_response());
        }
        other => other.map_err(fail)?,
    };
    Ok(Json(machine).into_response())
}

#[derive(Deserialize)]
struct VersionQuery {
    version: Option<u64>,
}

async fn describe_state_machine(
    State(saga): State<CoordinatorHandle>,
    Name(name): Name,
    Q(query): Q<VersionQuery>,
) -> Answer {
    let machine = saga.describe_state_machine(&name, query.version).await.map_err(fail)?;
    Ok(Json(machine).into_response())
}

async fn delete_state_machine(State(saga): State<CoordinatorHandle>, Name(name): Name) -> Answer {
    saga.delete_state_machine(&name).await.map_err(fail)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
}

async fn list_state_machines(State(saga): State<CoordinatorHandle>, Q(query): Q<ListQuery>) -> Answer {
    let list = saga.list_state_machines(query.after.as_deref(), query.limit.unwrap_or(100)).await.map_err(fail)?;
    Ok(Json(list).into_response())
}

async fn start_execution(State(saga): State<CoordinatorHandle>, body: Body) -> Answer {
    let request: StartExecution = body.parse()?;
    let started = saga.start_execution(request).await.map_err(fail)?;
    let status = if started.already_started { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(started)).into_response())
}

#[derive(Deserialize)]
struct ExecutionsQuery {
    state_machine: Option<String>,
    status: Option<String>,
    from: Option<u64>,
    limit: Option<usize>,
}

fn parse_status(text: &str) -> Result<ExecutionStatus, Problem> {
    serde_json::from_value(Value::String(text.to_ascii_uppercase())).map_err(|_| {
        Problem::invalid("status", format!("`{text}` is not one of RUNNING, SUCCEEDED, FAILED, ABORTED, TIMED_OUT"))
    })
}

async fn list_executions(State(saga): State<CoordinatorHandle>, Q(query): Q<ExecutionsQuery>) -> Answer {
    let status = query.status.as_deref().map(parse_status).transpose()?;
    let request = ListExecutions { state_machine: query.state_machine, status, from: query.from, limit: query.limit };
    let list = saga.list_executions(request).await.map_err(fail)?;
    Ok(Json(list).into_response())
}

async fn describe_execution(State(saga): State<CoordinatorHandle>, Name(id): Name) -> Answer {
    Ok(Json(saga.describe_execution(&id).await.map_err(fail)?).into_response())
}

#[derive(Deserialize, Default)]
struct StopBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    cause: Option<String>,
}

async fn stop_execution(State(saga): State<CoordinatorHandle>, Name(id): Name, body: Body) -> Answer {
    let request: StopBody = if body.first_byte().is_none() { StopBody::default() } else { body.parse()? };
    let error = request.error.unwrap_or_else(|| "States.Aborted".into());
    let stopped = saga.stop_execution(&id, &error, &request.cause.unwrap_or_default()).await.map_err(fail)?;
    Ok(Json(stopped).into_response())
}

#[derive(Deserialize)]
struct HistoryQuery {
    from: Option<u64>,
    limit: Option<usize>,
    direction: Option<Direction>,
}

async fn history(State(saga): State<CoordinatorHandle>, Name(id): Name, Q(query): Q<HistoryQuery>) -> Answer {
    let page = saga
        .history(&id, query.from, query.limit.unwrap_or(100), query.direction.unwrap_or_default())
        .await
        .map_err(fail)?;
    Ok(Json(page).into_response())
}

#[derive(Deserialize)]
struct SuccessBody {
    #[serde(default)]
    output: Value,
}

#[derive(Deserialize)]
struct FailureBody {
    error: String,
    #[serde(default)]
    cause: String,
}

async fn task_success(State(saga): State<CoordinatorHandle>, Name(token): Name, body: Body) -> Answer {
    let request: SuccessBody = body.parse()?;
    let answered = saga.send_task_success(&token, request.output).await;
    token_answer(&saga, answered)
}

async fn task_failure(State(saga): State<CoordinatorHandle>, Name(token): Name, body: Body) -> Answer {
    let request: FailureBody = body.parse()?;
    let answered = saga.send_task_failure(&token, &request.error, &request.cause).await;
    token_answer(&saga, answered)
}

async fn task_heartbeat(State(saga): State<CoordinatorHandle>, Name(token): Name) -> Answer {
    let answered = saga.send_task_heartbeat(&token).await;
    token_answer(&saga, answered)
}

/// A token unknown here may belong to a task another node issued: the forwarding layer asks the
/// other live nodes in turn.
fn token_answer(saga: &CoordinatorHandle, answered: Result<(), SagaError>) -> Answer {
    match answered {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(error @ SagaError::TaskTokenNotFound) => Err(problem(&error).try_elsewhere(other_nodes(saga))),
        Err(error) => Err(problem(&error)),
    }
}

/// The addresses of the other live nodes of the coordinator's cluster.
fn other_nodes(saga: &CoordinatorHandle) -> Vec<String> {
    let status = saga.cluster().status();
    status.nodes.into_iter().filter(|n| n.id != status.node && !n.address.is_empty()).map(|n| n.address).collect()
}

#[derive(Deserialize)]
struct PollQuery {
    wait: Option<u64>,
}

async fn activity_task(
    State(saga): State<CoordinatorHandle>,
    Extension(forwarder): Extension<Option<Forwarder>>,
    headers: HeaderMap,
    Name(name): Name,
    Q(query): Q<PollQuery>,
) -> Answer {
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(ACTIVITY_WAIT_SECONDS_MAX));
    let forwarder = forwarder.filter(|_| !headers.contains_key(FORWARDED_HEADER));
    let others = forwarder.as_ref().map(|_| other_nodes(&saga)).unwrap_or_default();
    let (Some(forwarder), false) = (forwarder, others.is_empty()) else {
        return match saga.get_activity_task(&name, wait).await.map_err(fail)? {
            Some(task) => Ok(Json(task).into_response()),
            None => Ok(StatusCode::NO_CONTENT.into_response()),
        };
    };
    // On a cluster a task waits on the node that issued it: look here, then ask every other node
    // without waiting, then wait here a second at a time until `wait` is up.
    let deadline = tokio::time::Instant::now() + wait;
    let elsewhere: axum::http::Uri =
        format!("/v1/activities/{name}/task?wait=0").parse().map_err(|_| Problem::invalid("name", "not a path"))?;
    loop {
        if let Some(task) = saga.get_activity_task(&name, Duration::ZERO).await.map_err(fail)? {
            return Ok(Json(task).into_response());
        }
        for address in &others {
            let asked = forwarder.send(address, &Method::GET, &elsewhere, &HeaderMap::new(), Bytes::new()).await;
            if let Some(answer) = asked.ok().filter(|a| a.status() == StatusCode::OK) {
                return Ok(answer);
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        if let Some(task) = saga.get_activity_task(&name, left.min(Duration::from_secs(1))).await.map_err(fail)? {
            return Ok(Json(task).into_response());
        }
    }
}
