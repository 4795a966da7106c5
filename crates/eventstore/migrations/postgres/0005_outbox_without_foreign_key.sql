-- The outbox's foreign key to the event log goes (issue 23). Every outbox row is inserted by the
-- statement that inserts its event, from that statement's own inserted rows (`JOIN inserted
-- USING (position)`), and the log is append-only, so the key never refused anything; checking it
-- cost a trigger and a lookup of the event per row, about a tenth of Postgres's work per event
-- on the command path (docs/benchmarks.md). A row whose event was deleted by hand (tampering,
-- which the audit chain reports) is never claimed: the relay reads rows joined with their event.
ALTER TABLE mom_outbox DROP CONSTRAINT IF EXISTS mom_outbox_position_fkey;
