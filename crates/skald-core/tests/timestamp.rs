//! `Timestamp`'s RFC 3339 parser and formatters: what the event wire, the saga API and ASL rely on.

use serde::{Deserialize, Serialize};
use skald_core::{parse_rfc3339_micros, Timestamp, TimestampError};

const SECOND: u64 = 1_000_000;
const DAY: u64 = 86_400 * SECOND;

fn parse(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The date of `micros` found by walking years and months one by one: slow, but nothing like the
/// formatter's arithmetic, so it checks it.
fn naive_rfc3339(micros: u64) -> String {
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let (mut days, rest) = (micros / DAY, micros % DAY);
    let mut year = 1970;
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let lengths = [31, if leap(year) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 0;
    while days >= lengths[month] {
        days -= lengths[month];
        month += 1;
    }
    let secs = rest / SECOND;
    format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        month + 1,
        days + 1,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        rest % SECOND
    )
}

#[test]
fn known_instants_parse_and_format() {
    assert_eq!(parse("1970-01-01T00:00:00Z"), Timestamp(0));
    let t = parse("2016-03-14T01:59:00Z");
    assert_eq!(t, Timestamp(1_457_920_740 * SECOND));
    assert_eq!(t.to_rfc3339(), "2016-03-14T01:59:00.000000Z");
    assert_eq!(t.to_rfc3339_millis(), "2016-03-14T01:59:00.000Z");
    assert_eq!(t.to_string(), t.to_rfc3339());
    assert_eq!(format!("{t:?}"), t.to_rfc3339());
}

#[test]
fn formatting_matches_a_naive_calendar_and_parsing_reverses_it() {
    let mut instants = vec![0, 1, 999, 1_000, SECOND - 1, DAY - 1, DAY, 951_782_400 * SECOND];
    let year_10000 = parse("9999-12-31T23:59:59.999999Z").micros() + 1;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..2_000 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        instants.push(x % year_10000);
    }
    for micros in instants {
        let t = Timestamp(micros);
        let text = t.to_rfc3339();
        assert_eq!(text, naive_rfc3339(micros));
        assert_eq!(parse(&text), t, "{text}");
        assert_eq!(parse(&t.to_rfc3339_millis()), t.truncated_to_millis(), "{text}");
        assert_eq!(t.to_rfc3339_millis(), format!("{}Z", &text[..23]));
    }
}

#[test]
fn years_past_9999_format_with_more_digits() {
    let year_10000 = Timestamp(parse("9999-12-31T23:59:59.999999Z").micros() + 1);
    assert_eq!(year_10000.to_rfc3339_millis(), "10000-01-01T00:00:00.000Z");
    assert_eq!(Timestamp(u64::MAX).to_rfc3339(), "586524-01-19T08:01:49.551615Z");
}

#[test]
fn offsets_are_applied() {
    let utc = parse("2016-03-14T01:59:00Z");
    assert_eq!(parse("2016-03-14T02:59:00+01:00"), utc);
    assert_eq!(parse("2016-03-13T20:29:00-05:30"), utc);
    assert_eq!(parse("2016-03-14T01:59:00+00:00"), utc);
    assert_eq!(parse("2016-03-14T01:59:00-00:00"), utc);
    assert_eq!(parse("2016-03-14t01:59:00z"), utc);
    // An offset can carry a time across a day, month and year boundary.
    assert_eq!(parse("2017-01-01T00:30:00+01:00"), parse("2016-12-31T23:30:00Z"));
    assert_eq!(parse("2016-03-14T02:59:00.5+01:00"), utc.plus_millis(500));
}

#[test]
fn fractions_of_any_length_are_cut_to_the_microsecond() {
    let whole = parse("2026-11-30T10:54:26Z");
    assert_eq!(parse("2026-11-30T10:54:26.5Z"), Timestamp(whole.micros() + 500_000));
    assert_eq!(parse("2026-11-30T10:54:26.000001Z"), Timestamp(whole.micros() + 1));
    assert_eq!(parse("2026-11-30T10:54:26.1234569999Z"), Timestamp(whole.micros() + 123_456));
    assert_eq!(parse("2026-11-30T10:54:26.0000009Z"), whole);
    // Formatting cuts too: 999,999 µs is .999 in milliseconds, not the next second.
    assert_eq!(Timestamp(whole.micros() + 999_999).to_rfc3339_millis(), "2026-11-30T10:54:26.999Z");
    assert_eq!(Timestamp(whole.micros() + 999_999).truncated_to_millis().micros(), whole.micros() + 999_000);
}

#[test]
fn leap_days_follow_the_gregorian_rules() {
    assert_eq!(parse("2024-03-01T00:00:00Z").micros() - parse("2024-02-28T00:00:00Z").micros(), 2 * DAY);
    assert_eq!(parse("2023-03-01T00:00:00Z").micros() - parse("2023-02-28T00:00:00Z").micros(), DAY);
    assert_eq!(parse("2000-02-29T12:00:00Z").to_rfc3339(), "2000-02-29T12:00:00.000000Z");
    for no_such_day in ["2023-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-04-31T00:00:00Z"]
    {
        assert!(Timestamp::parse_rfc3339(no_such_day).is_err(), "{no_such_day}");
    }
    // A leap second reads as the second before it.
    assert_eq!(parse("2016-12-31T23:59:60Z"), parse("2016-12-31T23:59:59Z"));
}

