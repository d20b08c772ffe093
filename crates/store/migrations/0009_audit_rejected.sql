-- Audit events that could not be written (their JSON, with every character escaped, and the
-- database's error), kept for an operator instead of being dropped. On SQLite the table lives
-- in the audit file beside audit_events.
CREATE TABLE audit_rejected (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    error TEXT NOT NULL,
    occurred_at BIGINT NOT NULL
);
