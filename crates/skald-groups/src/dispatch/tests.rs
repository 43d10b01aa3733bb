//! Unit tests of the dispatcher, driven by a hand-moved clock.

use super::*;
use skald_core::Json;

fn cfg() -> DispatchConfig {
    DispatchConfig {
        max_attempts: 3,
        backoff: Backoff { initial_ms: 100, max_ms: 1000, multiplier: 2.0 },
        lease_timeout_ms: 1000,
        max_in_flight: 100,
    }
}

pub(super) fn event(position: u64, stream: &str, version: u64) -> RecordedEvent {
    RecordedEvent {
        position,
        stream: stream.into(),
        version,
        id: Uuid::from_u128(position as u128 + 1),
        event_type: "E".into(),
        timestamp: Timestamp(position),
        data: Json::empty_object(),
        metadata: Json::empty_object(),
    }
}

fn with(events: &[(&str, u64)]) -> Dispatcher {
    let mut d = Dispatcher::new(cfg(), 0, 7, 1);
    for (i, (stream, version)) in events.iter().enumerate() {
        d.offer(event(i as u64, stream, *version), true);
    }
    d
}

fn names(batch: &Batch) -> Vec<String> {
    batch.events.iter().map(|d| format!("{}/{}", d.event.stream, d.event.version)).collect()
}

fn ids(batch: &Batch) -> Vec<Uuid> {
    batch.events.iter().map(|d| d.event.id).collect()
}

#[test]
fn a_stream_is_held_by_one_lease_at_a_time() {
    let mut d = with(&[("a", 0), ("a", 1), ("b", 0)]);
    let first = d.lease("w1", 10, 0).unwrap();
    assert_eq!(names(&first), ["a/0", "a/1", "b/0"]);
    d.offer(event(3, "a", 2), true);
    assert!(d.lease("w2", 10, 0).unwrap().events.is_empty(), "a is held by w1");
    d.ack(first.lease_id, &ids(&first)[..1], 1).unwrap();
    assert!(d.lease("w2", 10, 1).unwrap().events.is_empty(), "a/1 still in flight");
    d.ack(first.lease_id, &ids(&first)[1..], 2).unwrap();
    let second = d.lease("w2", 10, 2).unwrap();
    assert_eq!(names(&second), ["a/2"]);
    d.check_invariants();
}

#[test]
fn small_leases_spread_streams_over_workers() {
    let mut d = with(&[("a", 0), ("a", 1), ("b", 0)]);
    let w1 = d.lease("w1", 1, 0).unwrap();
    let w2 = d.lease("w2", 1, 0).unwrap();
    assert_eq!((names(&w1), names(&w2)), (vec!["a/0".to_owned()], vec!["b/0".to_owned()]));
    assert!(d.lease("w3", 5, 0).unwrap().events.is_empty(), "a/1 waits for a/0");
    d.check_invariants();
}

#[test]
fn checkpoint_is_the_lowest_unresolved_position() {
    let mut d = Dispatcher::new(cfg(), 0, 7, 1);
    d.offer(event(0, "a", 0), true);
    d.offer(event(1, "x", 0), false);
    d.offer(event(2, "b", 0), true);
    assert_eq!(d.checkpoint(), 0);
    let batch = d.lease("w", 10, 0).unwrap();
    d.ack(batch.lease_id, &[batch.events[1].event.id], 0).unwrap();
    assert_eq!(d.checkpoint(), 0, "position 0 is not acknowledged yet");
    d.ack(batch.lease_id, &[batch.events[0].event.id], 0).unwrap();
    assert_eq!(d.checkpoint(), 3);
    d.offer(event(3, "$sub-g", 0), false);
    assert_eq!(d.checkpoint(), 3, "Skald's own events do not move the checkpoint");
    assert_eq!(d.lag_events(Some(3)), 0);
}

