#!/usr/bin/env bash
# The PostgreSQL peer of `skald bench`, with public tools only (psql, pgbench), to run right
# after `skald bench` on the same machine. Durable commits (synchronous_commit = on, the default).
#   PGURL=postgresql://postgres@127.0.0.1:5432/test SECONDS_EACH=5 bash benches/postgres-peer/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
url="${PGURL:-postgresql://postgres@127.0.0.1:5432/test}"
secs="${SECONDS_EACH:-5}"
psql "$url" -qX -v ON_ERROR_STOP=1 -f "$here/schema.sql"
echo "== single: 1 client, 1 event per transaction"
pgbench "$url" -n -c 1 -j 1 -T "$secs" -f "$here/single.sql" -r | grep -E "^(tps|latency average)"
echo "== concurrent: 64 clients, 1 event per transaction"
pgbench "$url" -n -c 64 -j 2 -T "$secs" -f "$here/single.sql" --log --log-prefix=/tmp/skald-peer-c | grep -E "^(tps|latency average)"
echo "   p50/p99 latency (µs):" $(cat /tmp/skald-peer-c.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {print a[int(NR*0.5)], a[int(NR*0.99)]}')
rm -f /tmp/skald-peer-c.*
echo "== batched: 4 clients, 1,000 events per transaction (events/s = tps x 1000)"
pgbench "$url" -n -c 4 -j 2 -T "$secs" -f "$here/batched.sql" | grep -E "^(tps|latency average)"
echo "== replay: read every event in position order"
rows=$(psql "$url" -qAtX -c "select count(*) from skald_peer_events")
start=$(date +%s.%N)
psql "$url" -qX -c "\copy (select position, stream, version, id, type, ts, data, metadata from skald_peer_events order by position) to '/dev/null'"
end=$(date +%s.%N)
echo "   $rows events in $(echo "$end - $start" | bc) s: $(echo "$rows / ($end - $start)" | bc) events/s"
psql "$url" -qX -c "DROP TABLE skald_peer_events"
