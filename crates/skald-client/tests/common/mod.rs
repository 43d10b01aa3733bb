//! A real server on 127.0.0.1 for the client tests: any store, with or without the saga and
//! consumer-group services.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use skald_client::Client;
use skald_core::EventStore;
use skald_server::Services;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Server {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), skald_server::ServerError>>,
}

/// The event-store API alone, on `addr` (`127.0.0.1:0` for any port).
pub async fn start(store: Arc<dyn EventStore>, addr: &str) -> Server {
    start_with(store, addr, Services::default()).await
}

/// The API with `services`' routes too.
pub async fn start_with(store: Arc<dyn EventStore>, addr: &str, services: Services) -> Server {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = skald_server::ServerConfig::default();
    let task = tokio::spawn(skald_server::serve_with(listener, store, config, services, async {
        let _ = stopped.await;
    }));
    Server { addr, stop, task }
}

impl Server {
    pub fn client(&self) -> Client {
        Client::new(&format!("http://{}", self.addr)).unwrap()
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}
