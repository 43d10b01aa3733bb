//! `skald projection …`: build, follow and rebuild the read models that ship with Skald.
//!
//! These commands open the store's data directory themselves (the server must be stopped: the
//! directory is locked by whoever has it open).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use skald_core::EventStore;
use skald_projections::examples::OrderHistory;
use skald_projections::SqliteRunner;

use crate::config::DATA_DIR_DEFAULT;

/// The read models `skald projection` knows by name.
const KNOWN: &[&str] = &["order-history"];

#[derive(Subcommand)]
pub enum ProjectionCommand {
    /// Rebuild a read model from the first event beside the live one, then switch over.
    Rebuild(ProjectionArgs),
    /// Apply the events the read model has not seen yet, then stop.
    CatchUp(ProjectionArgs),
}

#[derive(Args)]
pub struct ProjectionArgs {
    /// The read model (`order-history`).
    name: String,
    /// The store's data directory.
    #[arg(long, env = "SKALD_DATA_DIR", default_value = DATA_DIR_DEFAULT)]
    data_dir: PathBuf,
    /// The SQLite database of the read model (created if missing).
    #[arg(long)]
    db: PathBuf,
}

pub async fn run(command: ProjectionCommand) -> anyhow::Result<()> {
    let (args, rebuild) = match command {
        ProjectionCommand::Rebuild(args) => (args, true),
        ProjectionCommand::CatchUp(args) => (args, false),
    };
    anyhow::ensure!(
        KNOWN.contains(&args.name.as_str()),
        "unknown read model `{}`; known: {}",
        args.name,
        KNOWN.join(", ")
    );
    anyhow::ensure!(
        args.data_dir.join("segments").is_dir(),
        "{} holds no Skald store (no segments/ directory)",
        args.data_dir.display()
    );
    let store = skald_log::Store::open(&args.data_dir, skald_log::Options::default()).with_context(|| {
        format!("cannot open the store in {} (is the server still running?)", args.data_dir.display())
    })?;
    let shared: Arc<dyn EventStore> = Arc::new(store.clone());
    let mut runner = SqliteRunner::open(shared, &args.db, OrderHistory)?;
    let bar = ProgressBar::new(store.head_position().map_or(0, |p| p + 1));
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} positions {elapsed} {msg}").expect("valid template"),
    );
    let show = |progress: skald_projections::Progress| {
        bar.set_position(progress.position.map_or(0, |p| p + 1));
        bar.set_message(format!("{} events applied", progress.applied));
    };
    let applied = if rebuild { runner.rebuild(show).await? } else { runner.catch_up_with_progress(show).await? };
    bar.finish_and_clear();
    let checkpoint = runner.checkpoint()?.map_or_else(|| "none".to_owned(), |p| p.to_string());
    let what = if rebuild { "rebuilt" } else { "caught up" };
    println!(
        "{what} `{}` in {}: {applied} events applied, checkpoint at position {checkpoint}",
        args.name,
        args.db.display()
    );
    drop(runner);
    store.close();
    Ok(())
}
