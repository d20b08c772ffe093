-- Audit event ids are time-ordered: the trail is listed by id, and an index on occurred_at
-- would only slow every insert down.
DROP INDEX audit_events__occurred_at;
