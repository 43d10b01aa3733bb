//! `skald serve`, `skald verify`, `skald index rebuild`: the commands that own a data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use skald_cluster::{Cluster, ClusterOptions};
use skald_saga::{Coordinator, CoordinatorOptions, ResourceRegistry};
use skald_server::{ServerConfig, Services};

use crate::backend::{Backend, BackendSpec};
use crate::config::{self, FileConfig};

#[derive(Args)]
pub struct ServeArgs {
    /// Directory of the embedded store (created if missing).
    #[arg(long, env = "SKALD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where the events live: leave out for the embedded store in --data-dir, or a PostgreSQL URL
    /// (`postgres://user@host:5432/db`) shared by any number of nodes.
    #[arg(long, env = "SKALD_BACKEND")]
    backend: Option<String>,
    /// The PostgreSQL schema holding the store (every node of a cluster names the same one).
    #[arg(long, env = "SKALD_PG_SCHEMA")]
    pg_schema: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "SKALD_ADDR")]
    addr: Option<SocketAddr>,
    /// How the other nodes reach this one (`http://host:port`); the listen address by default.
    #[arg(long, env = "SKALD_ADVERTISE")]
    advertise: Option<String>,
    /// `fsync` (acknowledge after fdatasync; the default) or `relaxed` (after write).
    #[arg(long, env = "SKALD_SYNC")]
    sync: Option<String>,
    /// A TOML file with `data_dir`, `backend`, `pg_schema`, `addr`, `advertise`, `sync`, `segment_bytes`,
    /// `index_cache_bytes`, `execution_input_bytes_max` and a `[resources]` table of saga task
    /// resources (name or ARN = URL).
    #[arg(long, env = "SKALD_CONFIG")]
    config: Option<PathBuf>,
    /// A saga task resource, `NAME=URL` (a plain name or a Lambda ARN); repeat for more.
    #[arg(long = "resource", value_parser = config::parse_resource)]
    resources: Vec<(String, String)>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let data_dir = args.data_dir.clone().or(file.data_dir.clone()).unwrap_or_else(|| config::DATA_DIR_DEFAULT.into());
    let spec = BackendSpec::parse(
        args.backend.as_deref().or(file.backend.as_deref()),
        args.pg_schema.as_deref().or(file.pg_schema.as_deref()),
        data_dir,
    )?;
    let addr = match args.addr.or(file.addr) {
        Some(addr) => addr,
        None => config::ADDR_DEFAULT.parse().expect("the default address parses"),
    };
    let backend = Backend::open(&spec, config::store_options(&file, args.sync.as_deref())?).await?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let advertise = args.advertise.clone().or(file.advertise.clone()).unwrap_or_else(|| format!("http://{local}"));
    let store = backend.store();
    let cluster = match backend.membership() {
        Some(membership) => Cluster::join(store.clone(), membership, ClusterOptions::new(advertise.clone()))
            .await
            .context("cannot join the cluster")?,
        None => Cluster::solo("local"),
    };
    let node = if cluster.is_solo() { String::new() } else { format!(", node {} at {advertise}", cluster.node_id()) };
    // Written with errors ignored: a closed stdout must not stop the server.
    let banner = format!(
        "Skald listening on http://{local} ({}{node})\n  try: curl -s http://{local}/v1/streams/demo-1 \
         -H 'content-type: application/json' -d '{{\"events\":[{{\"type\":\"Hello\",\"data\":{{\"who\":\"world\"}}}}]}}'\n",
        spec.describe()
    );
    let _ = std::io::Write::write_all(&mut std::io::stdout(), banner.as_bytes());
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let mut resources = file.resources.clone();
    resources.extend(args.resources.iter().cloned());
    let mut options = CoordinatorOptions {
        resources: ResourceRegistry::from_urls(resources),
        cluster: Some(cluster.clone()),
        ..Default::default()
    };
    if let Some(bytes) = file.execution_input_bytes_max {
        options.execution_input_bytes_max = bytes;
    }
    let sagas = Coordinator::start(store.clone(), options).await.context("cannot start the saga coordinator")?;
    let group_options = skald_groups::GroupsOptions { cluster: Some(cluster.clone()), ..Default::default() };
    let groups =
        skald_groups::Groups::start(store.clone(), group_options).await.context("cannot start the consumer groups")?;
    let services =
        Services { sagas: Some(sagas.clone()), groups: Some(groups.clone()), cluster: Some(cluster.clone()) };
    skald_server::serve_with(listener, store, ServerConfig::default(), services, shutdown_signal()).await?;
    // Services first (their last checkpoints are written as owner), then the leases go to the
    // other nodes at once, then the store closes with every queued append written.
    groups.shutdown().await;
    sagas.shutdown().await;
    cluster.shutdown().await;
    backend.close().await?;
    tracing::info!("stopped: every acknowledged event is stored");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

pub fn verify(data_dir: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        data_dir.join("segments").is_dir(),
        "{} holds no Skald store (no segments/ directory)",
        data_dir.display()
    );
    let report = skald_log::verify(data_dir, |events| {
        if events > 0 && events % 1_000_000 < 1_000 {
            eprintln!("  checked {events} events");
        }
    })?;
    println!("segments: {}  events: {}", report.segments, report.events);
    if let Some(tail) = &report.torn_tail {
        println!("torn tail (cut at the next open, not an error): {tail}");
    }
    if report.problems.is_empty() {
        println!("ok: every checksum, seal and position is as expected");
        return Ok(());
    }
    for problem in &report.problems {
        println!("DAMAGED: {problem}");
    }
    anyhow::bail!(
        "{} problem(s) found; restore the named segment(s) from a backup or the archive, then run `skald index rebuild`",
        report.problems.len()
    )
}

pub fn rebuild_index(data_dir: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        data_dir.join("segments").is_dir(),
        "{} holds no Skald store (no segments/ directory)",
        data_dir.display()
    );
    eprintln!("rebuilding indexes of {} from the log…", data_dir.display());
    let report = skald_log::rebuild_index(data_dir, skald_log::Options::default())?;
    println!("rebuilt: indexed {} events", report.replayed_events);
    Ok(())
}
