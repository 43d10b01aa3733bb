//! `skald`: runs the server and talks to it. Every subcommand mirrors an API call or an operator
//! task; `--json` prints machine-readable output.

mod api;
mod backend;
mod bench;
mod cluster;
mod config;
mod groups;
mod projection;
mod remote;
mod saga;
mod serve;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "skald", version, about = "Skald: a durable event log for microservices")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a client command finds the server.
#[derive(Args, Clone)]
pub struct Remote {
    /// Base URL of the Skald server.
    #[arg(long, env = "SKALD_URL", default_value = "http://127.0.0.1:7070", global = true)]
    url: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server on the embedded store.
    Serve(serve::ServeArgs),
    /// Append one event to a stream.
    Append(remote::AppendArgs),
    /// Read a stream, a category, an event type or the whole log.
    Read(remote::ReadArgs),
    /// Print events as they are appended (Server-Sent Events), resuming after disconnects.
    Tail(remote::TailArgs),
    /// List streams with their head versions.
    Streams(remote::StreamsArgs),
    /// Check every segment of a store (checksums, seals, positions) without changing it.
    Verify {
        /// The store's data directory.
        #[arg(long, env = "SKALD_DATA_DIR", default_value = config::DATA_DIR_DEFAULT)]
        data_dir: PathBuf,
    },
    /// Index maintenance.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Measure the embedded store: append throughput and latency, replay, append-to-subscriber.
    Bench(bench::BenchArgs),
    /// State machines: create, update, describe, list, delete.
    Sm {
        #[command(subcommand)]
        command: saga::SmCommand,
    },
    /// Executions: start, describe, list, history, stop; task callbacks and activity polls.
    Exec {
        #[command(subcommand)]
        command: saga::ExecCommand,
    },
    /// Consumer groups: create, update, list, delete; lease, ack, nack; parked events and replay.
    Groups {
        #[command(subcommand)]
        command: groups::GroupsCommand,
    },
    /// The nodes sharing a PostgreSQL backend: what each owns (saga shards, consumer groups).
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
    /// Read models (CQRS): rebuild or catch up a projection into SQLite.
    Projection {
        #[command(subcommand)]
        command: projection::ProjectionCommand,
    },
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Delete the indexes and rebuild them from the log (the server must be stopped).
    Rebuild {
        /// The store's data directory.
        #[arg(long, env = "SKALD_DATA_DIR", default_value = config::DATA_DIR_DEFAULT)]
        data_dir: PathBuf,
    },
}

/// mimalloc instead of the system allocator: the server and the saga coordinator allocate many
/// small, short-lived values (JSON, history events, HTTP headers), and glibc's malloc took about
/// a quarter of the coordinator's CPU in a profile of `skald bench --only saga`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay`: its place in mimalloc's `mi_option_e` (checked against the default it
/// reports in a test below).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// How long freed memory stays with the process before mimalloc hands it back to the OS.
const PURGE_DELAY_MILLIS: std::ffi::c_long = 10_000;

/// mimalloc gives freed memory back to the OS after a second by default. Under steady load that
/// memory is wanted again at once, and every page taken back is a page fault plus zeroing: ~3.5 %
/// of the CPU of `skald bench --only saga` at concurrency 64 (about 3,700 faults in an 8-second
/// run; 500 with this setting). An idle process still shrinks, ten seconds later.
/// `MIMALLOC_PURGE_DELAY` in the environment still decides, when it is set.
fn keep_freed_memory_for_reuse() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; called before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MILLIS) }
    }
}

fn main() -> std::process::ExitCode {
    keep_freed_memory_for_reuse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SKALD_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Append(args) => remote::append(args).await,
            Command::Read(args) => remote::read(args).await,
            Command::Tail(args) => remote::tail(args).await,
            Command::Streams(args) => remote::streams(args).await,
            Command::Verify { data_dir } => serve::verify(&data_dir),
            Command::Index { command: IndexCommand::Rebuild { data_dir } } => serve::rebuild_index(&data_dir),
            Command::Bench(args) => bench::run(args).await,
            Command::Projection { command } => projection::run(command).await,
            Command::Sm { command } => saga::sm(command).await,
            Command::Exec { command } => saga::exec(command).await,
            Command::Groups { command } => groups::run(command).await,
            Command::Cluster { command } => cluster::run(command).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_index_is_mimallocs_purge_delay() {
        // mimalloc 3 sets a purge delay of 1000 ms (src/options.c); another number here means the
        // option index points at another option, and `keep_freed_memory_for_reuse` would set that.
        let expected = std::env::var("MIMALLOC_PURGE_DELAY").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
        // SAFETY: reads a plain integer option.
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }, expected);
    }
}
