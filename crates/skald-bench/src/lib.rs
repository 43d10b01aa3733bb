//! Skald's benchmark workloads, in one place: `skald bench` runs them on the embedded store it
//! opens and prints a table (or JSON); the cargo benches (`cargo bench -p skald-bench`, in
//! `benches/`) run them on a `MemoryStore` and on the embedded store. Each workload takes a store
//! (`Arc<dyn EventStore>`) or a server URL and returns a [`Measurement`].
//!
//! - [`store`]: appends (one writer, many writers, batched), filling the log, replaying it, and
//!   append → live subscriber latency;
//! - [`groups`]: consumer-group throughput (one group, fan-out), append → lease latency of a
//!   worker in a long poll, and append → POST latency of push delivery;
//! - [`sse`]: append → delivery over HTTP Server-Sent Events, through a server on loopback
//!   ([`sse::LoopbackServer`]): the live tail and a group worker's feed, both read with
//!   `skald-client`;
//! - [`sagas`]: the travel saga (`skald_examples::travel`), success and compensation paths, at a
//!   given concurrency, bounded by time or by count;
//! - [`disk`]: the fsync probe every durable figure depends on.
//!
//! Figures say what they were measured under in [`Measurement::conditions`]; where the store is
//! the embedded one, a [`WriteCounter`] adds what it did per unit of work (events per write group
//! and per fsync, index commits).

pub mod disk;
pub mod groups;
mod measure;
pub mod sagas;
pub mod sse;
pub mod store;

pub use measure::{payload, Measurement, WriteCounter, WriteCounts, LATENCY_SAMPLES_MAX};

/// Why a workload could not be measured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The store refused or failed an operation.
    #[error(transparent)]
    Store(#[from] skald_core::Error),
    /// The consumer-groups service failed.
    #[error(transparent)]
    Groups(#[from] skald_groups::GroupError),
    /// The saga coordinator failed.
    #[error(transparent)]
    Saga(#[from] skald_saga::SagaError),
    /// A call to the server failed.
    #[error(transparent)]
    Client(#[from] skald_client::ClientError),
    /// A file, socket or server could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A task of the workload panicked or was cancelled.
    #[error("a workload task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The workload ran but did not do what it must (events lost, a saga ended wrong, a timeout).
    #[error("{0}")]
    Failed(String),
    /// One workload failed; `source` says why.
    #[error("the {workload} workload failed: {source}")]
    Workload {
        /// Its name.
        workload: String,
        /// Why.
        source: Box<BenchError>,
    },
}

impl BenchError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
        move |source| BenchError::Io { what: what.into(), source }
    }
}

/// What every workload returns.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;
