//! Crash test: a child process appends to a skald-log store while four workers of a consumer
//! group lease, process and acknowledge; some workers abandon their batch mid-way (a worker crash)
//! and a new one joins; the child itself is killed with SIGKILL at random moments.
//!
//! Workers print each event before acknowledging it. Afterwards: every event matching the filter
//! was processed at least once; no delivery in a run is below the checkpoint that was durable when
//! the run started (nothing acknowledged is delivered again once its checkpoint is durable); within
//! a run, each stream's events are processed in version order (a redelivery repeats the version
//! it resumes from, never an older one). `SKALD_GROUPS_CRASH_CYCLES` sets the number of kills (default 6);
//! it runs on every backend a child process can open.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde_json::json;
use skald_core::{Direction, EventStore, NewEvent, ReadOptions, Selector, StreamAppend, Uuid};
use skald_groups::{Backoff, GroupSpec, Groups, GroupsHandle, GroupsOptions};
use skald_testkit::crash::{child_params, cycles, report, Child, Seed};
use skald_testkit::TestStore;

const STREAMS: usize = 8;

fn options() -> GroupsOptions {
    GroupsOptions {
        checkpoint_interval: Duration::from_millis(50),
        tick: Duration::from_millis(5),
        ..Default::default()
    }
}

fn group_spec() -> GroupSpec {
    GroupSpec {
        lease_timeout_ms: 300,
        max_attempts: 1000,
        backoff: Backoff { initial_ms: 5, max_ms: 50, multiplier: 2.0 },
        max_in_flight: 200,
        ..GroupSpec::new("g").filter(json!({"category": ["order"]}))
    }
}

fn id_of(stream: usize, seq: u64) -> Uuid {
    Uuid::from_u128(((stream as u128 + 1) << 64) | seq as u128)
}

async fn ensure_group(groups: &GroupsHandle) {
    if groups.get_group("g").is_err() {
        groups.create_group(group_spec()).await.unwrap();
    }
}

