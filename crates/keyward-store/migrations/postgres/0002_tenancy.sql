-- Organizations, workspaces, agents, channels, members with roles, service accounts,
-- and the key columns that limits and channel tokens query. Mirrors
-- migrations/sqlite/0002_tenancy.sql (booleans are BOOLEAN here, INTEGER there).

ALTER TABLE organizations ADD COLUMN max_keys BIGINT NOT NULL DEFAULT 10;
ALTER TABLE organizations ADD COLUMN max_worker_keys BIGINT NOT NULL DEFAULT 25;
ALTER TABLE organizations ADD COLUMN allow_legacy_tokens BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE agents (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE channels (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    agent_id    TEXT NOT NULL REFERENCES agents(id),
    name        TEXT NOT NULL,
    hook_id     TEXT NOT NULL UNIQUE,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT
);
CREATE INDEX channels_by_agent ON channels (org_id, agent_id);

-- Agents an agent_admin administers.
CREATE TABLE agent_admins (
    org_id      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    agent_id    TEXT NOT NULL REFERENCES agents(id),
    PRIMARY KEY (org_id, user_id, agent_id)
);

CREATE TABLE service_accounts (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    deleted_at  BIGINT
);

-- `scope_level` mirrors scope.type for counting; `workspace_id` binds worker and legacy
-- keys to their workspace; `channel_id` names a channel token's channel.
ALTER TABLE api_keys ADD COLUMN scope_level TEXT NOT NULL DEFAULT 'organization';
ALTER TABLE api_keys ADD COLUMN workspace_id TEXT;
ALTER TABLE api_keys ADD COLUMN channel_id TEXT;
CREATE INDEX api_keys_by_owner ON api_keys (org_id, owner_type, owner_id);
CREATE INDEX api_keys_workers ON api_keys (org_id, owner_id, workspace_id) WHERE kind = 'worker';
