//! Time as the interpreter sees it. The instant is skald-core's [`Timestamp`] (microseconds since
//! the epoch), given by the caller: the interpreter never reads a clock. What is ASL's own lives
//! here: its precision and how it reads the timestamps a definition or its data holds.
//!
//! - The interpreter keeps **milliseconds**, as Step Functions does: a history records times in
//!   milliseconds ([`skald_core::rfc3339_millis`]), so an execution that had seen finer times would
//!   not replay to itself.
//! - ASL timestamps may lie **before 1970**, which a `Timestamp` cannot hold. A Wait until such a
//!   time reads it as the epoch: the interpreter's time is never earlier, so the Wait ends at once,
//!   exactly as it would for the time itself. Choice rules compare such times by their signed
//!   milliseconds, so their order is kept.

pub use skald_core::Timestamp;

/// `time` at the interpreter's precision (whole milliseconds).
pub(crate) fn interpreter_time(time: Timestamp) -> Timestamp {
    time.truncated_to_millis()
}

/// An ASL timestamp (a Wait's `Timestamp` or `TimestampPath`) as the instant to wait until; `None`
/// when it is not RFC 3339 as ASL demands (the `T` and a zone required).
pub(crate) fn parse_wait_until(text: &str) -> Option<Timestamp> {
    let millis = parse_comparable(text)?;
    Some(Timestamp::from_millis(u64::try_from(millis).unwrap_or(0)))
}

/// An ASL timestamp as Choice rules order it: signed milliseconds since the epoch.
pub(crate) fn parse_comparable(text: &str) -> Option<i64> {
    skald_core::parse_rfc3339_micros(text).ok().map(|micros| micros.div_euclid(1_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_read_to_the_millisecond_with_their_offsets() {
        let t = parse_wait_until("2016-03-14T01:59:00Z").unwrap();
        assert_eq!(t.to_rfc3339_millis(), "2016-03-14T01:59:00.000Z");
        assert_eq!(parse_wait_until("2016-03-14T02:59:00.5009+01:00"), Some(t.plus_millis(500)));
        assert_eq!(parse_wait_until("1970-01-01T00:00:00Z"), Some(Timestamp(0)));
        assert_eq!(interpreter_time(Timestamp(1_999)), Timestamp::from_millis(1));
        for rejected in ["2016-02-30T00:00:00Z", "2016-03-14 01:59:00Z", "2016-03-14T01:59:00", "tomorrow"] {
            assert_eq!(parse_wait_until(rejected), None, "{rejected}");
            assert_eq!(parse_comparable(rejected), None, "{rejected}");
        }
    }

    #[test]
    fn times_before_1970_wait_for_nothing_and_keep_their_order() {
        assert_eq!(parse_wait_until("1960-01-01T00:00:00Z"), Some(Timestamp(0)));
        assert_eq!(parse_comparable("1969-12-31T23:59:59.5Z"), Some(-500));
        assert_eq!(parse_comparable("0000-01-01T00:00:00Z"), Some(-62_167_219_200_000));
        assert!(parse_comparable("1960-01-01T00:00:00Z") < parse_comparable("1965-01-01T00:00:00Z"));
    }
}
