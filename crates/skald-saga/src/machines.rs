//! State machines in the log: each version is a `StateMachineVersionCreated` event in
//! `$sm-<name>`, a delete is a `StateMachineDeleted` event. A version's number is its stream
//! version + 1, so version `v` is read with one read (a delete uses a number too). Compiled
//! definitions are cached (bounded); a definition is validated by the interpreter and every Task
//! resource must resolve in the [`ResourceRegistry`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use skald_asl::{definition::Kind, Definition, ValidationError};
use skald_core::{Error, EventStore, ExpectedVersion, Json, NewEvent, ReadOptions, Selector, StreamAppend, Timestamp};

use crate::error::SagaError;
use crate::model::{StateMachine, StateMachineList};
use crate::names::{state_machine_stream, validate_name};
use crate::resources::ResourceRegistry;

const VERSION_TYPE: &str = "StateMachineVersionCreated";
const DELETED_TYPE: &str = "StateMachineDeleted";
const STREAM_PREFIX: &str = "$sm-";
/// How long a start trusts the latest version it saw without reading the stream head again.
/// Changes made through this coordinator take effect at once; changes another process writes to
/// the same store are seen within this time.
const HEAD_FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Serialize, Deserialize)]
struct VersionCreated {
    definition: Value,
    #[serde(with = "skald_core::rfc3339_millis")]
    created: Timestamp,
}

/// The state machines of one coordinator.
pub(crate) struct Machines {
    store: Arc<dyn EventStore>,
    registry: Arc<ResourceRegistry>,
    cache: Mutex<HashMap<(String, u64), Definition>>,
    /// Per name: the stream head last seen, whether that head event is a version (not a delete),
    /// and when it was read.
    heads: Mutex<HashMap<String, (u64, bool, Instant)>>,
    cache_max: usize,
}

enum Latest {
    Missing,
    Deleted { head: u64 },
    Version { head: u64, machine: StateMachine },
}

impl Machines {
    pub fn new(store: Arc<dyn EventStore>, registry: Arc<ResourceRegistry>, cache_max: usize) -> Self {
        Machines {
            store,
            registry,
            cache: Mutex::new(HashMap::new()),
            heads: Mutex::new(HashMap::new()),
            cache_max: cache_max.max(1),
        }
    }

