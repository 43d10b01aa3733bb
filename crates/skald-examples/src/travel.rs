//! The three task services of the travel saga — flights, cars, payments — as one small axum
//! server, the resource registry that maps the saga's resource names to them, and the saga's
//! definition (`travel-saga.asl.json` at this crate's root). skald-saga's examples and tests,
//! the `skald-bench` saga workloads (`skald bench`, `cargo bench -p skald-bench`) all run the saga
//! against these services.
//!
//! Endpoints (all `POST`, JSON in and out), one per step of the saga and one per compensation:
//!
//! - `/flights/reservations` → `{"reservation_id": "F-<n>"}`, `/flights/cancellations`;
//! - `/cars/reservations` → `{"reservation_id": "C-<n>"}`, `/cars/cancellations`;
//! - `/payments/charges` → `{"charge_id": "P-<n>"}`, `/payments/refunds`.
//!
//! Every endpoint is idempotent by the `Idempotency-Key` header: the first request with a key
//! takes effect and its answer is kept; a repeat gets the same answer and changes nothing. Failures
//! are chosen by the input, so a demo (or test) picks its path:
//!
//! - `"flight": "FAIL"` → the flight reservation answers 409 `{"error": "FlightUnavailable"}`;
//! - `"car": "FAIL"` → the car reservation answers 409 `{"error": "CarUnavailable"}`;
//! - `"amount"` over 1000 → the charge answers 402 `{"error": "PaymentDeclined"}`;
//! - a `trip_id` containing `flaky` → the first car cancellation of that trip answers 503
//!   `{"error": "ServiceUnavailable"}` (the compensation retries).
//!
//! The [`Ledger`] records every effect and keeps every answer by key, so it grows with the
//! requests served: fine for demos, tests and benchmark runs of seconds to minutes.
//!
//! `cargo run -p skald-saga --example travel_services [ADDR]` serves them (default 127.0.0.1:7081).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::header::{HeaderName, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::serve::ListenerExt;
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use skald_saga::http::IDEMPOTENCY_HEADER;
use skald_saga::ResourceRegistry;

/// The saga's definition as it is checked in (Amazon States Language).
const DEFINITION: &str = include_str!("../travel-saga.asl.json");

/// The endpoints served, as paths below the base URL.
pub const ENDPOINTS: [&str; 6] = [
    "flights/reservations",
    "flights/cancellations",
    "cars/reservations",
    "cars/cancellations",
    "payments/charges",
    "payments/refunds",
];

/// One effect that happened (a first request with its key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effect {
    /// `flights/reservations`, …
    pub endpoint: String,
    /// The trip.
    pub trip_id: String,
    /// The Idempotency-Key it came with.
    pub key: String,
}

/// What the services saw.
#[derive(Default)]
pub struct Ledger {
    /// Effects, in order.
    pub effects: Vec<Effect>,
    /// Requests per key (repeats included).
    pub requests: HashMap<String, usize>,
    /// The answer to each key, as sent: a repeat gets the same bytes.
    answers: HashMap<String, (StatusCode, Bytes)>,
    flaky_seen: HashMap<String, usize>,
    next_id: u64,
}

/// Shared ledger of the services.
pub type Services = Arc<Mutex<Ledger>>;

/// The saga's resource names (Lambda ARNs and plain names) with the URLs of the services at
/// `base` (`http://host:port`): what `skald serve --resource NAME=URL` takes.
pub fn resources(base: &str) -> Vec<(String, String)> {
    let arn = |f: &str| format!("arn:aws:lambda:us-east-1:123456789012:function:{f}");
    vec![
        (arn("ReserveFlight"), format!("{base}/flights/reservations")),
        (arn("ReserveCar"), format!("{base}/cars/reservations")),
        (arn("ProcessPayment"), format!("{base}/payments/charges")),
        ("CancelFlight".to_owned(), format!("{base}/flights/cancellations")),
        ("CancelCar".to_owned(), format!("{base}/cars/cancellations")),
        ("RefundPayment".to_owned(), format!("{base}/payments/refunds")),
    ]
}

/// The registry mapping the saga's resource names to the services at `base` (`http://host:port`).
pub fn registry(base: &str) -> ResourceRegistry {
    ResourceRegistry::from_urls(resources(base))
}

/// The endpoints that took effect for `trip`, in order.
pub fn effects_of(services: &Services, trip: &str) -> Vec<String> {
    let ledger = services.lock().unwrap_or_else(|p| p.into_inner());
    ledger.effects.iter().filter(|e| e.trip_id == trip).map(|e| e.endpoint.clone()).collect()
}

