//! Append rates of the embedded store on the real disk: one writer, then 64, one event per append
//! (the `single` and `concurrent` workloads of `skald bench`, without building the whole CLI).
//!
//! `cargo run -p skald-log --release --example append_rate -- [seconds] [rounds]`: every round
//! runs both workloads on a fresh store in a temporary directory and prints events per second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use skald_core::{EventStore, Json, NewEvent, StreamAppend};
use skald_log::{Options, Store};

/// Bytes of each event's data, as `skald bench` uses by default.
const EVENT_BYTES: usize = 256;

async fn rate(store: &Store, writers: usize, duration: Duration) -> f64 {
    let payload =
        Json::from_slice(format!(r#"{{"pad":"{}"}}"#, "x".repeat(EVENT_BYTES - 10)).as_bytes()).expect("valid JSON");
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let (store, payload, count) = (store.clone(), payload.clone(), count.clone());
            tokio::spawn(async move {
                let stream = format!("rate-{writers}-{writer}");
                while started.elapsed() < duration {
                    let event = NewEvent::new("RateEvent", payload.clone());
                    store.append(vec![StreamAppend::new(stream.clone(), vec![event])]).await.expect("append");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer task");
    }
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<f64>().expect("a number"));
    let seconds = args.next().unwrap_or(3.0);
    let rounds = args.next().unwrap_or(3.0) as usize;
    for round in 0..rounds {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::open(dir.path(), Options::default()).expect("open");
        let single = rate(&store, 1, Duration::from_secs_f64(seconds)).await;
        let concurrent = rate(&store, 64, Duration::from_secs_f64(seconds)).await;
        println!("round {round}: single {single:.0} events/s, 64 writers {concurrent:.0} events/s");
        store.close();
    }
}
