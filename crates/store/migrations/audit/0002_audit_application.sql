-- The application that read a token, so the trail can be filtered by it (main migration 0012
-- adds the same column on PostgreSQL).
ALTER TABLE audit_events ADD COLUMN application_id TEXT;
CREATE INDEX audit_events__application_id ON audit_events (application_id, id);
