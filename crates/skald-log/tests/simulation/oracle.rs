//! What the simulation knows must be true of the store: every append it sent (with its answer),
//! and every event a read or subscription returned. [`Oracle::check_log`] holds a whole recovered
//! log against it; [`Oracle::observe`] holds each read against what earlier reads returned.

use std::collections::{BTreeMap, HashMap, HashSet};

use skald_core::{AppendOutcome, Error, RecordedEvent, StreamAppend, Uuid};

/// One append as sent (every attempt of it uses the same ids), and what became of it.
#[derive(Debug)]
pub struct Intent {
    pub appends: Vec<StreamAppend>,
    /// The answer of the first attempt that succeeded: the store promised these positions.
    pub acked: Option<AppendOutcome>,
    /// Attempts answered with an error.
    pub failed_attempts: u32,
    /// The error of the last attempt that failed.
    pub last_error: Option<Error>,
}

impl Intent {
    fn events(&self) -> usize {
        self.appends.iter().map(|a| a.events.len()).sum()
    }
}

/// The simulation's knowledge.
#[derive(Debug, Default)]
pub struct Oracle {
    pub intents: Vec<Intent>,
    /// Event id → (intent, index of the event in it).
    ids: HashMap<Uuid, (usize, usize)>,
    /// Every event a read or subscription returned, by position. The store only serves what is
    /// durable, so each must survive every later power cut exactly as it was read.
    observed: BTreeMap<u64, RecordedEvent>,
}

/// Events of a recovered log that the oracle accounted for.
#[derive(Debug, Default)]
pub struct LogCheck {
    pub events: u64,
    pub acked_appends: usize,
    pub unacked_present: usize,
}

impl Oracle {
    /// Records a new append; returns its number.
    pub fn intend(&mut self, appends: Vec<StreamAppend>) -> usize {
        let n = self.intents.len();
        let ids = appends.iter().flat_map(|a| &a.events).map(|e| e.id);
        for (i, id) in ids.enumerate() {
            assert!(self.ids.insert(id, (n, i)).is_none(), "the workload never reuses an id across appends");
        }
        self.intents.push(Intent { appends, acked: None, failed_attempts: 0, last_error: None });
        n
    }

    /// Records the answer to one attempt of append `n`.
    pub fn answered(&mut self, n: usize, answer: &Result<AppendOutcome, Error>) -> Result<(), String> {
        let intent = &mut self.intents[n];
        match answer {
            Ok(outcome) => match &intent.acked {
                None => intent.acked = Some(outcome.clone()),
                Some(first) if same_placement(first, outcome) => {}
                Some(first) => {
                    return Err(format!("append {n} was acked twice at different places: {first:?}, {outcome:?}"))
                }
            },
            Err(error) => {
                intent.failed_attempts += 1;
                intent.last_error = Some(error.clone());
            }
        }
        Ok(())
    }

