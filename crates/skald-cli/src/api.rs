//! What the client commands share: the [`Client`] of `--url`, and how an answer is printed:
//! JSON for scripts (`--json`), a table or a line for people.

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use skald_client::Client;

use crate::Remote;

/// The client of the server `remote` names.
pub(crate) fn client(remote: &Remote) -> anyhow::Result<Client> {
    Client::new(&remote.url).with_context(|| format!("bad server URL `{}`", remote.url))
}

/// Prints `answer` as one line of JSON with `--json`, else as `people` says. The JSON goes
/// through a `Value`, so its keys come out sorted, as the service commands have always printed
/// them.
pub(crate) fn print<T: Serialize>(remote: &Remote, answer: &T, people: impl FnOnce(&T)) -> anyhow::Result<()> {
    if remote.json {
        println!("{}", serde_json::to_value(answer)?);
    } else {
        people(answer);
    }
    Ok(())
}

/// `value`, or `-` when there is none.
pub(crate) fn or_dash(value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

pub(crate) fn parse_json(what: &str, text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("{what} is not valid JSON"))
}
