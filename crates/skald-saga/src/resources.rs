//! The resource registry: what a Task state's `Resource` names. Plain names and ARNs map to HTTP
//! endpoints or activities; activity ARNs (`arn:aws:states:…:activity:<name>`) and Skald's
//! built-ins are recognised without registration. A `.waitForTaskToken` suffix is stripped before
//! lookup: the task then waits for a callback by token whatever the resource does.

use std::collections::HashMap;

/// What a registered name stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource {
    /// POST the task input to this URL.
    Http {
        /// `http://…` (`https://…` is accepted, but this build's client has no TLS: calls fail).
        url: String,
    },
    /// Queue the task for workers that poll this activity.
    Activity {
        /// The activity name.
        name: String,
    },
}

/// Tasks the coordinator runs itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// `skald:append-event`: input `{"stream", "type", "data", "metadata"?}` is appended to a
    /// Skald stream (once per attempt, however often it is re-dispatched); the result is
    /// `{"stream", "version", "position"}`.
    AppendEvent,
    /// `skald:start-execution` (`arn:aws:states:::states:startExecution`): starts a child
    /// execution, input `{"state_machine", "name"?, "input"?}`; the result is `{"execution_id"}`.
    StartExecution,
    /// `skald:start-execution.sync` (`…startExecution.sync`, `.sync:2`): starts a child and
    /// waits for it; the result is its output, its failure is the task's failure.
    StartExecutionSync,
    /// `skald:callback`: does nothing; use with `.waitForTaskToken` to wait for a callback.
    Callback,
}

/// Where a task goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A registered or literal HTTP endpoint.
    Http(String),
    /// An activity queue.
    Activity(String),
    /// A built-in.
    Builtin(Builtin),
}

/// Maps resource names to targets. Build it once and pass it in [`crate::CoordinatorOptions`].
#[derive(Clone, Debug, Default)]
pub struct ResourceRegistry {
    entries: HashMap<String, Resource>,
    allow_literal_urls: bool,
}

/// The suffix that makes a task wait for a callback.
pub const WAIT_FOR_TASK_TOKEN: &str = ".waitForTaskToken";

impl ResourceRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        ResourceRegistry::default()
    }

    /// Maps `name` (a plain name or an ARN) to an HTTP endpoint.
    pub fn http(mut self, name: impl Into<String>, url: impl Into<String>) -> Self {
        self.entries.insert(name.into(), Resource::Http { url: url.into() });
        self
    }

    /// A registry of HTTP endpoints from `(name, url)` pairs (e.g. a config file's table).
    pub fn from_urls<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        pairs.into_iter().fold(ResourceRegistry::new(), |r, (name, url)| r.http(name, url))
    }

    /// Maps `name` to the activity `activity`.
    pub fn activity(mut self, name: impl Into<String>, activity: impl Into<String>) -> Self {
        self.entries.insert(name.into(), Resource::Activity { name: activity.into() });
        self
    }

    /// Lets unregistered resources that are `http://` or `https://` URLs be called as they are.
    /// Off by default: a definition could otherwise make Skald call any address it can reach.
    pub fn allow_literal_urls(mut self, allow: bool) -> Self {
        self.allow_literal_urls = allow;
        self
    }

    /// Where `resource` (as written in the definition) goes, or `None` when it names nothing.
    pub fn resolve(&self, resource: &str) -> Option<Target> {
        let name = resource.strip_suffix(WAIT_FOR_TASK_TOKEN).unwrap_or(resource);
        if let Some(entry) = self.entries.get(name) {
            return Some(match entry {
                Resource::Http { url } => Target::Http(url.clone()),
                Resource::Activity { name } => Target::Activity(name.clone()),
            });
        }
        let builtin = match name {
            "skald:append-event" => Some(Builtin::AppendEvent),
            "skald:start-execution" | "arn:aws:states:::states:startExecution" => Some(Builtin::StartExecution),
            "skald:start-execution.sync"
            | "arn:aws:states:::states:startExecution.sync"
            | "arn:aws:states:::states:startExecution.sync:2" => Some(Builtin::StartExecutionSync),
            "skald:callback" => Some(Builtin::Callback),
            _ => None,
        };
        if let Some(builtin) = builtin {
            return Some(Target::Builtin(builtin));
        }
        if let Some(activity) = activity_of_arn(name) {
            return Some(Target::Activity(activity.to_owned()));
        }
        if self.allow_literal_urls && (name.starts_with("http://") || name.starts_with("https://")) {
            return Some(Target::Http(name.to_owned()));
        }
        None
    }
}

/// The activity name of `arn:aws:states:<region>:<account>:activity:<name>`.
fn activity_of_arn(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws:states:")?;
    let parts: Vec<&str> = rest.splitn(4, ':').collect();
    match parts.as_slice() {
        [_region, _account, "activity", name] if !name.is_empty() => Some(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_arns_builtins_and_activities() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:ReserveFlight";
        let r = ResourceRegistry::new()
            .http(arn, "http://127.0.0.1:1/flights")
            .http("pay", "http://127.0.0.1:1/pay")
            .activity("approve", "approvals");
        assert_eq!(r.resolve(arn), Some(Target::Http("http://127.0.0.1:1/flights".into())));
        assert_eq!(r.resolve("pay.waitForTaskToken"), Some(Target::Http("http://127.0.0.1:1/pay".into())));
        assert_eq!(r.resolve("approve"), Some(Target::Activity("approvals".into())));
        assert_eq!(
            r.resolve("arn:aws:states:us-east-1:123456789012:activity:Review"),
            Some(Target::Activity("Review".into()))
        );
        assert_eq!(r.resolve("skald:append-event"), Some(Target::Builtin(Builtin::AppendEvent)));
        assert_eq!(
            r.resolve("arn:aws:states:::states:startExecution.sync:2"),
            Some(Target::Builtin(Builtin::StartExecutionSync))
        );
        assert_eq!(r.resolve("http://elsewhere/x"), None);
        let open = r.clone().allow_literal_urls(true);
        assert_eq!(open.resolve("http://elsewhere/x"), Some(Target::Http("http://elsewhere/x".into())));
        assert_eq!(r.resolve("unknown"), None);
        let from = ResourceRegistry::from_urls([("a", "http://x/a")]);
        assert_eq!(from.resolve("a"), Some(Target::Http("http://x/a".into())));
    }
}
