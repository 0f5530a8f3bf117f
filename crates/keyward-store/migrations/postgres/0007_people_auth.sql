-- People sign in to the web console with a password (issue 14). The store keeps only
-- what the caller derived: an argon2id PHC string per person, and the SHA-256 of each
-- one-time password link's token and of each session's cookie value.

ALTER TABLE users ADD COLUMN password_hash TEXT;
ALTER TABLE users ADD COLUMN password_changed_at BIGINT;

-- One-time links that set a first password ('setup') or replace one ('reset'). Issuing
-- a link marks the person's earlier unused links of the same purpose used, so only the
-- newest works. org_id is the organization in whose name it was issued (its audit log
-- records the redemption).
CREATE TABLE password_links (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    purpose     TEXT NOT NULL CHECK (purpose IN ('setup', 'reset')),
    token_hash  BYTEA NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    created_by  TEXT NOT NULL
);
CREATE INDEX password_links_by_user ON password_links (user_id, purpose);

-- Server-side console sessions. org_id is the organization the session acts in now.
CREATE TABLE sessions (
    id                   TEXT PRIMARY KEY,
    token_hash           BYTEA NOT NULL UNIQUE,
    user_id              TEXT NOT NULL REFERENCES users(id),
    org_id               TEXT NOT NULL REFERENCES organizations(id),
    created_at           BIGINT NOT NULL,
    last_seen_at         BIGINT NOT NULL,
    idle_timeout_ms      BIGINT NOT NULL,
    absolute_expires_at  BIGINT NOT NULL,
    revoked_at           BIGINT,
    user_agent           TEXT,
    ip                   TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_org ON sessions (org_id);
