-- Token exchange (RFC 8693) and break-glass workers: each application's grants, as JSON
-- (Strongroom's own field; '{}' is "nothing allowed"), the client assertions (RFC 7523) already
-- used, kept until they expire so that none is accepted twice, and the application that read a
-- token in each audit event, so the trail can be filtered by it. On SQLite the audit trail lives
-- in its own file, whose migration 0002 adds the same column there.
ALTER TABLE applications ADD COLUMN token_exchange TEXT NOT NULL DEFAULT '{}';
CREATE TABLE client_assertions (
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (application_id, jti)
);
CREATE INDEX client_assertions__expires_at ON client_assertions (expires_at);
ALTER TABLE audit_events ADD COLUMN application_id TEXT;
CREATE INDEX audit_events__application_id ON audit_events (application_id, id);
