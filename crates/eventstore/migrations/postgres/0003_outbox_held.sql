-- Rows waiting behind a parked row of their key are set aside (held_at) once, so a claim does
-- not scan them again on every poll while the parked row waits for an operator. A retry or skip
-- of the parked row, or the relay's sweep, returns them to the queue.
ALTER TABLE mom_outbox ADD COLUMN held_at TIMESTAMPTZ;
DROP INDEX mom_outbox_pending;
CREATE INDEX mom_outbox_pending ON mom_outbox (position)
    WHERE published_at IS NULL AND parked_at IS NULL AND held_at IS NULL;
CREATE INDEX mom_outbox_held ON mom_outbox (msg_key) WHERE held_at IS NOT NULL;
