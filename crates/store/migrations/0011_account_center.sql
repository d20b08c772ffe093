-- Logto's Account Center settings (one row, id `default`): whether the Account API is on, and
-- per field whether users may see or edit it. No row: Strongroom's defaults (on, every field
-- editable), which keep the Account API as it was before these settings existed.
CREATE TABLE account_center (
    id TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