/// The child: appends and consumes until killed, printing one line per processed event.
#[test]
fn crash_child() {
    let Some(params) = child_params() else { return };
    params.block_on(|store| async move {
        let groups = Groups::start(store.clone(), options()).await.unwrap();
        ensure_group(&groups).await;
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut heads = Vec::new();
                for s in 0..STREAMS {
                    heads.push(store.stream_info(&format!("order-{s}")).await.map(|i| i.head_version + 1).unwrap_or(0));
                }
                let mut round = 0u64;
                loop {
                    let mut appends = Vec::new();
                    for s in (0..STREAMS).filter(|s| !(round + *s as u64).is_multiple_of(3)) {
                        let event = NewEvent::new("Placed", json!({"seq": heads[s]})).with_id(id_of(s, heads[s]));
                        appends.push(StreamAppend::new(format!("order-{s}"), vec![event]));
                        heads[s] += 1;
                    }
                    appends.push(StreamAppend::new("audit-1", vec![NewEvent::new("Noise", json!({}))]));
                    store.append(appends).await.unwrap();
                    round += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        let mut workers = Vec::new();
        for w in 0..4u64 {
            let groups = groups.clone();
            workers.push(tokio::spawn(async move {
                let mut incarnation = 0;
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ ((w + 1) * 7919) ^ std::process::id() as u64;
                loop {
                    let worker = format!("w{w}-{incarnation}");
                    let batch = groups.lease("g", &worker, 20, Duration::from_millis(200)).await.unwrap();
                    for (i, delivery) in batch.events.iter().enumerate() {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        if rng.is_multiple_of(97) && i > 0 {
                            // This worker crashes mid-batch: the rest of its lease expires.
                            incarnation += 1;
                            break;
                        }
                        // Process (print), then acknowledge. A failed ack (the lease expired) ends
                        // the batch: its events go to another worker.
                        let e = &delivery.event;
                        report(format!("done {} {} {}", e.stream, e.version, e.position));
                        if groups.ack("g", batch.lease_id, &[e.id]).map(|r| r.applied) != Ok(1) {
                            break;
                        }
                    }
                }
            }));
        }
        writer.await.unwrap();
    });
}

#[derive(Default)]
struct Run {
    /// (stream, version, position) in processing order.
    acks: Vec<(String, u64, u64)>,
}

fn run_child(location: &str, run_for: Duration) -> Run {
    let finished = Child::spawn("crash_child", location, json!({})).kill_after(run_for);
    let mut run = Run::default();
    for line in finished.lines {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let ["done", stream, version, position] = parts.as_slice() {
            run.acks.push(((*stream).to_owned(), version.parse().unwrap(), position.parse().unwrap()));
        }
    }
    run
}

async fn durable_checkpoint(store: &dyn EventStore) -> u64 {
    let options = ReadOptions { direction: Direction::Backward, limit: 1, ..Default::default() };
    match store.read(&Selector::Stream("$sub-g".into()), options).await {
        Ok(page) => page.events.first().map_or(0, |e| e.data.to_value()["position"].as_u64().unwrap()),
        Err(_) => 0,
    }
}

fn check_run(run: &Run, checkpoint: u64, cycle: usize) {
    let mut last: HashMap<&str, u64> = HashMap::new();
    for (stream, version, position) in &run.acks {
        assert!(
            *position >= checkpoint,
            "cycle {cycle}: {stream}/{version} at {position} delivered below the durable checkpoint {checkpoint}"
        );
        if let Some(previous) = last.insert(stream, *version) {
            assert!(*version >= previous, "cycle {cycle}: {stream} processed {version} after {previous}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_groups_survive_sigkill_and_worker_crashes() {
    skald_testkit::run("embedded", kill_groups).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_groups_survive_sigkill_and_worker_crashes() {
    skald_testkit::run("postgres", kill_groups).await;
}

async fn kill_groups(mut kit: TestStore) {
    let location = kit.location().expect("a store a child process can open");
    let cycles = cycles("SKALD_GROUPS_CRASH_CYCLES", 6);
    let mut seed = Seed::from_env(&format!("{} groups crash", kit.backend()), 0x2545_F491_4F6C_DD1D);
    let mut acked: HashSet<(String, u64)> = HashSet::new();
    let mut checkpoint = 0;
    kit.close().await;
    for cycle in 0..cycles {
        let run_for = seed.duration(Duration::from_millis(400), Duration::from_millis(600));
        let run = tokio::task::block_in_place(|| run_child(&location, run_for));
        check_run(&run, checkpoint, cycle);
        acked.extend(run.acks.iter().map(|(s, v, _)| (s.clone(), *v)));
        kit.open_again().await;
        let next = durable_checkpoint(&*kit.store()).await;
        kit.close().await;
        assert!(next >= checkpoint, "the checkpoint went back");
        eprintln!("cycle {cycle}: killed after {run_for:?}, {} processed, checkpoint {next}", run.acks.len());
        checkpoint = next;
    }
    // Drain what is left with a fresh service and check that nothing was lost.
    kit.open_again().await;
    let final_run = {
        let store = kit.store();
        let groups = Groups::start(store.clone(), options()).await.unwrap();
        let mut run = Run::default();
        loop {
            let batch = groups.lease("g", "drain", 1000, Duration::from_millis(500)).await.unwrap();
            if batch.events.is_empty() {
                break;
            }
            for d in &batch.events {
                run.acks.push((d.event.stream.clone(), d.event.version, d.event.position));
            }
            groups.ack_all("g", batch.lease_id).unwrap();
        }
        groups.shutdown().await;
        let mut heads = BTreeMap::new();
        for s in 0..STREAMS {
            if let Ok(info) = store.stream_info(&format!("order-{s}")).await {
                heads.insert(format!("order-{s}"), info.head_version);
            }
        }
        (run, heads)
    };
    let (run, heads) = final_run;
    check_run(&run, checkpoint, cycles);
    acked.extend(run.acks.iter().map(|(s, v, _)| (s.clone(), *v)));
    let mut total = 0;
    for (stream, head) in &heads {
        for version in 0..=*head {
            assert!(acked.contains(&(stream.clone(), version)), "{stream}/{version} was never processed");
            total += 1;
        }
    }
    assert!(total > cycles * 50, "too few events ({total}) for the test to mean anything");
    assert!(acked.iter().all(|(s, _)| s.starts_with("order-")), "the filter let other events through");
}
