-- 1,000 events per transaction to the client's own stream.
INSERT INTO skald_peer_events (stream, version, id, type, data)
SELECT 'batch-' || :client_id, h.head + g, gen_random_uuid(), 'BenchEvent', jsonb_build_object('pad', repeat('x', 246))
FROM (SELECT coalesce(max(version) + 1, 0) AS head FROM skald_peer_events WHERE stream = 'batch-' || :client_id) h,
     generate_series(0, 999) g;