    /// Holds events a read returned against everything read before; remembers them.
    pub fn observe<'e>(&mut self, events: impl IntoIterator<Item = &'e RecordedEvent>) -> Result<(), String> {
        for event in events {
            self.known_event(event)?;
            match self.observed.get(&event.position) {
                Some(seen) if seen != event => {
                    return Err(format!("position {} read as {seen:?} before and as {event:?} now", event.position))
                }
                Some(_) => {}
                None => {
                    self.observed.insert(event.position, event.clone());
                }
            }
        }
        Ok(())
    }

    /// Whether an event is one the workload sent, byte for byte.
    fn known_event(&self, event: &RecordedEvent) -> Result<(usize, usize), String> {
        let Some(&(n, i)) = self.ids.get(&event.id) else {
            return Err(format!("position {} holds an event nobody appended: {event:?}", event.position));
        };
        let (stream, sent) = self.intents[n]
            .appends
            .iter()
            .flat_map(|a| a.events.iter().map(move |e| (&a.stream, e)))
            .nth(i)
            .expect("ids map into their intent");
        let same = *stream == event.stream
            && sent.event_type == event.event_type
            && sent.data.as_bytes() == event.data.as_bytes()
            && sent.metadata.as_bytes() == event.metadata.as_bytes();
        if !same {
            return Err(format!("position {} differs from what was appended: {event:?}", event.position));
        }
        Ok((n, i))
    }

    /// Checks a whole recovered log (`$all` from position 0 to the end): contiguous positions and
    /// stream versions; every append whole or absent, once; every acknowledged append at the
    /// positions and versions it was acknowledged with; every event read before, unchanged.
    pub fn check_log(&mut self, log: &[RecordedEvent]) -> Result<LogCheck, String> {
        let mut check = LogCheck { events: log.len() as u64, ..LogCheck::default() };
        let mut versions: HashMap<&str, u64> = HashMap::new();
        let mut present: HashSet<usize> = HashSet::new();
        let mut at = 0;
        while at < log.len() {
            let (n, first) = self.known_event(&log[at])?;
            if first != 0 || !present.insert(n) {
                return Err(format!("position {at}: append {n} starts in its middle or appears twice"));
            }
            let events = self.intents[n].events();
            let whole =
                log.get(at..at + events).ok_or_else(|| format!("append {n} is cut off at the end of the log"))?;
            for (i, event) in whole.iter().enumerate() {
                if event.position != (at + i) as u64 || self.known_event(event)? != (n, i) {
                    return Err(format!("position {}: append {n} is not whole and in order", at + i));
                }
                let next = versions.entry(event.stream.as_str()).or_default();
                if event.version != *next {
                    return Err(format!(
                        "position {}: version {} of `{}`, {next} expected; the log around it:\n{}",
                        at + i,
                        event.version,
                        event.stream,
                        self.describe(&log[at.saturating_sub(12)..(at + events + 3).min(log.len())])
                    ));
                }
                *next += 1;
            }
            match &self.intents[n].acked {
                Some(outcome) => {
                    check_placement(n, outcome, whole)?;
                    check.acked_appends += 1;
                }
                None => check.unacked_present += 1,
            }
            at += events;
        }
        for (n, intent) in self.intents.iter().enumerate() {
            if let (Some(outcome), false) = (&intent.acked, present.contains(&n)) {
                return Err(format!("acknowledged append {n} is lost: {outcome:?}"));
            }
        }
        let lost: Vec<u64> = self.observed.range(log.len() as u64..).map(|(p, _)| *p).take(5).collect();
        if !lost.is_empty() {
            return Err(format!("events read before are gone (positions {lost:?}…, log ends at {})", log.len()));
        }
        self.observe(log)?;
        Ok(check)
    }
}

impl Oracle {
    /// One line per event: where it is, which append it belongs to, what became of that append.
    fn describe(&self, events: &[RecordedEvent]) -> String {
        let line = |e: &RecordedEvent| {
            let (n, i) = self.ids[&e.id];
            let intent = &self.intents[n];
            let acked = intent.acked.as_ref().map(|o| o.streams.iter().map(|s| s.first_position).collect::<Vec<_>>());
            let error = intent.last_error.as_ref().map(ToString::to_string).unwrap_or_default();
            format!("  {} {}@{}: append {n}.{i}, acked at {acked:?}, {error}", e.position, e.stream, e.version)
        };
        events.iter().map(line).collect::<Vec<_>>().join("\n")
    }
}

fn same_placement(a: &AppendOutcome, b: &AppendOutcome) -> bool {
    a.streams == b.streams
}

/// The events of an acknowledged append are where its answer put them.
fn check_placement(n: usize, outcome: &AppendOutcome, whole: &[RecordedEvent]) -> Result<(), String> {
    let mut events = whole.iter();
    for part in &outcome.streams {
        for (position, version) in (part.first_position..=part.last_position).zip(part.first_version..) {
            let event = events.next().ok_or_else(|| format!("append {n} has fewer events than acknowledged"))?;
            if (event.position, event.version, event.stream.as_str()) != (position, version, part.stream.as_str()) {
                return Err(format!("append {n} acknowledged at {part:?}, found {event:?}"));
            }
        }
    }
    Ok(())
}
