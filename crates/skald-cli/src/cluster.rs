//! `skald cluster status`: the nodes sharing the backend, what each owns and for how long.

use clap::Subcommand;

use crate::api::{client, print};
use crate::Remote;

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// The live nodes, their leases (saga shards, consumer groups) and how long each is held.
    Status {
        #[command(flatten)]
        remote: Remote,
    },
}

pub async fn run(command: ClusterCommand) -> anyhow::Result<()> {
    let ClusterCommand::Status { remote } = command;
    let status = client(&remote)?.cluster_status().await?;
    print(&remote, &status, |status| {
        if status.solo {
            println!("solo node (embedded store): owns every saga shard and consumer group, without leases");
            return;
        }
        println!("{:<24} {:<28} {:>9} {:>10}  leases", "node", "address", "seen (ms)", "member (s)");
        for node in &status.nodes {
            let me = if node.id == status.node { "*" } else { " " };
            let leases: Vec<String> = node
                .leases
                .iter()
                .map(|l| format!("{}@{} ({:.1}s)", l.lease, l.epoch, l.held_ms as f64 / 1e3))
                .collect();
            println!(
                "{me}{:<23} {:<28} {:>9} {:>10.1}  {}",
                node.id,
                node.address,
                node.last_seen_ms,
                node.member_for_ms as f64 / 1e3,
                leases.join(", ")
            );
        }
        if !status.unowned.is_empty() {
            println!("unowned (being taken over): {}", status.unowned.join(", "));
        }
    })
}
