-- The outbox becomes a publishing queue that can be pruned (issue 18): the message each event
-- becomes (topic, key, protobuf value, headers) moves to the event log, which rebuilds and the
-- embedded subscription read and which is never pruned; an outbox row keeps only what the relay
-- and the operator need (lane, topic, key, publishing state). A row the relay cannot publish is
-- parked (parked_at, with attempts and last_error); an operator may skip it (skipped_at,
-- skipped_by), which never touches the event.
ALTER TABLE mom_events
    ADD COLUMN topic TEXT,
    ADD COLUMN msg_key TEXT,
    ADD COLUMN message BYTEA,
    ADD COLUMN headers JSONB;
UPDATE mom_events e
    SET topic = o.topic, msg_key = o.msg_key, message = o.payload, headers = o.headers
    FROM mom_outbox o WHERE o.position = e.position;
ALTER TABLE mom_events
    ALTER COLUMN topic SET NOT NULL,
    ALTER COLUMN msg_key SET NOT NULL,
    ALTER COLUMN message SET NOT NULL,
    ALTER COLUMN headers SET NOT NULL;

DROP INDEX mom_outbox_pending;
ALTER TABLE mom_outbox
    DROP COLUMN payload,
    DROP COLUMN headers,
    ADD COLUMN parked_at TIMESTAMPTZ,
    ADD COLUMN skipped_at TIMESTAMPTZ,
    ADD COLUMN skipped_by TEXT,
    ADD CONSTRAINT mom_outbox_skip_parked CHECK (skipped_at IS NULL OR parked_at IS NOT NULL);
-- What the relay claims: neither published nor parked.
CREATE INDEX mom_outbox_pending ON mom_outbox (position)
    WHERE published_at IS NULL AND parked_at IS NULL;
-- Parked rows that still hold their key back (not skipped).
CREATE INDEX mom_outbox_parked ON mom_outbox (msg_key, position)
    WHERE parked_at IS NOT NULL AND skipped_at IS NULL;
-- What retention prunes, oldest first.
CREATE INDEX mom_outbox_published ON mom_outbox (published_at)
    WHERE published_at IS NOT NULL;
