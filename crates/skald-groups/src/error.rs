//! Errors of consumer-group operations, each with a stable code.
//!
//! The code ([`GroupError::code`]) is part of the API: the HTTP layer turns it into the problem
//! `type` `/errors/<code>`, the CLI prints it, clients match on it. Never rename a code.

/// Everything a [`GroupsHandle`](crate::GroupsHandle) operation can fail with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// No group of that name exists.
    #[error("consumer group `{group}` does not exist")]
    GroupNotFound { group: String },

    /// A group of that name exists already.
    #[error("consumer group `{group}` already exists")]
    GroupAlreadyExists { group: String },

    /// The filter is not a valid event pattern; `pointer` is the JSON pointer into the filter.
    #[error("invalid filter at `{pointer}`: {message}")]
    InvalidFilter { pointer: String, message: String },

    /// A request field is malformed.
    #[error("invalid `{field}`: {reason}")]
    Invalid { field: String, reason: String },

    /// The lease is unknown or its deadline passed; its events were (or will be) delivered again.
    #[error(
        "lease {lease_id} of group `{group}` expired or does not exist; its unacknowledged events are delivered again"
    )]
    LeaseExpired { group: String, lease_id: u64 },

    /// A named limit was exceeded.
    #[error("`{field}` is {actual}, over the limit `{limit}` of {max}")]
    LimitExceeded { field: String, limit: &'static str, actual: u64, max: u64 },

    /// Another node runs this group (it holds the group's lease), or nobody does for a moment
    /// while the lease is taken over. The server forwards the request to the owner when it knows it.
    #[error("consumer group `{group}` runs on {}", owner.as_ref().map_or("no node right now (it is being taken over)".to_owned(), |o| format!("node {} at {}", o.node, o.address)))]
    NotOwner { group: String, owner: Option<skald_cluster::Owner> },

    /// The groups service is stopping.
    #[error("the consumer groups service is shutting down")]
    ShuttingDown,

    /// The event store failed.
    #[error(transparent)]
    Store(#[from] skald_core::Error),
}

impl GroupError {
    /// The stable code (`/errors/<code>` in HTTP problems).
    pub fn code(&self) -> &'static str {
        match self {
            GroupError::GroupNotFound { .. } => "group-not-found",
            GroupError::GroupAlreadyExists { .. } => "group-already-exists",
            GroupError::InvalidFilter { .. } => "invalid-filter",
            GroupError::Invalid { .. } => "invalid-request",
            GroupError::LeaseExpired { .. } => "lease-expired",
            GroupError::LimitExceeded { .. } => "limit-exceeded",
            GroupError::NotOwner { .. } => "not-owner",
            GroupError::ShuttingDown => "shutting-down",
            GroupError::Store(error) => error.code(),
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        GroupError::Invalid { field: field.into(), reason: reason.into() }
    }

    pub(crate) fn limit(field: impl Into<String>, limit: &'static str, actual: usize, max: usize) -> Self {
        GroupError::LimitExceeded { field: field.into(), limit, actual: actual as u64, max: max as u64 }
    }

    pub(crate) fn not_found(group: &str) -> Self {
        GroupError::GroupNotFound { group: group.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(GroupError::not_found("g").code(), "group-not-found");
        assert_eq!(GroupError::GroupAlreadyExists { group: "g".into() }.code(), "group-already-exists");
        assert_eq!(GroupError::InvalidFilter { pointer: "/type".into(), message: "m".into() }.code(), "invalid-filter");
        assert_eq!(GroupError::LeaseExpired { group: "g".into(), lease_id: 1 }.code(), "lease-expired");
        assert_eq!(GroupError::Store(skald_core::Error::ShuttingDown).code(), "shutting-down");
    }
}
