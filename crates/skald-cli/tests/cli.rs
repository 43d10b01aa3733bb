//! End to end through the `skald` binary: serve, append, read, streams, tail, graceful stop,
//! kill -9 and restart, verify and index rebuild, and a short run of the saga benchmarks.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const SKALD: &str = env!("CARGO_BIN_EXE_skald");

struct Server {
    child: Child,
    url: String,
    _stdout: BufReader<std::process::ChildStdout>,
}

fn serve(dir: &Path) -> Server {
    let mut child = Command::new(SKALD)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("SKALD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("skald serve starts");
    let mut first = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("first line names the address: {first:?}"))
        .to_owned();
    Server { child, url, _stdout: stdout }
}

fn skald(args: &[&str], url: &str) -> Output {
    let output = Command::new(SKALD).args(args).args(["--url", url]).output().expect("skald runs");
    assert!(output.status.success(), "skald {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("--json prints JSON")
}

#[test]
fn a_user_appends_reads_and_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path());
    let appended =
        skald(&["append", "order-1", "--type", "OrderPlaced", "--data", r#"{"total":12}"#, "--json"], &server.url);
    assert_eq!(json(&appended)["last_position"], 0);
    skald(&["append", "order-1", "--type", "OrderPaid", "--expected-version", "0"], &server.url);
    let conflict = Command::new(SKALD)
        .args(["append", "order-1", "--type", "X", "--expected-version", "0", "--url", &server.url])
        .output()
        .unwrap();
    assert!(!conflict.status.success());
    let said = String::from_utf8_lossy(&conflict.stderr);
    assert!(said.contains("wrong-expected-version") || said.contains("head version is 1"), "{said}");

    let page = json(&skald(&["read", "order-1", "--json"], &server.url));
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    assert_eq!(page["events"][1]["type"], "OrderPaid");
    let table = String::from_utf8(skald(&["read", "--category", "order"], &server.url).stdout).unwrap();
    assert!(table.contains("OrderPlaced") && table.contains("OrderPaid"), "{table}");
    let streams = json(&skald(&["streams", "--json"], &server.url));
    assert_eq!(streams["streams"][0]["head_version"], 1);
    let tail = String::from_utf8(skald(&["tail", "--all", "--json"], &server.url).stdout).unwrap();
    assert_eq!(tail.lines().count(), 2);

    // Graceful stop: SIGTERM, a clean exit, nothing lost.
    unsafe_kill(&server.child, "TERM");
    assert!(server.child.wait().unwrap().success());
    server = serve(dir.path());
    assert_eq!(json(&skald(&["read", "--all", "--json"], &server.url))["events"].as_array().unwrap().len(), 2);

    // kill -9: acknowledged events are still there after a restart.
    skald(&["append", "order-2", "--type", "OrderPlaced"], &server.url);
    unsafe_kill(&server.child, "KILL");
    server.child.wait().unwrap();
    server = serve(dir.path());
    assert_eq!(json(&skald(&["read", "--all", "--json"], &server.url))["events"].as_array().unwrap().len(), 3);
    unsafe_kill(&server.child, "TERM");
    server.child.wait().unwrap();

    let verify = Command::new(SKALD).args(["verify", "--data-dir"]).arg(dir.path()).output().unwrap();
    assert!(verify.status.success());
    assert!(String::from_utf8_lossy(&verify.stdout).contains("events: 3"));
    let rebuild = Command::new(SKALD).args(["index", "rebuild", "--data-dir"]).arg(dir.path()).output().unwrap();
    assert!(rebuild.status.success(), "{}", String::from_utf8_lossy(&rebuild.stderr));
    assert!(String::from_utf8_lossy(&rebuild.stdout).contains("indexed 3 events"));

    // The order-history read model, rebuilt from the log into SQLite.
    let db = dir.path().join("orders.sqlite");
    let projection = Command::new(SKALD)
        .args(["projection", "rebuild", "order-history", "--data-dir"])
        .arg(dir.path())
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&projection.stdout);
    assert!(projection.status.success(), "{}", String::from_utf8_lossy(&projection.stderr));
    assert!(said.contains("3 events applied") && said.contains("checkpoint at position 2"), "{said}");
    let unknown = Command::new(SKALD)
        .args(["projection", "rebuild", "nope", "--data-dir"])
        .arg(dir.path())
        .args(["--db", "x"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown read model"));
}

#[test]
fn verify_names_the_damaged_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path());
    for i in 0..5 {
        skald(&["append", "s-1", "--type", "E", "--data", &format!(r#"{{"i":{i}}}"#)], &server.url);
    }
    unsafe_kill(&server.child, "TERM");
    server.child.wait().unwrap();
    let segment = std::fs::read_dir(dir.path().join("segments")).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[40] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();
    let verify = Command::new(SKALD).args(["verify", "--data-dir"]).arg(dir.path()).output().unwrap();
    assert!(!verify.status.success());
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(out.contains("DAMAGED") && out.contains(&segment.display().to_string()), "{out}");
    let serve =
        Command::new(SKALD).args(["serve", "--addr", "127.0.0.1:0", "--data-dir"]).arg(dir.path()).output().unwrap();
    assert!(!serve.status.success(), "a damaged log does not open");
    assert!(String::from_utf8_lossy(&serve.stderr).contains("skald verify"));
}

#[test]
fn bad_input_is_explained() {
    let out = Command::new(SKALD).args(["append", "s", "--type", "E", "--data", "{nope"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data is not valid JSON"));
    let out = Command::new(SKALD).args(["bench", "--only", "everything"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown workload"));
}

#[test]
fn bench_runs_the_travel_saga_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(SKALD)
        .args(["bench", "--only", "saga,compensation", "--seconds", "0.5", "--saga-concurrency", "16", "--json"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "skald bench failed: {}", String::from_utf8_lossy(&out.stderr));
    let report = json(&out);
    let figures = report["figures"].as_array().unwrap_or_else(|| panic!("figures: {report}"));
    let names: Vec<&str> = figures.iter().filter_map(|f| f["workload"].as_str()).collect();
    assert_eq!(names, ["saga-c1", "saga-c16", "compensation-c1", "compensation-c16"], "{report}");
    for f in figures {
        assert_eq!(f["unit"], "sagas", "{f}");
        assert!(f["events"].as_u64().unwrap_or(0) > 0, "{f}");
        assert!(f["events_per_second"].as_f64().unwrap_or(0.0) > 0.0, "{f}");
        assert!(f["p99_us"].as_u64().is_some(), "{f}");
        let conditions = f["conditions"].as_str().unwrap_or_default();
        assert!(conditions.contains("transitions/s") && conditions.contains("history bytes per saga"), "{f}");
        // Linux (where CI runs) has /proc: the process's CPU per saga is measured.
        assert!(conditions.contains("µs of CPU (the whole process)"), "{f}");
    }
}

fn unsafe_kill(child: &Child, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_user_runs_a_state_machine() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path());
    let definition = dir.path().join("hello.asl.json");
    let asl = r#"{"StartAt":"Greet","States":{"Greet":{"Type":"Pass","Parameters":{"text.$":"States.Format('Hello, {}!', $.name)"},"End":true}}}"#;
    std::fs::write(&definition, asl).unwrap();
    skald(&["sm", "create", "hello", "--definition", definition.to_str().unwrap()], &server.url);
    let started = json(&skald(
        &["exec", "start", "hello", "--name", "first", "--input", r#"{"name":"Ada"}"#, "--json"],
        &server.url,
    ));
    let id = started["execution_id"].as_str().expect("an execution id").to_owned();
    let mut described = serde_json::Value::Null;
    for _ in 0..50 {
        described = json(&skald(&["exec", "describe", &id, "--json"], &server.url));
        if described["status"] == "SUCCEEDED" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    assert_eq!(described["output"], serde_json::json!({"text": "Hello, Ada!"}));
    // The history is a stream in the same log.
    let streams = json(&skald(&["streams", "--json"], &server.url));
    assert!(streams["streams"].as_array().unwrap().iter().any(|s| s["stream"].as_str().unwrap().starts_with("$exec-")));
    unsafe_kill(&server.child, "TERM");
    assert!(server.child.wait().unwrap().success());
    server = serve(dir.path());
    let again = json(&skald(&["exec", "describe", &id, "--json"], &server.url));
    assert_eq!(again["status"], "SUCCEEDED", "executions survive a restart");
    unsafe_kill(&server.child, "TERM");
    server.child.wait().unwrap();
}

#[test]
fn a_user_consumes_a_filtered_group() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    skald(&["groups", "create", "billing", "--filter", r#"{"type": ["OrderPlaced"]}"#], &server.url);
    skald(&["append", "order-1", "--type", "OrderPlaced", "--data", r#"{"total": 5}"#], &server.url);
    skald(&["append", "order-1", "--type", "OrderViewed"], &server.url);
    skald(&["append", "order-2", "--type", "OrderPlaced", "--data", r#"{"total": 7}"#], &server.url);
    let batch =
        json(&skald(&["groups", "lease", "billing", "--max-events", "10", "--wait", "5", "--json"], &server.url));
    let events = batch["events"].as_array().unwrap_or_else(|| panic!("a batch: {batch}"));
    let kinds: Vec<_> = events.iter().map(|d| d["type"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(kinds, vec!["OrderPlaced", "OrderPlaced"], "only what the filter matches: {batch}");
    let lease = batch["lease_id"].to_string();
    skald(&["groups", "ack", "billing", &lease], &server.url);
    let mut acked = serde_json::Value::Null;
    for _ in 0..50 {
        let info = json(&skald(&["groups", "get", "billing", "--json"], &server.url));
        acked = info["stats"]["acked"].clone();
        if acked == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(acked, 2);
    let table = String::from_utf8(skald(&["groups", "list"], &server.url).stdout).unwrap();
    assert!(table.contains("billing"), "{table}");
    unsafe_kill(&server.child, "TERM");
}
