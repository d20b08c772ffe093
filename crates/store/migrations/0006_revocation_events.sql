-- Tokens were revoked (a grant revoked, an application or a user deleted): every serve process
-- polls this table and forgets the access tokens it has cached when a new row appears. Rows
-- live a minute.
CREATE TABLE revocation_events (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revocation_events__created_at ON revocation_events (created_at);
