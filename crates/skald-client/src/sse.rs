//! Server-Sent Events: a line parser and the self-resuming subscription stream.
//!
//! The subscription remembers the position of the last event it yielded. When the connection
//! drops or the server closes it (shutdown, slow-client disconnect), it reconnects with
//! `Last-Event-ID` set to that position, so the caller sees each event once and in order. After
//! `reconnects_max` consecutive failed attempts, or on a problem the server refuses with, it
//! yields the error and ends.

use std::time::Duration;

use futures_util::stream::BoxStream;
use skald_core::{RecordedEvent, Selector, SubscribeFrom};

use crate::{Client, ClientError};

/// How a subscription reconnects.
#[derive(Clone, Debug)]
pub struct SubscribeOptions {
    /// Consecutive failed connection attempts before giving up.
    pub reconnects_max: u32,
    /// Wait before the first reconnect; doubles per consecutive failure.
    pub backoff_initial: Duration,
    /// Longest wait between reconnects.
    pub backoff_max: Duration,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            reconnects_max: 10,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// One SSE message.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Message {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl Message {
    /// The problem an `event: problem` message carries (the server's last message on a stream
    /// it ends with an error).
    pub fn problem(&self) -> Option<ClientError> {
        (self.event.as_deref() == Some("problem")).then(|| {
            let body =
                serde_json::from_str(&self.data).unwrap_or_else(|_| serde_json::Value::String(self.data.clone()));
            crate::client::problem_of(500, body)
        })
    }
}

/// Splits a byte stream into SSE messages (`\n` or `\r\n` line ends; comments skipped).
#[derive(Default)]
pub(crate) struct Parser {
    buffer: Vec<u8>,
    current: Message,
    has_data: bool,
}

/// Most bytes of one SSE line the client holds (an event is at most 1 MiB of data plus framing).
const LINE_BYTES_MAX: usize = 32 * 1024 * 1024;

impl Parser {
    /// Adds bytes; returns the messages they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Message>, ClientError> {
        self.buffer.extend_from_slice(bytes);
        let mut messages = Vec::new();
        let mut start = 0;
        while let Some(end) = self.buffer[start..].iter().position(|b| *b == b'\n') {
            let line = &self.buffer[start..start + end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = std::str::from_utf8(line).map_err(|e| ClientError::Decode(format!("SSE line: {e}")))?;
            if line.is_empty() {
                if self.has_data {
                    messages.push(std::mem::take(&mut self.current));
                }
                self.current = Message::default();
                self.has_data = false;
            } else if !line.starts_with(':') {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => self.current.id = Some(value.to_owned()),
                    "event" => self.current.event = Some(value.to_owned()),
                    "data" => {
                        if self.has_data {
                            self.current.data.push('\n');
                        }
                        self.current.data.push_str(value);
                        self.has_data = true;
                    }
                    _ => {}
                }
            }
            start += end + 1;
        }
        self.buffer.drain(..start);
        if self.buffer.len() > LINE_BYTES_MAX {
            return Err(ClientError::Decode(format!("an SSE line is longer than {LINE_BYTES_MAX} bytes")));
        }
        Ok(messages)
    }
}

struct Subscription {
    client: Client,
    selector: Selector,
    options: SubscribeOptions,
    /// Where the next connection starts when no event was seen yet.
    from: SubscribeFrom,
    last_position: Option<u64>,
    connection: Option<(reqwest::Response, Parser)>,
    pending: std::collections::VecDeque<Message>,
    failures: u32,
    done: bool,
}

enum Step {
    Yield(Result<RecordedEvent, ClientError>),
    Continue,
}

pub(crate) fn subscribe(
    client: Client,
    selector: Selector,
    from: SubscribeFrom,
    options: SubscribeOptions,
) -> BoxStream<'static, Result<RecordedEvent, ClientError>> {
    let state = Subscription {
        client,
        selector,
        options,
        from,
        last_position: None,
        connection: None,
        pending: Default::default(),
        failures: 0,
        done: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if s.done {
                return None;
            }
            match s.step().await {
                Step::Yield(item) => return Some((item, s)),
                Step::Continue => {}
            }
        }
    }))
}

impl Subscription {
    async fn step(&mut self) -> Step {
        if let Some(message) = self.pending.pop_front() {
            return self.handle(message);
        }
        let Some((response, parser)) = self.connection.as_mut() else {
            return self.connect().await;
        };
        match response.chunk().await {
            Ok(Some(bytes)) => match parser.push(&bytes) {
                Ok(messages) => {
                    self.pending.extend(messages);
                    Step::Continue
                }
                Err(error) => self.fail(error),
            },
            // The server closed the stream or the connection broke: resume where we were.
            Ok(None) | Err(_) => {
                self.connection = None;
                Step::Continue
            }
        }
    }

    fn handle(&mut self, message: Message) -> Step {
        if let Some(problem) = message.problem() {
            return self.fail(problem);
        }
        match serde_json::from_str::<RecordedEvent>(&message.data) {
            Ok(event) => {
                self.failures = 0;
                self.last_position = Some(event.position);
                Step::Yield(Ok(event))
            }
            Err(error) => self.fail(ClientError::Decode(format!("SSE event data: {error}"))),
        }
    }

    fn fail(&mut self, error: ClientError) -> Step {
        self.done = true;
        self.connection = None;
        Step::Yield(Err(error))
    }

    async fn connect(&mut self) -> Step {
        if self.failures > 0 {
            let exponent = (self.failures - 1).min(16);
            let wait = self.options.backoff_initial.saturating_mul(1 << exponent).min(self.options.backoff_max);
            tokio::time::sleep(wait).await;
        }
        if self.last_position.is_none() && self.from == SubscribeFrom::End {
            // Pin "the end" to a position now, so a reconnect cannot skip what was committed meanwhile.
            match self.client.health().await {
                Ok(health) => self.from = SubscribeFrom::Position(health.head_position.map_or(0, |p| p + 1)),
                Err(error) => return self.retry_or_fail(error),
            }
        }
        match self.client.open_live(&self.selector, self.from, self.last_position).await {
            Ok(response) => {
                self.connection = Some((response, Parser::default()));
                Step::Continue
            }
            Err(error) => self.retry_or_fail(error),
        }
    }

    fn retry_or_fail(&mut self, error: ClientError) -> Step {
        self.failures += 1;
        if !error.is_retryable() || self.failures > self.options.reconnects_max {
            return self.fail(error);
        }
        tracing::debug!(%error, failures = self.failures, "live stream: reconnecting");
        Step::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_messages_split_anywhere() {
        let text = b": keep-alive\r\n\r\nid: 7\r\nevent: event\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\nid: 8\ndata: x\n\n";
        for split in 0..text.len() {
            let mut parser = Parser::default();
            let mut messages = parser.push(&text[..split]).unwrap();
            messages.extend(parser.push(&text[split..]).unwrap());
            assert_eq!(messages.len(), 2, "split at {split}");
            assert_eq!(messages[0].id.as_deref(), Some("7"));
            assert_eq!(messages[0].event.as_deref(), Some("event"));
            assert_eq!(messages[0].data, "{\"a\":\n1}");
            assert_eq!(messages[1], Message { id: Some("8".into()), event: None, data: "x".into() });
        }
    }
}
