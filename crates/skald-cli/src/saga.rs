//! `skald sm …` and `skald exec …`: the saga API, one command per call (see
//! `crates/skald-server/src/routes/sagas.rs`). Tables for people, `--json` for scripts.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;
use skald_client::{ExecutionDescription, ExecutionStatus, ListExecutions, StartExecution};
use skald_core::Direction;

use crate::api::{client, or_dash, parse_json, print};
use crate::Remote;

/// `skald sm …`
#[derive(Subcommand)]
pub enum SmCommand {
    /// Create a state machine from a definition file (`-` for stdin).
    Create(DefinitionArgs),
    /// Add a version (a new one only when the definition changed); creates it if missing.
    Update(DefinitionArgs),
    /// Show a state machine (its latest version, or --version).
    Describe {
        name: String,
        #[arg(long)]
        version: Option<u64>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List state machines.
    List {
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete a state machine (running executions finish on their version).
    Delete {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Args)]
pub struct DefinitionArgs {
    /// The state machine's name.
    name: String,
    /// The ASL definition file, `-` for stdin.
    #[arg(long, short = 'f')]
    definition: PathBuf,
    #[command(flatten)]
    remote: Remote,
}

/// `skald exec …`
#[derive(Subcommand)]
pub enum ExecCommand {
    /// Start an execution (idempotent by --name).
    Start {
        /// The state machine.
        state_machine: String,
        /// The execution name; a UUID by default.
        #[arg(long)]
        name: Option<String>,
        /// The input as JSON.
        #[arg(long, short = 'i', default_value = "{}")]
        input: String,
        /// Run this version instead of the latest.
        #[arg(long)]
        version: Option<u64>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show an execution.
    Describe {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List executions, newest first.
    List {
        #[arg(long)]
        state_machine: Option<String>,
        /// RUNNING, SUCCEEDED, FAILED, ABORTED or TIMED_OUT.
        #[arg(long)]
        status: Option<String>,
        /// The cursor printed by the previous page.
        #[arg(long)]
        from: Option<u64>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        remote: Remote,
    },
    /// Print an execution's history.
    History {
        id: String,
        /// First event id.
        #[arg(long)]
        from: Option<u64>,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Newest first.
        #[arg(long)]
        backward: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Stop an execution with an error and cause.
    Stop {
        id: String,
        #[arg(long, default_value = "States.Aborted")]
        error: String,
        #[arg(long, default_value = "")]
        cause: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Complete the task waiting for a token.
    TaskSuccess {
        token: String,
        /// The output as JSON.
        #[arg(long, short = 'o', default_value = "{}")]
        output: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Fail the task waiting for a token.
    TaskFailure {
        token: String,
        #[arg(long)]
        error: String,
        #[arg(long, default_value = "")]
        cause: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Send a heartbeat for the task waiting for a token.
    TaskHeartbeat {
        token: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Take the next task of an activity, waiting up to --wait seconds.
    ActivityTask {
        activity: String,
        #[arg(long, default_value_t = 20)]
        wait: u64,
        #[command(flatten)]
        remote: Remote,
    },
}

fn read_definition(path: &PathBuf) -> anyhow::Result<Value> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the definition from stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// Runs `skald sm …`.
pub async fn sm(command: SmCommand) -> anyhow::Result<()> {
    match command {
        SmCommand::Create(args) | SmCommand::Update(args) => {
            let definition = read_definition(&args.definition)?;
            let machine = client(&args.remote)?.put_state_machine(&args.name, &definition).await?;
            print(&args.remote, &machine, |m| println!("{} version {}", m.name, m.version))?;
        }
        SmCommand::Describe { name, version, remote } => {
            let machine = client(&remote)?.describe_state_machine(&name, version).await?;
            print(&remote, &machine, |m| {
                println!("{} version {} (created {})", m.name, m.version, m.created);
                println!("{}", serde_json::to_string_pretty(&m.definition).unwrap_or_default());
            })?;
        }
        SmCommand::List { after, limit, remote } => {
            let list = client(&remote)?.list_state_machines(after.as_deref(), limit).await?;
            print(&remote, &list, |list| {
                println!("{:<40} {:>8}  created", "NAME", "VERSION");
                for m in &list.state_machines {
                    println!("{:<40} {:>8}  {}", m.name, m.version, m.created);
                }
            })?;
        }
        SmCommand::Delete { name, remote } => {
            client(&remote)?.delete_state_machine(&name).await?;
            if !remote.json {
                println!("deleted {name}");
            }
        }
    }
    Ok(())
}

/// Runs `skald exec …`.
pub async fn exec(command: ExecCommand) -> anyhow::Result<()> {
    match command {
        ExecCommand::Start { state_machine, name, input, version, remote } => {
            let request = StartExecution { state_machine, version, name, input: parse_json("--input", &input)? };
            let started = client(&remote)?.start_execution(&request).await?;
            print(&remote, &started, |s| {
                let again = if s.already_started { " (already started)" } else { "" };
                println!("{}{again}", s.execution_id);
            })?;
        }
        ExecCommand::Describe { id, remote } => {
            let described = client(&remote)?.describe_execution(&id).await?;
            print(&remote, &described, print_description)?;
        }
        ExecCommand::List { state_machine, status, from, limit, remote } => {
            let status = status.map(|s| s.parse::<ExecutionStatus>()).transpose()?;
            let request = ListExecutions { state_machine, status, from, limit: Some(limit) };
            let list = client(&remote)?.list_executions(&request).await?;
            print(&remote, &list, |list| {
                println!("{:<50} {:<10} started", "EXECUTION", "STATUS");
                for e in &list.executions {
                    println!("{:<50} {:<10} {}", e.execution_id, e.status, e.start_time);
                }
                if let Some(next) = list.next {
                    println!("more: --from {next}");
                }
            })?;
        }
        ExecCommand::History { id, from, limit, backward, remote } => {
            let direction = if backward { Direction::Backward } else { Direction::Forward };
            let page = client(&remote)?.execution_history(&id, from, limit, direction).await?;
            print(&remote, &page, |page| {
                println!("{:>5} {:>5}  {:<26} TYPE", "ID", "PREV", "TIME");
                for e in &page.events {
                    println!("{:>5} {:>5}  {:<26} {}", e.id, e.previous_event_id, e.timestamp, e.event_type);
                }
            })?;
        }
        ExecCommand::Stop { id, error, cause, remote } => {
            let stopped = client(&remote)?.stop_execution(&id, &error, &cause).await?;
            print(&remote, &stopped, |d| println!("{} {}", d.execution_id, d.status))?;
        }
        ExecCommand::TaskSuccess { token, output, remote } => {
            client(&remote)?.send_task_success(&token, &parse_json("--output", &output)?).await?;
        }
        ExecCommand::TaskFailure { token, error, cause, remote } => {
            client(&remote)?.send_task_failure(&token, &error, &cause).await?;
        }
        ExecCommand::TaskHeartbeat { token, remote } => {
            client(&remote)?.send_task_heartbeat(&token).await?;
        }
        ExecCommand::ActivityTask { activity, wait, remote } => {
            let task = client(&remote)?.get_activity_task(&activity, Duration::from_secs(wait)).await?;
            print(&remote, &task, |task| match task {
                Some(task) => {
                    println!("token {}", task.task_token);
                    println!("input {}", task.input);
                }
                None => println!("no task"),
            })?;
        }
    }
    Ok(())
}

fn print_description(d: &ExecutionDescription) {
    let rows = [
        ("execution_id", d.execution_id.clone()),
        ("state_machine", d.state_machine.clone()),
        ("state_machine_version", d.state_machine_version.to_string()),
        ("status", d.status.to_string()),
        ("start_time", d.start_time.clone()),
        ("stop_time", or_dash(d.stop_time.as_ref())),
        ("error", or_dash(d.error.as_ref())),
        ("cause", or_dash(d.cause.as_ref())),
        ("history_length", d.history_length.to_string()),
    ];
    for (key, value) in rows {
        println!("{key:<22} {value}");
    }
    println!("{:<22} {}", "input", d.input);
    println!("{:<22} {}", "output", d.output.as_ref().unwrap_or(&Value::Null));
}
