//! Appends killed with SIGKILL, on every backend a child process can open: a child appends with
//! many concurrent writers and is killed at random moments; after every kill the store is opened
//! again and every acknowledged event must be there, byte for byte, at the position and version it
//! was acknowledged with, with gap-free positions and versions and multi-stream appends whole.
//!
//! `SKALD_CRASH_CYCLES` sets the number of kill cycles (default 20); `SKALD_SEED` replays a run.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::json;
use skald_core::{EventStore, ExpectedVersion, Json, NewEvent, Selector, StreamAppend, Uuid};
use skald_testkit::contract::read_to_end;
use skald_testkit::crash::{child_params, cycles, report, Child, Seed};
use skald_testkit::TestStore;

const WRITERS: usize = 40;

fn payload(writer: usize, seq: u64) -> String {
    // Varying sizes so that frames straddle write and page boundaries.
    format!(r#"{{"writer":{writer},"seq":{seq},"pad":"{}"}}"#, "x".repeat((seq as usize * 37 + writer * 11) % 700))
}

fn id_of(writer: usize, seq: u64, part: u64) -> Uuid {
    Uuid::from_u128(((writer as u128) << 80) | ((seq as u128) << 8) | part as u128)
}

/// The child: appends until killed, reporting `ack <writer> <seq> <version> <position>` per append.
#[test]
fn append_child() {
    let Some(params) = child_params() else { return };
    params.block_on(|store| async move {
        let writers = (0..WRITERS).map(|writer| {
            let store = store.clone();
            tokio::spawn(async move { write(&*store, writer).await })
        });
        futures_util::future::join_all(writers).await;
    });
}

async fn write(store: &dyn EventStore, writer: usize) {
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
            let twin = NewEvent::new("Twin", json!({"seq": seq})).with_id(id_of(writer, seq, 1));
            request.push(StreamAppend::new(pair.clone(), vec![twin]));
        }
        let outcome = store.append(request).await.unwrap();
        let first = &outcome.streams[0];
        report(format!("ack {writer} {seq} {} {}", first.first_version, first.first_position));
        head = Some(first.last_version);
    }
}

struct Ack {
    version: u64,
    position: u64,
}

fn parse_ack(line: &str) -> Option<((usize, u64), Ack)> {
    let parts: Vec<&str> = line.split_whitespace().collect();
    match parts.as_slice() {
        ["ack", writer, seq, version, position] => Some((
            (writer.parse().ok()?, seq.parse().ok()?),
            Ack { version: version.parse().ok()?, position: position.parse().ok()? },
        )),
        _ => None,
    }
}

async fn kill_repeatedly(mut kit: TestStore) {
    let location = kit.location().expect("a store a child process can open");
    let mut seed = Seed::from_env(&format!("{} append crash", kit.backend()), 0x9E37_79B9_7F4A_7C15);
    let cycles = cycles("SKALD_CRASH_CYCLES", 20);
    let mut acked: HashMap<(usize, u64), Ack> = HashMap::new();
    kit.close().await;
    for cycle in 0..cycles {
        let run_for = seed.duration(Duration::from_millis(150), Duration::from_millis(400));
        let finished =
            tokio::task::block_in_place(|| Child::spawn("append_child", &location, json!({})).kill_after(run_for));
        let new = finished.lines.len();
        acked.extend(finished.lines.iter().filter_map(|line| parse_ack(line)));
        kit.open_again().await;
        check(&*kit.store(), &acked, cycle).await;
        kit.close().await;
        eprintln!("cycle {cycle}: killed after {run_for:?}, {new} new acks, {} acked in all", acked.len());
    }
    assert!(acked.len() > cycles * 10, "the child acknowledged too little for the test to mean anything");
    kit.open_again().await;
}

async fn check(store: &dyn EventStore, acked: &HashMap<(usize, u64), Ack>, cycle: usize) {
    let all = read_to_end(store, Selector::All).await;
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
        } else if ((event.id.as_u128() >> 8) as u64).is_multiple_of(3) {
            let twin = Uuid::from_u128(event.id.as_u128() | 1);
            assert!(by_id.contains_key(&twin), "cycle {cycle}: half of an atomic append survived");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_acknowledged_appends_survive_sigkill() {
    skald_testkit::run("embedded", kill_repeatedly).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_acknowledged_appends_survive_sigkill() {
    skald_testkit::run("postgres", kill_repeatedly).await;
}
