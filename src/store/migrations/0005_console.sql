-- The console: its users (password hashed with Argon2id), their API tokens (SHA-256 of a
-- 256-bit random token: the token itself is shown once and never stored), the audit log of every
-- change made through the console or the API, and the published versions of the dial plan
-- (every file's text, so a rollback restores exactly what was published).
CREATE TABLE IF NOT EXISTS console_users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_sha256 TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    label TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_log (
    at_ms BIGINT NOT NULL,
    seq TEXT NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    before_text TEXT,
    after_text TEXT,
    PRIMARY KEY (at_ms, seq)
);
CREATE TABLE IF NOT EXISTS plan_versions (
    plan TEXT NOT NULL,
    version BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    who TEXT NOT NULL,
    comment TEXT NOT NULL,
    files TEXT NOT NULL,
    PRIMARY KEY (plan, version)
);
