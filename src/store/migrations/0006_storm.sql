-- The storm (surge) message in force: its settings (`part` = 'settings', JSON) and one row per
-- language with its recording (8 kHz 16-bit PCM, hex), so a restart keeps it.
CREATE TABLE IF NOT EXISTS storm_message (
    part TEXT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    body TEXT NOT NULL
);
