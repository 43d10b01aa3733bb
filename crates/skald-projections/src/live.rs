//! Following live events in bursts: both runners apply whatever is ready as one page.

use std::future::Future;
use std::pin::Pin;

use futures_util::{FutureExt, StreamExt};
use skald_core::{EventStream, RecordedEvent};

use crate::runner::PAGE_EVENTS;
use crate::ProjectionError;

/// Waits for the next live event, then takes every event already waiting behind it (at most
/// [`PAGE_EVENTS`]), so that one transaction or checkpoint covers a burst. `None` when `stop`
/// completed or the subscription ended.
pub(crate) async fn next_burst(
    live: &mut EventStream,
    stop: &mut Pin<&mut impl Future<Output = ()>>,
) -> Option<Result<Vec<RecordedEvent>, ProjectionError>> {
    let first = tokio::select! {
        _ = stop.as_mut() => return None,
        next = live.next() => next?,
    };
    let mut page = match first {
        Ok(event) => vec![event],
        Err(error) => return Some(Err(error.into())),
    };
    while page.len() < PAGE_EVENTS {
        match live.next().now_or_never() {
            Some(Some(Ok(event))) => page.push(event),
            Some(Some(Err(error))) => return Some(Err(error.into())),
            _ => break,
        }
    }
    Some(Ok(page))
}
