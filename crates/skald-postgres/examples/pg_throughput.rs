//! Throughput sanity check (not a benchmark): appends/s of `PgStore` for 64 concurrent
//! single-event appenders and for batches of 1,000, beside raw PostgreSQL baselines (one INSERT
//! per event from 64 connections; one 1,000-row INSERT per statement).
//!
//! `SKALD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo run --release -p skald-postgres --example pg_throughput`

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use skald_core::{EventStore, NewEvent, StreamAppend};
use skald_postgres::{PgOptions, PgStore};
use tokio_postgres::NoTls;

const WRITERS: usize = 64;
const RUN: Duration = Duration::from_secs(5);
const BATCH: usize = 1_000;
const BATCHES: usize = 100;

fn payload(i: usize) -> serde_json::Value {
    json!({"order": i, "customer": "c-1234", "total": 4200, "lines": [{"sku": "A-1", "qty": 2}]})
}

/// Runs `WRITERS` loops of `op` for `RUN`; returns (ops/s, p99 latency).
async fn concurrent<F, Fut>(op: F) -> (f64, Duration)
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0;
            while start.elapsed() < RUN {
                let t = Instant::now();
                op(writer, i).await;
                latencies.push(t.elapsed());
                i += 1;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("writer"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let p99 = latencies.get(latencies.len() * 99 / 100).copied().unwrap_or_default();
    (latencies.len() as f64 / elapsed, p99)
}

/// Inserts `BATCHES` batches of `BATCH` rows into the baseline table; returns rows/s.
async fn raw_batches(client: &tokio_postgres::Client, prefix: &str) -> Result<f64, tokio_postgres::Error> {
    let batch_insert = "INSERT INTO skald_raw_baseline (stream, id, type, data, metadata)
        SELECT $1, id, $3, data, $5 FROM unnest($2::uuid[], $4::bytea[]) AS u(id, data)";
    let start = Instant::now();
    for b in 0..BATCHES {
        let ids: Vec<uuid::Uuid> = (0..BATCH).map(|_| uuid::Uuid::now_v7()).collect();
        let data: Vec<Vec<u8>> = (0..BATCH).map(|i| serde_json::to_vec(&payload(i)).expect("json")).collect();
        let stream = format!("{prefix}-{b}");
        client.execute(batch_insert, &[&stream, &ids, &"OrderPlaced", &data, &b"{}".as_slice()]).await?;
    }
    Ok((BATCHES * BATCH) as f64 / start.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Ok(url) = std::env::var("SKALD_TEST_POSTGRES_URL") else {
        println!("skipped: SKALD_TEST_POSTGRES_URL is not set");
        return Ok(());
    };
    let schema = "skald_throughput";
    PgStore::drop_schema(&url, schema).await?;
    let store = PgStore::connect(PgOptions { schema: schema.into(), ..PgOptions::new(url.clone()) }).await?;

    let shared = Arc::new(store.clone());
    let (rate, p99) = concurrent(move |writer, i| {
        let store = shared.clone();
        async move {
            let event = NewEvent::new("OrderPlaced", payload(i));
            store.append(vec![StreamAppend::new(format!("order-{writer}"), vec![event])]).await.expect("append");
        }
    })
    .await;
    println!("skald, {WRITERS} writers x 1 event:  {rate:>9.0} events/s  p99 {p99:?}");

    let start = Instant::now();
    for b in 0..BATCHES {
        let events = (0..BATCH).map(|i| NewEvent::new("OrderPlaced", payload(i))).collect();
        store.append(vec![StreamAppend::new(format!("batch-{b}"), events)]).await?;
    }
    let rate = (BATCHES * BATCH) as f64 / start.elapsed().as_secs_f64();
    println!("skald, batches of {BATCH}:          {rate:>9.0} events/s");
    store.close().await;
    PgStore::drop_schema(&url, schema).await?;

    // Raw baselines on a plain table with the same kind of keys.
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(
            "DROP TABLE IF EXISTS skald_raw_baseline;
             CREATE TABLE skald_raw_baseline (position bigserial PRIMARY KEY, stream text NOT NULL,
                 id uuid NOT NULL UNIQUE, type text NOT NULL, data bytea NOT NULL, metadata bytea NOT NULL)",
        )
        .await?;
    let insert = "INSERT INTO skald_raw_baseline (stream, id, type, data, metadata) VALUES ($1, $2, $3, $4, $5)";
    let mut clients = Vec::new();
    for _ in 0..WRITERS {
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
        tokio::spawn(connection);
        clients.push(Arc::new(client));
    }
    let clients = Arc::new(clients);
    let (rate, p99) = concurrent(move |writer, i| {
        let clients = clients.clone();
        async move {
            let data = serde_json::to_vec(&payload(i)).expect("json");
            let stream = format!("order-{writer}");
            let id = uuid::Uuid::now_v7();
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
                [&stream, &id, &"OrderPlaced", &data, &b"{}".as_slice()];
            clients[writer].execute(insert, &params).await.expect("insert");
        }
    })
    .await;
    println!("raw INSERT per event, {WRITERS} conns: {rate:>9.0} events/s  p99 {p99:?}");

    let rate = raw_batches(&client, "batch").await?;
    println!("raw INSERT of {BATCH} rows:           {rate:>9.0} events/s");
    // The same with the indexes Skald's reads need (stream, category, type besides position, id).
    client
        .batch_execute(
            "CREATE INDEX ON skald_raw_baseline (stream, position);
             CREATE INDEX ON skald_raw_baseline (split_part(stream, '-', 1), position);
             CREATE INDEX ON skald_raw_baseline (type, position)",
        )
        .await?;
    let rate = raw_batches(&client, "indexed").await?;
    println!("raw INSERT of {BATCH} rows, 5 indexes: {rate:>9.0} events/s");
    client.batch_execute("DROP TABLE skald_raw_baseline").await?;
    Ok(())
}
