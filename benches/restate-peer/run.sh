#!/usr/bin/env bash
# The Restate peer of `skald bench`'s saga workloads (saga, compensation), to run right after
# `skald bench` on the same machine: the same travel saga (crates/skald-examples/
# travel-saga.asl.json) written as a Restate handler (saga.mjs, TypeScript SDK, plain JavaScript),
# calling the same task services (the travel_services example, release build, on :7081) with the
# same inputs, driven by drive.mjs through Restate's ingress: C callers each start a saga and wait
# for its end (request-response), over and over for SECONDS_EACH seconds. Latency is the caller's,
# start → finished. Every saga must end as its path says (success: the booking; compensation:
# refund, car and flight undone, then the terminal error BookingFailed), else the script fails;
# at the end Restate's own journal (SQL over its admin API) is checked to hold the three
# compensation steps of every failed saga.
#
# SDK: @restatedev/restate-sdk 1.16.9, the newest its README lists as compatible with server 1.7
# (it calls Promise.withResolvers, which Node 20 lacks: saga.mjs installs the spec's definition).
# saga.mjs is one Node process (one thread): at concurrency 64 it took ~85% of a core and
# restate-server ~75% here, so on 2 cores that figure is bounded by CPU, the service's included.
# Restate: restate-server 1.7.12 from npm (package.json, package-lock.json), a single node with
# its defaults (all roles in one process, replicated loglet with replication 1, 24 partitions),
# on a fresh base dir under $TMPDIR (the disk `skald bench` uses), removed at the end. Durability
# defaults, from `restate-server --dump-config` and Restate's log-server source: a journal entry
# (each ctx.run result, the input, the output) is acknowledged once appended to the log, whose
# log-server commits each batch of queued records to RocksDB with its WAL fsynced
# (log-server.rocksdb-disable-wal-fsync = false → WriteOptions.sync, group commit: all records
# queued while one fsync runs go in the next); the partition store (state, journal index) is
# rebuilt from that log and written without a WAL. Seen with strace here: fdatasync of the
# log-store WAL only (vm/log-store/*.log; the partition store's vm/db/*.log stays empty), about 8
# per success saga and 15 per compensation saga at concurrency 1, about 2 and 3 at 64. Telemetry
# off (DO_NOT_TRACK); the server still tries one GitHub release check at start-up, which fails
# offline and is harmless.
#
# Needs node >= 20, npm, cargo, curl, jq. Ports 8080 (ingress), 9070 (admin), 5122 (node), 9080
# (saga.mjs) must be free; the travel services on 7081 are started unless something listens there.
#   SECONDS_EACH=5 CONCURRENCY=64 bash benches/restate-peer/run.sh
#   RESTATE_SAGA=service …   runs the plain service TravelService/book instead of the workflow
#                            TravelSaga/<trip_id>/run (one execution per trip id, like Skald's
#                            StartExecution by name; the default)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
secs="${SECONDS_EACH:-5}"
conc="${CONCURRENCY:-64}"
export RESTATE_SAGA="${RESTATE_SAGA:-workflow}"
cd "$here"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # wait_for WHAT COMMAND…: up to 60 s
  local what="$1"; shift
  for _ in $(seq 600); do "$@" && return 0; sleep 0.1; done
  echo "$what did not come up" >&2; return 1
}
for port in 8080 9070 5122 9080; do
  if listening "$port"; then echo "port $port is in use (a Restate or saga.mjs left running?)" >&2; exit 1; fi
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/skald-restate-peer.XXXXXX")"
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ]; then
    for log in "$tmp"/*.log; do [ -f "$log" ] && { echo "== tail of $log" >&2; tail -n 20 "$log" >&2; }; done
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

start=$(date +%s)
if [ -f package-lock.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
else
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error
fi

if listening 7081; then
  echo "travel services: already listening on 127.0.0.1:7081"
else
  (cd "$root" && cargo build --quiet --release -p skald-saga --example travel_services)
  "$root/target/release/examples/travel_services" 127.0.0.1:7081 >"$tmp/travel.log" 2>&1 &
  pids+=($!)
  wait_for "the travel services" listening 7081
fi

server="$(node -p "require.resolve('@restatedev/restate-server-' + process.platform + '-' + process.arch + '/bin/restate-server')")"
DO_NOT_TRACK=1 "$server" --base-dir "$tmp/restate" --bind-ip 127.0.0.1 --no-logo \
  --log-format compact --log-disable-ansi-codes true >"$tmp/restate.log" 2>&1 &
pids+=($!)
node saga.mjs >"$tmp/saga.log" 2>&1 &
pids+=($!)
wait_for "restate-server (admin)" curl -sf -o /dev/null http://127.0.0.1:9070/health
wait_for "restate-server (ingress)" listening 8080
wait_for "saga.mjs" listening 9080
curl -sf -X POST http://127.0.0.1:9070/deployments -H 'content-type: application/json' \
  -d '{"uri":"http://127.0.0.1:9080"}' -o /dev/null
# The new deployment reaches the ingress shortly after the admin API answers: warm up until 16
# sagas at once all succeed (at most 50 tries).
for try in $(seq 50); do
  if node drive.mjs warmup 16 2>"$tmp/warmup.log"; then break; fi
  if [ "$try" -eq 50 ]; then cat "$tmp/warmup.log" >&2; exit 1; fi
  sleep 0.2
done
echo "ready in $(( $(date +%s) - start )) s: $("$server" --version), @restatedev/restate-sdk $(node -p "require('@restatedev/restate-sdk/package.json').version"), node $(node --version), saga as a Restate $RESTATE_SAGA"

printf '%-16s %10s %-6s %8s %13s %9s %9s %9s  %s\n' workload count "" seconds "per second" "p50 µs" "p99 µs" "p999 µs" conditions
failed=0
for path in success compensation; do
  for c in 1 "$conc"; do
    node drive.mjs "$path" "$c" "$secs" || failed=1
  done
done

sql() {
  curl -sf -X POST http://127.0.0.1:9070/query -H 'content-type: application/json' -H 'accept: application/json' \
    -d "$(jq -n --arg q "$1" '{query: $q}')"
}
outcomes="$(sql "SELECT completion_result AS r, count(*) AS n, avg(journal_size) AS j FROM sys_invocation WHERE status = 'completed' GROUP BY completion_result")"
steps="$(sql "SELECT name, count(*) AS n FROM sys_journal WHERE entry_type = 'Command: Run' GROUP BY name")"
n() { jq -r --arg k "$2" "$1" <<<"$3"; }
ok=$(n '[.rows[] | select(.r == $k) | .n] | add // 0' success "$outcomes")
bad=$(n '[.rows[] | select(.r == $k) | .n] | add // 0' failure "$outcomes")
for s in ReserveFlight ProcessPayment RefundPayment CancelCar CancelFlight; do
  declare "$s=$(n '[.rows[] | select(.name == $k) | .n] | add // 0' "$s" "$steps")"
done
echo "journal: $ok sagas succeeded ($(n '.rows[] | select(.r == $k) | .j | floor' success "$outcomes") entries each), $bad failed ($(n '.rows[] | select(.r == $k) | .j | floor' failure "$outcomes") entries each); steps run: $ReserveFlight ReserveFlight, $ProcessPayment ProcessPayment, $RefundPayment RefundPayment, $CancelCar CancelCar, $CancelFlight CancelFlight"
if [ "$ReserveFlight" -ne $((ok + bad)) ] || [ "$ProcessPayment" -ne $((ok + bad)) ] ||
   [ "$RefundPayment" -ne "$bad" ] || [ "$CancelCar" -ne "$bad" ] || [ "$CancelFlight" -ne "$bad" ]; then
  echo "the journal does not hold one run of each step per saga and one of each compensation per failed saga" >&2
  failed=1
fi
echo "total $(( $(date +%s) - start )) s"
exit "$failed"
