//! A scripted driver for executions: a controllable clock, outstanding tasks and timers, and
//! checks that every run replays from its history and survives a serde round trip.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::{json, Value};
use skald_asl::{
    replay, Command, Definition, Execution, ExecutionStatus, HistoryEvent, Input, StartContext, Timestamp,
};

pub const T0: u64 = 1_700_000_000_000;

pub fn context(seed: u64) -> StartContext {
    StartContext {
        execution_id: "arn:skald:exec:test-1".into(),
        name: "test-1".into(),
        state_machine_id: "arn:skald:sm:test".into(),
        state_machine_name: "test".into(),
        start_time: Timestamp::from_millis(T0),
        seed,
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub resource: String,
    pub input: Value,
    pub attempt: u32,
    pub token: Option<String>,
    pub at: Timestamp,
}

pub struct Driver {
    pub def: Definition,
    pub exec: Execution,
    pub now: Timestamp,
    pub history: Vec<HistoryEvent>,
    pub tasks: BTreeMap<u64, Task>,
    pub timers: BTreeMap<String, Timestamp>,
    /// Every task ever scheduled, in order.
    pub scheduled: Vec<Task>,
    /// Every timer ever started: (id, started at, fire at).
    pub timer_log: Vec<(String, Timestamp, Timestamp)>,
    pub cancelled_tasks: Vec<String>,
}

fn seq(task_id: &str) -> u64 {
    task_id.trim_start_matches("task-").parse().unwrap_or(u64::MAX)
}

impl Driver {
    pub fn start(def: &Definition, input: Value) -> Driver {
        Driver::start_seeded(def, input, 7)
    }

    pub fn start_seeded(def: &Definition, input: Value, seed: u64) -> Driver {
        let (exec, step) = Execution::start(def, input, context(seed));
        let mut d = Driver {
            def: def.clone(),
            exec,
            now: Timestamp::from_millis(T0),
            history: Vec::new(),
            tasks: BTreeMap::new(),
            timers: BTreeMap::new(),
            scheduled: Vec::new(),
            timer_log: Vec::new(),
            cancelled_tasks: Vec::new(),
        };
        d.absorb(step);
        d
    }

    fn absorb(&mut self, step: skald_asl::Step) {
        for (i, e) in step.events.iter().enumerate() {
            let expected_id = self.history.len() as u64 + 1 + i as u64;
            assert_eq!(e.id, expected_id, "event ids are gap-free");
            assert!(e.previous_event_id < e.id, "previous_event_id points backwards");
        }
        self.history.extend(step.events);
        for c in step.commands {
            match c {
                Command::ScheduleTask { task_id, resource, input, attempt, task_token, idempotency_key, .. } => {
                    assert!(idempotency_key.ends_with(&task_id));
                    let input = std::sync::Arc::unwrap_or_clone(input);
                    let t = Task { id: task_id.clone(), resource, input, attempt, token: task_token, at: self.now };
                    self.scheduled.push(t.clone());
                    self.tasks.insert(seq(&task_id), t);
                }
                Command::CancelTask { task_id } => {
                    self.tasks.remove(&seq(&task_id));
                    self.cancelled_tasks.push(task_id);
                }
                Command::StartTimer { timer_id, fire_at } => {
                    self.timer_log.push((timer_id.clone(), self.now, fire_at));
                    self.timers.insert(timer_id, fire_at);
                }
                Command::CancelTimer { timer_id } => {
                    self.timers.remove(&timer_id);
                }
                Command::CompleteExecution { .. } => {}
            }
        }
    }

    pub fn running(&self) -> bool {
        self.exec.status() == ExecutionStatus::Running
    }

    pub fn send(&mut self, input: Input) {
        let step = self.exec.handle(input, self.now).expect("handle");
        self.absorb(step);
    }

    /// The oldest outstanding task, optionally of one resource.
    pub fn task(&self, resource: Option<&str>) -> Option<Task> {
        self.tasks.values().find(|t| resource.is_none_or(|r| t.resource == r)).cloned()
    }

    pub fn succeed(&mut self, resource: Option<&str>, output: Value) {
        let t = self.task(resource).unwrap_or_else(|| panic!("no outstanding task {resource:?}"));
        self.tasks.remove(&seq(&t.id));
        self.send(Input::TaskSucceeded { task_id: t.id, output });
    }

    pub fn fail(&mut self, resource: Option<&str>, error: &str, cause: &str) {
        let t = self.task(resource).unwrap_or_else(|| panic!("no outstanding task {resource:?}"));
        self.tasks.remove(&seq(&t.id));
        self.send(Input::TaskFailed { task_id: t.id, error: error.into(), cause: cause.into() });
    }

    pub fn heartbeat(&mut self, resource: Option<&str>) {
        let t = self.task(resource).expect("no outstanding task");
        self.send(Input::TaskHeartbeat { task_id: t.id });
    }

    /// Moves the clock forward by `millis`, firing due timers in time order.
    pub fn advance(&mut self, millis: u64) {
        let until = self.now.plus_millis(millis);
        loop {
            let due = self.timers.iter().filter(|(_, at)| **at <= until).min_by_key(|(id, at)| (**at, (*id).clone()));
            let Some((id, at)) = due.map(|(i, a)| (i.clone(), *a)) else { break };
            self.timers.remove(&id);
            if at > self.now {
                self.now = at;
            }
            if !self.running() {
                break;
            }
            self.send(Input::TimerFired { timer_id: id });
        }
        self.now = until.max(self.now);
    }

    /// Fires the earliest timer, moving the clock to it. False when there is none.
    pub fn fire_next_timer(&mut self) -> bool {
        let Some((_, at)) =
            self.timers.iter().min_by_key(|(id, at)| (**at, (*id).clone())).map(|(i, a)| (i.clone(), *a))
        else {
            return false;
        };
        let delta = at.millis().saturating_sub(self.now.millis());
        self.advance(delta);
        true
    }

    pub fn event_types(&self) -> Vec<String> {
        self.history.iter().map(|e| e.event_type().to_owned()).collect()
    }

    /// Replay and serde round trip both reproduce the execution.
    pub fn check_replay(&self) {
        let rebuilt = replay(&self.def, &self.history).expect("replay");
        if rebuilt != self.exec {
            let a = serde_json::to_value(&rebuilt).unwrap();
            let b = serde_json::to_value(&self.exec).unwrap();
            let keys: Vec<&String> =
                b.as_object().unwrap().keys().filter(|k| a.get(k.as_str()) != b.get(k.as_str())).collect();
            panic!("replay(history) != state; differing fields {keys:?}");
        }
        let text = serde_json::to_string(&self.exec).expect("serialise execution");
        let back: Execution = serde_json::from_str(&text).expect("deserialise execution");
        assert_eq!(back, self.exec, "serde round trip");
        let text = serde_json::to_string(&self.history).expect("serialise history");
        let back: Vec<HistoryEvent> = serde_json::from_str(&text).expect("deserialise history");
        assert_eq!(back, self.history, "history serde round trip");
    }

    pub fn result(&self) -> Value {
        match self.exec.status() {
            ExecutionStatus::Succeeded => json!({"status": "SUCCEEDED", "output": self.exec.output()}),
            s => {
                let e = self.exec.error().cloned().unwrap_or_else(|| skald_asl::StateError::new("", ""));
                json!({"status": s.to_string(), "error": e.error, "cause": e.cause})
            }
        }
    }
}
