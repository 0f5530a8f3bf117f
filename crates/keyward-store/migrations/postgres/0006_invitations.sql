-- Invitations: a one-time code the invited person redeems for their membership and
-- first token (the inviter never receives a credential of someone else). Only the
-- SHA-256 of the code is stored. And who created an organization, for the per-person cap.

CREATE TABLE invitations (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    email           TEXT NOT NULL,
    role            TEXT NOT NULL,
    agents          TEXT NOT NULL,
    permissions     TEXT NOT NULL,
    code_hash       BYTEA NOT NULL UNIQUE,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    created_by_key  TEXT,
    expires_at      BIGINT NOT NULL,
    accepted_at     BIGINT,
    accepted_by     TEXT,
    revoked_at      BIGINT
);
CREATE INDEX invitations_by_email ON invitations (org_id, email);

ALTER TABLE organizations ADD COLUMN created_by_user TEXT;
CREATE INDEX organizations_by_creator ON organizations (created_by_user);

-- Who switched a key off, and who set its rate limit or quota (a user, service account
-- or "organization" for an organization's defaults): a person cannot undo what someone
-- else imposed on their own key.
ALTER TABLE api_keys ADD COLUMN disabled_by TEXT;
ALTER TABLE api_keys ADD COLUMN limits_by TEXT;
