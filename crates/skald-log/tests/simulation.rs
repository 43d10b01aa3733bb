//! A seeded simulation of the whole engine on the simulated disk (`skald_log::storage::SimStorage`).
//!
//! A seed drives everything: the store's options (tiny segments, checkpoint rates), a few epochs,
//! each with a fault profile (fsync, write, index or read errors, a disk that fills up, latency), a
//! run of appends (one or many streams, expected versions, retries with the same ids, bursts in
//! flight at once), reads (`$all` both ways, streams, categories) and subscriptions, and an end: a
//! power cut in the middle of a burst (the disk keeps what was synced, and any prefix, subset or
//! torn sectors of the rest) or a clean restart. Then the store is reopened on the surviving bytes.
//!
//! Checked continuously and after every recovery (see `docs/reliability.md` for the list):
//! every acknowledged append survives every power cut at the positions and versions it was
//! acknowledged with; every append is whole or absent; nothing is acknowledged after a failed fsync
//! of the log; every event a read or subscription returned survives, unchanged (reads never see
//! what is not durable); recovery refuses to open (`corrupt-data`) only where the damage lies in
//! bytes that were never synced, never in durable ones.
//!
//! What the seed does not fix: the engine runs its writer, syncer and indexer on threads, so which
//! group an append lands in, and when a power cut strikes relative to an fsync, vary from run to
//! run. The operations, their order, every fault decision (drawn per file kind and operation
//! count) and every power cut's choice of surviving bytes come from the seed; a failing seed
//! usually fails again, and its printed log tells what happened.
//!
//! `SKALD_SIM_SEED=<n>` runs one seed; `SKALD_SIM_SEEDS=<n>` sets how many run (from
//! `SKALD_SIM_FIRST`, default 0). The soak: `SKALD_SIM_SEEDS=1000000 cargo test -p skald-log
//! --release --test simulation -- --ignored soak --nocapture` (its first seed is random unless
//! `SKALD_SIM_FIRST` is set, and it prints it).

mod simulation {
    pub mod oracle;
    pub mod run;
    pub mod workload;
}

use std::time::Instant;

use simulation::run::{run_seed, Summary};

/// Seeds a plain `cargo test` runs: enough to meet every profile and cut mode many times, and
/// well under a minute in a debug build on two cores.
const CI_SEEDS: u64 = 300;
/// Seeds that fail on the engine without one of its fixes (`docs/reliability.md`), run every time
/// besides the others: 177 and 2145 without the rewrite of the recovered tail, 111 and 134 without
/// cutting out-of-order damage past the durable point, 823 and 2158 without stopping the writer on
/// an index failure (each failed at least 4 runs of 5), 100007 without fsyncing a cut-back write
/// (half the runs). The engine's threads make a seed's interleaving vary, so each fix also has a
/// deterministic test where one could be written.
const REGRESSION_SEEDS: [u64; 7] = [177, 2145, 111, 134, 823, 2158, 100_007];

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name} must be a number")))
}

/// Runs `count` seeds from `first`; panics with the first failing seed.
fn run_seeds(first: u64, count: u64) -> Summary {
    let started = Instant::now();
    let mut total = Summary::default();
    for seed in first..first + count {
        match run_seed(seed) {
            Ok(summary) => total.merge(&summary),
            Err(failure) => panic!("simulation seed {seed} failed: {failure}\nrerun it with SKALD_SIM_SEED={seed}"),
        }
    }
    println!(
        "{count} seeds from {first} in {:.1} s: {total}; 0 acknowledged appends lost",
        started.elapsed().as_secs_f64()
    );
    total
}

#[test]
fn simulation() {
    if let Some(seed) = env("SKALD_SIM_SEED") {
        run_seeds(seed, 1);
        return;
    }
    for seed in REGRESSION_SEEDS {
        run_seeds(seed, 1);
    }
    let total = run_seeds(env("SKALD_SIM_FIRST").unwrap_or(0), env("SKALD_SIM_SEEDS").unwrap_or(CI_SEEDS));
    assert!(
        total.get("power cuts") > 0 && total.get("appends acknowledged") > 0,
        "the seeds exercised nothing: {total}"
    );
}

#[test]
#[ignore = "a soak: run it with --ignored (see the module docs)"]
fn soak() {
    let first = env("SKALD_SIM_FIRST").unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        (nanos as u64) << 20
    });
    println!("soak from seed {first}");
    let count = env("SKALD_SIM_SEEDS").unwrap_or(1_000_000);
    let chunk = 1000;
    for start in (first..first + count).step_by(chunk as usize) {
        run_seeds(start, chunk.min(first + count - start));
    }
}
