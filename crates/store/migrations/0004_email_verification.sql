-- Who verified a user's primary e-mail address: `admin` (set through the Management API),
-- `social:<target>` or `sso:<ssoConnectorId>` (a provider that said `email_verified: true`).
-- NULL: not verified. Addresses stored before this column existed are treated as unverified.
ALTER TABLE users ADD COLUMN primary_email_verified_by TEXT;
