//! A small JSON-over-HTTP helper for the service commands (`skald sm`, `skald exec`,
//! `skald groups`): one call, problems turned into errors that name their code.

use anyhow::Context;
use serde_json::{json, Value};

use crate::Remote;

/// The server of a service command, and whether to print JSON.
pub(crate) struct Api {
    client: reqwest::Client,
    base: String,
    pub(crate) json: bool,
}

impl Api {
    pub(crate) fn new(remote: &Remote) -> anyhow::Result<Api> {
        let client = reqwest::Client::builder().build().context("building the HTTP client")?;
        Ok(Api { client, base: remote.url.trim_end_matches('/').to_owned(), json: remote.json })
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Option<Value>> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        let text = response.text().await.context("reading the answer")?;
        if !status.is_success() {
            let problem: Value = serde_json::from_str(&text).unwrap_or(json!({"detail": text}));
            let code = problem["type"].as_str().unwrap_or("").trim_start_matches("/errors/").to_owned();
            anyhow::bail!("{code} ({status}): {}", problem["detail"].as_str().unwrap_or(&text));
        }
        if text.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(serde_json::from_str(&text).context("the answer is not JSON")?))
    }

    pub(crate) fn print(&self, value: &Option<Value>, people: impl FnOnce(&Value)) {
        match value {
            Some(v) if self.json => println!("{v}"),
            Some(v) => people(v),
            None if self.json => println!("null"),
            None => {}
        }
    }
}

pub(crate) fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub(crate) fn parse_json(what: &str, text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("{what} is not valid JSON"))
}
