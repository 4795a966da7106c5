-- Event store, outbox and snapshots for the embedded single-node mode. SQLite has one writer
-- at a time, so positions taken from mom_log_head are gap-free and in commit order.
CREATE TABLE mom_log_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL
);
INSERT INTO mom_log_head (id, position) VALUES (1, 0);

CREATE TABLE mom_events (
    position INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    sequence INTEGER NOT NULL CHECK (sequence > 0),
    event_type TEXT NOT NULL,
    event_version TEXT NOT NULL,
    payload TEXT NOT NULL,
    metadata TEXT NOT NULL,
    event_time TEXT NOT NULL,
    recorded_time TEXT NOT NULL,
    UNIQUE (aggregate_type, aggregate_id, sequence)
);

CREATE TABLE mom_outbox (
    position INTEGER PRIMARY KEY REFERENCES mom_events (position),
    lane INTEGER NOT NULL,
    topic TEXT NOT NULL CHECK (topic <> ''),
    msg_key TEXT NOT NULL,
    payload BLOB NOT NULL,
    headers TEXT NOT NULL,
    published_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX mom_outbox_pending ON mom_outbox (position) WHERE published_at IS NULL;

CREATE TABLE mom_snapshots (
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    last_sequence INTEGER NOT NULL,
    snapshot_version INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);
