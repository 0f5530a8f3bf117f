-- `keyward auth login --web` (issue 14): a person signed in to the console approves a
-- CLI's login; the CLI then exchanges the one-time code it received on its loopback
-- redirect, with its PKCE verifier, for a personal access token. The store keeps the
-- SHA-256 of the code (never the code) and the S256 challenge, which is public: it
-- went through the browser. What the token will be (its person, organization,
-- permissions and lifetime) is fixed at approval; the token is made at redemption.
CREATE TABLE cli_logins (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations(id),
    user_id            TEXT NOT NULL REFERENCES users(id),
    code_hash          BYTEA NOT NULL UNIQUE,
    code_challenge     TEXT NOT NULL,
    machine            TEXT NOT NULL,
    permissions        TEXT NOT NULL,
    -- How long the token lives once made; NULL: it does not expire.
    token_lifetime_ms  BIGINT,
    created_at         BIGINT NOT NULL,
    -- When the code stops working (minutes after approval).
    expires_at         BIGINT NOT NULL,
    -- Wrong verifiers presented with the code; a few end it.
    failed_attempts    BIGINT NOT NULL DEFAULT 0,
    used_at            BIGINT,
    -- The token the redemption made.
    key_id             TEXT
);
CREATE INDEX cli_logins_by_user ON cli_logins (user_id);
