//! `skald groups …`: the consumer-group API, one command per call (see
//! `crates/skald-server/src/routes/groups.rs`). Tables for people, `--json` for scripts.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use skald_client::{GroupInfo, GroupSpec, LeaseBatch, LeasedEvent, ParkedPage};
use skald_core::Uuid;

use crate::api::{client, parse_json, print};
use crate::Remote;

/// `skald groups …`
#[derive(Subcommand)]
pub enum GroupsCommand {
    /// List groups with delivered, acked, retried, parked, in flight and lag.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one group: its definition and counters.
    Get {
        group: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Create a group from a spec (JSON: filter, start, max_attempts, backoff, lease_timeout_ms,
    /// max_in_flight, push).
    Create(SpecArgs),
    /// Change a group (its checkpoint is kept); creates it when missing.
    Update(SpecArgs),
    /// Delete a group.
    Delete {
        group: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Lease a batch as a worker (long poll) and print it.
    Lease {
        group: String,
        #[arg(long, default_value = "cli")]
        worker: String,
        #[arg(long, default_value_t = 10)]
        max_events: usize,
        /// Seconds to wait for events.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Acknowledge the batch at once.
        #[arg(long)]
        ack: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Acknowledge events of a lease (all of them without --id).
    Ack {
        group: String,
        lease_id: u64,
        #[arg(long = "id")]
        ids: Vec<Uuid>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Give events of a lease back for a retry, or park them with --park.
    Nack {
        group: String,
        lease_id: u64,
        #[arg(long = "id", required = true)]
        ids: Vec<Uuid>,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        park: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// List parked events.
    Parked {
        group: String,
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        remote: Remote,
    },
    /// Deliver again what was parked since the last replay.
    Replay {
        group: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Args)]
pub struct SpecArgs {
    /// The group's name.
    group: String,
    /// The spec as JSON text (`{"filter": {"type": ["OrderPlaced"]}}`) …
    #[arg(long, conflicts_with = "file")]
    spec: Option<String>,
    /// … or a file holding it (`-` for stdin).
    #[arg(long, short = 'f')]
    file: Option<PathBuf>,
    /// Shorthand for the spec's filter (an event pattern as JSON).
    #[arg(long)]
    filter: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

fn spec_of(args: &SpecArgs) -> anyhow::Result<GroupSpec> {
    let mut spec = match (&args.spec, &args.file) {
        (Some(text), _) => parse_json("--spec", text)?,
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).context("reading stdin")?;
            parse_json("stdin", &text)?
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            parse_json(&path.display().to_string(), &text)?
        }
        (None, None) => json!({}),
    };
    let Value::Object(map) = &mut spec else { anyhow::bail!("the spec must be a JSON object") };
    map.insert("name".into(), Value::String(args.group.clone()));
    if let Some(filter) = &args.filter {
        map.insert("filter".into(), parse_json("--filter", filter)?);
    }
    serde_json::from_value(spec).context("the spec is not a group spec")
}

fn print_groups(groups: &[GroupInfo]) {
    println!(
        "{:<24} {:>10} {:>10} {:>8} {:>7} {:>9} {:>8} {:>10} {:>8}",
        "GROUP", "DELIVERED", "ACKED", "RETRIED", "PARKED", "IN-FLIGHT", "WORKERS", "LAG", "LAG-S"
    );
    for g in groups {
        let s = &g.stats;
        println!(
            "{:<24} {:>10} {:>10} {:>8} {:>7} {:>9} {:>8} {:>10} {:>8}",
            g.spec.name,
            s.delivered,
            s.acked,
            s.retried,
            s.parked,
            s.in_flight,
            s.workers,
            s.lag_events,
            format!("{:.1}", s.lag_seconds),
        );
    }
}

// The numbers of a batch and of parked events are printed without padding: these rows have
// always been printed that way (their widths never applied), and scripts may read them.
fn print_batch(batch: &LeaseBatch) {
    println!("lease {}", batch.lease_id.map_or_else(|| "null".to_owned(), |id| id.to_string()));
    for LeasedEvent { event: e, attempt } in &batch.events {
        println!("{} {:<24} {} {:<20} attempt {attempt} id {}", e.position, e.stream, e.version, e.event_type, e.id);
    }
}

fn print_parked(page: &ParkedPage) {
    for p in &page.parked {
        let e = &p.event;
        println!("{} {:<24} {} attempts {} reason {}", e.position, e.stream, e.version, p.attempts, p.reason);
    }
}

/// Runs one `skald groups …` command.
pub async fn run(command: GroupsCommand) -> anyhow::Result<()> {
    match command {
        GroupsCommand::List { remote } => {
            let list = client(&remote)?.list_groups().await?;
            print(&remote, &list, |list| print_groups(&list.groups))?;
        }
        GroupsCommand::Get { group, remote } => {
            let info = client(&remote)?.get_group(&group).await?;
            print(&remote, &info, |info| {
                print_groups(std::slice::from_ref(info));
                let value = serde_json::to_value(info).unwrap_or_default();
                println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
            })?;
        }
        GroupsCommand::Create(args) => {
            let info = client(&args.remote)?.create_group(&spec_of(&args)?).await?;
            print(&args.remote, &info, |info| println!("created group {}", info.spec.name))?;
        }
        GroupsCommand::Update(args) => {
            let info = client(&args.remote)?.put_group(&spec_of(&args)?).await?;
            print(&args.remote, &info, |info| println!("updated group {}", info.spec.name))?;
        }
        GroupsCommand::Delete { group, remote } => {
            client(&remote)?.delete_group(&group).await?;
            if !remote.json {
                println!("deleted group {group}");
            }
        }
        GroupsCommand::Lease { group, worker, max_events, wait, ack, remote } => {
            let client = client(&remote)?;
            let batch = client.lease(&group, &worker, max_events, Duration::from_secs(wait)).await?;
            print(&remote, &batch, print_batch)?;
            if let Some(lease_id) = batch.lease_id.filter(|_| ack) {
                client.ack_all(&group, lease_id).await?;
            }
        }
        GroupsCommand::Ack { group, lease_id, ids, remote } => {
            let client = client(&remote)?;
            let acked = if ids.is_empty() {
                client.ack_all(&group, lease_id).await?
            } else {
                client.ack(&group, lease_id, &ids).await?
            };
            print(&remote, &acked, |a| println!("acked {} ({} not in the lease)", a.acked, a.unknown))?;
        }
        GroupsCommand::Nack { group, lease_id, ids, reason, park, remote } => {
            let client = client(&remote)?;
            let nacked = if park {
                client.park(&group, lease_id, &ids, reason.as_deref()).await?
            } else {
                client.nack(&group, lease_id, &ids, reason.as_deref()).await?
            };
            print(&remote, &nacked, |n| println!("nacked {} ({} not in the lease)", n.nacked, n.unknown))?;
        }
        GroupsCommand::Parked { group, from, limit, remote } => {
            let page = client(&remote)?.parked(&group, from, limit).await?;
            print(&remote, &page, print_parked)?;
        }
        GroupsCommand::Replay { group, remote } => {
            let replayed = client(&remote)?.replay_parked(&group).await?;
            print(&remote, &replayed, |r| println!("replaying {} parked events", r.replayed))?;
        }
    }
    Ok(())
}
