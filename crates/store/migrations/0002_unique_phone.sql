-- A phone number identifies one user, as usernames and e-mail addresses do.
CREATE UNIQUE INDEX users__primary_phone ON users (primary_phone);
