-- The SQLite audit file (PostgreSQL keeps these tables in the main database, created by the main
-- migrations 0001, 0003 and 0009): the same columns and indexes. IF NOT EXISTS, because audit files
-- written before this migration set existed already hold them.
CREATE TABLE IF NOT EXISTS audit_events (
    id TEXT PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    user_id TEXT,
    secret_id TEXT,
    target TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    request_id TEXT
);
CREATE INDEX IF NOT EXISTS audit_events__user_id ON audit_events (user_id, occurred_at);
CREATE INDEX IF NOT EXISTS audit_events__secret_id ON audit_events (secret_id);
CREATE TABLE IF NOT EXISTS audit_rejected (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    error TEXT NOT NULL,
    occurred_at BIGINT NOT NULL
);
