-- Tamper-evident audit trail (issue 19, docs/audit.md). Each event carries the hash of the
-- previous event's hash and its own canonical bytes; the head row keeps the hash of the last
-- event, taken under the same row lock that assigns positions, so the chain is serial. The
-- hashes of events written before this migration are computed by the store at start-up (in
-- Rust, where the canonical bytes are defined), before any new append: `head_hash` stays NULL
-- until then and appends refuse to run without it.
ALTER TABLE mom_log_head ADD COLUMN head_hash BYTEA;
ALTER TABLE mom_events ADD COLUMN hash BYTEA;

-- Snapshots are a cache of the events; the ones written before this migration carry no hash, so
-- they are dropped rather than trusted (loads replay the events and write new snapshots). A
-- snapshot records the hash of the event it covers and a hash over itself and that hash.
DELETE FROM mom_snapshots;
ALTER TABLE mom_snapshots
    ADD COLUMN event_hash BYTEA NOT NULL,
    ADD COLUMN hash BYTEA NOT NULL;

-- The audit query API lists events by principal (the `principal` metadata key, or `actor` for
-- events recorded before principals were verified) and by time recorded, newest first.
CREATE INDEX mom_events_principal
    ON mom_events ((COALESCE(metadata->>'principal', metadata->>'actor')), position);
CREATE INDEX mom_events_recorded ON mom_events (recorded_time);