#[test]
fn expired_leases_are_retried_with_backoff_then_parked() {
    let mut d = with(&[("a", 0)]);
    let mut now = 0;
    for attempt in 1..=3 {
        let batch = d.lease("w", 10, now).unwrap();
        assert_eq!(batch.events.len(), 1, "attempt {attempt}");
        assert_eq!(batch.events[0].attempt, attempt);
        now += 1000; // the lease times out
        assert!(!d.tick(now) || attempt == 3);
        assert!(d.lease("w", 10, now).unwrap().events.is_empty() || attempt == 3, "backoff holds the retry");
        let backoff = cfg().backoff.delay_ms(attempt);
        if attempt < 3 {
            let due = d.next_due().unwrap();
            assert!(due >= now + backoff / 2 && due <= now + backoff, "jittered delay {due} for {backoff}");
            now = due;
        }
    }
    let parked = d.take_parking();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].attempts, 3);
    assert!(parked[0].reason.contains("lease expired"));
    assert_eq!(d.checkpoint(), 0, "not durable yet");
    d.parked(parked[0].seq);
    assert_eq!(d.checkpoint(), 1);
    assert_eq!(d.counts().parked, 1);
    d.check_invariants();
}

#[test]
fn nack_gives_back_the_later_events_of_the_stream() {
    let mut d = with(&[("a", 0), ("a", 1), ("a", 2), ("b", 0)]);
    let batch = d.lease("w", 10, 0).unwrap();
    d.nack(batch.lease_id, &[batch.events[0].event.id], "boom", false, 0).unwrap();
    // b/0 is still held, a is free again but a/0 waits for its backoff.
    assert!(d.lease("w2", 10, 0).unwrap().events.is_empty());
    let again = d.lease("w2", 10, 500).unwrap();
    assert_eq!(names(&again), ["a/0", "a/1", "a/2"]);
    assert_eq!(again.events.iter().map(|e| e.attempt).collect::<Vec<_>>(), [2, 1, 1]);
    // The first lease still holds b/0 and can ack it; a/1 is no longer its own.
    let resolved = d.ack(batch.lease_id, &ids(&batch)[1..], 500).unwrap();
    assert_eq!(resolved, Resolved { applied: 1, unknown: 2 });
    d.check_invariants();
}

#[test]
fn park_now_skips_the_retries_and_frees_the_stream() {
    let mut d = with(&[("a", 0), ("a", 1)]);
    let batch = d.lease("w", 1, 0).unwrap();
    d.nack(batch.lease_id, &ids(&batch), "too old", true, 0).unwrap();
    let parked = d.take_parking();
    assert_eq!(parked[0].reason, "too old");
    assert_eq!(names(&d.lease("w", 10, 0).unwrap()), ["a/1"]);
}

#[test]
fn acks_on_an_expired_lease_fail() {
    let mut d = with(&[("a", 0)]);
    let batch = d.lease("w", 10, 0).unwrap();
    assert_eq!(d.ack(batch.lease_id, &ids(&batch), 1000), Err(LeaseGone));
    assert_eq!(d.ack(999, &[], 0), Err(LeaseGone));
    // Acks renew: a lease acked in time lives on.
    let batch = d.lease("w", 10, 5000).unwrap();
    d.ack(batch.lease_id, &[], 5900).unwrap();
    d.ack(batch.lease_id, &ids(&batch), 6800).unwrap();
    assert_eq!(d.checkpoint(), 1);
}

#[test]
fn the_window_is_bounded() {
    let mut d = Dispatcher::new(DispatchConfig { max_in_flight: 2, ..cfg() }, 0, 1, 1);
    d.offer(event(0, "a", 0), true);
    d.offer(event(1, "b", 0), true);
    assert_eq!(d.room(), 0);
    let batch = d.lease("w", 1, 0).unwrap();
    d.ack(batch.lease_id, &ids(&batch), 0).unwrap();
    assert_eq!(d.room(), 1);
}

#[test]
fn replayed_events_do_not_hold_the_checkpoint() {
    let mut d = Dispatcher::new(cfg(), 10, 1, 1);
    d.offer_replay(Arc::new(event(3, "a", 0)), 0);
    assert_eq!((d.checkpoint(), d.replay_outstanding()), (10, 1));
    let batch = d.lease("w", 10, 0).unwrap();
    d.ack(batch.lease_id, &ids(&batch), 0).unwrap();
    assert_eq!(d.replay_outstanding(), 0);
}
