-- Event store, outbox and snapshots. Positions are assigned under the single row of
-- mom_log_head, so the global log is gap-free and in commit order.
CREATE TABLE mom_log_head (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    position BIGINT NOT NULL
);
INSERT INTO mom_log_head (id, position) VALUES (1, 0);

CREATE TABLE mom_events (
    position BIGINT PRIMARY KEY,
    event_id UUID NOT NULL UNIQUE,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    sequence BIGINT NOT NULL CHECK (sequence > 0),
    event_type TEXT NOT NULL,
    event_version TEXT NOT NULL,
    payload JSONB NOT NULL,
    metadata JSONB NOT NULL,
    event_time TIMESTAMPTZ NOT NULL,
    recorded_time TIMESTAMPTZ NOT NULL,
    CONSTRAINT mom_events_stream_uq UNIQUE (aggregate_type, aggregate_id, sequence)
);

CREATE TABLE mom_outbox (
    position BIGINT PRIMARY KEY REFERENCES mom_events (position),
    lane INTEGER NOT NULL,
    topic TEXT NOT NULL CHECK (topic <> ''),
    msg_key TEXT NOT NULL,
    payload BYTEA NOT NULL,
    headers JSONB NOT NULL,
    published_at TIMESTAMPTZ,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX mom_outbox_pending ON mom_outbox (position) WHERE published_at IS NULL;

CREATE TABLE mom_snapshots (
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    last_sequence BIGINT NOT NULL,
    snapshot_version BIGINT NOT NULL,
    payload JSONB NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);
