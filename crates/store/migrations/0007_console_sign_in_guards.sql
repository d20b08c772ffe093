-- Console sign-in guards, one row per key (the hash of a username, or of a username and a
-- client address), whether or not an administrator has that username: a sign-in attempt
-- marks the username's row busy (one attempt in flight per account) and counts a failure on
-- the username-and-address row before the password is checked; the fifth failure in a row
-- locks that address out of that username. `account_key` ties address rows to their
-- username's row, so a password reset clears them all. Rows expire a day after their last use.
CREATE TABLE console_sign_in_guards (
    key TEXT PRIMARY KEY,
    account_key TEXT NOT NULL,
    failures BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    busy_until BIGINT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sign_in_guards__account_key ON console_sign_in_guards (account_key);
CREATE INDEX console_sign_in_guards__expires_at ON console_sign_in_guards (expires_at);
-- The per-account counter these guards replace.
ALTER TABLE console_admins DROP COLUMN failed_sign_ins;
ALTER TABLE console_admins DROP COLUMN locked_until;