    /// Parses and validates a definition, including that every resource resolves.
    pub fn compile(&self, definition: &Value) -> Result<Definition, SagaError> {
        let compiled = Definition::from_value(definition).map_err(|errors| SagaError::InvalidDefinition { errors })?;
        let mut errors = Vec::new();
        for machine in compiled.machines() {
            for state in machine.states.values() {
                if let Kind::Task { resource, .. } = &state.kind {
                    if self.registry.resolve(resource).is_none() {
                        errors.push(ValidationError {
                            state: Some(state.name.clone()),
                            field: format!("{}/Resource", state.pointer),
                            message: format!(
                                "resource {resource:?} is not registered, not an activity ARN and not a built-in"
                            ),
                        });
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(SagaError::InvalidDefinition { errors });
        }
        Ok(compiled)
    }

    async fn latest(&self, name: &str) -> Result<Latest, SagaError> {
        let selector = Selector::Stream(state_machine_stream(name));
        let page = match self.store.read(&selector, ReadOptions::backward(1)).await {
            Ok(page) => page,
            Err(Error::StreamNotFound { .. }) => return Ok(Latest::Missing),
            Err(e) => return Err(e.into()),
        };
        let Some(event) = page.events.into_iter().next() else { return Ok(Latest::Missing) };
        if event.event_type == DELETED_TYPE {
            return Ok(Latest::Deleted { head: event.version });
        }
        let machine = to_machine(name, &event)?;
        Ok(Latest::Version { head: event.version, machine })
    }

    async fn append_version(
        &self,
        name: &str,
        definition: &Value,
        expected: ExpectedVersion,
        now: Timestamp,
    ) -> Result<StateMachine, SagaError> {
        let data = VersionCreated { definition: definition.clone(), created: now };
        let event = NewEvent::new(VERSION_TYPE, Json::from_value(&data));
        let outcome = self
            .store
            .append(vec![StreamAppend::new(state_machine_stream(name), vec![event]).expect(expected)])
            .await?;
        self.forget_head(name);
        let first = outcome.streams.first().map(|s| s.first_version).unwrap_or_default();
        let version = first + 1;
        Ok(StateMachine { name: name.to_owned(), version, definition: definition.clone(), created: now })
    }

    /// Creates a state machine (idempotent for the same definition; after a delete, creates anew).
    pub async fn create(&self, name: &str, definition: &Value, now: Timestamp) -> Result<StateMachine, SagaError> {
        validate_name("name", name)?;
        self.compile(definition)?;
        match self.latest(name).await? {
            Latest::Missing => self.append_version(name, definition, ExpectedVersion::NoStream, now).await,
            Latest::Deleted { head } => self.append_version(name, definition, ExpectedVersion::Exact(head), now).await,
            Latest::Version { machine, .. } if &machine.definition == definition => Ok(machine),
            Latest::Version { .. } => Err(SagaError::StateMachineAlreadyExists { name: name.to_owned() }),
        }
    }

    /// Adds a version (none when the definition is unchanged).
    pub async fn update(&self, name: &str, definition: &Value, now: Timestamp) -> Result<StateMachine, SagaError> {
        validate_name("name", name)?;
        self.compile(definition)?;
        match self.latest(name).await? {
            Latest::Version { machine, .. } if &machine.definition == definition => Ok(machine),
            Latest::Version { head, .. } => {
                self.append_version(name, definition, ExpectedVersion::Exact(head), now).await
            }
            _ => Err(SagaError::StateMachineNotFound { name: name.to_owned() }),
        }
    }

    /// Deletes a state machine: no new executions; running ones finish on their version.
    pub async fn delete(&self, name: &str) -> Result<(), SagaError> {
        validate_name("name", name)?;
        match self.latest(name).await? {
            Latest::Version { head, .. } => {
                let event = NewEvent::new(DELETED_TYPE, Json::empty_object());
                let append =
                    StreamAppend::new(state_machine_stream(name), vec![event]).expect(ExpectedVersion::Exact(head));
                self.store.append(vec![append]).await?;
                self.forget_head(name);
                Ok(())
            }
            _ => Err(SagaError::StateMachineNotFound { name: name.to_owned() }),
        }
    }

    /// The latest version, or version `version`.
    pub async fn describe(&self, name: &str, version: Option<u64>) -> Result<StateMachine, SagaError> {
        validate_name("name", name)?;
        let not_found = || SagaError::StateMachineNotFound { name: name.to_owned() };
        match version {
            None => match self.latest(name).await? {
                Latest::Version { machine, .. } => Ok(machine),
                _ => Err(not_found()),
            },
            Some(0) => Err(not_found()),
            Some(v) => {
                let selector = Selector::Stream(state_machine_stream(name));
                let page = match self.store.read(&selector, ReadOptions::forward(v - 1, 1)).await {
                    Ok(page) => page,
                    Err(Error::StreamNotFound { .. }) => return Err(not_found()),
                    Err(e) => return Err(e.into()),
                };
                match page.events.into_iter().next() {
                    Some(event) if event.version == v - 1 && event.event_type == VERSION_TYPE => {
                        to_machine(name, &event)
                    }
                    _ => Err(not_found()),
                }
            }
        }
    }

    /// The latest version's number (the start path): from memory when read less than
    /// [`HEAD_FRESH_FOR`] ago, else one `stream_info` (plus a read when the head moved).
    pub async fn current_version(&self, name: &str) -> Result<u64, SagaError> {
        let not_found = || SagaError::StateMachineNotFound { name: name.to_owned() };
        let known = self.heads.lock().unwrap_or_else(|p| p.into_inner()).get(name).copied();
        if let Some((head, is_version, read_at)) = known {
            if read_at.elapsed() < HEAD_FRESH_FOR {
                return if is_version { Ok(head + 1) } else { Err(not_found()) };
            }
        }
        let head = match self.store.stream_info(&state_machine_stream(name)).await {
            Ok(info) => info.head_version,
            Err(Error::StreamNotFound { .. }) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        let is_version = match known {
            Some((h, is_version, _)) if h == head => is_version,
            _ => {
                let is_version = match self.latest(name).await? {
                    Latest::Version { head: h, .. } => h == head,
                    _ => false,
                };
                let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
                if heads.len() >= self.cache_max {
                    heads.clear();
                }
                heads.insert(name.to_owned(), (head, is_version, Instant::now()));
                is_version
            }
        };
        if let Some(entry) = self.heads.lock().unwrap_or_else(|p| p.into_inner()).get_mut(name) {
            entry.2 = Instant::now();
        }
        if is_version {
            Ok(head + 1)
        } else {
            Err(not_found())
        }
    }

    /// Makes the next start read the stream head (after this coordinator changed it).
    fn forget_head(&self, name: &str) {
        self.heads.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }

    /// The compiled definition of a version (cached).
    pub async fn definition(&self, name: &str, version: u64) -> Result<Definition, SagaError> {
        let key = (name.to_owned(), version);
        if let Some(d) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(d.clone());
        }
        let machine = self.describe(name, Some(version)).await?;
        // Stored definitions were validated when written; only the interpreter's own checks run
        // again here, so a resource removed from the registry later fails at dispatch instead.
        let compiled =
            Definition::from_value(&machine.definition).map_err(|errors| SagaError::InvalidDefinition { errors })?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= self.cache_max {
            cache.clear();
        }
        cache.insert(key, compiled.clone());
        Ok(compiled)
    }

    /// Latest versions of the state machines after `after`, by name.
    pub async fn list(&self, after: Option<&str>, limit: usize) -> Result<StateMachineList, SagaError> {
        let limit = limit.clamp(1, 1000);
        let mut cursor = match after {
            Some(a) => state_machine_stream(a),
            None => STREAM_PREFIX.to_owned(),
        };
        let mut out = Vec::new();
        loop {
            let page = self.store.list_streams(Some(&cursor), limit).await?;
            let mut ended = page.next_after.is_none();
            for info in &page.streams {
                let Some(name) = info.stream.strip_prefix(STREAM_PREFIX) else {
                    ended = true;
                    break;
                };
                if let Latest::Version { machine, .. } = self.latest(name).await? {
                    out.push(machine);
                    if out.len() == limit {
                        let next_after = Some(name.to_owned());
                        return Ok(StateMachineList { state_machines: out, next_after });
                    }
                }
                cursor = info.stream.clone();
            }
            if ended {
                return Ok(StateMachineList { state_machines: out, next_after: None });
            }
        }
    }
}

fn to_machine(name: &str, event: &skald_core::RecordedEvent) -> Result<StateMachine, SagaError> {
    let data: VersionCreated = event
        .data
        .decode()
        .map_err(|e| SagaError::Store(Error::Storage(format!("state machine `{name}` event is damaged: {e}"))))?;
    Ok(StateMachine {
        name: name.to_owned(),
        version: event.version + 1,
        definition: data.definition,
        created: data.created,
    })
}
