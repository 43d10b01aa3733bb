-- The shape a PostgreSQL event store uses (see ARCHITECTURE.md): one table, optimistic
-- concurrency through a unique (stream, version), idempotency through a unique id.
DROP TABLE IF EXISTS skald_peer_events;
CREATE TABLE skald_peer_events (
    position  bigserial PRIMARY KEY,
    stream    text        NOT NULL,
    version   bigint      NOT NULL,
    id        uuid        NOT NULL UNIQUE,
    type      text        NOT NULL,
    ts        timestamptz NOT NULL DEFAULT now(),
    data      jsonb       NOT NULL,
    metadata  jsonb       NOT NULL DEFAULT '{}',
    UNIQUE (stream, version)
);
