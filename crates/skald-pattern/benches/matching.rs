//! Times matching a batch of events against a typical subscription pattern.
//!
//! `cargo bench -p skald-pattern` prints events per second; plain `std::time`, no harness.

use std::hint::black_box;
use std::time::Instant;

use skald_pattern::{Envelope, Pattern};

const EVENTS: usize = 200_000;
const ROUNDS: usize = 5;

fn main() {
    let pattern = Pattern::parse(
        r#"{
            "category": ["order"],
            "type": ["OrderPlaced", "OrderAmended"],
            "data": {
                "total": [{"numeric": [">=", 100, "<", 10000]}],
                "currency": ["EUR", "USD"],
                "customer": {"tier": [{"anything-but": ["trial", "blocked"]}], "country": [{"prefix": "D"}]},
                "lines": {"sku": [{"wildcard": "SKU-*-9"}]}
            },
            "metadata": {"principal": [{"exists": true}]}
        }"#,
    )
    .expect("the benchmark pattern compiles");

    let tiers = ["gold", "silver", "trial", "bronze"];
    let data: Vec<String> = (0..EVENTS)
        .map(|i| {
            format!(
                r#"{{"order_id":"o-{i}","total":{total}.5,"currency":"{currency}","note":"deliver to the back door, \"please\"","customer":{{"id":"c-{c}","tier":"{tier}","country":"DE","email":"c{c}@example.com"}},"lines":[{{"sku":"SKU-{a}-1","qty":1,"price":10.0}},{{"sku":"SKU-{b}-9","qty":2,"price":20.5}}],"tags":["web","promo"]}}"#,
                total = (i * 37) % 20_000,
                currency = if i % 5 == 0 { "GBP" } else { "EUR" },
                c = i % 1000,
                tier = tiers[i % tiers.len()],
                a = i % 97,
                b = i % 89,
            )
        })
        .collect();
    let metadata = br#"{"correlation_id":"7f3a","causation_id":"9b1c","principal":"svc-orders"}"#;
    let events: Vec<Envelope<'_>> = data
        .iter()
        .map(|d| Envelope {
            stream: "order-42",
            category: "order",
            event_type: "OrderPlaced",
            timestamp: "2026-11-30T11:00:00Z",
            data: d.as_bytes(),
            metadata,
        })
        .collect();
    let data_bytes = data.iter().map(String::len).sum::<usize>() / EVENTS;

    let mut best = f64::MAX;
    let mut matched = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        matched = events.iter().filter(|e| pattern.matches(black_box(e))).count();
        best = best.min(start.elapsed().as_secs_f64());
    }
    // For scale: only decoding the same data into `serde_json::Value`, as a naive filter would.
    let mut decode_best = f64::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for d in &data {
            black_box(serde_json::from_str::<serde_json::Value>(black_box(d)).is_ok());
        }
        decode_best = decode_best.min(start.elapsed().as_secs_f64());
    }
    println!("reference: decoding the data into serde_json::Value alone: {:.0} events/s", EVENTS as f64 / decode_best);
    println!(
        "matching: {EVENTS} events (data ~{data_bytes} B, metadata {} B), pattern {} B: \
         {matched} matched, best of {ROUNDS}: {:.1} ms, {:.0} events/s",
        metadata.len(),
        pattern.to_string().len(),
        best * 1e3,
        EVENTS as f64 / best
    );
}
