//! The travel saga, durable, in one process: the three services of `skald_examples::travel` on
//! loopback, a coordinator on a skald-log store, and three bookings — one that succeeds, one whose
//! payment is declined (everything undone in reverse), one whose car cancellation fails once and
//! is retried. Prints each outcome and the last one's history.
//!
//! `cargo run -p skald-saga --example travel_demo [DATA_DIR]` (default: a temp dir). Run it again
//! with the same DATA_DIR: the starts are idempotent by name, so it answers from the log.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use skald_core::Direction;
use skald_examples::travel::{self, Services};
use skald_saga::{Coordinator, CoordinatorOptions, StartExecution};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = std::env::args().nth(1).map(std::path::PathBuf::from).unwrap_or_else(|| temp.path().to_owned());
    let store = Arc::new(skald_log::Store::open(&dir, skald_log::Options::default())?);
    let base = travel::spawn(Services::default()).await?;
    println!("services on {base}, log in {}", dir.display());
    let options = CoordinatorOptions { resources: travel::registry(&base), ..Default::default() };
    let saga = Coordinator::start(store.clone(), options).await?;
    let machine = saga.create_state_machine("travel", travel::definition()).await?;
    println!("state machine travel, version {}", machine.version);
    let trips = [
        ("trip-1", json!({"trip_id": "trip-1", "flight": "SK 1429", "car": "compact", "amount": 420})),
        ("trip-2", json!({"trip_id": "trip-2", "flight": "SK 1429", "car": "compact", "amount": 5000})),
        ("flaky-3", json!({"trip_id": "flaky-3", "flight": "SK 1429", "car": "suv", "amount": 5000})),
    ];
    let mut last = String::new();
    for (name, input) in trips {
        let started = saga.start_execution(StartExecution::new("travel", name, input)).await?;
        let done = saga.wait_for_execution(&started.execution_id, Duration::from_secs(30)).await?;
        println!(
            "{:<22} {:<10} {}",
            done.execution_id,
            done.status.to_string(),
            done.output.map(|o| o.to_string()).or(done.cause).unwrap_or_default()
        );
        last = done.execution_id;
    }
    println!("\nhistory of {last}:");
    let history = saga.history(&last, None, 1000, Direction::Forward).await?;
    for e in history.events {
        println!("{:>3} <-{:>3}  {}  {}", e.id, e.previous_event_id, e.timestamp, e.event_type());
    }
    let stats = saga.stats();
    println!(
        "\n{} history events, {} bytes, {} transitions",
        stats.history_events, stats.history_bytes, stats.transitions
    );
    saga.shutdown().await;
    store.close();
    Ok(())
}
