//! Retry and Catch: retriers and catchers as parsed from a state, ASL's error-name matching rules,
//! and the retry delay (`IntervalSeconds × BackoffRate^n`, capped by `MaxDelaySeconds`, with
//! `JitterStrategy: FULL` drawing uniformly from `[0, delay]` with the execution's seeded RNG).

use crate::error::names;
use crate::path::ReferencePath;
use crate::rng::Rng;
use crate::template::Template;

/// How a retry delay is randomised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// The exact backoff delay.
    None,
    /// Uniform in `[0, delay]`.
    Full,
}

/// One element of `Retry`.
#[derive(Clone, Debug, PartialEq)]
pub struct Retrier {
    /// Error names this retrier handles.
    pub error_equals: Vec<String>,
    /// Seconds before the first retry (default 1).
    pub interval_seconds: u64,
    /// Most retries (default 3; 0 means never).
    pub max_attempts: u32,
    /// Multiplier per retry (default 2.0, at least 1.0).
    pub backoff_rate: f64,
    /// Cap on one delay, in seconds.
    pub max_delay_seconds: Option<u64>,
    /// Randomisation of the delay.
    pub jitter: Jitter,
}

impl Retrier {
    /// The delay before retry number `retry` (0 for the first retry), in milliseconds.
    pub fn delay_millis(&self, retry: u32, rng: &mut Rng) -> u64 {
        let base = self.interval_seconds as f64 * 1000.0 * self.backoff_rate.powi(retry.min(1_000) as i32);
        let cap = self.max_delay_seconds.unwrap_or(crate::limits::DURATION_SECONDS_MAX) as f64 * 1000.0;
        let delay = base.min(cap).max(0.0);
        let delay = match self.jitter {
            Jitter::None => delay,
            Jitter::Full => rng.next_f64() * delay,
        };
        delay.round() as u64
    }
}

/// One element of `Catch`.
#[derive(Clone, Debug, PartialEq)]
pub struct Catcher {
    /// Error names this catcher handles.
    pub error_equals: Vec<String>,
    /// The state to go to.
    pub next: String,
    /// Where the error output goes in the state input; `None` means `ResultPath: null` (discard).
    pub result_path: Option<ReferencePath>,
    /// Variables to assign (with `$` the error output).
    pub assign: Option<Template>,
}

/// Whether an error named `error` is handled by `error_equals`.
///
/// `States.Runtime` and `States.DataLimitExceeded` are terminal: nothing handles them.
/// `States.ALL` handles every other error; `States.TaskFailed` every other error except
/// `States.Timeout`; any other name handles exactly that name.
pub fn matches(error_equals: &[String], error: &str) -> bool {
    if error == names::RUNTIME || error == names::DATA_LIMIT_EXCEEDED {
        return false;
    }
    error_equals.iter().any(|name| match name.as_str() {
        names::ALL => true,
        names::TASK_FAILED => error != names::TIMEOUT,
        other => other == error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn matching_rules() {
        assert!(matches(&v(&["States.ALL"]), "Custom.Error"));
        assert!(matches(&v(&["States.ALL"]), "States.Timeout"));
        assert!(!matches(&v(&["States.ALL"]), "States.Runtime"));
        assert!(!matches(&v(&["States.ALL"]), "States.DataLimitExceeded"));
        assert!(matches(&v(&["States.TaskFailed"]), "Lambda.Unknown"));
        assert!(matches(&v(&["States.TaskFailed"]), "States.HeartbeatTimeout"));
        assert!(!matches(&v(&["States.TaskFailed"]), "States.Timeout"));
        assert!(matches(&v(&["A", "States.Timeout"]), "States.Timeout"));
        assert!(!matches(&v(&["A"]), "a"));
    }

    #[test]
    fn delays_back_off_and_cap() {
        let r = Retrier {
            error_equals: v(&["States.ALL"]),
            interval_seconds: 3,
            max_attempts: 5,
            backoff_rate: 2.0,
            max_delay_seconds: Some(10),
            jitter: Jitter::None,
        };
        let mut rng = Rng::new(1);
        let delays: Vec<u64> = (0..4).map(|n| r.delay_millis(n, &mut rng)).collect();
        assert_eq!(delays, [3000, 6000, 10_000, 10_000]);
        let full = Retrier { jitter: Jitter::Full, ..r };
        for n in 0..50 {
            let d = full.delay_millis(n % 4, &mut rng);
            assert!((0..=10_000).contains(&d));
        }
    }
}