#[test]
fn what_is_not_strict_rfc3339_is_refused() {
    for text in [
        "",
        "yesterday",
        "2016-03-14",
        "2016-03-14 01:59:00Z",      // a space for the `T`
        "2016-03-14T01:59:00",       // no zone
        "2016-03-14T01:59Z",         // no seconds
        "2016-3-14T01:59:00Z",       // one-digit month
        "+2016-03-14T01:59:00Z",     // a sign on the year
        "2016-03-14T01:59:00.Z",     // a point without digits
        "2016-03-14T01:59:00,5Z",    // a comma for the point
        "2016-03-14T01:59:00ZZ",     // something after the zone
        "2016-03-14T01:59:00+0100",  // offset without its colon
        "2016-03-14T01:59:00+01",    // offset without minutes
        "2016-03-14T01:59:00+24:00", // offset hours out of range
        "2016-03-14T01:59:00+01:60", // offset minutes out of range
        "2016-00-14T01:59:00Z",
        "2016-13-14T01:59:00Z",
        "2016-03-00T01:59:00Z",
        "2016-03-14T24:00:00Z",
        "2016-03-14T01:60:00Z",
        "2016-03-14T01:59:61Z",
        "2016-03-14T01:59:0éZ",
        "２016-03-14T01:59:00Z",
    ] {
        let error = Timestamp::parse_rfc3339(text).unwrap_err();
        assert!(matches!(error, TimestampError::Malformed { .. }), "{text}: {error}");
        assert!(parse_rfc3339_micros(text).is_err(), "{text}");
    }
    let error = Timestamp::parse_rfc3339("2016-03-14T01:59:00").unwrap_err();
    assert_eq!(
        error.to_string(),
        "not an RFC 3339 time (expected a zone: Z or ±HH:MM); write e.g. 2026-11-30T10:54:26Z"
    );
}

#[test]
fn times_before_1970_are_ordered_but_not_stored() {
    assert_eq!(Timestamp::parse_rfc3339("1969-12-31T23:59:59.999999Z"), Err(TimestampError::BeforeEpoch));
    assert_eq!(Timestamp::parse_rfc3339("1970-01-01T00:30:00+01:00"), Err(TimestampError::BeforeEpoch));
    assert_eq!(parse_rfc3339_micros("1969-12-31T23:59:59.999999Z"), Ok(-1));
    assert_eq!(parse_rfc3339_micros("0000-01-01T00:00:00Z"), Ok(-62_167_219_200 * SECOND as i64));
    assert_eq!(parse_rfc3339_micros("1960-02-29T00:00:00Z"), Ok(-310_521_600 * SECOND as i64));
    assert!(
        parse_rfc3339_micros("1960-01-01T00:00:00Z").unwrap() < parse_rfc3339_micros("1965-01-01T00:00:00Z").unwrap()
    );
}

#[test]
fn arithmetic_saturates_and_converts_units() {
    let t = Timestamp::from_millis(1_500);
    assert_eq!((t.micros(), t.millis()), (1_500_000, 1_500));
    assert_eq!(Timestamp::from_micros(1_999).millis(), 1);
    assert_eq!(t.plus_millis(500), Timestamp::from_millis(2_000));
    assert_eq!(Timestamp(u64::MAX - 1).plus_millis(1), Timestamp(u64::MAX));
    assert_eq!(Timestamp::from_millis(u64::MAX), Timestamp(u64::MAX));
    assert_eq!(t.saturating_add(std::time::Duration::from_micros(1)), Timestamp(1_500_001));
    assert_eq!(t.saturating_sub(std::time::Duration::from_secs(2)), Timestamp(0));
    assert_eq!(t.saturating_duration_since(Timestamp(0)), std::time::Duration::from_millis(1_500));
    assert_eq!(Timestamp(0).saturating_duration_since(t), std::time::Duration::ZERO);
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    wire: Timestamp,
    #[serde(with = "skald_core::rfc3339_millis")]
    millis: Timestamp,
    #[serde(default, with = "skald_core::rfc3339_millis::option")]
    maybe: Option<Timestamp>,
}

#[test]
fn serde_writes_microseconds_or_milliseconds_and_reads_any_rfc3339() {
    let t = parse("2026-11-30T10:54:26.123456Z");
    let record = Record { wire: t, millis: t, maybe: Some(t) };
    let json = serde_json::to_string(&record).unwrap();
    assert_eq!(
        json,
        r#"{"wire":"2026-11-30T10:54:26.123456Z","millis":"2026-11-30T10:54:26.123Z","maybe":"2026-11-30T10:54:26.123Z"}"#
    );
    let back: Record = serde_json::from_str(&json).unwrap();
    assert_eq!(back, Record { wire: t, millis: t.truncated_to_millis(), maybe: Some(t.truncated_to_millis()) });
    let none = Record { wire: t, millis: t, maybe: None };
    assert!(serde_json::to_string(&none).unwrap().ends_with(r#""maybe":null}"#));
    let absent: Record =
        serde_json::from_str(r#"{"wire":"2026-11-30T11:54:26+01:00","millis":"2026-11-30T10:54:26Z"}"#).unwrap();
    assert_eq!((absent.wire, absent.maybe), (parse("2026-11-30T10:54:26Z"), None));
    let error = serde_json::from_str::<Timestamp>(r#""2026-11-30 10:54:26""#).unwrap_err();
    assert!(error.to_string().contains("not an RFC 3339 time"), "{error}");
}
