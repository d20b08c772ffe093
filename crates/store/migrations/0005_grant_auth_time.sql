-- When the user of a grant really signed in (unix seconds): every ID token issued under the
-- grant, refreshed ones included, carries it as `auth_time`. NULL for client credentials and
-- for grants made before this column existed.
ALTER TABLE oidc_grants ADD COLUMN auth_time BIGINT;
