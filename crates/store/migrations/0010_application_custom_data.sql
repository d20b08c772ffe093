-- Logto's `customData` of an application: any JSON object the administrator keeps with it.
ALTER TABLE applications ADD COLUMN custom_data TEXT NOT NULL DEFAULT '{}';