/// Checks the saga's promise for one trip: no endpoint took effect twice for one Idempotency-Key;
/// a success booked all three and undid nothing; a failure undid every booking it made, in
/// reverse order, and kept no charge. Says what broke.
pub fn check_trip(services: &Services, trip: &str, succeeded: bool) -> Result<(), String> {
    let effects = effects_of(services, trip);
    {
        let ledger = services.lock().unwrap_or_else(|p| p.into_inner());
        let mut keys = std::collections::HashSet::new();
        if let Some(e) = ledger.effects.iter().filter(|e| e.trip_id == trip).find(|e| !keys.insert(e.key.clone())) {
            return Err(format!("trip {trip}: effect with key {} happened twice", e.key));
        }
    }
    let count = |endpoint: &str| effects.iter().filter(|e| *e == endpoint).count();
    if let Some(twice) = ["flights/reservations", "cars/reservations", "payments/charges"].iter().find(|e| count(e) > 1)
    {
        return Err(format!("trip {trip}: {twice} took effect {} times: {effects:?}", count(twice)));
    }
    if succeeded {
        let booked = ["flights/reservations", "cars/reservations", "payments/charges"];
        return if effects == booked {
            Ok(())
        } else {
            Err(format!("trip {trip}: a success books all three and undoes nothing: {effects:?}"))
        };
    }
    // Every compensation runs (they are unconditional), in reverse order, each once.
    let undo: Vec<&str> =
        effects.iter().filter(|e| e.ends_with("cancellations") || e.ends_with("refunds")).map(|e| e.as_str()).collect();
    let last_undo = ["payments/refunds", "cars/cancellations", "flights/cancellations"];
    if !last_undo.ends_with(&undo) {
        return Err(format!("trip {trip}: compensations out of order: {effects:?}"));
    }
    if !undo.contains(&"flights/cancellations") {
        return Err(format!("trip {trip}: the flight was not undone: {effects:?}"));
    }
    if count("payments/charges") > 0 {
        return Err(format!("trip {trip}: a failed saga kept a charge: {effects:?}"));
    }
    Ok(())
}

/// The travel saga's definition.
pub fn definition() -> Value {
    // The file is compiled in and parsed by a test below, so this cannot fail at run time.
    serde_json::from_str(DEFINITION).unwrap_or(Value::Null)
}

/// The router of the three services.
pub fn router(services: Services) -> Router {
    let mut router = Router::new();
    for endpoint in ENDPOINTS {
        // The request is taken whole: the `HeaderMap` and `Json` extractors would copy the headers
        // and track paths for error messages, a noticeable share of a saga's CPU in `skald bench`.
        router = router.route(
            &format!("/{endpoint}"),
            post(move |State(s): State<Services>, request: Request| async move {
                let (parts, body) = request.into_parts();
                let body = match axum::body::to_bytes(body, REQUEST_BYTES_MAX).await {
                    Ok(bytes) => bytes,
                    Err(e) => return bad_request(format!("cannot read the request body: {e}")),
                };
                match serde_json::from_slice::<Value>(&body) {
                    Ok(body) => handle(&s, endpoint, &parts.headers, &body),
                    Err(e) => bad_request(format!("the request body is not JSON: {e}")),
                }
            }),
        );
    }
    router.with_state(services)
}

/// Serves the services on `listener` until the task is dropped or the listener fails.
pub async fn serve(listener: TcpListener, services: Services) -> std::io::Result<()> {
    // Answers go out at once (no Nagle delay behind an unacknowledged earlier answer).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(services)).await
}

/// Serves the services on an ephemeral loopback port in a background task; returns the base URL.
pub async fn spawn(services: Services) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, services));
    Ok(format!("http://{addr}"))
}

/// Request bodies larger than a task input can be are refused.
const REQUEST_BYTES_MAX: usize = skald_asl::limits::PAYLOAD_SIZE_BYTES_MAX;

