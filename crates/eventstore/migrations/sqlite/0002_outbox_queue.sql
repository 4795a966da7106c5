-- The outbox becomes a publishing queue that can be pruned (issue 18): the message each event
-- becomes (topic, key, protobuf value, headers) moves to the event log, which rebuilds and the
-- embedded subscription read and which is never pruned; an outbox row keeps only what the relay
-- and the operator need (lane, topic, key, publishing state). A row the relay cannot publish is
-- parked (parked_at, with attempts and last_error); an operator may skip it (skipped_at,
-- skipped_by), which never touches the event.
ALTER TABLE mom_events ADD COLUMN topic TEXT NOT NULL DEFAULT '';
ALTER TABLE mom_events ADD COLUMN msg_key TEXT NOT NULL DEFAULT '';
ALTER TABLE mom_events ADD COLUMN message BLOB NOT NULL DEFAULT x'';
ALTER TABLE mom_events ADD COLUMN headers TEXT NOT NULL DEFAULT '[]';
UPDATE mom_events SET
    topic = (SELECT o.topic FROM mom_outbox o WHERE o.position = mom_events.position),
    msg_key = (SELECT o.msg_key FROM mom_outbox o WHERE o.position = mom_events.position),
    message = (SELECT o.payload FROM mom_outbox o WHERE o.position = mom_events.position),
    headers = (SELECT o.headers FROM mom_outbox o WHERE o.position = mom_events.position)
    WHERE EXISTS (SELECT 1 FROM mom_outbox o WHERE o.position = mom_events.position);

DROP INDEX mom_outbox_pending;
ALTER TABLE mom_outbox DROP COLUMN payload;
ALTER TABLE mom_outbox DROP COLUMN headers;
ALTER TABLE mom_outbox ADD COLUMN parked_at TEXT;
ALTER TABLE mom_outbox ADD COLUMN skipped_at TEXT;
ALTER TABLE mom_outbox ADD COLUMN skipped_by TEXT;
-- What the relay claims: neither published nor parked.
CREATE INDEX mom_outbox_pending ON mom_outbox (position)
    WHERE published_at IS NULL AND parked_at IS NULL;
-- Parked rows that still hold their key back (not skipped).
CREATE INDEX mom_outbox_parked ON mom_outbox (msg_key, position)
    WHERE parked_at IS NOT NULL AND skipped_at IS NULL;
-- What retention prunes, oldest first.
CREATE INDEX mom_outbox_published ON mom_outbox (published_at)
    WHERE published_at IS NOT NULL;
