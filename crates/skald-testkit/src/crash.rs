//! The crash harness: one protocol for every test that kills a process with `SIGKILL` (or lets it
//! `abort()` at a probe point) and then checks what survived.
//!
//! The child is the test binary itself, run again for one test function with [`CHILD_ENV`] set to
//! a JSON document: the store's [`location`](crate::TestStore::location) and the test's own
//! parameters. The child function starts with [`child_params`] (which answers `None` in the
//! ordinary test run, so the function then does nothing) and reports to the parent with
//! [`report`]: one line each, prefixed so that the test harness's own output cannot be mistaken for
//! it. The parent drives it with [`Child`]: spawn, read lines, kill at a moment, wait.
//!
//! Kill moments come from a [`Seed`]; a failing run prints its seed and `SKALD_SEED=<seed>`
//! replays it.
//!
//! ```ignore
//! #[test]
//! fn child() {
//!     let Some(params) = skald_testkit::crash::child_params() else { return };
//!     params.block_on(|store| async move { /* append, then report("ack …") */ });
//! }
//! #[test]
//! fn parent() { /* Child::spawn("child", &location, json!({…})).kill_after(…) */ }
//! ```

use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};
use skald_core::EventStore;

/// The environment variable that makes a test function a child, holding its parameters as JSON.
pub const CHILD_ENV: &str = "SKALD_TEST_CHILD";
/// What starts a line meant for the parent.
const LINE_PREFIX: &str = "@skald ";

/// What the parent passed to a child.
#[derive(Clone, Debug)]
pub struct ChildParams {
    /// Where the store is (see [`crate::open_location`]).
    pub location: String,
    /// The test's own parameters.
    pub params: Value,
}

/// In a child test function: what the parent passed; `None` in the ordinary test run.
pub fn child_params() -> Option<ChildParams> {
    let text = std::env::var(CHILD_ENV).ok()?;
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{CHILD_ENV} is not JSON: {e}"));
    let location = value["location"].as_str().unwrap_or_else(|| panic!("{CHILD_ENV} has no location")).to_owned();
    Some(ChildParams { location, params: value["params"].clone() })
}

impl ChildParams {
    /// Runs `body` on a two-thread runtime with the store opened from the location.
    pub fn block_on<F, Fut>(&self, body: F)
    where
        F: FnOnce(Arc<dyn EventStore>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let store = crate::open_location(&self.location).await;
            body(store).await;
        });
    }
}

/// Sends one line to the parent (flushed at once, so a kill right after loses nothing reported).
pub fn report(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    // A parent that stopped reading has what it needs; the child is about to be killed.
    let _ = writeln!(out, "{LINE_PREFIX}{line}");
    let _ = out.flush();
}

/// What a child reported, and how it ended.
#[derive(Debug, Default)]
pub struct Finished {
    /// Every line it reported, in order.
    pub lines: Vec<String>,
    /// It was killed, aborted or failed (did not exit with success).
    pub crashed: bool,
}

/// A running child.
pub struct Child {
    process: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    reader: Option<JoinHandle<()>>,
}

impl Child {
    /// Runs the test function `test` of this test binary as a child on the store at `location`.
    pub fn spawn(test: &str, location: &str, params: Value) -> Child {
        Self::spawn_with_env(test, location, params, &[])
    }

    /// [`Self::spawn`] with extra environment variables.
    pub fn spawn_with_env(test: &str, location: &str, params: Value, env: &[(&str, &str)]) -> Child {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut command = Command::new(exe);
        command
            .args(["--exact", test, "--nocapture", "--test-threads", "1"])
            .env(CHILD_ENV, json!({"location": location, "params": params}).to_string())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut process = command.spawn().expect("the child starts");
        let stdout = process.stdout.take().expect("a piped stdout");
        let (to_parent, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The harness may print `test name ... ` on the same line before the first report.
                if let Some(at) = line.find(LINE_PREFIX) {
                    if to_parent.send(line[at + LINE_PREFIX.len()..].to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        Child { process, lines, seen: Vec::new(), reader: Some(reader) }
    }

    /// The next reported line, waiting up to `timeout`; `None` when it ended or took too long.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(timeout).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Kills the child with `SIGKILL` now.
    pub fn kill(mut self) -> Finished {
        let _ = self.process.kill();
        self.finish()
    }

    /// Lets the child run for `after`, then kills it with `SIGKILL` (if it is still running).
    pub fn kill_after(self, after: Duration) -> Finished {
        std::thread::sleep(after);
        self.kill()
    }

    /// Waits for the child to end by itself.
    pub fn wait(self) -> Finished {
        self.finish()
    }

    fn finish(mut self) -> Finished {
        let status = self.process.wait().expect("the child is waited for");
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let mut lines = std::mem::take(&mut self.seen);
        lines.extend(self.lines.try_iter());
        Finished { lines, crashed: !status.success() }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // A parent that panicked must not leave a child running against a store being removed.
        if self.reader.is_some() {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }
}

/// A seeded xorshift generator for kill moments. The seed is printed when the test starts;
/// `SKALD_SEED` replays a run.
#[derive(Clone, Debug)]
pub struct Seed {
    state: u64,
}

impl Seed {
    /// The seed from `SKALD_SEED`, else `default`; printed to stderr either way.
    pub fn from_env(test: &str, default: u64) -> Seed {
        let seed = std::env::var("SKALD_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
        eprintln!("{test}: seed {seed} (replay with SKALD_SEED={seed})");
        Seed { state: seed.max(1) }
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    /// A duration between `min` and `min + spread`.
    pub fn duration(&mut self, min: Duration, spread: Duration) -> Duration {
        let spread_ms = spread.as_millis().max(1) as u64;
        min + Duration::from_millis(self.next_u64() % spread_ms)
    }
}

/// How many kill cycles to run: the environment variable `name`, else `default`.
pub fn cycles(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|c| c.parse().ok()).unwrap_or(default)
}
