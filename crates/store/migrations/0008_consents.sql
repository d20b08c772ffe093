-- A user's consent to a third-party application: the scopes granted, until expires_at. Asked
-- for on the consent page; withdrawn through the grants API (which also revokes the
-- application's tokens of that user).
CREATE TABLE oidc_consents (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    UNIQUE (user_id, application_id)
);
CREATE INDEX oidc_consents__application_id ON oidc_consents (application_id);
-- Whether a third-party application may receive users' provider tokens (the `identities`
-- scope). First-party applications always may.
ALTER TABLE applications ADD COLUMN allow_provider_tokens BIGINT NOT NULL DEFAULT 0;
