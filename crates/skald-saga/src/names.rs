//! Names and where things live in the log: state machine and execution names (checked like Step
//! Functions': 1–80 of `A-Z a-z 0-9 - _`), execution ids (`<state machine>.<name>`, so a start
//! is idempotent by name), and the streams `$sm-<name>`, `$exec-<id>`, `$executions` and
//! `$executions-checkpoint`.

use sha2::{Digest, Sha256};

use crate::error::SagaError;

/// The longest state machine or execution name, in characters.
pub const NAME_CHARS_MAX: usize = 80;
/// The index stream: one `ExecutionOpened` and one `ExecutionClosed` record per execution.
pub const EXECUTIONS_STREAM: &str = "$executions";
/// Where start-ups record how far `$executions` may be skipped (`journal::ExecutionsScanned`).
pub const EXECUTIONS_CHECKPOINT_STREAM: &str = "$executions-checkpoint";

/// Checks a state machine or execution name.
pub fn validate_name(field: &str, name: &str) -> Result<(), SagaError> {
    if name.is_empty() || name.chars().count() > NAME_CHARS_MAX {
        return Err(SagaError::invalid(field, format!("a name has 1 to {NAME_CHARS_MAX} characters")));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        return Err(SagaError::invalid(
            field,
            format!("`{}` contains {bad:?}; names use A-Z, a-z, 0-9, `-` and `_`", name.escape_debug()),
        ));
    }
    Ok(())
}

/// The id of the execution named `name` of state machine `state_machine`.
pub fn execution_id(state_machine: &str, name: &str) -> String {
    format!("{state_machine}.{name}")
}

/// The state machine an execution id belongs to.
pub fn state_machine_of(execution_id: &str) -> Option<&str> {
    execution_id.split_once('.').map(|(sm, _)| sm)
}

/// Checks an execution id as it comes from outside.
pub fn validate_execution_id(id: &str) -> Result<(), SagaError> {
    let Some((sm, name)) = id.split_once('.') else {
        return Err(SagaError::invalid("execution_id", "an execution id is `<state machine>.<name>`"));
    };
    validate_name("execution_id", sm)?;
    validate_name("execution_id", name)
}

/// The stream of a state machine's versions.
pub fn state_machine_stream(name: &str) -> String {
    format!("$sm-{name}")
}

/// The stream of an execution's history.
pub fn execution_stream(id: &str) -> String {
    format!("$exec-{id}")
}

/// `$$.StateMachine.Id` of a version: `<name>:<version>`; recorded in `ExecutionStarted`, it
/// tells recovery which definition to replay with.
pub fn state_machine_version_id(name: &str, version: u64) -> String {
    format!("{name}:{version}")
}

/// Splits a `<name>:<version>` id.
pub fn parse_state_machine_version_id(id: &str) -> Option<(&str, u64)> {
    let (name, version) = id.rsplit_once(':')?;
    Some((name, version.parse().ok()?))
}

/// A 128-bit digest of `parts`, hex-encoded (32 characters): deterministic names and tokens.
pub fn digest_hex(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A deterministic event id derived from `parts` (for built-in appends: one id per task attempt).
pub fn digest_uuid(parts: &[&str]) -> uuid::Uuid {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let bytes: [u8; 16] = hasher.finalize()[..16].try_into().unwrap_or_default();
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_streams() {
        assert!(validate_name("name", "trip-42_a").is_ok());
        assert_eq!(validate_name("name", "a.b").unwrap_err().code(), "invalid-request");
        assert!(validate_name("name", "").is_err());
        assert!(validate_name("name", &"x".repeat(81)).is_err());
        let id = execution_id("travel", "trip-42");
        assert_eq!(id, "travel.trip-42");
        assert_eq!(state_machine_of(&id), Some("travel"));
        assert!(validate_execution_id(&id).is_ok());
        assert!(validate_execution_id("nodot").is_err());
        assert_eq!(skald_core::category_of(&execution_stream(&id)), "$exec");
        assert_eq!(parse_state_machine_version_id("travel:3"), Some(("travel", 3)));
        assert_eq!(digest_hex(&["a", "b"]).len(), 32);
        assert_ne!(digest_hex(&["ab", ""]), digest_hex(&["a", "b"]));
        assert_eq!(digest_uuid(&["k"]), digest_uuid(&["k"]));
    }
}
