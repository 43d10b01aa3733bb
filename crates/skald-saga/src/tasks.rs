//! Dispatching task attempts (`Command::ScheduleTask`) to their targets: HTTP endpoints, activity
//! queues, token callbacks and the built-ins (append an event, start a child execution). Each
//! attempt that runs in the background is one tokio task, registered (with its abort handle) in
//! `Inner::inflight` so that `CancelTask`, completion and shutdown can stop it, and bounded by
//! `tasks_inflight_max` permits. Its result becomes an `Input` through `Inner::deliver`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use skald_asl::{Command, ExecutionStatus, Input};
use skald_core::{validate_user_stream, Json, NewEvent, StreamAppend};

use crate::engine::{lock, Inner};
use crate::http::{self, Outcome};
use crate::model::{ActivityTask, StartExecution};
use crate::names::{digest_hex, digest_uuid};
use crate::options::ProbePoint;
use crate::resources::{Builtin, Target};

fn to_input(task_id: String, outcome: Outcome) -> Input {
    match outcome {
        Outcome::Succeeded(output) => Input::TaskSucceeded { task_id, output },
        Outcome::Failed { error, cause } => Input::TaskFailed { task_id, error, cause },
    }
}

impl Inner {
    /// Starts carrying out one `ScheduleTask` command.
    pub(crate) fn dispatch(self: &Arc<Self>, id: &str, command: Command) {
        let Command::ScheduleTask {
            task_id, resource, input, idempotency_key, task_token, timeout_seconds, state, ..
        } = command
        else {
            return;
        };
        if let Some(token) = &task_token {
            self.activities.register_token(token, id, &task_id);
        }
        let callback = task_token.is_some();
        let Some(target) = self.registry.resolve(&resource) else {
            let cause = format!("resource {resource:?} is not in the coordinator's registry");
            self.spawn_task(id, &task_id, false, async move { Outcome::failed("Skald.ResourceNotFound", cause) });
            return;
        };
        match target {
            Target::Http(url) => {
                let mut timeout = self.options.http_timeout;
                if let Some(s) = timeout_seconds {
                    timeout = timeout.min(Duration::from_secs(s.max(1)));
                }
                let (client, max) = (self.http.clone(), self.options.http_response_bytes_max);
                self.spawn_task(id, &task_id, callback, async move {
                    http::call(&client, &url, &input, &idempotency_key, timeout, max).await
                });
            }
            Target::Activity(activity) => {
                let token = task_token.unwrap_or_else(|| digest_hex(&["activity", &idempotency_key]));
                self.activities.register_token(&token, id, &task_id);
                let input = Arc::unwrap_or_clone(input);
                let task = ActivityTask { task_token: token, input, execution_id: id.to_owned(), state };
                if !self.activities.enqueue(&activity, task) {
                    let cause = format!("the queue of activity {activity:?} is full");
                    self.spawn_task(
                        id,
                        &task_id,
                        false,
                        async move { Outcome::failed("Skald.ActivityQueueFull", cause) },
                    );
                }
            }
            Target::Builtin(Builtin::Callback) => {
                if !callback {
                    // Without .waitForTaskToken there is nothing to wait for: pass the input on.
                    self.spawn_task(
                        id,
                        &task_id,
                        false,
                        async move { Outcome::Succeeded(Arc::unwrap_or_clone(input)) },
                    );
                }
            }
            Target::Builtin(Builtin::AppendEvent) => {
                let inner = self.clone();
                self.spawn_task(
                    id,
                    &task_id,
                    callback,
                    async move { inner.append_event(&input, &idempotency_key).await },
                );
            }
            Target::Builtin(b @ (Builtin::StartExecution | Builtin::StartExecutionSync)) => {
                let inner = self.clone();
                let sync = b == Builtin::StartExecutionSync;
                self.spawn_task(id, &task_id, callback, async move {
                    inner.start_child(&input, &idempotency_key, sync).await
                });
            }
        }
    }

    /// Runs `work` as an in-flight attempt and records its outcome. With `callback`, a success is
    /// not recorded: the task waits for its token.
    fn spawn_task(
        self: &Arc<Self>,
        id: &str,
        task_id: &str,
        callback: bool,
        work: impl Future<Output = Outcome> + Send + 'static,
    ) {
        let inner = self.clone();
        let key = (id.to_owned(), task_id.to_owned());
        let mut inflight = lock(&self.inflight);
        let task_key = key.clone();
        let handle = tokio::spawn(async move {
            let permit = inner.permits.clone().acquire_owned().await;
            let outcome = work.await;
            drop(permit);
            inner.probe(ProbePoint::TaskAnswered { execution_id: &task_key.0, task_id: &task_key.1 });
            // Claim the right to record: a cancelled attempt is no longer in the map.
            if lock(&inner.inflight).remove(&task_key).is_none() {
                return;
            }
            if callback && matches!(outcome, Outcome::Succeeded(_)) {
                return;
            }
            let (id, task_id) = task_key;
            inner.deliver_until_done(&id, to_input(task_id, outcome)).await;
        });
        inflight.insert(key, handle.abort_handle());
    }

