//! Crash test: a child process appends with many concurrent writers and is killed with SIGKILL at
//! random moments. After every kill the store is reopened and every acknowledged event must be
//! there, byte for byte, with gap-free positions and versions, and multi-stream appends whole.
//!
//! `SKALD_CRASH_CYCLES` sets the number of kill cycles (default 20); set it high for a soak.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use skald_core::{EventStore, ExpectedVersion, Json, NewEvent, ReadOptions, Selector, StreamAppend, Uuid};
use skald_log::{Options, Store};

const WRITERS: usize = 40;
const CHILD_ENV: &str = "SKALD_CRASH_CHILD_DIR";

fn payload(writer: usize, seq: u64) -> String {
    // Varying sizes so that frames straddle write and page boundaries.
    format!(r#"{{"writer":{writer},"seq":{seq},"pad":"{}"}}"#, "x".repeat((seq as usize * 37 + writer * 11) % 700))
}

fn id_of(writer: usize, seq: u64, part: u64) -> Uuid {
    Uuid::from_u128(((writer as u128) << 80) | ((seq as u128) << 8) | part as u128)
}

/// The child: appends until killed, printing one line per acknowledged append.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    runtime.block_on(async move {
        let options = Options { segment_bytes_target: 256 * 1024, ..Options::default() };
        let store = Store::open(&dir, options).unwrap();
        let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let store = store.clone();
            let out = out.clone();
            tasks.push(tokio::spawn(async move {
                let stream = format!("w{writer}-a");
                let pair = format!("w{writer}-b");
                let mut head = store.stream_info(&stream).await.ok().map(|i| i.head_version);
                loop {
                    let seq = head.map_or(0, |v| v + 1);
                    let expected = head.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
                    let event = NewEvent::new("Wrote", Json::from_slice(payload(writer, seq).as_bytes()).unwrap())
                        .with_id(id_of(writer, seq, 0));
                    let mut request = vec![StreamAppend::new(stream.clone(), vec![event]).expect(expected)];
                    // Every third append also writes the pair stream, atomically.
                    if seq.is_multiple_of(3) {
                        let twin =
                            NewEvent::new("Twin", serde_json::json!({"seq": seq})).with_id(id_of(writer, seq, 1));
                        request.push(StreamAppend::new(pair.clone(), vec![twin]));
                    }
                    let outcome = store.append(request).await.unwrap();
                    let first = &outcome.streams[0];
                    let line = format!("ack {writer} {seq} {} {}\n", first.first_version, first.first_position);
                    out.lock().unwrap().write_all(line.as_bytes()).unwrap();
                    head = Some(first.last_version);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

struct Ack {
    version: u64,
    position: u64,
}

fn run_child(dir: &std::path::Path, run_for: Duration) -> Vec<(usize, u64, Ack)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.len() == 5 && parts[0] == "ack" {
                let ack = Ack { version: parts[3].parse().unwrap(), position: parts[4].parse().unwrap() };
                acks.push((parts[1].parse().unwrap(), parts[2].parse().unwrap(), ack));
            }
        }
        acks
    });
    std::thread::sleep(run_for);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap()
}

#[test]
fn acknowledged_events_survive_sigkill() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let cycles: usize = std::env::var("SKALD_CRASH_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let mut acked: HashMap<(usize, u64), Ack> = HashMap::new();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for cycle in 0..cycles {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let run_for = Duration::from_millis(150 + seed % 400);
        let new = run_child(dir.path(), run_for);
        let new_count = new.len();
        for (writer, seq, ack) in new {
            acked.insert((writer, seq), ack);
        }
        runtime.block_on(check(dir.path(), &acked, cycle));
        eprintln!("cycle {cycle}: killed after {run_for:?}, {new_count} new acks, {} acked in all", acked.len());
    }
    assert!(acked.len() > cycles * 10, "the child acknowledged too little for the test to mean anything");
}

async fn check(dir: &std::path::Path, acked: &HashMap<(usize, u64), Ack>, cycle: usize) {
    let store = Store::open(dir, Options::default()).unwrap();
    // The whole log, in order, without gaps.
    let mut all = Vec::new();
    let mut from = Some(0);
    while let Some(start) = from {
        let page = store.read(&Selector::All, ReadOptions::forward(start, 10_000)).await.unwrap();
        all.extend(page.events);
        from = page.next;
    }
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_id = HashMap::new();
    for (i, event) in all.iter().enumerate() {
        assert_eq!(event.position, i as u64, "cycle {cycle}: gap in positions");
        let next = versions.entry(event.stream.clone()).or_insert(0);
        assert_eq!(event.version, *next, "cycle {cycle}: gap in versions of {}", event.stream);
        *next += 1;
        by_id.insert(event.id, event);
    }
    for ((writer, seq), ack) in acked {
        let event = by_id
            .get(&id_of(*writer, *seq, 0))
            .unwrap_or_else(|| panic!("cycle {cycle}: acked event {writer}/{seq} lost"));
        assert_eq!((event.version, event.position), (ack.version, ack.position), "cycle {cycle}: moved");
        assert_eq!(event.data.as_bytes(), payload(*writer, *seq).as_bytes(), "cycle {cycle}: bytes differ");
    }
    // Atomic pairs: a twin exists exactly when its main event does.
    for event in &all {
        if event.event_type == "Twin" {
            let main = Uuid::from_u128(event.id.as_u128() & !0xff);
            assert!(by_id.contains_key(&main), "cycle {cycle}: twin without its main event");
        } else if event.event_type == "Wrote" {
            let seq = (event.id.as_u128() >> 8) as u64; // below the writer bits for any seq < 2^72
            if seq.is_multiple_of(3) {
                let twin = Uuid::from_u128(event.id.as_u128() | 1);
                assert!(by_id.contains_key(&twin), "cycle {cycle}: half of an atomic append survived");
            }
        }
    }
    store.close();
}
