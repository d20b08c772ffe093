-- Strongroom's schema. One SQL text for SQLite and PostgreSQL: TEXT ids, BIGINT unix times
-- (milliseconds unless a column says otherwise), BIGINT 0/1 flags, TEXT JSON, BYTEA ciphertext
-- (SQLite stores the bytes as a blob). Every cascade the contract needs is a foreign key with
-- ON DELETE CASCADE, so it happens in the deleting transaction on both engines, without triggers.
--
-- Sealed columns (format_version, kek_id, encrypted_dek, ciphertext) hold a Secret Vault
-- envelope; `vault rewrap` rewrites kek_id and encrypted_dek of every table that has them.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT UNIQUE,
    primary_email TEXT UNIQUE,
    primary_phone TEXT,
    name TEXT,
    avatar TEXT,
    profile TEXT NOT NULL DEFAULT '{}',
    custom_data TEXT NOT NULL DEFAULT '{}',
    is_suspended BIGINT NOT NULL DEFAULT 0,
    last_sign_in_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX users__created_at ON users (created_at, id);

-- Social connectors. `config` holds the non-secret fields; the secret ones (clientSecret, ...)
-- are sealed.
CREATE TABLE connectors (
    id TEXT PRIMARY KEY,
    connector_id TEXT NOT NULL,
    target TEXT NOT NULL,
    config TEXT NOT NULL DEFAULT '{}',
    metadata TEXT NOT NULL DEFAULT '{}',
    sync_profile BIGINT NOT NULL DEFAULT 0,
    enable_token_storage BIGINT NOT NULL DEFAULT 0,
    format_version BIGINT,
    kek_id TEXT,
    encrypted_dek BYTEA,
    ciphertext BYTEA,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX connectors__target ON connectors (target);

CREATE TABLE sso_connectors (
    id TEXT PRIMARY KEY,
    provider_name TEXT NOT NULL,
    connector_name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL DEFAULT '{}',
    domains TEXT NOT NULL DEFAULT '[]',
    branding TEXT NOT NULL DEFAULT '{}',
    sync_profile BIGINT NOT NULL DEFAULT 0,
    enable_token_storage BIGINT NOT NULL DEFAULT 0,
    format_version BIGINT,
    kek_id TEXT,
    encrypted_dek BYTEA,
    ciphertext BYTEA,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A user's social identities (Logto keeps them in users.identities; a table gives real
-- foreign keys). Replacing the provider account of a target deletes the row and inserts a new
-- one, so the old identity's token set cascades away.
CREATE TABLE user_social_identities (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (user_id, target),
    UNIQUE (target, identity_id)
);

CREATE TABLE user_sso_identities (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sso_connector_id TEXT NOT NULL REFERENCES sso_connectors (id) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (issuer, identity_id),
    UNIQUE (user_id, sso_connector_id)
);
CREATE INDEX user_sso_identities__sso_connector_id ON user_sso_identities (sso_connector_id);

-- Vault secrets (type federated_token_set). The connector relation lives on the row itself:
-- deleting the user, the identity or the connector deletes the secret by foreign key.
-- metadata is plaintext JSON: hasRefreshToken, scope, tokenType, expiresAt (unix seconds),
-- lastRefreshedAt, refreshError. version is bumped by every write of the sealed payload;
-- refresh_lease_until/lease_owner coordinate refreshes across processes.
CREATE TABLE secrets (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    connector_id TEXT REFERENCES connectors (id) ON DELETE CASCADE,
    social_identity_id TEXT UNIQUE REFERENCES user_social_identities (id) ON DELETE CASCADE,
    target TEXT,
    sso_connector_id TEXT REFERENCES sso_connectors (id) ON DELETE CASCADE,
    sso_identity_id TEXT UNIQUE REFERENCES user_sso_identities (id) ON DELETE CASCADE,
    issuer TEXT,
    identity_id TEXT NOT NULL,
    format_version BIGINT NOT NULL,
    kek_id TEXT NOT NULL,
    encrypted_dek BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    version BIGINT NOT NULL DEFAULT 0,
    refresh_lease_until BIGINT,
    lease_owner TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (
        (connector_id IS NOT NULL AND social_identity_id IS NOT NULL AND target IS NOT NULL
            AND sso_connector_id IS NULL AND sso_identity_id IS NULL AND issuer IS NULL)
        OR
        (sso_connector_id IS NOT NULL AND sso_identity_id IS NOT NULL AND issuer IS NOT NULL
            AND connector_id IS NULL AND social_identity_id IS NULL AND target IS NULL)
    )
);
CREATE INDEX secrets__user_id_target ON secrets (user_id, target);
CREATE INDEX secrets__user_id_sso_connector_id ON secrets (user_id, sso_connector_id);
CREATE INDEX secrets__connector_id ON secrets (connector_id);
CREATE INDEX secrets__sso_connector_id ON secrets (sso_connector_id);
CREATE INDEX secrets__kek_id ON secrets (kek_id);

-- Key-check values: one fixed plaintext sealed under each KEK that has ever been active.
CREATE TABLE vault_keys (
    kek_id TEXT PRIMARY KEY,
    format_version BIGINT NOT NULL,
    encrypted_dek BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

-- Applications that sign users in through Strongroom's OpenID provider. The client secret is
-- stored as a SHA-256 hash: it is high-entropy and only ever compared.
CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    type TEXT NOT NULL,
    secret_hash TEXT,
    oidc_client_metadata TEXT NOT NULL DEFAULT '{}',
    custom_client_metadata TEXT NOT NULL DEFAULT '{}',
    is_third_party BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Strongroom's own OIDC signing keys; the private key is sealed.
CREATE TABLE oidc_signing_keys (
    id TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    format_version BIGINT NOT NULL,
    kek_id TEXT NOT NULL,
    encrypted_dek BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

-- A pending sign-in: the application's authorization request, bound to the browser, and the
-- upstream state. The upstream PKCE verifier and nonce are sealed.
CREATE TABLE oidc_interactions (
    id TEXT PRIMARY KEY,
    browser_binding_hash TEXT NOT NULL,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    params TEXT NOT NULL,
    upstream_state_hash TEXT UNIQUE,
    upstream_kind TEXT,
    upstream_connector_id TEXT,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    format_version BIGINT,
    kek_id TEXT,
    encrypted_dek BYTEA,
    ciphertext BYTEA,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX oidc_interactions__expires_at ON oidc_interactions (expires_at);

-- A browser's signed-in session at Strongroom (the cookie holds the id; only its hash is kept).
CREATE TABLE oidc_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_sessions__user_id ON oidc_sessions (user_id);

CREATE TABLE oidc_grants (
    id TEXT PRIMARY KEY,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    resource TEXT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX oidc_grants__user_id ON oidc_grants (user_id);
CREATE INDEX oidc_grants__application_id ON oidc_grants (application_id);

-- Codes and tokens are stored as SHA-256 hashes, never as issued.
CREATE TABLE oidc_authorization_codes (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    resource TEXT,
    nonce TEXT,
    code_challenge TEXT,
    code_challenge_method TEXT,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX oidc_authorization_codes__grant_id ON oidc_authorization_codes (grant_id);

CREATE TABLE oidc_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX oidc_refresh_tokens__grant_id ON oidc_refresh_tokens (grant_id);

CREATE TABLE oidc_access_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT REFERENCES oidc_grants (id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    resource TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_access_tokens__grant_id ON oidc_access_tokens (grant_id);
CREATE INDEX oidc_access_tokens__user_id ON oidc_access_tokens (user_id);
CREATE INDEX oidc_access_tokens__expires_at ON oidc_access_tokens (expires_at);

-- Social verification records (Verification API): they belong to the calling user, live ten
-- minutes, and hold the connector session and, once verified, the new token set, sealed.
CREATE TABLE verification_records (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    connector_id TEXT NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    data TEXT NOT NULL DEFAULT '{}',
    format_version BIGINT,
    kek_id TEXT,
    encrypted_dek BYTEA,
    ciphertext BYTEA,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX verification_records__user_id ON verification_records (user_id);
CREATE INDEX verification_records__expires_at ON verification_records (expires_at);

-- The audit trail outlives what it describes: no foreign keys. Never token material.
CREATE TABLE audit_events (
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
CREATE INDEX audit_events__occurred_at ON audit_events (occurred_at, id);
CREATE INDEX audit_events__user_id ON audit_events (user_id, occurred_at);
CREATE INDEX audit_events__secret_id ON audit_events (secret_id);

CREATE TABLE console_admins (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    failed_sign_ins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    admin_id TEXT NOT NULL REFERENCES console_admins (id) ON DELETE CASCADE,
    csrf_token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions__admin_id ON console_sessions (admin_id);
