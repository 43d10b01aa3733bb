//! `skald groups …`: the consumer-group API, one command per call (see
//! `crates/skald-server/src/routes/groups.rs`). Tables for people, `--json` for scripts.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::api::{parse_json, segment, Api};
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
        ids: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Give events of a lease back for a retry, or park them with --park.
    Nack {
        group: String,
        lease_id: u64,
        #[arg(long = "id", required = true)]
        ids: Vec<String>,
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

fn spec_of(args: &SpecArgs) -> anyhow::Result<Value> {
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
    Ok(spec)
}

fn number(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::Null => "-".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.1}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn print_groups(groups: &[Value]) {
    println!(
        "{:<24} {:>10} {:>10} {:>8} {:>7} {:>9} {:>8} {:>10} {:>8}",
        "GROUP", "DELIVERED", "ACKED", "RETRIED", "PARKED", "IN-FLIGHT", "WORKERS", "LAG", "LAG-S"
    );
    for g in groups {
        let s = &g["stats"];
        println!(
            "{:<24} {:>10} {:>10} {:>8} {:>7} {:>9} {:>8} {:>10} {:>8}",
            g["name"].as_str().unwrap_or("-"),
            number(s, "delivered"),
            number(s, "acked"),
            number(s, "retried"),
            number(s, "parked"),
            number(s, "in_flight"),
            number(s, "workers"),
            number(s, "lag_events"),
            number(s, "lag_seconds"),
        );
    }
}

fn print_batch(batch: &Value) {
    println!("lease {}", batch["lease_id"]);
    for e in batch["events"].as_array().into_iter().flatten() {
        println!(
            "{:>10} {:<24} {:>6} {:<20} attempt {} id {}",
            e["position"],
            e["stream"].as_str().unwrap_or("-"),
            e["version"],
            e["type"].as_str().unwrap_or("-"),
            e["attempt"],
            e["id"].as_str().unwrap_or("-")
        );
    }
}

/// Runs one `skald groups …` command.
pub async fn run(command: GroupsCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    match command {
        GroupsCommand::List { remote } => {
            let api = Api::new(&remote)?;
            let answer = api.call(Method::GET, "/v1/groups", None).await?;
            api.print(&answer, |v| print_groups(v["groups"].as_array().map(Vec::as_slice).unwrap_or_default()));
        }
        GroupsCommand::Get { group, remote } => {
            let api = Api::new(&remote)?;
            let answer = api.call(Method::GET, &format!("/v1/groups/{}", segment(&group)), None).await?;
            api.print(&answer, |v| {
                print_groups(std::slice::from_ref(v));
                println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
            });
        }
        GroupsCommand::Create(args) => {
            let api = Api::new(&args.remote)?;
            let answer = api.call(Method::POST, "/v1/groups", Some(spec_of(&args)?)).await?;
            api.print(&answer, |v| println!("created group {}", v["name"].as_str().unwrap_or("-")));
        }
        GroupsCommand::Update(args) => {
            let api = Api::new(&args.remote)?;
            let path = format!("/v1/groups/{}", segment(&args.group));
            let answer = api.call(Method::PUT, &path, Some(spec_of(&args)?)).await?;
            api.print(&answer, |v| println!("updated group {}", v["name"].as_str().unwrap_or("-")));
        }
        GroupsCommand::Delete { group, remote } => {
            let api = Api::new(&remote)?;
            api.call(Method::DELETE, &format!("/v1/groups/{}", segment(&group)), None).await?;
            if !api.json {
                println!("deleted group {group}");
            }
        }
        GroupsCommand::Lease { group, worker, max_events, wait, ack, remote } => {
            let api = Api::new(&remote)?;
            let path = format!(
                "/v1/groups/{}/lease?worker={}&max_events={max_events}&wait={wait}",
                segment(&group),
                segment(&worker)
            );
            let answer = api.call(Method::POST, &path, None).await?;
            api.print(&answer, print_batch);
            if let Some(lease_id) = answer.as_ref().and_then(|b| b["lease_id"].as_u64()).filter(|_| ack) {
                let path = format!("/v1/groups/{}/ack", segment(&group));
                api.call(Method::POST, &path, Some(json!({"lease_id": lease_id}))).await?;
            }
        }
        GroupsCommand::Ack { group, lease_id, ids, remote } => {
            let api = Api::new(&remote)?;
            let body =
                if ids.is_empty() { json!({"lease_id": lease_id}) } else { json!({"lease_id": lease_id, "ids": ids}) };
            let answer = api.call(Method::POST, &format!("/v1/groups/{}/ack", segment(&group)), Some(body)).await?;
            api.print(&answer, |v| println!("acked {} ({} not in the lease)", v["acked"], v["unknown"]));
        }
        GroupsCommand::Nack { group, lease_id, ids, reason, park, remote } => {
            let api = Api::new(&remote)?;
            let body = json!({"lease_id": lease_id, "ids": ids, "reason": reason, "park": park});
            let answer = api.call(Method::POST, &format!("/v1/groups/{}/nack", segment(&group)), Some(body)).await?;
            api.print(&answer, |v| println!("nacked {} ({} not in the lease)", v["nacked"], v["unknown"]));
        }
        GroupsCommand::Parked { group, from, limit, remote } => {
            let api = Api::new(&remote)?;
            let path = format!("/v1/groups/{}/parked?from={from}&limit={limit}", segment(&group));
            let answer = api.call(Method::GET, &path, None).await?;
            api.print(&answer, |v| {
                for p in v["parked"].as_array().into_iter().flatten() {
                    let e = &p["event"];
                    println!(
                        "{:>10} {:<24} {:>6} attempts {} reason {}",
                        e["position"],
                        e["stream"].as_str().unwrap_or("-"),
                        e["version"],
                        p["attempts"],
                        p["reason"].as_str().unwrap_or("-")
                    );
                }
            });
        }
        GroupsCommand::Replay { group, remote } => {
            let api = Api::new(&remote)?;
            let path = format!("/v1/groups/{}/parked/replay", segment(&group));
            let answer = api.call(Method::POST, &path, None).await?;
            api.print(&answer, |v| println!("replaying {} parked events", v["replayed"]));
        }
    }
    Ok(())
}
