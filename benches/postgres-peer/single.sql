-- One event per transaction, version = head + 1 of the client's own stream.
INSERT INTO skald_peer_events (stream, version, id, type, data)
SELECT 'bench-' || :client_id, coalesce(max(version) + 1, 0), gen_random_uuid(), 'BenchEvent',
       jsonb_build_object('pad', repeat('x', 246))
FROM skald_peer_events WHERE stream = 'bench-' || :client_id;
