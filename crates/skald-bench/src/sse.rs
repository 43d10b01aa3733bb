//! Append → delivery latency over HTTP Server-Sent Events, read with `skald-client` from a
//! server on loopback: the live tail of a stream (`GET /v1/streams/{stream}/live`) and a consumer
//! group worker's feed (`GET /v1/groups/{group}/live`), each batch acknowledged over HTTP as it
//! arrives. Events are appended to the store directly, one every 2 ms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use skald_client::{Client, GroupSpec, StartFrom};
use skald_core::{EventStore, Json, Selector, SubscribeFrom};
use skald_groups::{Groups, GroupsHandle, GroupsOptions};
use skald_server::{ServerConfig, ServerError, Services};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::groups::{late, DELIVERY_WAIT, LATENCY_SAMPLES};
use crate::measure::latencies;
use crate::store::{ping, ping_number};
use crate::{BenchError, Measurement, Result};

/// How long a reader gets to connect before the pings begin.
const CONNECT_GRACE: Duration = Duration::from_millis(200);

/// The HTTP API over a store, with the consumer-groups service, on an ephemeral loopback port.
pub struct LoopbackServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    groups: GroupsHandle,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl LoopbackServer {
    /// Starts the groups service on `store` and serves the API (metrics off).
    pub async fn start(store: Arc<dyn EventStore>) -> Result<LoopbackServer> {
        let groups = Groups::start(store.clone(), GroupsOptions::default()).await?;
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(BenchError::io("binding the server"))?;
        let url = format!("http://{}", listener.local_addr().map_err(BenchError::io("the server's address"))?);
        let services = Services { groups: Some(groups.clone()), ..Default::default() };
        let (stop, stopped) = oneshot::channel::<()>();
        let config = ServerConfig { metrics: false, ..Default::default() };
        let task = tokio::spawn(skald_server::serve_with(listener, store, config, services, async {
            let _ = stopped.await;
        }));
        Ok(LoopbackServer { url, groups, stop, task })
    }

    /// Stops the server (after its clients hung up) and the groups service.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        self.groups.shutdown().await;
    }
}

/// Append → delivery on the live tail of a stream at `url`.
pub async fn live_tail_latency(store: &Arc<dyn EventStore>, url: &str, payload: &Json) -> Result<Measurement> {
    let client = Client::new(url)?;
    let mut live = client.subscribe(Selector::Stream("benchping-3".into()), SubscribeFrom::End);
    let reader = tokio::spawn(async move {
        let mut arrived = Vec::with_capacity(LATENCY_SAMPLES);
        while arrived.len() < LATENCY_SAMPLES {
            let Some(event) = live.next().await else { break };
            if let Some(n) = ping_number(&event?.data.to_value()) {
                arrived.push((n, Instant::now()));
            }
        }
        Ok(arrived)
    });
    let conditions = "1 event every 2 ms, 1 live tail (`/v1/streams/{s}/live`) via HTTP on loopback".to_owned();
    measure("ssetail", store, "benchping-3", payload, reader, conditions).await
}

/// Append → delivery to a worker of an idle consumer group on its SSE feed at `url` (the server
/// must run the groups service); each batch is acknowledged over HTTP.
pub async fn group_latency(store: &Arc<dyn EventStore>, url: &str, payload: &Json) -> Result<Measurement> {
    let client = Client::new(url)?;
    client.create_group(&GroupSpec { start: StartFrom::End, ..GroupSpec::new("benchsse") }).await?;
    let mut live = client.lease_live("benchsse", "w", 100).await?;
    let reader = tokio::spawn(async move {
        let mut arrived = Vec::with_capacity(LATENCY_SAMPLES);
        while arrived.len() < LATENCY_SAMPLES {
            let Some(batch) = live.next().await else { break };
            let batch = batch?;
            let now = Instant::now();
            arrived.extend(batch.events.iter().filter_map(|d| ping_number(&d.event.data.to_value())).map(|n| (n, now)));
            if let Some(lease) = batch.lease_id {
                client.ack_all("benchsse", lease).await?;
            }
        }
        Ok(arrived)
    });
    let conditions = "1 event every 2 ms to an idle group, 1 worker on its SSE stream via HTTP on loopback".to_owned();
    measure("sselatency", store, "benchping-4", payload, reader, conditions).await
}

/// Pings `stream` and waits for `reader` to note every arrival.
async fn measure(
    name: &str,
    store: &Arc<dyn EventStore>,
    stream: &str,
    payload: &Json,
    mut reader: JoinHandle<Result<Vec<(usize, Instant)>>>,
    conditions: String,
) -> Result<Measurement> {
    tokio::time::sleep(CONNECT_GRACE).await;
    let started = Instant::now();
    let sent = ping(&**store, stream, payload, LATENCY_SAMPLES).await?;
    let Ok(arrived) = tokio::time::timeout(DELIVERY_WAIT, &mut reader).await else {
        // The reader holds a connection the server waits for when it stops.
        reader.abort();
        return Err(late("streamed"));
    };
    let arrived = arrived??;
    if arrived.len() < LATENCY_SAMPLES {
        return Err(late("streamed"));
    }
    Ok(Measurement::new(name, LATENCY_SAMPLES as u64, started.elapsed(), latencies(&sent, &arrived), conditions))
}
