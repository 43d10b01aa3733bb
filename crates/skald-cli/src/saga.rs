//! `skald sm …` and `skald exec …`: the saga API, one command per call (see
//! `crates/skald-server/src/routes/sagas.rs`). Tables for people, `--json` for scripts.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::api::{parse_json, segment, Api};
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

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Runs `skald sm …`.
pub async fn sm(command: SmCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    match command {
        SmCommand::Create(args) | SmCommand::Update(args) => {
            let api = Api::new(&args.remote)?;
            let body = json!({"definition": read_definition(&args.definition)?});
            let answer =
                api.call(Method::PUT, &format!("/v1/state-machines/{}", segment(&args.name)), Some(body)).await?;
            api.print(&answer, |v| println!("{} version {}", text(v, "name"), text(v, "version")));
        }
        SmCommand::Describe { name, version, remote } => {
            let api = Api::new(&remote)?;
            let query = version.map(|v| format!("?version={v}")).unwrap_or_default();
            let answer = api.call(Method::GET, &format!("/v1/state-machines/{}{query}", segment(&name)), None).await?;
            api.print(&answer, |v| {
                println!("{} version {} (created {})", text(v, "name"), text(v, "version"), text(v, "created"));
                println!("{}", serde_json::to_string_pretty(&v["definition"]).unwrap_or_default());
            });
        }
        SmCommand::List { after, limit, remote } => {
            let api = Api::new(&remote)?;
            let after = after.map(|a| format!("&after={}", segment(&a))).unwrap_or_default();
            let answer = api.call(Method::GET, &format!("/v1/state-machines?limit={limit}{after}"), None).await?;
            api.print(&answer, |v| {
                println!("{:<40} {:>8}  created", "NAME", "VERSION");
                for m in v["state_machines"].as_array().into_iter().flatten() {
                    println!("{:<40} {:>8}  {}", text(m, "name"), text(m, "version"), text(m, "created"));
                }
            });
        }
        SmCommand::Delete { name, remote } => {
            let api = Api::new(&remote)?;
            api.call(Method::DELETE, &format!("/v1/state-machines/{}", segment(&name)), None).await?;
            if !api.json {
                println!("deleted {name}");
            }
        }
    }
    Ok(())
}

/// Runs `skald exec …`.
pub async fn exec(command: ExecCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    match command {
        ExecCommand::Start { state_machine, name, input, version, remote } => {
            let api = Api::new(&remote)?;
            let body = json!({"state_machine": state_machine, "name": name, "input": parse_json("--input", &input)?, "version": version});
            let answer = api.call(Method::POST, "/v1/executions", Some(body)).await?;
            api.print(&answer, |v| {
                let again = if v["already_started"] == json!(true) { " (already started)" } else { "" };
                println!("{}{again}", text(v, "execution_id"));
            });
        }
        ExecCommand::Describe { id, remote } => {
            let api = Api::new(&remote)?;
            let answer = api.call(Method::GET, &format!("/v1/executions/{}", segment(&id)), None).await?;
            api.print(&answer, |v| {
                for key in [
                    "execution_id",
                    "state_machine",
                    "state_machine_version",
                    "status",
                    "start_time",
                    "stop_time",
                    "error",
                    "cause",
                    "history_length",
                ] {
                    println!("{key:<22} {}", text(v, key));
                }
                println!("{:<22} {}", "input", v["input"]);
                println!("{:<22} {}", "output", v["output"]);
            });
        }
        ExecCommand::List { state_machine, status, from, limit, remote } => {
            let api = Api::new(&remote)?;
            let mut query = format!("?limit={limit}");
            if let Some(sm) = state_machine {
                query += &format!("&state_machine={}", segment(&sm));
            }
            if let Some(status) = status {
                query += &format!("&status={}", segment(&status));
            }
            if let Some(from) = from {
                query += &format!("&from={from}");
            }
            let answer = api.call(Method::GET, &format!("/v1/executions{query}"), None).await?;
            api.print(&answer, |v| {
                println!("{:<50} {:<10} started", "EXECUTION", "STATUS");
                for e in v["executions"].as_array().into_iter().flatten() {
                    println!("{:<50} {:<10} {}", text(e, "execution_id"), text(e, "status"), text(e, "start_time"));
                }
                if let Some(next) = v["next"].as_u64() {
                    println!("more: --from {next}");
                }
            });
        }
        ExecCommand::History { id, from, limit, backward, remote } => {
            let api = Api::new(&remote)?;
            let direction = if backward { "backward" } else { "forward" };
            let from = from.map(|f| format!("&from={f}")).unwrap_or_default();
            let path = format!("/v1/executions/{}/history?limit={limit}&direction={direction}{from}", segment(&id));
            let answer = api.call(Method::GET, &path, None).await?;
            api.print(&answer, |v| {
                println!("{:>5} {:>5}  {:<26} TYPE", "ID", "PREV", "TIME");
                for e in v["events"].as_array().into_iter().flatten() {
                    println!(
                        "{:>5} {:>5}  {:<26} {}",
                        text(e, "id"),
                        text(e, "previous_event_id"),
                        text(e, "timestamp"),
                        text(e, "type")
                    );
                }
            });
        }
        ExecCommand::Stop { id, error, cause, remote } => {
            let api = Api::new(&remote)?;
            let path = format!("/v1/executions/{}/stop", segment(&id));
            let answer = api.call(Method::POST, &path, Some(json!({"error": error, "cause": cause}))).await?;
            api.print(&answer, |v| println!("{} {}", text(v, "execution_id"), text(v, "status")));
        }
        ExecCommand::TaskSuccess { token, output, remote } => {
            let api = Api::new(&remote)?;
            let body = json!({"output": parse_json("--output", &output)?});
            api.call(Method::POST, &format!("/v1/tasks/{}/success", segment(&token)), Some(body)).await?;
        }
        ExecCommand::TaskFailure { token, error, cause, remote } => {
            let api = Api::new(&remote)?;
            let body = json!({"error": error, "cause": cause});
            api.call(Method::POST, &format!("/v1/tasks/{}/failure", segment(&token)), Some(body)).await?;
        }
        ExecCommand::TaskHeartbeat { token, remote } => {
            let api = Api::new(&remote)?;
            api.call(Method::POST, &format!("/v1/tasks/{}/heartbeat", segment(&token)), None).await?;
        }
        ExecCommand::ActivityTask { activity, wait, remote } => {
            let api = Api::new(&remote)?;
            let path = format!("/v1/activities/{}/task?wait={wait}", segment(&activity));
            let answer = api.call(Method::GET, &path, None).await?;
            if answer.is_none() && !api.json {
                println!("no task");
            }
            api.print(&answer, |v| {
                println!("token {}", text(v, "task_token"));
                println!("input {}", v["input"]);
            });
        }
    }
    Ok(())
}
