//! Property test: four competing workers lease, acknowledge, fail and crash (abandon their
//! batch and rejoin under a new name) at random while events arrive. Checked after every step:
//! the dispatcher's invariants (one lease per stream); each stream's acknowledgements come in
//! version order, each version once; at the end, after the survivors drain the group, every
//! event was acknowledged (no loss) and the checkpoint covers the whole log.

use std::collections::HashMap;

use proptest::prelude::*;

use super::tests::event;
use super::*;

#[derive(Clone, Debug)]
enum Op {
    Append {
        stream: u8,
    },
    Lease {
        worker: u8,
        max: u8,
    },
    /// Acknowledge the next `count` events of the worker's batch, in order.
    Ack {
        worker: u8,
        count: u8,
    },
    /// Fail the next event of the worker's batch.
    Nack {
        worker: u8,
    },
    /// The worker dies: its batch is abandoned; it rejoins under a new name.
    Crash {
        worker: u8,
    },
    Advance {
        ms: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..6u8).prop_map(|stream| Op::Append { stream }),
        3 => (0..4u8, 1..8u8).prop_map(|(worker, max)| Op::Lease { worker, max }),
        3 => (0..4u8, 1..5u8).prop_map(|(worker, count)| Op::Ack { worker, count }),
        1 => (0..4u8).prop_map(|worker| Op::Nack { worker }),
        1 => (0..4u8).prop_map(|worker| Op::Crash { worker }),
        2 => (0..700u16).prop_map(|ms| Op::Advance { ms }),
    ]
}

#[derive(Default)]
struct Worker {
    incarnation: u32,
    lease: u64,
    batch: VecDeque<Delivery>,
}

struct Model {
    d: Dispatcher,
    now: u64,
    next_position: u64,
    heads: HashMap<String, u64>,
    acked: HashMap<String, Vec<u64>>,
    workers: Vec<Worker>,
}

impl Model {
    fn ack_next(&mut self, w: usize) {
        let Some(delivery) = self.workers[w].batch.pop_front() else { return };
        let lease = self.workers[w].lease;
        if let Ok(resolved) = self.d.ack(lease, &[delivery.event.id], self.now) {
            if resolved.applied == 1 {
                let versions = self.acked.entry(delivery.event.stream.clone()).or_default();
                let expected = versions.len() as u64;
                assert_eq!(delivery.event.version, expected, "{} acknowledged out of order", delivery.event.stream);
                versions.push(delivery.event.version);
            }
        } else {
            self.workers[w].batch.clear(); // the lease is gone: drop the batch
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Append { stream } => {
                let name = format!("s{stream}");
                let head = self.heads.entry(name.clone()).or_insert(0);
                let mut e = event(self.next_position, &name, *head);
                e.id = Uuid::from_u128(((stream as u128) << 64) | *head as u128);
                *head += 1;
                self.next_position += 1;
                if self.d.room() > 0 {
                    self.d.offer(e, true);
                } else {
                    // The reader would wait; the model just retries the append later.
                    self.next_position -= 1;
                    *self.heads.get_mut(&name).unwrap() -= 1;
                }
            }
            Op::Lease { worker, max } => {
                let w = &mut self.workers[worker as usize];
                if w.batch.is_empty() {
                    let name = format!("w{worker}-{}", w.incarnation);
                    let batch = self.d.lease(&name, max as usize, self.now).unwrap();
                    w.lease = batch.lease_id;
                    w.batch = batch.events.into();
                }
            }
            Op::Ack { worker, count } => {
                for _ in 0..count {
                    self.ack_next(worker as usize);
                }
            }
            Op::Nack { worker } => {
                let w = &mut self.workers[worker as usize];
                if let Some(delivery) = w.batch.pop_front() {
                    let _ = self.d.nack(w.lease, &[delivery.event.id], "failed", false, self.now);
                    // Later events of that stream were given back with it.
                    w.batch.retain(|d| d.event.stream != delivery.event.stream);
                }
            }
            Op::Crash { worker } => {
                let w = &mut self.workers[worker as usize];
                w.batch.clear();
                w.incarnation += 1;
            }
            Op::Advance { ms } => {
                self.now += ms as u64;
                self.d.tick(self.now);
            }
        }
        self.d.check_invariants();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn competing_workers_that_crash_lose_nothing_and_keep_order(ops in proptest::collection::vec(op(), 1..300)) {
        let cfg = DispatchConfig {
            max_attempts: u32::MAX,
            backoff: Backoff { initial_ms: 10, max_ms: 200, multiplier: 2.0 },
            lease_timeout_ms: 500,
            max_in_flight: 16,
        };
        let mut model = Model {
            d: Dispatcher::new(cfg, 0, 42, 1),
            now: 0,
            next_position: 0,
            heads: HashMap::new(),
            acked: HashMap::new(),
            workers: (0..4).map(|_| Worker::default()).collect(),
        };
        for op in &ops {
            model.apply(op);
        }
        // Drain: everyone crashes, time passes, one worker takes and acknowledges everything.
        for w in 0..4 {
            model.apply(&Op::Crash { worker: w });
        }
        for _ in 0..10_000 {
            model.apply(&Op::Advance { ms: 600 });
            model.apply(&Op::Lease { worker: 0, max: 8 });
            model.apply(&Op::Ack { worker: 0, count: 8 });
            if model.d.counts().window == 0 {
                break;
            }
        }
        prop_assert_eq!(model.d.counts().window, 0);
        for (stream, head) in &model.heads {
            let acked = model.acked.get(stream).map_or(0, |v| v.len() as u64);
            prop_assert_eq!(acked, *head, "stream {} lost events", stream);
        }
        prop_assert_eq!(model.d.checkpoint(), model.next_position);
    }
}
