//! Activity queues and task tokens. An activity task waits in its activity's bounded queue until a
//! worker long-polls for it; every task that is answered by token (activities and
//! `.waitForTaskToken` tasks) is in the token map until it is answered, cancelled or its
//! execution ends. Both are memory only: recovery re-issues the pending tasks, so they are
//! rebuilt after a restart (a worker may then see a task it already took: at least once).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::model::ActivityTask;

/// Where a token points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenTarget {
    pub execution_id: String,
    pub task_id: String,
}

#[derive(Default)]
struct Queue {
    tasks: VecDeque<ActivityTask>,
    ready: Arc<Notify>,
}

#[derive(Default)]
struct State {
    queues: HashMap<String, Queue>,
    tokens: HashMap<String, TokenTarget>,
    /// Execution → task → token: forgetting one execution is O(its tasks).
    by_task: HashMap<String, HashMap<String, String>>,
}

/// Queues and tokens.
pub(crate) struct Activities {
    state: Mutex<State>,
    queue_max: usize,
}

impl Activities {
    pub fn new(queue_max: usize) -> Self {
        Activities { state: Mutex::new(State::default()), queue_max: queue_max.max(1) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a token for a task.
    pub fn register_token(&self, token: &str, execution_id: &str, task_id: &str) {
        let mut s = self.state();
        let target = TokenTarget { execution_id: execution_id.to_owned(), task_id: task_id.to_owned() };
        s.tokens.insert(token.to_owned(), target);
        s.by_task.entry(execution_id.to_owned()).or_default().insert(task_id.to_owned(), token.to_owned());
    }

    /// Where a token points.
    pub fn lookup(&self, token: &str) -> Option<TokenTarget> {
        self.state().tokens.get(token).cloned()
    }

    /// Forgets a task's token and removes it from its queue if no worker took it yet.
    pub fn forget_task(&self, execution_id: &str, task_id: &str) {
        let mut s = self.state();
        let Some(tasks) = s.by_task.get_mut(execution_id) else { return };
        let token = tasks.remove(task_id);
        if tasks.is_empty() {
            s.by_task.remove(execution_id);
        }
        if let Some(token) = token {
            s.tokens.remove(&token);
            for queue in s.queues.values_mut() {
                queue.tasks.retain(|t| t.task_token != token);
            }
        }
    }

    /// Forgets every task of an execution.
    pub fn forget_execution(&self, execution_id: &str) {
        let tasks: Vec<String> =
            self.state().by_task.get(execution_id).map(|t| t.keys().cloned().collect()).unwrap_or_default();
        for task in tasks {
            self.forget_task(execution_id, &task);
        }
    }

    /// Queues a task for `activity`. False when the queue is full.
    pub fn enqueue(&self, activity: &str, task: ActivityTask) -> bool {
        let mut s = self.state();
        let queue = s.queues.entry(activity.to_owned()).or_default();
        if queue.tasks.iter().any(|t| t.task_token == task.task_token) {
            return true;
        }
        if queue.tasks.len() >= self.queue_max {
            return false;
        }
        queue.tasks.push_back(task);
        queue.ready.notify_one();
        true
    }

    /// Takes the next task of `activity`, waiting up to `wait` for one.
    pub async fn poll(&self, activity: &str, wait: Duration) -> Option<ActivityTask> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let ready = {
                let mut s = self.state();
                let queue = s.queues.entry(activity.to_owned()).or_default();
                if let Some(task) = queue.tasks.pop_front() {
                    if !queue.tasks.is_empty() {
                        // Pass the wake-up on to the next waiting worker.
                        queue.ready.notify_one();
                    }
                    return Some(task);
                }
                queue.ready.clone()
            };
            if tokio::time::timeout_at(deadline, ready.notified()).await.is_err() {
                return None;
            }
        }
    }

    /// Wakes every waiting worker (shutdown).
    pub fn wake_all(&self) {
        for queue in self.state().queues.values() {
            queue.ready.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(token: &str) -> ActivityTask {
        ActivityTask {
            task_token: token.into(),
            input: serde_json::json!({}),
            execution_id: "e".into(),
            state: "S".into(),
        }
    }

    #[tokio::test]
    async fn queues_wait_and_forget() {
        let a = Arc::new(Activities::new(2));
        assert!(a.poll("x", Duration::from_millis(10)).await.is_none());
        let waiter = tokio::spawn({
            let a = a.clone();
            async move { a.poll("x", Duration::from_secs(5)).await }
        });
        tokio::task::yield_now().await;
        assert!(a.enqueue("x", task("t1")));
        assert_eq!(waiter.await.unwrap().unwrap().task_token, "t1");
        a.register_token("t2", "e", "task-2");
        assert!(a.enqueue("x", task("t2")));
        assert!(a.enqueue("x", task("t3")));
        assert!(!a.enqueue("x", task("t4")), "bounded");
        a.forget_task("e", "task-2");
        assert!(a.lookup("t2").is_none());
        assert_eq!(a.poll("x", Duration::ZERO).await.unwrap().task_token, "t3");
    }
}
