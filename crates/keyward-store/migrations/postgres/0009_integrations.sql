-- The integrations vault (issue 15): OAuth 2.0 connections whose tokens Keyward keeps,
-- encrypted, and refreshes; and the one-time `state` of each authorization in flight.
--
-- Secrets are sealed by envelope encryption (keyward-vault): each row has its own data
-- key, stored wrapped by a key-encryption key of the ring (`kek_id`, `wrapped_dek`);
-- every sealed column is `nonce ‖ ciphertext ‖ tag`, bound to the row's id and the
-- column's name, so a value copied to another row or column does not decrypt. Rotating
-- the ring re-wraps `wrapped_dek` only. No token, verifier or secret is stored in clear.
CREATE TABLE connections (
    -- `con_…`: the record id the sealed columns are bound to.
    uid                TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations(id),
    -- The caller's id for it (e.g. their end user's), unique in the organization.
    id                 TEXT NOT NULL,
    provider           TEXT NOT NULL,
    workspace_id       TEXT,
    -- pending, active, refresh_failing, needs_reauth, revoked
    status             TEXT NOT NULL,
    -- JSON array: the scopes the provider granted (requested ones while pending).
    scopes             TEXT NOT NULL,
    token_type         TEXT,
    kek_id             TEXT,
    wrapped_dek        BYTEA,
    access_token       BYTEA,
    refresh_token      BYTEA,
    -- When the access token expires; NULL: the provider gave no lifetime.
    expires_at         BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
        last_refreshed_at  BIGINT,
    -- When a code exchange last gave it tokens.
    connected_at       BIGINT,
    -- JSON {code, message, at} of the last failure (refresh, exchange, callback).
    last_error         TEXT,
    -- Failed refreshes in a row, and when the refresher may try again.
    failures           BIGINT NOT NULL DEFAULT 0,
    retry_at           BIGINT,
    -- One refresh at a time, across nodes: whoever holds the lease refreshes.
    lease_owner        TEXT,
    lease_until        BIGINT,
    -- Counts every write of tokens (a code exchange, a refresh); not a re-wrap.
    generation         BIGINT NOT NULL DEFAULT 0,
    UNIQUE (org_id, id)
);
CREATE INDEX connections_due ON connections (expires_at);

CREATE TABLE oauth_states (
    -- `ost_…`: the record id the sealed verifier is bound to.
    id                 TEXT PRIMARY KEY,
    -- SHA-256 of the state sent through the browser (never the state).
    state_hash         BYTEA NOT NULL UNIQUE,
    org_id             TEXT NOT NULL REFERENCES organizations(id),
    provider           TEXT NOT NULL,
    connection_id      TEXT NOT NULL,
    -- The connection row it completes (made pending at authorization): a connection
    -- deleted and made again meanwhile is another row, which it does not complete.
    connection_uid     TEXT NOT NULL,
    workspace_id       TEXT,
    -- Exactly as sent to the provider; the exchange must present the same.
    redirect_uri       TEXT NOT NULL,
    -- Whether it is Keyward's own callback (GET /v1/oauth/callback).
    hosted             BOOLEAN NOT NULL,
    scopes             TEXT NOT NULL,
    kek_id             TEXT NOT NULL,
    wrapped_dek        BYTEA NOT NULL,
    -- The sealed PKCE verifier; NULL for a provider without PKCE.
    verifier           BYTEA,
    -- JSON of who started it (the exchange is theirs in the audit log).
    actor              TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    used_at            BIGINT
);
CREATE INDEX oauth_states_by_org ON oauth_states (org_id);

-- Every key-encryption key a node has run with, by id, with a value sealed by it: a node
-- whose ring has a KEK of the same id but other bytes, or lacks one the database has
-- seen, refuses to start (several nodes must share one ring).
CREATE TABLE kek_checks (
    kek_id             TEXT PRIMARY KEY,
        -- A random data key wrapped by the KEK (nonce ‖ AEAD(KEK, DEK, "kw:dek:v1:" + id)):
    -- it unwraps only with the same key bytes.
    sealed             BYTEA NOT NULL,
    created_at         BIGINT NOT NULL
);
