//! Workloads of the event store itself: appends (`single`, `concurrent`, `batched`), filling the
//! log, replaying it (`replay`), and append → live subscriber latency (`subscriber`); and
//! [`ping`], the paced appends every latency workload measures against.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use skald_core::{EventStore, Json, NewEvent, ReadOptions, Selector, StreamAppend, SubscribeFrom};

use crate::measure::{fill_bar, Progress};
use crate::{BenchError, Measurement, Result, WriteCounter, LATENCY_SAMPLES_MAX};

/// Events read per page during replay.
pub const REPLAY_PAGE_EVENTS: usize = 10_000;
/// Events per append while filling the log.
const FILL_APPEND_EVENTS: u64 = 1000;
/// Streams the filling appends go to, in turn.
const FILL_STREAMS: u64 = 100;
/// The pause between two appends of [`ping`].
pub const PING_INTERVAL: Duration = Duration::from_millis(2);

/// `writers` writers each appending `batch` events of `payload` per append to a stream of its
/// own for `duration`, each waiting for its acknowledgement; latency per append.
pub async fn appends(
    store: &Arc<dyn EventStore>,
    counter: Option<&dyn WriteCounter>,
    name: &str,
    writers: usize,
    batch: usize,
    payload: &Json,
    duration: Duration,
) -> Result<Measurement> {
    let progress = Progress::start(name, "events");
    let before = counter.map(|c| c.write_counts());
    let mut tasks = Vec::with_capacity(writers);
    for writer in 0..writers {
        let (store, payload, count) = (store.clone(), payload.clone(), progress.count.clone());
        let stream = format!("bench{name}-{writer}");
        let started = progress.started;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let events = (0..batch).map(|_| NewEvent::new("BenchEvent", payload.clone())).collect();
                let sent = Instant::now();
                store.append(vec![StreamAppend::new(stream.clone(), events)]).await?;
                if latencies.len() < LATENCY_SAMPLES_MAX / writers {
                    latencies.push(sent.elapsed().as_micros() as u64);
                }
                count.fetch_add(batch as u64, Ordering::Relaxed);
            }
            Ok::<_, BenchError>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let (events, elapsed) = progress.finish().await;
    let mut conditions = format!("{writers} writer(s), {batch} event(s) per append, latency per append");
    if let (Some(counter), Some(before)) = (counter, before) {
        let done = counter.write_counts() - before;
        let per = |n: u64, by: u64| n as f64 / by.max(1) as f64;
        conditions += &format!(
            "; {:.1} events per group, {:.1} per fsync",
            per(done.events, done.groups),
            per(done.events, done.syncs)
        );
    }
    Ok(Measurement::new(name, events, elapsed, latencies, conditions))
}

/// Appends batches of `payload` until the log holds at least `target` events.
pub async fn fill(store: &Arc<dyn EventStore>, target: u64, payload: &Json) -> Result<()> {
    let have = store.head_position().map_or(0, |p| p + 1);
    if have >= target {
        return Ok(());
    }
    let bar = fill_bar(target - have);
    let mut left = target - have;
    let mut stream = 0u64;
    while left > 0 {
        let batch = left.min(FILL_APPEND_EVENTS);
        let events = (0..batch).map(|_| NewEvent::new("BenchEvent", payload.clone())).collect();
        store.append(vec![StreamAppend::new(format!("benchfill-{}", stream % FILL_STREAMS), events)]).await?;
        stream += 1;
        left -= batch;
        bar.inc(batch);
    }
    bar.finish_and_clear();
    Ok(())
}

/// Reads the whole log from position 0, page by page.
pub async fn replay(store: &Arc<dyn EventStore>) -> Result<Measurement> {
    let progress = Progress::start("replay", "events");
    let mut from = Some(0);
    let mut bytes = 0u64;
    while let Some(start) = from {
        let page = store.read(&Selector::All, ReadOptions::forward(start, REPLAY_PAGE_EVENTS)).await?;
        bytes += page.events.iter().map(|e| e.data.as_bytes().len() as u64).sum::<u64>();
        progress.count.fetch_add(page.events.len() as u64, Ordering::Relaxed);
        from = page.next;
    }
    let (events, elapsed) = progress.finish().await;
    let conditions = format!("whole log from position 0, pages of {REPLAY_PAGE_EVENTS}, {} MiB of data", bytes >> 20);
    Ok(Measurement::new("replay", events, elapsed, Vec::new(), conditions))
}

/// One writer appending single events for `duration`, one live subscriber of its stream; latency
/// from the append call to the delivery.
pub async fn subscriber_latency(
    store: &Arc<dyn EventStore>,
    payload: &Json,
    duration: Duration,
) -> Result<Measurement> {
    let progress = Progress::start("subscriber", "events");
    let mut live = store.subscribe(Selector::Stream("benchlive-1".into()), SubscribeFrom::End);
    let clock = Instant::now();
    let started = progress.started;
    let mut writer = {
        let (store, payload) = (store.clone(), payload.clone());
        tokio::spawn(async move {
            let mut sent = 0u64;
            while started.elapsed() < duration {
                let at = clock.elapsed().as_micros() as u64;
                let event =
                    NewEvent::new("BenchEvent", payload.clone()).with_metadata(serde_json::json!({"sent_us": at}));
                store.append(vec![StreamAppend::new("benchlive-1", vec![event])]).await?;
                sent += 1;
            }
            Ok::<_, BenchError>(sent)
        })
    };
    let mut latencies = Vec::new();
    let mut received = 0u64;
    let mut expected: Option<u64> = None;
    while expected.is_none_or(|total| received < total) {
        tokio::select! {
            event = live.next() => {
                let event = event.ok_or_else(|| BenchError::Failed("the subscription ended".into()))??;
                let sent: u64 = event.metadata.to_value()["sent_us"].as_u64().unwrap_or(0);
                if latencies.len() < LATENCY_SAMPLES_MAX {
                    latencies.push((clock.elapsed().as_micros() as u64).saturating_sub(sent));
                }
                received += 1;
                progress.count.fetch_add(1, Ordering::Relaxed);
            }
            total = &mut writer, if expected.is_none() => {
                expected = Some(total??);
            }
        }
    }
    let (_, elapsed) = progress.finish().await;
    let conditions =
        "1 writer, single-event appends, 1 live subscriber; latency from append call to delivery".to_owned();
    Ok(Measurement::new("subscriber", received, elapsed, latencies, conditions))
}

/// Appends `samples` single events of `payload` to `stream`, numbered in `data.n`, one every
/// [`PING_INTERVAL`]; returns when each append was called.
pub async fn ping(store: &dyn EventStore, stream: &str, payload: &Json, samples: usize) -> Result<Vec<Instant>> {
    let mut sent = Vec::with_capacity(samples);
    for n in 0..samples {
        let mut data = payload.to_value();
        data["n"] = n.into();
        sent.push(Instant::now());
        store.append(vec![StreamAppend::new(stream, vec![NewEvent::new("BenchEvent", data)])]).await?;
        tokio::time::sleep(PING_INTERVAL).await;
    }
    Ok(sent)
}

/// The `data.n` a [`ping`] event carries.
pub(crate) fn ping_number(data: &serde_json::Value) -> Option<usize> {
    data["n"].as_u64().map(|n| n as usize)
}