/// A JSON answer.
type Answer = (StatusCode, [(HeaderName, &'static str); 1], Bytes);

fn answer(status: StatusCode, body: Bytes) -> Answer {
    (status, [(CONTENT_TYPE, "application/json")], body)
}

fn bad_request(cause: String) -> Answer {
    answer(StatusCode::BAD_REQUEST, json!({"error": "BadRequest", "cause": cause}).to_string().into())
}

fn handle(services: &Services, endpoint: &'static str, headers: &HeaderMap, body: &Value) -> Answer {
    let key = headers.get(IDEMPOTENCY_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let trip = body.get("trip_id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let mut ledger = services.lock().unwrap_or_else(|p| p.into_inner());
    *ledger.requests.entry(key.to_owned()).or_default() += 1;
    if let Some((status, body)) = ledger.answers.get(key) {
        return answer(*status, body.clone());
    }
    let (status, reply) = decide(&mut ledger, endpoint, &trip, body);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let reply = Bytes::from(reply.to_string());
    if status == StatusCode::OK {
        ledger.effects.push(Effect { endpoint: endpoint.to_owned(), trip_id: trip, key: key.to_owned() });
    }
    if !key.is_empty() {
        ledger.answers.insert(key.to_owned(), (status, reply.clone()));
    }
    answer(status, reply)
}

fn decide(ledger: &mut Ledger, endpoint: &str, trip: &str, body: &Value) -> (u16, Value) {
    let text = |f: &str| body.get(f).and_then(Value::as_str).unwrap_or_default();
    ledger.next_id += 1;
    let n = ledger.next_id;
    match endpoint {
        "flights/reservations" if text("flight") == "FAIL" => {
            (409, json!({"error": "FlightUnavailable", "cause": format!("no seat for trip {trip}")}))
        }
        "flights/reservations" => (200, json!({"reservation_id": format!("F-{n}")})),
        "cars/reservations" if text("car") == "FAIL" => {
            (409, json!({"error": "CarUnavailable", "cause": format!("no car for trip {trip}")}))
        }
        "cars/reservations" => (200, json!({"reservation_id": format!("C-{n}")})),
        "payments/charges" if body.get("amount").and_then(Value::as_f64).unwrap_or(0.0) > 1000.0 => {
            (402, json!({"error": "PaymentDeclined", "cause": "card declined"}))
        }
        "payments/charges" => (200, json!({"charge_id": format!("P-{n}")})),
        "cars/cancellations" if trip.contains("flaky") => {
            let seen = ledger.flaky_seen.entry(trip.to_owned()).or_default();
            *seen += 1;
            if *seen == 1 {
                (503, json!({"error": "ServiceUnavailable", "cause": "try again"}))
            } else {
                (200, json!({"cancelled": true}))
            }
        }
        _ => (200, json!({"done": true})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skald_saga::http::{self, Outcome};
    use std::time::Duration;

    #[tokio::test]
    async fn the_services_answer_once_per_key_and_refuse_what_is_not_json() {
        let services = Services::default();
        let base = spawn(services.clone()).await.unwrap();
        let client = http::client(Duration::from_secs(5));
        let call = |path: &str, input: Value, key: &str| {
            let (client, url, key) = (client.clone(), format!("{base}/{path}"), key.to_owned());
            async move { http::call(&client, &url, &input, &key, Duration::from_secs(5), 1 << 20).await }
        };
        let first = call("flights/reservations", json!({"trip_id": "t1"}), "k1").await;
        assert_eq!(call("flights/reservations", json!({"trip_id": "t1"}), "k1").await, first, "same key, same answer");
        assert!(matches!(first, Outcome::Succeeded(ref v) if v["reservation_id"].is_string()), "{first:?}");
        let declined = call("payments/charges", json!({"trip_id": "t1", "amount": 5000}), "k2").await;
        assert_eq!(declined, Outcome::failed("PaymentDeclined", "card declined"));
        {
            let ledger = services.lock().unwrap();
            assert_eq!(ledger.effects.len(), 1, "one reservation took effect; the declined charge did not");
            assert_eq!(ledger.requests["k1"], 2);
        }

        let request = hyper::Request::post(format!("{base}/cars/reservations"))
            .body(http_body_util::Full::new(bytes::Bytes::from_static(b"not json")))
            .unwrap();
        let response = client.request(request).await.unwrap();
        assert_eq!(response.status(), 400);
        let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "BadRequest", "{body}");
    }

    #[test]
    fn the_definition_parses_and_names_every_registered_resource() {
        let definition = definition();
        assert_eq!(definition["StartAt"], "ReserveFlight", "{definition}");
        let text = definition.to_string();
        for name in ["ReserveFlight", "ReserveCar", "ProcessPayment", "CancelFlight", "CancelCar", "RefundPayment"] {
            assert!(text.contains(name), "{name} missing from the definition");
        }
    }
}