    /// `skald:append-event`: one event per attempt (its id derives from the idempotency key).
    async fn append_event(&self, input: &Value, idempotency_key: &str) -> Outcome {
        let field = |name: &str| input.get(name).and_then(Value::as_str).map(str::to_owned);
        let (Some(stream), Some(event_type)) = (field("stream"), field("type")) else {
            return Outcome::failed("Skald.InvalidRequest", "append-event needs string fields `stream` and `type`");
        };
        if let Err(e) = validate_user_stream(&stream) {
            return Outcome::failed("Skald.InvalidRequest", e.to_string());
        }
        let data = input.get("data").cloned().unwrap_or(Value::Null);
        let mut event =
            NewEvent::new(event_type, Json::from_value(&data)).with_id(digest_uuid(&["append-event", idempotency_key]));
        if let Some(metadata) = input.get("metadata").filter(|m| m.is_object()) {
            event = event.with_metadata(Json::from_value(metadata));
        }
        match self.store.append(vec![StreamAppend::new(stream.clone(), vec![event])]).await {
            Ok(outcome) => {
                let at = outcome.streams.first().map(|a| (a.first_version, a.first_position)).unwrap_or_default();
                Outcome::Succeeded(json!({"stream": stream, "version": at.0, "position": at.1}))
            }
            Err(e) => Outcome::failed("Skald.AppendFailed", e.to_string()),
        }
    }

    /// `skald:start-execution[.sync]`: starts a child (named after the attempt, so re-dispatch
    /// finds the same child) and, when `sync`, waits for it.
    async fn start_child(self: &Arc<Self>, input: &Value, idempotency_key: &str, sync: bool) -> Outcome {
        let text = |a: &str, b: &str| input.get(a).or_else(|| input.get(b)).and_then(Value::as_str).map(str::to_owned);
        let Some(machine) = text("state_machine", "StateMachineArn") else {
            return Outcome::failed("Skald.InvalidRequest", "start-execution needs `state_machine`");
        };
        // An ARN names the state machine last: `arn:…:stateMachine:<name>`.
        let machine = machine.rsplit(':').next().unwrap_or_default().to_owned();
        let name = text("name", "Name").unwrap_or_else(|| digest_hex(&["child", idempotency_key]));
        let child_input = input.get("input").or_else(|| input.get("Input")).cloned().unwrap_or_else(|| json!({}));
        let request = StartExecution { state_machine: machine, version: None, name: Some(name), input: child_input };
        let started = match self.start_execution(request).await {
            Ok(s) => s,
            Err(e) => return Outcome::failed(format!("Skald.{}", camel(e.code())), e.to_string()),
        };
        if !sync {
            return Outcome::Succeeded(json!({"execution_id": started.execution_id, "start_time": started.start_time}));
        }
        let outcome = self.wait_child(&started.execution_id).await;
        self.prune_waiters(&started.execution_id);
        outcome
    }

    async fn wait_child(self: &Arc<Self>, id: &str) -> Outcome {
        let mut finished = None;
        loop {
            let done = self.completion(id);
            let description = match finished.take() {
                Some(description) => description,
                None => match self.describe_execution(id).await {
                    Ok(d) => d,
                    Err(e) => return Outcome::failed("States.TaskFailed", e.to_string()),
                },
            };
            match description.status {
                ExecutionStatus::Running => {
                    // Woken by the child's completion here, or look again in a second (another
                    // coordinator may be running it).
                    match tokio::time::timeout(Duration::from_secs(1), done).await {
                        Ok(Ok(description)) => finished = Some(description),
                        Ok(Err(_)) => return Outcome::failed("States.TaskFailed", "the coordinator stopped waiting"),
                        Err(_) => {}
                    }
                }
                ExecutionStatus::Succeeded => return Outcome::Succeeded(description.output.unwrap_or(Value::Null)),
                status => {
                    let error = description.error.unwrap_or_else(|| format!("States.{}", camel(&status.to_string())));
                    return Outcome::failed(error, description.cause.unwrap_or_default());
                }
            }
        }
    }
}

/// `execution-not-found` → `ExecutionNotFound`, `TIMED_OUT` → `TimedOut`.
fn camel(code: &str) -> String {
    code.split(['-', '_'])
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn camel_case_codes() {
        assert_eq!(super::camel("execution-not-found"), "ExecutionNotFound");
        assert_eq!(super::camel("TIMED_OUT"), "TimedOut");
    }
}
