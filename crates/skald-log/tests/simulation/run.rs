//! One seed's run: options, epochs, power cuts, recovery, and the checks after each recovery.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use skald_core::{Error, EventStore, ReadOptions, RecordedEvent, Selector};
use skald_log::format::{decode_frame, SEGMENT_HEADER_BYTES};
use skald_log::storage::faults::{FaultPlan, FileKind, Op, Rng};
use skald_log::storage::sim::PowerCut;
use skald_log::storage::SimStorage;
use skald_log::{Options, Store};

use super::oracle::Oracle;
use super::workload::{Profile, Tally, Workload, BURST_APPENDS_MAX};

const DIR: &str = "/sim/store";
/// Epochs (each ends with a power cut or a restart) of a seed, at most.
const EPOCHS_MAX: u64 = 5;
/// Steps of an epoch, at most.
const STEPS_MAX: u64 = 14;
/// Opens tried after faults made one fail, before the run gives up.
const OPEN_TRIES_MAX: u32 = 3;
/// Chance that a run ends by flipping a bit in a sealed segment after a power cut.
const CORRUPTION_CHANCE: f64 = 0.05;
/// Events read per page when checking a whole log.
const PAGE_EVENTS: usize = 1000;

/// What a seed (or many) did: counts by name (see `Run::summary` and the `count` calls).
pub type Summary = Tally;

/// Runs one seed on a fresh simulated disk.
pub fn run_seed(seed: u64) -> Result<Summary, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().map_err(|e| e.to_string())?;
    let mut run = Run::new(seed);
    let result = runtime.block_on(run.epochs());
    if std::env::var_os("SKALD_SIM_VERBOSE").is_some() {
        println!("{}", run.log.join("\n"));
    }
    result.map(|()| run.summary()).map_err(|failure| format!("{failure}\n{}", run.log.join("\n")))
}

struct Run {
    rng: Rng,
    sim: SimStorage,
    options: Options,
    oracle: Oracle,
    tally: Tally,
    last_cut: Option<PowerCut>,
    /// Failed segment fsyncs when the store last opened.
    sync_failures_at_open: u64,
    /// What happened, printed when the seed fails.
    log: Vec<String>,
}

impl Run {
    fn new(seed: u64) -> Run {
        let mut rng = Rng::new(seed);
        let sim = SimStorage::new();
        let options = Options {
            storage: Arc::new(sim.clone()),
            segment_bytes_target: *rng.pick(&[1024, 4096, 32 * 1024]),
            checkpoint_interval: Duration::from_millis(*rng.pick(&[1, 5, 50])),
            checkpoint_events: *rng.pick(&[4, 64, 500_000]),
            verify_sealed_on_open: rng.chance(0.8),
            ..Options::default()
        };
        let log = vec![format!(
            "seed {seed}: segments of {} B, checkpoints every {:?} or {} events",
            options.segment_bytes_target, options.checkpoint_interval, options.checkpoint_events
        )];
        Run {
            rng,
            sim,
            options,
            oracle: Oracle::default(),
            tally: Tally::default(),
            last_cut: None,
            sync_failures_at_open: 0,
            log,
        }
    }

    fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        summary.add("seeds", 1);
        summary.add("appends acknowledged", self.oracle.intents.iter().filter(|i| i.acked.is_some()).count() as u64);
        summary.add("faults injected", self.sim.stats().injected.values().sum());
        summary.merge(&self.tally);
        summary
    }

    async fn epochs(&mut self) -> Result<(), String> {
        let epochs = 1 + self.rng.below(EPOCHS_MAX);
        for epoch in 0..=epochs {
            let store = self.open().await?;
            self.check_recovered(&store).await?;
            if epoch == epochs {
                store.close();
                return Ok(());
            }
            self.epoch(&store).await?;
            drop(store);
            if self.last_cut.is_some() && self.options.verify_sealed_on_open && self.rng.chance(CORRUPTION_CHANCE) {
                return self.corrupt_a_sealed_segment();
            }
        }
        Ok(())
    }

    /// Flips a bit inside a sealed segment, durable as it is after a power cut: the store must
    /// refuse to open, naming that file (the one way a run here may end in `corrupt-data`).
    fn corrupt_a_sealed_segment(&mut self) -> Result<(), String> {
        let cut = self.last_cut.as_ref().expect("called after a power cut");
        let segments: Vec<&PathBuf> = cut.files.keys().filter(|p| p.extension().is_some_and(|e| e == "seg")).collect();
        let Some((_, sealed)) = segments.split_last() else { return Ok(()) };
        let Some(&path) = sealed.get(self.rng.below(sealed.len().max(1) as u64) as usize) else { return Ok(()) };
        let bytes = self.sim.contents(path).unwrap_or_default();
        let offset = SEGMENT_HEADER_BYTES as u64 + self.rng.below(bytes.len() as u64 - SEGMENT_HEADER_BYTES as u64);
        self.sim.damage(path, offset, &[bytes[offset as usize] ^ 0x20]);
        self.tally.add("bits flipped in sealed segments, each refused as corrupt-data", 1);
        self.log.push(format!("bit flipped in {} at {offset}", path.display()));
        self.sim.set_plan(FaultPlan::none());
        match Store::open(Path::new(DIR), self.options.clone()) {
            Err(Error::Corrupt { file, .. }) if file == *path => Ok(()),
            Err(error) => Err(format!("a flipped bit in {} at {offset}: {error}", path.display())),
            Ok(_) => Err(format!("a flipped bit in {} at {offset} went unnoticed", path.display())),
        }
    }

    /// Opens the store with no faults (a fault during recovery is a failed open: tried again).
    /// `corrupt-data` is a failure: nothing here damages durable bytes, and torn writes are cut.
    async fn open(&mut self) -> Result<Store, String> {
        self.sim.set_plan(FaultPlan::none());
        let mut tries = 0;
        loop {
            tries += 1;
            match Store::open(Path::new(DIR), self.options.clone()) {
                Ok(store) => {
                    self.sync_failures_at_open = self.segment_sync_failures();
                    return Ok(store);
                }
                Err(Error::Corrupt { file, offset, reason, .. }) => {
                    let what = self.damage_at(&file, offset);
                    return Err(format!(
                        "the store refuses to open: corrupt-data in {} at {offset}: {reason} ({what})",
                        file.display()
                    ));
                }
                Err(error) if tries < OPEN_TRIES_MAX => self.log.push(format!("open failed, trying again: {error}")),
                Err(error) => return Err(format!("the store does not open: {error}")),
            }
        }
    }

    /// Tells apart, for a failure report, damage to bytes that were durable before the last power
    /// cut (the store or the disk lost synced data) from damage to bytes never synced (a torn
    /// write the store should have cut as a torn tail).
    fn damage_at(&self, file: &Path, offset: u64) -> String {
        let Some(cut) = &self.last_cut else { return "no power cut preceded it".into() };
        let Some(before) = cut.files.get(file) else { return "the file was not durable before the cut".into() };
        let now = self.sim.contents(file).unwrap_or_default();
        let durable = Bytes::copy_from_slice(before.durable.get(offset as usize..).unwrap_or_default());
        match decode_frame(&durable) {
            Ok((_, used)) if now.get(offset as usize..offset as usize + used) == durable.get(..used) => {
                format!("the frame there was durable and is intact; the cut kept {:?} of the rest", before.mode)
            }
            Ok(_) => "a durable frame there changed".into(),
            Err(_) => format!("no durable frame was there: a torn unsynced write ({:?})", before.mode),
        }
    }

    /// Reads the whole log and holds it against the oracle.
    async fn check_recovered(&mut self, store: &Store) -> Result<(), String> {
        let mut log: Vec<RecordedEvent> = Vec::new();
        loop {
            let page = store
                .read(&Selector::All, ReadOptions::forward(log.len() as u64, PAGE_EVENTS))
                .await
                .map_err(|e| format!("reading the recovered log: {e}"))?;
            let more = page.next.is_some();
            log.extend(page.events);
            if !more {
                break;
            }
        }
        let check = self.oracle.check_log(&log).map_err(|e| format!("after recovery: {e}"))?;
        self.log.push(format!("recovered {} events: {check:?} ({:?})", log.len(), store.recovery_report()));
        self.tally.add("recoveries", 1);
        self.tally.add("events recovered", check.events);
        self.tally.add("unacknowledged appends recovered whole", check.unacked_present as u64);
        self.tally.add("torn tails cut", u64::from(store.recovery_report().cut_tail.is_some()));
        Ok(())
    }

    /// Runs a profile's steps, then ends with a power cut during a burst, or a restart.
    async fn epoch(&mut self, store: &Store) -> Result<(), String> {
        let profile = *self.rng.pick(&Profile::ALL);
        let plan = profile.plan(&mut self.rng, self.sim.used_bytes());
        self.log.push(format!("epoch: {profile:?}, {plan:?}"));
        self.sim.set_plan(plan);
        let steps = 1 + self.rng.below(STEPS_MAX);
        for _ in 0..steps {
            self.step(store, profile).await?;
        }
        if self.rng.chance(0.8) {
            self.power_cut_during_burst(store, profile).await?;
        } else {
            self.log.push("restart (the page cache stays)".into());
            self.tally.add("restarts", 1);
        }
        store.close();
        Ok(())
    }

    async fn step(&mut self, store: &Store, profile: Profile) -> Result<(), String> {
        // A segment fsync failed since the store opened: nothing sent from now on may be acknowledged.
        let failed_sync_before = self.segment_sync_failures() > self.sync_failures_at_open;
        let choice = self.rng.below(10);
        let mut work =
            Workload { store, rng: &mut self.rng, oracle: &mut self.oracle, tally: &mut self.tally, profile };
        match choice {
            0..=4 => {
                let count = 1 + work.rng.below(BURST_APPENDS_MAX);
                let in_flight = work.send(count);
                no_ack_after_failed_fsync(failed_sync_before, &work.receive(in_flight).await?)?;
            }
            5 | 6 => work.read().await?,
            7 => work.subscribe().await?,
            8 => {
                // Space comes back, faults stop: the store must take appends again (unless an
                // fsync or index failure stopped it, which only a reopen cures).
                self.sim.set_plan(FaultPlan::none());
                self.log.push("faults stop".into());
                let in_flight = work.send(1);
                if let [(n, false)] = work.receive(in_flight).await?[..] {
                    match &work.oracle.intents[n].last_error {
                        Some(Error::Storage(m)) if !m.contains("stopped") => {
                            return Err(format!("faults stopped, yet append {n} was refused: {m}"))
                        }
                        _ => {}
                    }
                }
            }
            _ => tokio::time::sleep(Duration::from_micros(work.rng.below(3000))).await,
        }
        Ok(())
    }

    fn segment_sync_failures(&self) -> u64 {
        self.sim.stats().injected.get(&(FileKind::Segment, Op::Sync)).copied().unwrap_or(0)
    }

    async fn power_cut_during_burst(&mut self, store: &Store, profile: Profile) -> Result<(), String> {
        let count = 1 + self.rng.below(BURST_APPENDS_MAX);
        let delay = Duration::from_micros(self.rng.below(2500));
        let cut_seed = self.rng.next_u64();
        let failed_sync_before = self.segment_sync_failures() > self.sync_failures_at_open;
        let mut work =
            Workload { store, rng: &mut self.rng, oracle: &mut self.oracle, tally: &mut self.tally, profile };
        let in_flight = work.send(count);
        tokio::time::sleep(delay).await;
        let cut = self.sim.power_cut(cut_seed);
        let modes: Vec<String> = cut.files.iter().map(|(p, f)| format!("{}: {:?}", p.display(), f.mode)).collect();
        self.log.push(format!("power cut after {delay:?} of a burst of {count}: {}", modes.join(", ")));
        self.last_cut = Some(cut);
        self.tally.add("power cuts", 1);
        let mut work =
            Workload { store, rng: &mut self.rng, oracle: &mut self.oracle, tally: &mut self.tally, profile };
        no_ack_after_failed_fsync(failed_sync_before, &work.receive(in_flight).await?)
    }
}

/// Appends sent after a failed fsync of the log are never acknowledged (until a reopen).
fn no_ack_after_failed_fsync(failed_before: bool, answers: &[(usize, bool)]) -> Result<(), String> {
    match answers.iter().find(|(_, acked)| *acked) {
        Some((n, _)) if failed_before => Err(format!("append {n} was acknowledged after a failed fsync of the log")),
        _ => Ok(()),
    }
}
