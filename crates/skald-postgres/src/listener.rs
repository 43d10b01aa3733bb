//! The listener task: keeps the node's committed-head `watch` up to date with other nodes' commits.
//!
//! `skald_append` `NOTIFY`s the schema's channel with the new head at every commit; this task holds
//! a dedicated connection that `LISTEN`s to it. PostgreSQL delivers notifications only while the
//! connection is up, so after every (re)connect the task `LISTEN`s first and then reads the head:
//! a commit between the two is seen by one or the other, and nothing is missed. A lost connection
//! is retried with backoff ([`BACKOFF_MIN`] doubling to [`BACKOFF_MAX`]). The watch only moves
//! forward (`advance` in the crate root), so duplicate or late notifications do no harm.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::fail;

/// First pause before reconnecting after a lost connection.
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest pause between reconnects.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What the task needs.
pub struct Listener {
    pub config: tokio_postgres::Config,
    /// `LISTEN "<schema>"`.
    pub listen: String,
    /// Reads the head (`next_position`).
    pub head_sql: String,
    pub committed: watch::Sender<Option<u64>>,
    /// Becomes true (or is dropped) when the store closes.
    pub stop: watch::Receiver<bool>,
}

impl Listener {
    /// Listens until the store closes.
    pub async fn run(mut self) {
        let mut backoff = BACKOFF_MIN;
        loop {
            match self.session().await {
                Ok(()) => return,
                Err(reason) => {
                    tracing::warn!(%reason, "the PostgreSQL listener lost its connection; reconnecting");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = self.stop.wait_for(|stop| *stop) => return,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// One connection's life: `Ok` when the store closes, `Err` when the connection is lost.
    async fn session(&mut self) -> Result<(), String> {
        let (client, mut connection) = self.config.connect(NoTls).await.map_err(|e| fail::describe(&e))?;
        let committed = self.committed.clone();
        // The connection must be polled for the client to work; notifications arrive here too.
        let mut driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(note)) => {
                        if let Ok(head) = note.payload().parse::<u64>() {
                            crate::advance(&committed, Some(head));
                        }
                    }
                    Ok(_) => {}
                    Err(error) => return fail::describe(&error),
                }
            }
            "the connection closed".to_owned()
        });
        let setup = async {
            client.batch_execute(&self.listen).await?;
            client.query_one(&self.head_sql, &[]).await?.try_get::<_, i64>(0)
        };
        let next = tokio::select! {
            next = setup => next.map_err(|e| fail::describe(&e))?,
            ended = &mut driver => return Err(ended.unwrap_or_else(|e| e.to_string())),
        };
        crate::advance(&self.committed, (next as u64).checked_sub(1));
        tokio::select! {
            ended = &mut driver => Err(ended.unwrap_or_else(|e| e.to_string())),
            _ = self.stop.wait_for(|stop| *stop) => {
                driver.abort();
                Ok(())
            }
        }
    }
}
