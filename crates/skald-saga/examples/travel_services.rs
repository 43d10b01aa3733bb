//! Serves the travel saga's three task services — flights, cars, payments — on one address, for a
//! `skald serve` whose resource registry points at them. The services themselves (endpoints, how
//! the input picks a failure, idempotency by key) are `skald_examples::travel`.
//!
//! `cargo run -p skald-saga --example travel_services [ADDR]` (default 127.0.0.1:7081).

use skald_examples::travel::{self, Services, ENDPOINTS};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7081".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("travel services on {base}");
    for endpoint in ENDPOINTS {
        println!("  POST {base}/{endpoint}");
    }
    travel::serve(listener, Services::default()).await?;
    Ok(())
}
